package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"matrix-notify/sender/sendertest"
)

// doctorHome is a homeserver with one room of every kind, and a netdata and
// TOML configuration naming them.
func doctorHome(t *testing.T) (*sendertest.Server, map[string]string, string) {
	t.Helper()
	hs := sendertest.New(sendertest.Options{
		Joined:    []string{"!ok:hs.test", "!muted:hs.test", "!secret:hs.test", "!Yv12opaque"},
		Invited:   []string{"!invited:hs.test"},
		Encrypted: []string{"!secret:hs.test"},
		Aliases:   map[string]string{"#alerts:hs.test": "!ok:hs.test"},
	})
	t.Cleanup(hs.Close)
	hs.AddAlias("#stranger:hs.test", "!stranger:hs.test") // known, no invite
	pl := sendertest.DefaultPowerLevels()
	pl.Events["m.room.message"] = 50
	hs.SetPowerLevels("!muted:hs.test", pl)

	tmp := t.TempDir()
	env := loginEnv(tmp)
	for _, d := range []string{"etc", "stock"} {
		os.MkdirAll(filepath.Join(tmp, d), 0o755)
	}
	conf := `MATRIX_HOMESERVER="` + hs.URL() + `/"
MATRIX_ACCESSTOKEN="` + hs.Token() + `"
DEFAULT_RECIPIENT_MATRIX="!ok:hs.test"
role_recipients_matrix[sysadmin]="!ok:hs.test !muted:hs.test|critical disabled"
role_recipients_matrix[dba]="!stranger:hs.test,!Yv12opaque|nowarn"
SEND_CUSTOM="YES"
DEFAULT_RECIPIENT_CUSTOM="!ok:hs.test|critical"
role_recipients_custom[ops]="ops@example.org"
`
	if err := os.WriteFile(filepath.Join(tmp, "etc", "health_alarm_notify.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	toml := `[kuma]
rooms = ["#alerts:hs.test", "!secret:hs.test"]
[kuma.routes]
db = ["!invited:hs.test"]
`
	if err := os.WriteFile(filepath.Join(tmp, "etc", "matrix-notify.toml"), []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return hs, env, tmp
}

func TestDoctorReport(t *testing.T) {
	hs, env, tmp := doctorHome(t)
	code, stdout, stderr := runApp(t, "", env, "doctor")
	if code != exitFailed {
		t.Errorf("exit %d, want %d\n%s", code, exitFailed, stderr)
	}
	got := strings.NewReplacer(hs.URL(), "$HS", tmp, "$TMP").Replace(stdout)
	want := `configuration: $TMP/etc/health_alarm_notify.conf, $TMP/etc/matrix-notify.toml
state: $TMP/lib/matrix-notify
homeserver: $HS (trailing slash ignored)
account: @bot:sendertest.localhost (device SENDERTEST)
auto_join: on
encryption: not set up (no [matrix] pickle_key): encrypted rooms get unencrypted alerts; run ` + "`matrix-notify login`" + ` to set it up

room #alerts:hs.test -> !ok:hs.test ([kuma] rooms)
  ok: joined, can post (power 0, needs 0), not encrypted

room !secret:hs.test ([kuma] rooms)
  ok: joined, can post (power 0, needs 0), encrypted
  warning: the room is encrypted but encryption is not set up: alerts arrive unencrypted, and clients that exclude unverified devices show nothing; run ` + "`matrix-notify login`" + `

room !invited:hs.test ([kuma.routes] db)
  ok: invited; auto_join accepts the invite at the first alert (or run ` + "`matrix-notify doctor --join`" + ` now)
  note: power levels and encryption can only be checked once joined

room !ok:hs.test (DEFAULT_RECIPIENT_MATRIX, role_recipients_matrix[sysadmin], DEFAULT_RECIPIENT_CUSTOM)
  ok: joined, can post (power 0, needs 0), not encrypted

room !stranger:hs.test (role_recipients_matrix[dba])
  PROBLEM: the bot is not in the room and has no invite
  fix: invite @bot:sendertest.localhost to the room, then run ` + "`matrix-notify doctor --join`" + ` (or let auto_join accept the invite at the next alert)

room !Yv12opaque (role_recipients_matrix[dba])
  ok: joined, can post (power 0, needs 0), not encrypted

room !muted:hs.test (role_recipients_matrix[sysadmin])
  PROBLEM: the bot may not post: its power level is 0, sending messages needs 50
  fix: raise the bot's power level to 50 (Element: Room settings → Roles & Permissions), or lower "Send messages" to 0

5 of 7 rooms can receive alerts
`
	if got != want {
		t.Errorf("report:\n%s\nwant:\n%s\ndiff:\n%s", got, want, lineDiff(want, got))
	}
	if strings.Contains(stdout+stderr, hs.Token()) {
		t.Error("token in output")
	}
	// The doctor looks, it does not touch: nothing sent, nothing joined.
	for _, r := range hs.Requests() {
		if r.Method != "GET" {
			t.Errorf("doctor sent %s %s", r.Method, r.Path)
		}
	}
}

func TestDoctorJoinAndAllGood(t *testing.T) {
	hs, env, tmp := doctorHome(t)
	// Only the rooms that can be fixed by joining: [matrix] rooms replaces
	// the netdata default, and a config of its own drops the rest.
	os.Remove(filepath.Join(tmp, "etc", "health_alarm_notify.conf"))
	path := filepath.Join(tmp, "only.toml")
	os.WriteFile(path, []byte(`[matrix]
homeserver = "`+hs.URL()+`"
access_token = "`+hs.Token()+`"
rooms = ["#alerts:hs.test", "!invited:hs.test"]
`), 0o600)
	code, stdout, stderr := runApp(t, "", env, "doctor", "--config", path, "--join")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "room !invited:hs.test ([matrix] rooms)\n  ok: joined") ||
		!strings.Contains(stdout, "2 of 2 rooms can receive alerts") || !strings.Contains(stderr, "joined, accepting the invite room=!invited:hs.test") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if got := len(hs.Events("!invited:hs.test")); got != 0 {
		t.Errorf("doctor posted %d events", got)
	}
}

func TestDoctorProblems(t *testing.T) {
	hs, env, tmp := doctorHome(t)
	write := func(name, body string) string {
		p := filepath.Join(tmp, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	gone := sendertest.New(sendertest.Options{})
	gone.Close()
	tests := []struct {
		name, config string
		code         int
		want         string
	}{
		{"rejected token", "[matrix]\nhomeserver = \"" + hs.URL() + "\"\naccess_token = \"syt_wrong\"\nrooms = [\"!ok:hs.test\"]\n",
			exitFailed, "M_UNKNOWN_TOKEN"},
		{"unknown alias", "[matrix]\nhomeserver = \"" + hs.URL() + "\"\naccess_token = \"" + hs.Token() + "\"\nrooms = [\"#nope:hs.test\"]\n",
			exitFailed, "PROBLEM: the alias does not exist on the homeserver"},
		{"homeserver down", "[matrix]\nhomeserver = \"" + gone.URL() + "\"\naccess_token = \"x\"\nrooms = [\"!ok:hs.test\"]\n",
			exitFailed, "fix: set [matrix] homeserver"},
		{"invited, auto_join off", "[matrix]\nhomeserver = \"" + hs.URL() + "\"\naccess_token = \"" + hs.Token() + "\"\nauto_join = false\nrooms = [\"!invited:hs.test\"]\n",
			exitFailed, "auto_join: off\n\nroom !invited:hs.test ([matrix] rooms)\n  PROBLEM: the bot is invited but has not joined, and auto_join is off\n  fix: run `matrix-notify doctor --join`"},
		{"no rooms", "[matrix]\nhomeserver = \"" + hs.URL() + "\"\naccess_token = \"" + hs.Token() + "\"\n",
			exitFailed, "no rooms configured"},
	}
	os.Remove(filepath.Join(tmp, "etc", "health_alarm_notify.conf"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(strings.ReplaceAll(tt.name, " ", "-")+".toml", tt.config)
			code, stdout, stderr := runApp(t, "", env, "doctor", "--config", path)
			if code != tt.code || !strings.Contains(stdout, tt.want) {
				t.Errorf("exit %d (want %d), stdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
		})
	}
	if code, _, stderr := runApp(t, "", env, "doctor", "--config", write("empty.toml", "")); code != exitUsage || !strings.Contains(stderr, "matrix-notify login") {
		t.Errorf("no token: exit %d\n%s", code, stderr)
	}
	if code, _, _ := runApp(t, "", env, "doctor", "extra"); code != exitUsage {
		t.Errorf("extra argument: exit %d", code)
	}
}

// TestDoctorSendMatrixNo: with the stock Matrix method off (custom_sender's
// way), doctor says how alarms reach matrix-notify, and why `test` sends
// nothing.
func TestDoctorSendMatrixNo(t *testing.T) {
	_, env, tmp := doctorHome(t)
	conf := filepath.Join(tmp, "etc", "health_alarm_notify.conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, conf, string(data)+"SEND_MATRIX=\"NO\"\n")
	_, stdout, _ := runApp(t, "", env, "doctor")
	if !strings.Contains(stdout, `netdata: SEND_MATRIX="NO": alarms reach matrix-notify only through custom_sender()`) {
		t.Errorf("no word on SEND_MATRIX:\n%s", stdout)
	}
}
