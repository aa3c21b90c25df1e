package realpeers

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"matrix-notify/internal/realpeer"
)

// nioReceive waits until the receiver whose store is store has n new
// messages in room, and fails the test unless every one decrypted.
func nioReceive(t *testing.T, store, room string, n int) []realpeer.NioMessage {
	t.Helper()
	var got realpeer.NioReceived
	realpeer.NioRun(t, &got, "receive", env.hs.URL, store, room, fmt.Sprint(n), "60")
	if len(got.Errors) > 0 {
		t.Errorf("nio could not decrypt %d events: %v (to-device events seen: %v)", len(got.Errors), got.Errors, got.ToDevice)
	}
	if len(got.Messages) != n {
		t.Errorf("nio received %d messages, want %d", len(got.Messages), n)
	}
	for _, m := range got.Messages {
		if !m.Decrypted {
			t.Errorf("event %s (%q) arrived unencrypted", m.EventID, m.Body)
		}
	}
	return got.Messages
}

// e2eeSite is a site whose login set up encryption: its config, and the
// secrets that must never be printed.
type e2eeSite struct {
	*site
	cfg     string
	secrets []string
}

func (s *e2eeSite) run(extraEnv []string, stdin string, args ...string) result {
	s.t.Helper()
	r := s.runEnv(extraEnv, stdin, args...)
	for _, secret := range s.secrets {
		if secret != "" && strings.Contains(r.stdout+r.stderr, secret) {
			s.t.Errorf("matrix-notify %s printed a secret of the config:\n%s", strings.Join(args, " "), r)
		}
	}
	return r
}

func (s *e2eeSite) must(code int, stdin string, args ...string) result {
	s.t.Helper()
	r := s.run(nil, stdin, args...)
	if r.code != code {
		s.t.Fatalf("matrix-notify %s: want exit %d, got %s", strings.Join(args, " "), code, r)
	}
	return r
}

// dryRun returns the contents a dry run of args prints, by body.
func (s *e2eeSite) dryRun(stdin string, args ...string) map[string]map[string]any {
	s.t.Helper()
	r := s.run([]string{"MATRIX_NOTIFY_DRY_RUN=1"}, stdin, args...)
	if r.code != 0 {
		s.t.Fatalf("dry run of %s: %s", strings.Join(args, " "), r)
	}
	return dryLines(s.t, r.stdout)
}

// dryLines reads a dry run's output: the contents, by body.
func dryLines(t *testing.T, stdout string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var req struct {
			Path    string         `json:"path"`
			Content map[string]any `json:"content"`
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			t.Fatalf("dry run line %q: %v", sc.Text(), err)
		}
		if !strings.Contains(req.Path, "/send/m.room.message/") {
			t.Errorf("dry run path %s: want the plaintext m.room.message request", req.Path)
		}
		out[req.Content["body"].(string)] = req.Content
	}
	return out
}

// recoveryKeyLine is Element's format: base58, groups of 4, starting "Es".
var recoveryKeyLine = regexp.MustCompile(`(?m)^\s*(Es[1-9A-HJ-NP-Za-km-z]{2}( [1-9A-HJ-NP-Za-km-z]{4})+)\s*$`)

// TestE2EE: the real binary, on a fresh account: a scripted login prints a
// recovery key and leaves a cross-signed device; then netdata's exec mode
// (raise and clear, in a thread), `test`, `custom-sender`, `kuma` and
// `serve` deliver into a
// room the receiver created encrypted, and nio decrypts each to exactly
// the plaintext a dry run shows; one megolm session carries them across
// the invocations. A member who joins later decrypts the next alarm; 20
// alarms at once all decrypt; an alarm queued during an outage is
// encrypted when `flush` delivers it.
func TestE2EE(t *testing.T) {
	need(t)
	realpeer.NeedNio(t)
	const bot, receiver, late = "e2eebot", "e2eenio", "e2eelate"
	for _, u := range []string{bot, receiver, late} {
		if err := env.hs.CreateUser(u, password); err != nil {
			t.Fatal(err)
		}
	}
	nioStore, lateStore := t.TempDir(), t.TempDir()
	var setup struct {
		RoomID string `json:"room_id"`
	}
	realpeer.NioRun(t, &setup, "setup", env.hs.URL, userID(receiver), password, nioStore, userID(bot)+","+userID(late))
	room := setup.RoomID
	// Dendrite publishes a new device's keys a moment after their upload;
	// a room key shared before that misses the device (until its next
	// change is synced), which is not what these tests are about.
	waitDevices(t, userID(receiver))

	s := &e2eeSite{site: newSite(t)}
	s.cfg = filepath.Join(s.user, "matrix-notify.toml")
	login := s.must(0, password+"\n", "login", "--homeserver", env.hs.URL, "--user", bot, "--config", s.cfg)
	m := recoveryKeyLine.FindStringSubmatch(login.stdout)
	if m == nil {
		t.Fatalf("login printed no recovery key in Element's format:\n%s", login)
	}
	var fc struct {
		Matrix struct {
			AccessToken string `toml:"access_token"`
			PickleKey   string `toml:"pickle_key"`
			CryptoStore string `toml:"crypto_store"`
		} `toml:"matrix"`
	}
	if _, err := toml.DecodeFile(s.cfg, &fc); err != nil {
		t.Fatal(err)
	}
	s.secrets = []string{fc.Matrix.AccessToken, fc.Matrix.PickleKey}
	if fc.Matrix.PickleKey == "" || fc.Matrix.CryptoStore == "" {
		t.Fatalf("login wrote no pickle_key or crypto_store:\n%s", login)
	}
	if st, err := os.Stat(fc.Matrix.CryptoStore); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Errorf("crypto store %s: %v (want a file readable by its owner only)", fc.Matrix.CryptoStore, err)
	}
	if strings.Contains(login.stderr, m[1]) {
		t.Errorf("the recovery key went to the log too:\n%s", login.stderr)
	}
	botCli, err := mautrix.NewClient(env.hs.URL, id.UserID(userID(bot)), fc.Matrix.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	who, err := botCli.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	realpeer.CheckCrossSigned(t, botCli, who.UserID, who.DeviceID)

	// Every mode, into the encrypted room.
	s.healthConf("", room)
	// A device's first send (its one-time keys, the room's state, the
	// key share) must not meet exec's 5 s deadline on a loaded machine:
	// this test is about what arrives, not when.
	appendFile(t, s.cfg, fmt.Sprintf("rooms = [%q]\nexec_timeout = \"30s\"\n\n[serve]\nsecret = \"e2ee-secret\"\n", room))
	want := map[string]map[string]any{}
	merge := func(m map[string]map[string]any) {
		for k, v := range m {
			want[k] = v
		}
	}
	raise := newAlarm(700, "e2ee_disk")
	clear := raise.transition("CLEAR")
	merge(s.dryRun("", raise.args()...))
	s.must(0, "", raise.args()...)
	merge(s.dryRun("", clear.args()...))
	s.must(0, "", clear.args()...)
	// test's alarms carry the time they are made: a dry run shows other
	// bodies; they are checked to decrypt.
	s.must(0, "", "test")
	merge(s.dryRun(kumaPayload(t, "http-down"), "kuma", "--config", s.cfg))
	s.must(0, kumaPayload(t, "http-down"), "kuma", "--config", s.cfg)
	// netdata's custom_sender(): the fields in the environment.
	cs := []string{"host=db01", "name=e2ee_custom", "status=WARNING", "old_status=CLEAR", "unique_id=71000",
		"alarm_id=710", "event_id=1", "chart=disk.x", "value=91", "when=1764990000", "roles=sysadmin"}
	if r := s.run(append(cs, "MATRIX_NOTIFY_DRY_RUN=1"), "", "custom-sender", room); r.code != 0 {
		t.Fatalf("custom-sender dry run: %s", r)
	} else {
		merge(dryLines(t, r.stdout))
	}
	if r := s.run(cs, "", "custom-sender", room); r.code != 0 {
		t.Fatalf("custom-sender: %s", r)
	}
	// One invocation for two encrypted rooms: one lock of the store, one
	// sync, both sealed before the PUTs.
	rd := newReader(t)
	other, err := rd.c.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{id.UserID(userID(bot))},
		InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	cs2 := append([]string{"NETDATA_ALARM_NOTIFY_DEBUG=1"}, cs...)
	cs2[2], cs2[5], cs2[6] = "name=e2ee_two_rooms", "unique_id=72000", "alarm_id=720" // another alarm
	merge(dryLines(t, s.run(append(cs2, "MATRIX_NOTIFY_DRY_RUN=1"), "", "custom-sender", room).stdout))
	two := s.run(cs2, "", "custom-sender", room+" "+other.RoomID.String())
	if two.code != 0 || strings.Count(two.stderr, "sealed under one lock") != 1 || strings.Count(two.stderr, "how=prepared") != 2 {
		t.Errorf("two encrypted rooms: want one lock for both and both prepared, got %s", two)
	}
	p := startServe(t, s.site, s.cfg)
	if code, body := p.post(t, "/kuma", "Bearer e2ee-secret", kumaPayload(t, "test-notification")); code/100 != 2 {
		t.Fatalf("serve: status %d %q\n%s", code, body, p.stderr)
	}
	merge(s.dryRun(kumaPayload(t, "test-notification"), "kuma", "--config", s.cfg))

	got := nioReceive(t, nioStore, room, 9)
	var raiseID string
	for i, m := range got {
		c := maps(m.Content)
		rel, _ := c["m.relates_to"].(map[string]any)
		delete(c, "m.relates_to")
		if m.SessionID != got[0].SessionID {
			t.Errorf("message %d is in megolm session %s, the first in %s: an invocation did not reuse the stored session", i, m.SessionID, got[0].SessionID)
		}
		w, ok := want[m.Body]
		if !ok && strings.Contains(m.Body, "test alarm") {
			continue
		}
		if !ok {
			t.Errorf("nio decrypted %q, which no dry run showed", m.Body)
			continue
		}
		if !reflect.DeepEqual(c, w) {
			t.Errorf("message %d decrypted to\n%v\nwant the dry run's\n%v", i, c, w)
		}
		switch i {
		case 0:
			raiseID = m.EventID
		case 1:
			if rel == nil || rel["rel_type"] != "m.thread" || rel["event_id"] != raiseID {
				t.Errorf("the CLEAR is not in the raise's thread: %v", rel)
			}
		}
	}

	// A member who joins after those alarms decrypts the next one.
	var joined struct {
		RoomID string `json:"room_id"`
	}
	realpeer.NioRun(t, &joined, "join", env.hs.URL, userID(late), password, lateStore, room)
	waitDevices(t, userID(late))
	next := newAlarm(701, "e2ee_after_join")
	s.must(0, "", next.args()...)
	// It may see the alarms from before it joined (history is shared),
	// which it cannot decrypt: only the new one must.
	var lateGot realpeer.NioReceived
	realpeer.NioRun(t, &lateGot, "receive", env.hs.URL, lateStore, room, "1", "60", "e2ee after join")
	var after *realpeer.NioMessage
	for i, m := range lateGot.Messages {
		if strings.Contains(m.Body, "e2ee after join") {
			after = &lateGot.Messages[i]
		}
	}
	switch {
	case after == nil:
		t.Errorf("the member who joined did not decrypt the next alarm: %+v", lateGot)
	case !after.Decrypted:
		t.Errorf("the alarm after the join arrived unencrypted")
	}
	for _, e := range lateGot.Errors {
		if after != nil && e["session_id"] == after.SessionID {
			t.Errorf("the member who joined cannot decrypt %v, in the session of the alarm after its join", e)
		}
	}

	// 20 alarms at once: every invocation exits 0, every one decrypts.
	const n = 20
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.run(nil, "", newAlarm(800+i, fmt.Sprintf("e2ee_burst_%02d", i)).args()...)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("burst alarm %d: %s", i, r)
		}
	}

	// An outage: the alarm waits in the outbox as plaintext, and flush
	// encrypts it when it delivers it.
	env.hs.Stop()
	down := newAlarm(702, "e2ee_outage")
	r := s.run([]string{"MATRIX_NOTIFY_BACKGROUND_FLUSH=0"}, "", down.args()...)
	hsUp(t)
	if r.code != 3 {
		t.Errorf("alarm during the outage: want exit 3 (queued), got %s", r)
	}
	s.must(0, "", "flush", "--config", s.cfg)

	got = nioReceive(t, nioStore, room, 1+n+1)
	bodies := map[string]bool{}
	for _, m := range got {
		bodies[m.Body] = true
	}
	names := []string{"e2ee_after_join", "e2ee_outage"}
	for i := range n {
		names = append(names, fmt.Sprintf("e2ee_burst_%02d", i))
	}
	for _, name := range names {
		found := false
		for b := range bodies {
			found = found || strings.Contains(b, name)
		}
		if !found {
			t.Errorf("nio did not decrypt the %s alarm", name)
		}
	}
	if err := checkNoPlaintext(ctx, botCli, room); err != nil {
		t.Error(err)
	}
}

// waitDevices waits until the homeserver publishes a device of user.
func waitDevices(t *testing.T, user string) {
	t.Helper()
	cli, err := mautrix.NewClient(env.hs.URL, id.UserID(userID(botName)), env.botToken)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		resp, err := cli.QueryKeys(context.Background(), &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{id.UserID(user): {}}})
		if err == nil && len(resp.DeviceKeys[id.UserID(user)]) > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no device of %s published within 10 s", user)
}

// maps is a copy of c.
func maps(c map[string]any) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// checkNoPlaintext reads the room as the homeserver holds it: the bot sent
// nothing but m.room.encrypted.
func checkNoPlaintext(ctx context.Context, cli *mautrix.Client, room string) error {
	resp, err := cli.Messages(ctx, id.RoomID(room), "", "", mautrix.DirectionBackward, nil, 500)
	if err != nil {
		return err
	}
	for _, ev := range resp.Chunk {
		if ev.Sender == cli.UserID && ev.Type.Type == "m.room.message" {
			return fmt.Errorf("the bot sent plaintext into the encrypted room: event %s", ev.ID)
		}
	}
	return nil
}

// whoamiDevice is the device of the token in cfg.
func whoamiDevice(t *testing.T, cfg string) (id.DeviceID, *mautrix.Client) {
	t.Helper()
	var fc struct {
		Matrix struct {
			AccessToken string `toml:"access_token"`
		} `toml:"matrix"`
	}
	if _, err := toml.DecodeFile(cfg, &fc); err != nil {
		t.Fatal(err)
	}
	cli, err := mautrix.NewClient(env.hs.URL, "", fc.Matrix.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	who, err := cli.Whoami(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cli.UserID, cli.DeviceID = who.UserID, who.DeviceID
	return who.DeviceID, cli
}

// firstLogin creates bot and logs it in on a new host, which makes the
// account's cross-signing identity: the host and the recovery key printed.
func firstLogin(t *testing.T, bot string) (*e2eeSite, string) {
	t.Helper()
	if err := env.hs.CreateUser(bot, password); err != nil {
		t.Fatal(err)
	}
	a := &e2eeSite{site: newSite(t)}
	a.cfg = filepath.Join(a.dir, "config.toml")
	first := a.must(0, password+"\n", "login", "--homeserver", env.hs.URL, "--user", bot, "--config", a.cfg)
	m := recoveryKeyLine.FindStringSubmatch(first.stdout)
	if m == nil {
		t.Fatalf("no recovery key:\n%s", first)
	}
	return a, m[1]
}

// TestE2EELogin: logging in again keeps the device and its store and asks
// for nothing; a second host's login (a new store) is a new device, which
// the recovery key signs, from the environment, without replacing the
// identity; doctor reports the cross-signing and the room, and a lost store
// as a problem with its fix.
func TestE2EELogin(t *testing.T) {
	need(t)
	const bot = "e2eelogin"
	a, rk := firstLogin(t, bot)
	devA, cliA := whoamiDevice(t, a.cfg)
	realpeer.CheckCrossSigned(t, cliA, cliA.UserID, devA)

	again := a.must(0, password+"\n", "login", "--homeserver", env.hs.URL, "--user", bot, "--config", a.cfg)
	if recoveryKeyLine.MatchString(again.stdout) {
		t.Errorf("logging in again printed a recovery key: a new identity?\n%s", again)
	}
	if dev, _ := whoamiDevice(t, a.cfg); dev != devA {
		t.Errorf("logging in again: device %s, want the store's %s", dev, devA)
	}

	// Another host: a new store, so a new device; the identity exists.
	b := &e2eeSite{site: newSite(t)}
	b.cfg = filepath.Join(b.dir, "config.toml")
	r := b.run(nil, password+"\n", "login", "--homeserver", env.hs.URL, "--user", bot, "--config", b.cfg)
	if r.code != 2 || !strings.Contains(r.stderr, "--recovery-key-file") {
		t.Errorf("second host without the recovery key: want exit 2 naming --recovery-key-file, got %s", r)
	}
	r = b.run([]string{"MATRIX_NOTIFY_RECOVERY_KEY=" + rk}, password+"\n", "login", "--homeserver", env.hs.URL, "--user", bot, "--config", b.cfg)
	if r.code != 0 || recoveryKeyLine.MatchString(r.stdout) {
		t.Fatalf("second host with the recovery key: %s", r)
	}
	if strings.Contains(r.stdout+r.stderr, rk) {
		t.Errorf("the recovery key given was printed:\n%s", r)
	}
	devB, cliB := whoamiDevice(t, b.cfg)
	if devB == devA {
		t.Fatalf("the second host's store got the first host's device %s", devA)
	}
	realpeer.CheckCrossSigned(t, cliB, cliB.UserID, devB)
	_, cliA = whoamiDevice(t, a.cfg)                      // logging in again revoked the first token
	realpeer.CheckCrossSigned(t, cliA, cliA.UserID, devA) // same identity: A stays signed

	// doctor, on an encrypted room the bot is invited to.
	rd := newReader(t)
	resp, err := rd.c.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{id.UserID(userID(bot))},
		InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	appendFile(t, a.cfg, fmt.Sprintf("rooms = [%q]\n", resp.RoomID))
	d := a.run(nil, "", "doctor", "--config", a.cfg, "--join")
	for _, want := range []string{"device " + string(devA) + ": cross-signed by its owner", "recovery key: opens the account's secret storage", "encrypted: 2 members"} {
		if !strings.Contains(d.stdout, want) {
			t.Errorf("doctor does not say %q:\n%s", want, d)
		}
	}
	if d.code != 0 {
		t.Errorf("doctor: %s", d)
	}
	var fc struct {
		Matrix struct {
			CryptoStore string `toml:"crypto_store"`
		} `toml:"matrix"`
	}
	if _, err := toml.DecodeFile(a.cfg, &fc); err != nil {
		t.Fatal(err)
	}
	os.Rename(fc.Matrix.CryptoStore, fc.Matrix.CryptoStore+".lost")
	d = a.run(nil, "", "doctor", "--config", a.cfg)
	if d.code != 3 || !strings.Contains(d.stdout, "log in again") {
		t.Errorf("doctor with the store lost: want exit 3 and \"log in again\", got %s", d)
	}
}
