package e2ee

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestMeasure prints wall time, CPU and peak RSS of an encrypted send (a
// second run of the device: sync, encrypt, PUT) beside a plain one (one
// PUT), each a separate process, medians of 20, interleaved. Only with
// E2EE_MEASURE=1: it asserts nothing (no wall-clock times in tests).
func TestMeasure(t *testing.T) {
	if os.Getenv("E2EE_MEASURE") == "" {
		t.Skip("E2EE_MEASURE=1 to measure")
	}
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		t.Skip("GNU time is needed for peak RSS")
	}
	d := homeserver(t)
	alice := newPeer(t, d, "alice")
	b := newBot(t, d)
	enc := alice.createEncryptedRoom(b.user)
	plain := createPlainRoom(t, alice, b.user)
	if _, err := b.cli.JoinRoomByID(context.Background(), enc); err != nil {
		t.Fatal(err)
	}
	if _, err := b.cli.JoinRoomByID(context.Background(), plain); err != nil {
		t.Fatal(err)
	}
	first := time.Now()
	sendProcess(t, b, enc, textContent("first"), "m-first")
	t.Logf("first send of the device: %v", time.Since(first))
	sendProcess(t, b, enc, textContent("second"), "m-second")
	type sample struct {
		wall, cpu time.Duration
		rss       int64
	}
	var encS, plainS []sample
	run := func(mode string, i int) sample {
		room := enc
		if mode == "plain" {
			room = plain
		}
		cmd := helperCmd(t, b, room, textContent(fmt.Sprint(mode, i)), fmt.Sprintf("m-%s-%d", mode, i))
		for j, e := range cmd.Env {
			if e == "E2EE_HELPER=send" {
				cmd.Env[j] = "E2EE_HELPER=" + map[string]string{"enc": "send", "plain": "plain"}[mode]
			}
		}
		// Through GNU time: a child's ru_maxrss starts from the RSS of the
		// process that forked it (this test binary), time's is small.
		rep := filepath.Join(t.TempDir(), "time")
		cmd.Args = append([]string{"/usr/bin/time", "-f", "%M", "-o", rep}, cmd.Args...)
		cmd.Path = "/usr/bin/time"
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", mode, err, out)
		}
		wall := time.Since(start)
		ps := cmd.ProcessState
		var rss int64
		b, _ := os.ReadFile(rep)
		fmt.Sscan(string(b), &rss)
		return sample{wall, ps.UserTime() + ps.SystemTime(), rss}
	}
	for i := range 20 {
		encS = append(encS, run("enc", i))
		plainS = append(plainS, run("plain", i))
	}
	med := func(s []sample) sample {
		w, c, r := []time.Duration{}, []time.Duration{}, []int64{}
		for _, x := range s {
			w, c, r = append(w, x.wall), append(c, x.cpu), append(r, x.rss)
		}
		slices.Sort(w)
		slices.Sort(c)
		slices.Sort(r)
		return sample{w[len(w)/2], c[len(c)/2], r[len(r)/2]}
	}
	for _, s := range [][]sample{plainS, encS} {
		var rss []int64
		for _, x := range s {
			rss = append(rss, x.rss)
		}
		slices.Sort(rss)
		t.Logf("max RSS range: %d..%d KiB", rss[0], rss[len(rss)-1])
	}
	e, p := med(encS), med(plainS)
	t.Logf("plain send (1 PUT):            wall %v  CPU %v  max RSS %.1f MiB", p.wall.Round(time.Millisecond), p.cpu.Round(time.Millisecond), float64(p.rss)/1024)
	t.Logf("encrypted send, second run:    wall %v  CPU %v  max RSS %.1f MiB", e.wall.Round(time.Millisecond), e.cpu.Round(time.Millisecond), float64(e.rss)/1024)
	t.Logf("ratio of wall times: %.2f", float64(e.wall)/float64(p.wall))
}
