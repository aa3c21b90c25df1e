package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"matrix-notify/sender/sendertest"
)

// nobody is the uid (and gid) the tests give netdata's directories: any
// user but root does, and this one exists everywhere.
const nobody = 65534

// TestChooseMode: flush, queue and doctor use netdata's configuration when
// matrix-notify is set up there, found without any flag or variable.
func TestChooseMode(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		files map[string]string // under the temporary netdata user dir
		flag  string
		want  configMode
	}{
		{"netdata's environment", map[string]string{"NETDATA_LIB_DIR": "/x"}, nil, "", netdataMode},
		{"nothing set up", nil, nil, "", standaloneMode},
		{"matrix-notify.toml in netdata's dir", nil, map[string]string{"matrix-notify.toml": ""}, "", netdataMode},
		{"conf mentions Matrix", nil, map[string]string{"health_alarm_notify.conf": "MATRIX_HOMESERVER=x\n"}, "", netdataMode},
		{"conf for email only", nil, map[string]string{"health_alarm_notify.conf": "SEND_EMAIL=YES\n"}, "", standaloneMode},
		{"--config in netdata's dir", nil, nil, "USER/matrix-notify.toml", netdataMode},
		{"--config elsewhere", nil, map[string]string{"matrix-notify.toml": ""}, "/somewhere/config.toml", standaloneMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := t.TempDir()
			for name, body := range tt.files {
				writeFile(t, filepath.Join(user, name), body)
			}
			a, _, _ := newGoldenApp("", tt.env)
			cf := commonFlags{config: strings.ReplaceAll(tt.flag, "USER", user)}
			if got := a.chooseMode(cf, netdataDirs{user: user, stock: t.TempDir(), cache: t.TempDir()}); got != tt.want {
				t.Errorf("mode %d, want %d", got, tt.want)
			}
		})
	}
}

// TestRootRefusedWhenItCannotActAsOwner: when root cannot become the owner
// of netdata's state directory, a command run by hand is refused with a
// hint that works without sudo, and writes nothing.
func TestRootRefusedWhenItCannotActAsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	tmp := t.TempDir()
	env := loginEnv(tmp)
	lib := filepath.Join(tmp, "lib")
	os.MkdirAll(lib, 0o755)
	os.MkdirAll(filepath.Join(tmp, "etc"), 0o755)
	writeFile(t, filepath.Join(tmp, "etc", "health_alarm_notify.conf"), "MATRIX_HOMESERVER=http://127.0.0.1:9\nMATRIX_ACCESSTOKEN=syt_x\nDEFAULT_RECIPIENT_MATRIX='!a:b'\n")
	if err := os.Chown(lib, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"queue", "flush", "test"} {
		code, _, stderr := runApp(t, "", env, cmd) // in-process: becomeUser is nil
		if code != exitUsage || !strings.Contains(stderr, "runuser -u "+userName(nobody)+" -- matrix-notify "+cmd) {
			t.Errorf("%s: exit %d\n%s", cmd, code, stderr)
		}
	}
	if entries, _ := os.ReadDir(lib); len(entries) != 0 {
		t.Errorf("refused commands wrote %v", entries)
	}
}

// TestTokenFileModes: the modes that work for netdata are accepted without
// a warning; what others can read is not.
func TestTokenFileModes(t *testing.T) {
	dir := t.TempDir()
	myGroup, otherGroup := os.Getegid(), nobody
	tests := []struct {
		perm fs.FileMode
		gid  int
		want string
	}{
		{0o600, myGroup, ""},
		{0o640, myGroup, ""},
		{0o644, myGroup, "every user of this machine can read it"},
		{0o604, myGroup, "every user of this machine can read it"},
		{0o640, otherGroup, "can read it"},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, fmt.Sprintf("f%04o-%d", tt.perm, tt.gid))
		writeFile(t, p, "x")
		os.Chmod(p, tt.perm)
		if err := os.Chown(p, os.Geteuid(), tt.gid); err != nil {
			t.Skipf("cannot chown: %v", err)
		}
		st, _ := os.Stat(p)
		got := tokenFileProblem(p, st)
		if os.Geteuid() == 0 && tt.gid == otherGroup && tt.perm&0o007 == 0 {
			tt.want = "" // root chose the group of its own file
		}
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%04o gid %d: %q, want %q", tt.perm, tt.gid, got, tt.want)
		}
	}
}

// TestWorldReadableConfWarnedOncePerChange: a health_alarm_notify.conf that
// every user can read and that holds the token is warned about once, not on
// every alarm, and again once it changes; doctor reports it; no state file
// holds the token.
func TestWorldReadableConfWarnedOncePerChange(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!a:hs.test"}})
	defer hs.Close()
	tmp := t.TempDir()
	env := loginEnv(tmp)
	user, _, _ := netdataTree(t, tmp)
	os.MkdirAll(filepath.Join(tmp, "lib"), 0o755)
	conf := filepath.Join(user, "health_alarm_notify.conf")
	writeFile(t, conf, confFor(hs, "!a:hs.test"))
	os.Chmod(conf, 0o644)
	const warning = "holds MATRIX_ACCESSTOKEN and every user of this machine can read it (mode 0644)"
	alarm := func(i int) string {
		code, _, stderr := runApp(t, "", env, alarmN(i)...)
		if code != 0 {
			t.Fatalf("alarm %d: exit %d\n%s", i, code, stderr)
		}
		return stderr
	}
	if got := alarm(0); !strings.Contains(got, warning) {
		t.Errorf("first alarm, no warning:\n%s", got)
	}
	if got := alarm(1); strings.Contains(got, warning) {
		t.Errorf("warned again with no change:\n%s", got)
	}
	writeFile(t, conf, confFor(hs, "!a:hs.test")+"# edited\n")
	if got := alarm(2); !strings.Contains(got, warning) {
		t.Errorf("changed file, no warning:\n%s", got)
	}
	_, stdout, _ := runApp(t, "", env, "doctor")
	if !strings.Contains(stdout, "PROBLEM: "+conf+" "+warning) {
		t.Errorf("doctor:\n%s", stdout)
	}
	filepath.WalkDir(filepath.Join(tmp, "lib"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if data, _ := os.ReadFile(p); strings.Contains(string(data), hs.Token()) {
				t.Errorf("%s holds the token", p)
			}
		}
		return nil
	})
}

// TestDoctorListsConfNotes: doctor lists what the conf meant for Matrix and
// is not taken, and where it looked when nothing is configured.
func TestDoctorListsConfNotes(t *testing.T) {
	tmp := t.TempDir()
	env := loginEnv(tmp)
	user, stock, _ := netdataTree(t, tmp)
	writeFile(t, filepath.Join(user, "health_alarm_notify.conf"), "matrix_homeserver=https://hs\n")
	code, stdout, stderr := runApp(t, "", env, "doctor")
	if code != exitUsage || !strings.Contains(stdout, "PROBLEM: "+filepath.Join(user, "health_alarm_notify.conf")+":1: matrix_homeserver ignored (names are case-sensitive): write MATRIX_HOMESERVER=... instead") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
	os.Remove(filepath.Join(user, "health_alarm_notify.conf"))
	_, stdout, stderr = runApp(t, "", env, "doctor")
	for _, p := range []string{filepath.Join(stock, "health_alarm_notify.conf"), filepath.Join(user, "health_alarm_notify.conf"), filepath.Join(user, "matrix-notify.toml")} {
		if !strings.Contains(stdout, p) || !strings.Contains(stderr, p) {
			t.Errorf("%s not listed as searched:\n%s%s", p, stdout, stderr)
		}
	}
}

func TestNetdataRoot(t *testing.T) {
	for _, c := range []struct{ exe, root string }{
		{"/usr/lib/netdata/plugins.d/matrix-notify", ""},
		{"/usr/libexec/netdata/plugins.d/matrix-notify", ""},
		{"/opt/netdata/usr/libexec/netdata/plugins.d/matrix-notify", "/opt/netdata"},
		{"/srv/nd/usr/lib/netdata/plugins.d/matrix-notify", "/srv/nd"},
		{"/usr/local/bin/matrix-notify", ""},
		{"/opt/netdata/usr/libexec/netdata/plugins.d/sub/matrix-notify", ""},
	} {
		if got := netdataRoot(c.exe); got != c.root {
			t.Errorf("netdataRoot(%q) = %q, want %q", c.exe, got, c.root)
		}
	}
	env := map[string]string{"NETDATA_CACHE_DIR": "/run/nd-cache"}
	a := &app{getenv: func(k string) string { return env[k] }, executable: func() (string, error) {
		return "/opt/netdata/usr/libexec/netdata/plugins.d/matrix-notify", nil
	}}
	for k, want := range map[string]string{
		"NETDATA_USER_CONFIG_DIR":  "/opt/netdata/etc/netdata",
		"NETDATA_STOCK_CONFIG_DIR": "/opt/netdata/usr/lib/netdata/conf.d",
		"NETDATA_CACHE_DIR":        "/run/nd-cache", // netdata's word wins
		"NETDATA_LIB_DIR":          "/opt/netdata/var/lib/netdata",
		"HOME":                     "",
	} {
		if got := a.netdataVar(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// Whether netdata named its directories is the environment's to say:
	// a static install's by-hand flush of a standalone outbox stays
	// standalone.
	bare := &app{getenv: func(string) string { return "" }, executable: func() (string, error) {
		return "/nonexistent/opt/netdata/usr/libexec/netdata/plugins.d/matrix-notify", nil
	}}
	if m := bare.chooseMode(commonFlags{}, bare.netdataDirs()); m != standaloneMode {
		t.Errorf("chooseMode = %v, want standalone: no netdata variable is set and the install has no setup", m)
	}
}

// TestRunAsHintNamesThePath: the hint runs the installed binary by its
// path: plugins.d is not on PATH, and `runuser -u netdata -- matrix-notify`
// failed there with "No such file or directory".
func TestRunAsHintNamesThePath(t *testing.T) {
	exe := "/usr/lib/netdata/plugins.d/matrix-notify"
	a := &app{executable: func() (string, error) { return exe, nil }}
	if got, want := runAsHint(a.program(), 0, 0, "flush"), "runuser -u root -- "+exe+" flush"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := (&app{}).program(); got != "matrix-notify" {
		t.Errorf("program without an executable: %q", got)
	}
}
