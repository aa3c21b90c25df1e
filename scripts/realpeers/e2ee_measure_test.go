package realpeers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestE2EEMeasure (REALPEERS_MEASURE=1) logs the cost of an encrypted exec
// alarm next to a plain one, interleaved, on the same bot and store: the
// median wall time and peak RSS of each, the second and later runs of a
// device (its store made, its megolm session shared).
func TestE2EEMeasure(t *testing.T) {
	need(t)
	if os.Getenv("REALPEERS_MEASURE") != "1" {
		t.Skip("REALPEERS_MEASURE=1 runs it")
	}
	const bot = "e2eemeasure"
	if err := env.hs.CreateUser(bot, password); err != nil {
		t.Fatal(err)
	}
	rd := newReader(t)
	ctx := context.Background()
	mk := func(encrypted bool) id.RoomID {
		req := &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{id.UserID(userID(bot))}}
		if encrypted {
			req.InitialState = []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}
		}
		resp, err := rd.c.CreateRoom(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.RoomID
	}
	enc, plain := mk(true), mk(false)
	s := &e2eeSite{site: newSite(t)}
	encCfg := filepath.Join(s.dir, "enc.toml")
	lr := s.must(0, password+"\n", "login", "--homeserver", env.hs.URL, "--user", bot, "--config", encCfg)
	t.Logf("login (new device, store, cross-signing identity): %v", lr.took.Round(time.Millisecond))
	data, err := os.ReadFile(encCfg)
	if err != nil {
		t.Fatal(err)
	}
	// The plain config: the same token, no pickle key.
	var plainLines []string
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(l, "pickle_key") && !strings.HasPrefix(l, "crypto_store") {
			plainLines = append(plainLines, l)
		}
	}
	plainCfg := filepath.Join(s.dir, "plain.toml")
	os.WriteFile(plainCfg, []byte(strings.Join(plainLines, "\n")+"lifecycle = \"none\"\n"), 0o600)
	appendFile(t, encCfg, "lifecycle = \"none\"\n")

	run := func(cfg string, room id.RoomID, i int) (time.Duration, int64) {
		a := newAlarm(900+i, fmt.Sprintf("measure_%03d", i))
		cmd := exec.Command(env.bin, "custom-sender", string(room), "--config", cfg)
		cmd.Env = append(append([]string{}, s.env...), "NETDATA_ALARM_NOTIFY_DEBUG=0",
			"host="+a.host, "name="+a.name, "status=CRITICAL", "old_status=CLEAR", "unique_id="+fmt.Sprint(a.uniqueID),
			"alarm_id="+fmt.Sprint(a.alarmID), "event_id=1", "chart=disk.x", "value=99", "when=1764990000", "roles=sysadmin")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(start)
		if err != nil {
			t.Fatalf("custom-sender: %v\n%s", err, out)
		}
		return took, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	}
	// First runs: join, share the session.
	first, firstRSS := run(encCfg, enc, 0)
	t.Logf("first encrypted send of the device: %v, max RSS %d KiB", first.Round(time.Millisecond), firstRSS)
	run(plainCfg, plain, 1)
	const n = 20
	var te, tp []time.Duration
	var re, rp []int64
	for i := range n {
		d, r := run(plainCfg, plain, 10+2*i)
		tp, rp = append(tp, d), append(rp, r)
		d, r = run(encCfg, enc, 11+2*i)
		te, re = append(te, d), append(re, r)
	}
	slices.Sort(te)
	slices.Sort(tp)
	slices.Sort(re)
	slices.Sort(rp)
	t.Logf("plain exec alarm:     median %v, max RSS median %d KiB, peak %d KiB", tp[n/2], rp[n/2], rp[n-1])
	t.Logf("encrypted exec alarm: median %v, max RSS median %d KiB, peak %d KiB (ratio %.2f)", te[n/2], re[n/2], re[n-1], float64(te[n/2])/float64(tp[n/2]))
}
