package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"matrix-notify/sender/sendertest"
)

// binPath is the matrix-notify binary built once for the end-to-end tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "matrix-notify-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "matrix-notify")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building matrix-notify:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// backgroundFlushOff keeps the e2e tests that do not test it from leaving a
// background flush behind (newNetdataHome sets it).
const backgroundFlushOff = "MATRIX_NOTIFY_BACKGROUND_FLUSH=0"

// netdataHome is a throwaway netdata: config dirs, cache dir, and the
// environment netdata gives a notifier.
type netdataHome struct {
	user, stock, cache, lib string
	env                     []string
}

func newNetdataHome(t *testing.T, conf string) *netdataHome {
	t.Helper()
	h := &netdataHome{}
	h.user, h.stock, h.cache = netdataTree(t, t.TempDir())
	h.lib = libDir(h.cache)
	if err := os.WriteFile(filepath.Join(h.user, "health_alarm_notify.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env = []string{
		"PATH=" + os.Getenv("PATH"), "TZ=UTC",
		"NETDATA_USER_CONFIG_DIR=" + h.user, "NETDATA_STOCK_CONFIG_DIR=" + h.stock, "NETDATA_CACHE_DIR=" + h.cache,
		"NETDATA_LIB_DIR=" + h.lib, "NETDATA_REGISTRY_URL=https://netdata.example.org:19999",
		backgroundFlushOff, // TestE2EOutageDeliveredWithoutAnotherAlarm turns it on
	}
	return h
}

func (h *netdataHome) writeTOML(t *testing.T, toml string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(h.user, "matrix-notify.toml"), []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
}

type result struct {
	code           int
	stdout, stderr string
}

func (h *netdataHome) run(t *testing.T, extraEnv []string, args ...string) result {
	t.Helper()
	return h.runWith(t, nil, extraEnv, args...)
}

// runWith is run with attr as the process's attributes (such as another
// user's credentials).
func (h *netdataHome) runWith(t *testing.T, attr *syscall.SysProcAttr, extraEnv []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(append([]string{}, h.env...), extraEnv...)
	cmd.SysProcAttr = attr
	return runCmd(t, cmd)
}

// runCmd runs cmd, an invocation of the binary, for its exit code and
// output.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func confFor(hs *sendertest.Server, rooms string) string {
	return fmt.Sprintf("MATRIX_HOMESERVER=%q\nMATRIX_ACCESSTOKEN=%q\nDEFAULT_RECIPIENT_MATRIX=%q\n", hs.URL(), hs.Token(), rooms)
}

// alarmArgs is a netdata 2.x argv for one transition.
func alarmArgs(roles, uniqueID, eventID, status, oldStatus, info string) []string {
	return []string{roles, "web01", uniqueID, "42", eventID, "1763899200", "disk_space_usage", "disk_space._",
		status, oldStatus, "98.7", "91.3", "health.d/disks.conf:12", "300", "900", "%", info, "98.7%", "91.3%",
		"$this > 90", "", "1", "0", "", "", "Utilization", "", "", "t-" + uniqueID, "", "disk.space", "Disk", "System"}
}

type content struct {
	MsgType       string `json:"msgtype"`
	Body          string `json:"body"`
	Format        string `json:"format"`
	FormattedBody string `json:"formatted_body"`
}

func eventContents(t *testing.T, hs *sendertest.Server, room string) []content {
	t.Helper()
	var out []content
	for _, ev := range hs.Events(room) {
		var c content
		if err := json.Unmarshal(ev.Content, &c); err != nil {
			t.Fatal(err)
		}
		if len(ev.Legacy) > 0 {
			t.Errorf("event in %s sent the legacy way: %v", room, ev.Legacy)
		}
		out = append(out, c)
	}
	return out
}

func assertNoToken(t *testing.T, token string, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, token) {
			t.Errorf("the access token appears in output:\n%s", o)
		}
	}
}

func TestE2EDeliversToEveryRoomOnce(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!a:hs.test", "!b:hs.test"}})
	defer hs.Close()
	h := newNetdataHome(t, confFor(hs, "!a:hs.test !b:hs.test"))
	info := `free space on "/" is <low> & \falling`
	args := alarmArgs("sysadmin", "1001", "7", "CRITICAL", "WARNING", info)
	for run := 1; run <= 2; run++ {
		r := h.run(t, nil, args...)
		if r.code != 0 {
			t.Fatalf("run %d: exit %d\n%s", run, r.code, r.stderr)
		}
		// The second run finds its deliveries recorded: nothing is sent,
		// whatever the homeserver remembers of the txn ids.
		want := "INFO: sent Matrix notification"
		if run == 2 {
			want = "was delivered before"
		}
		if got := strings.Count(r.stderr, want); got != 2 {
			t.Errorf("run %d: want one log line per room, got:\n%s", run, r.stderr)
		}
		assertNoToken(t, hs.Token(), r.stdout, r.stderr)
	}
	for _, room := range []string{"!a:hs.test", "!b:hs.test"} {
		cs := eventContents(t, hs, room)
		if len(cs) != 1 {
			t.Fatalf("%s got %d events after running the same alarm twice, want 1", room, len(cs))
		}
		c := cs[0]
		// A CRITICAL is m.text by default: it notifies (an m.notice never does).
		if c.MsgType != "m.text" || c.Format != "org.matrix.custom.html" {
			t.Errorf("%s: %+v", room, c)
		}
		if !strings.Contains(c.Body, info) || !strings.Contains(c.FormattedBody, "&lt;low&gt; &amp; \\falling") {
			t.Errorf("%s: info not carried literally: %+v", room, c)
		}
		if !strings.HasPrefix(c.Body, "🔴 web01 is critical") {
			t.Errorf("%s: body %q", room, c.Body)
		}
	}
	for _, rq := range hs.Requests() {
		if rq.Method != "PUT" || !strings.HasPrefix(rq.Path, "/_matrix/client/v3/rooms/") {
			t.Errorf("unexpected request %s %s", rq.Method, rq.Path)
		}
	}
	if n := len(hs.Requests()); n != 2 {
		t.Errorf("%d requests, want the first run's 2 only", n)
	}
}

func TestE2EFailuresAndExitCodes(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!in:hs.test"}})
	defer hs.Close()

	t.Run("room not joined: others still delivered, exit 3 with the fix", func(t *testing.T) {
		h := newNetdataHome(t, confFor(hs, "!in:hs.test !out:hs.test"))
		r := h.run(t, nil, alarmArgs("sysadmin", "2001", "1", "WARNING", "CLEAR", "x")...)
		if r.code != 3 {
			t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
		}
		if len(hs.Events("!in:hs.test")) != 1 {
			t.Error("the joined room did not get its message")
		}
		if !strings.Contains(r.stderr, "M_FORBIDDEN") || !strings.Contains(r.stderr, "the bot is not in room !out:hs.test") {
			t.Errorf("stderr lacks an actionable error:\n%s", r.stderr)
		}
	})
	t.Run("bad token: exit 3, token never printed", func(t *testing.T) {
		h := newNetdataHome(t, fmt.Sprintf("MATRIX_HOMESERVER=%q\nMATRIX_ACCESSTOKEN='syt_wrong_secret_1234'\nDEFAULT_RECIPIENT_MATRIX='!in:hs.test'\n", hs.URL()))
		r := h.run(t, nil, alarmArgs("sysadmin", "2002", "1", "WARNING", "CLEAR", "x")...)
		if r.code != 3 || !strings.Contains(r.stderr, "M_UNKNOWN_TOKEN") || !strings.Contains(r.stderr, "access token was rejected") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		assertNoToken(t, "syt_wrong_secret_1234", r.stdout, r.stderr)
	})
	t.Run("homeserver down: exit 3", func(t *testing.T) {
		down := sendertest.New(sendertest.Options{})
		url := down.URL()
		down.Close()
		h := newNetdataHome(t, fmt.Sprintf("MATRIX_HOMESERVER=%q\nMATRIX_ACCESSTOKEN='syt_secret_abcd'\nDEFAULT_RECIPIENT_MATRIX='!in:hs.test'\n", url))
		h.writeTOML(t, "[matrix]\ntimeout = \"1s\"\n") // retries until the deadline
		r := h.run(t, nil, alarmArgs("sysadmin", "2003", "1", "WARNING", "CLEAR", "x")...)
		if r.code != 3 || !strings.Contains(r.stderr, "no answer from homeserver") || !strings.Contains(r.stderr, "queued") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("deadline: a homeserver slower than the timeout gives exit 3", func(t *testing.T) {
		slow := sendertest.New(sendertest.Options{Joined: []string{"!in:hs.test"}})
		defer slow.Close()
		slow.SetDelay(5e9)
		h := newNetdataHome(t, confFor(slow, "!in:hs.test"))
		h.writeTOML(t, "[matrix]\ntimeout = \"300ms\"\n")
		r := h.run(t, nil, alarmArgs("sysadmin", "2004", "1", "WARNING", "CLEAR", "x")...)
		if r.code != 3 || !strings.Contains(r.stderr, "deadline exceeded") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("screened status: exit 1, nothing sent", func(t *testing.T) {
		before := len(hs.Requests())
		h := newNetdataHome(t, confFor(hs, "!in:hs.test"))
		r := h.run(t, nil, alarmArgs("sysadmin", "2005", "1", "CLEAR", "UNDEFINED", "x")...)
		if r.code != 1 || len(hs.Requests()) != before {
			t.Fatalf("exit %d, %d new requests\n%s", r.code, len(hs.Requests())-before, r.stderr)
		}
	})
	t.Run("dry run sends nothing", func(t *testing.T) {
		before := len(hs.Requests())
		h := newNetdataHome(t, confFor(hs, "!in:hs.test"))
		r := h.run(t, []string{"MATRIX_NOTIFY_DRY_RUN=1"}, alarmArgs("sysadmin", "2006", "1", "WARNING", "CLEAR", "x")...)
		if r.code != 0 || len(hs.Requests()) != before || strings.Count(r.stdout, "\n") != 1 {
			t.Fatalf("exit %d, %d new requests, stdout %q", r.code, len(hs.Requests())-before, r.stdout)
		}
		assertNoToken(t, hs.Token(), r.stdout, r.stderr)
	})
}

func TestE2ETestMode(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!ops:hs.test"}})
	defer hs.Close()
	h := newNetdataHome(t, confFor(hs, "")+"role_recipients_matrix[sysadmin]='!ops:hs.test'\n")
	r := h.run(t, nil, "test")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	cs := eventContents(t, hs, "!ops:hs.test")
	if len(cs) != 3 {
		t.Fatalf("want WARNING, CRITICAL, CLEAR, got %d events", len(cs))
	}
	for i, prefix := range []string{"⚠️", "🔴", "✅"} {
		if !strings.HasPrefix(cs[i].Body, prefix) || !strings.Contains(cs[i].Body, "test alarm") {
			t.Errorf("test event %d: %q", i, cs[i].Body)
		}
	}
}

func TestE2ECustomSender(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!c:hs.test"}})
	defer hs.Close()
	h := newNetdataHome(t, "")
	h.writeTOML(t, fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token = %q\n", hs.URL(), hs.Token()))
	env := []string{"host=db01", "chart=mysql.queries", "name=slow_queries", "status=WARNING", "old_status=CLEAR",
		"unique_id=5", "alarm_id=6", "event_id=7", "when=1763899200", "value_string=120 q/s",
		"info=slow \"queries\"", "alarm=slow queries = 120 q/s", "goto_url=https://nd.example.org/x?y=1&z=2"}
	r := h.run(t, env, "custom-sender", "!c:hs.test")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	cs := eventContents(t, hs, "!c:hs.test")
	if len(cs) != 1 || !strings.Contains(cs[0].Body, `db01 needs attention`) || !strings.Contains(cs[0].FormattedBody, `href="https://nd.example.org/x?y=1&amp;z=2"`) {
		t.Fatalf("events: %+v", cs)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func removeAll(path string) error { return os.RemoveAll(path) }

// execIn is the binary with h's environment, for callers that set stdin.
func execIn(h *netdataHome, args ...string) *exec.Cmd {
	cmd := exec.Command(binPath, args...)
	cmd.Env = h.env
	return cmd
}

// TestE2EOversizedAlarm: an alarm far over the event size limit is
// truncated and accepted by a homeserver that enforces the limit, in every
// lifecycle mode's first message and its edit.
func TestE2EOversizedAlarm(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!a:hs.test"}})
	defer hs.Close()
	h := newNetdataHome(t, confFor(hs, "!a:hs.test"))
	h.writeTOML(t, "[matrix]\nlifecycle = \"edit\"\n")
	huge := strings.Repeat("é<&>\"", 15000) // 105 kB: over the event limit, under the kernel's 128 kB per argument
	for i, st := range [][2]string{{"CRITICAL", "CLEAR"}, {"CLEAR", "CRITICAL"}} {
		r := h.run(t, nil, alarmArgs("sysadmin", fmt.Sprint(900+i), fmt.Sprint(i+1), st[0], st[1], huge)...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", st[0], r.code, r.stderr)
		}
	}
	cs := eventContents(t, hs, "!a:hs.test")
	if len(cs) != 2 || !strings.Contains(cs[0].Body, "[truncated: ") {
		t.Fatalf("want 2 events, the first truncated with a marker; got %d", len(cs))
	}
}
