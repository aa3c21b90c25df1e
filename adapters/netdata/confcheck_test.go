package netdata

import (
	"os"
	"strings"
	"testing"

	"matrix-notify/adapters/netdata/healthconf"
)

func TestConfNotes(t *testing.T) {
	src := `SEND_MATRIX="YES"
matrix_homeserver="https://matrix.example.org"
MATRIX_HOMESEVER="https://matrix.example.org"
MATRIX_ACCESSTOKEN="$(cat /etc/netdata/matrix.token)"
if [ -n "$X" ]; then DEFAULT_RECIPIENT_MATRIX="!a:b"; fi
role_recipients_matrix[sysadmin]="!a:b"
DEFAULT_RECIPIENT_EMAIL="root"
SEND_MSTEAMS="NO"
MATRIX_HOMESERVER="ftp://matrix.example.org"
`
	vars := healthconf.NewVars()
	warns, err := healthconf.Parse("/etc/netdata/health_alarm_notify.conf", strings.NewReader(src), vars)
	if err != nil {
		t.Fatal(err)
	}
	got := ConfNotes(vars, warns)
	want := []string{
		"/etc/netdata/health_alarm_notify.conf:4: MATRIX_ACCESSTOKEN ignored: assignment to MATRIX_ACCESSTOKEN skipped: it contains a $(command) substitution, which is never run; matrix-notify never runs commands: write the value itself, or keep the token in a file named by access_token_file in matrix-notify.toml",
		"/etc/netdata/health_alarm_notify.conf:5: DEFAULT_RECIPIENT_MATRIX ignored: if statement skipped: commands are never run; not assigned: DEFAULT_RECIPIENT_MATRIX; matrix-notify never runs commands or evaluates conditions: assign DEFAULT_RECIPIENT_MATRIX on a line of its own",
		"/etc/netdata/health_alarm_notify.conf:2: matrix_homeserver ignored (names are case-sensitive): write MATRIX_HOMESERVER=... instead",
		"/etc/netdata/health_alarm_notify.conf:3: MATRIX_HOMESEVER ignored (no such setting): write MATRIX_HOMESERVER=... instead",
		`/etc/netdata/health_alarm_notify.conf:9: MATRIX_HOMESERVER: homeserver "ftp://matrix.example.org": not an http(s) URL`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("notes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestConfNotesStock: Debian's stock file, which every install reads, gives
// no note.
func TestConfNotesStock(t *testing.T) {
	path := "../../testdata/.cache/netdata/usr/lib/netdata/conf.d/health_alarm_notify.conf"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("Debian's stock file is not here (%v): run scripts/fetch-netdata.sh (make test does)", err)
	}
	vars := healthconf.NewVars()
	warns, err := healthconf.Parse(path, strings.NewReader(string(data)), vars)
	if err != nil {
		t.Fatal(err)
	}
	if notes := ConfNotes(vars, warns); len(notes) != 0 {
		t.Errorf("notes on the stock file:\n%s", strings.Join(notes, "\n"))
	}
}
