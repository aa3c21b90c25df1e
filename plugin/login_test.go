package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"matrix-notify/sender"
	"matrix-notify/sender/sendertest"
)

const loginPassword = "s3cret pass\"word\\"

// loginEnv is an environment where nothing of the host is read: netdata's
// directories and the XDG config home are under tmp.
func loginEnv(tmp string) map[string]string {
	return map[string]string{
		"XDG_CONFIG_HOME":          filepath.Join(tmp, "xdg"),
		"HOME":                     filepath.Join(tmp, "home"),
		"NETDATA_USER_CONFIG_DIR":  filepath.Join(tmp, "etc"),
		"NETDATA_STOCK_CONFIG_DIR": filepath.Join(tmp, "stock"),
		"NETDATA_CACHE_DIR":        filepath.Join(tmp, "cache"),
		"NETDATA_LIB_DIR":          filepath.Join(tmp, "lib"),
	}
}

func runApp(t *testing.T, stdin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	a, stdout, stderr := newGoldenApp(stdin, env)
	code := a.run(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

func readTOML(t *testing.T, path string) (string, *fileConfig) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", path, st.Mode().Perm())
	}
	fc, err := loadFileConfig(path, true, nil)
	if err != nil {
		t.Fatalf("written file does not load: %v\n%s", err, data)
	}
	return string(data), fc
}

// whoamiDevice checks a token against the homeserver.
func whoamiDevice(t *testing.T, hs *sendertest.Server, token string) string {
	t.Helper()
	tr, err := sender.NewMatrixTransport(hs.URL(), token, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, device, err := tr.Whoami(context.Background())
	if err != nil {
		t.Fatalf("token from login does not work: %v", err)
	}
	return device
}

func TestLoginUpdatesExistingConfig(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	defer hs.Close()
	tmp := t.TempDir()
	path := filepath.Join(tmp, "matrix-notify.toml")
	const before = `# matrix-notify, hand-written
timezone = "Europe/Paris"

[matrix]
# the old server
homeserver = "https://old.example.org/"   # moved in 2026
access_token = 'syt_old_token'
rooms = [
  "!a:hs.test", # ops
]

[kuma]
rooms = ["!k:hs.test"]
`
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	env := loginEnv(tmp)
	args := []string{"login", "--homeserver", hs.URL() + "/", "--user", "bot", "--config", path}
	code, stdout, stderr := runApp(t, loginPassword+"\n", env, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	after, fc := readTOML(t, path)
	if fc.Matrix.Homeserver != hs.URL() || fc.Matrix.AccessToken == "" || fc.Matrix.AccessToken == "syt_old_token" {
		t.Fatalf("config: %+v", fc.Matrix)
	}
	want := strings.NewReplacer(
		`"https://old.example.org/"`, `"`+hs.URL()+`"`,
		`'syt_old_token'`, `"`+fc.Matrix.AccessToken+`"`,
	).Replace(before)
	if after != want {
		t.Errorf("only the two values may change:\n--- got\n%s--- want\n%s", after, want)
	}
	device := whoamiDevice(t, hs, fc.Matrix.AccessToken)
	if device != sender.DeviceID("bot", hs.URL()) {
		t.Errorf("device %s", device)
	}
	for _, out := range []string{stdout, stderr} {
		if strings.Contains(out, loginPassword) || strings.Contains(out, fc.Matrix.AccessToken) {
			t.Errorf("password or token in output:\n%s", out)
		}
	}
	if stdout != "" {
		t.Errorf("stdout: %q (prompts and logs go to stderr)", stdout)
	}

	// Again: the same device, a new token, the old one gone.
	first := fc.Matrix.AccessToken
	if code, _, stderr := runApp(t, loginPassword+"\n", env, args...); code != 0 {
		t.Fatalf("second login: exit %d\n%s", code, stderr)
	}
	_, fc = readTOML(t, path)
	if devs := hs.Devices(); len(devs) != 2 { // the server's initial device and ours
		t.Errorf("devices after two logins: %v", devs)
	}
	if whoamiDevice(t, hs, fc.Matrix.AccessToken) != device || fc.Matrix.AccessToken == first {
		t.Errorf("second login: token %q", fc.Matrix.AccessToken)
	}
}

func TestLoginNewConfigFromPrompts(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	defer hs.Close()
	tmp := t.TempDir()
	env := loginEnv(tmp)
	// No flags: homeserver, user and password are three lines of stdin.
	code, stdout, stderr := runApp(t, hs.URL()+"\n@bot:sendertest.localhost\n"+loginPassword+"\n", env, "login")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	path := filepath.Join(tmp, "xdg", "matrix-notify", "config.toml")
	data, fc := readTOML(t, path)
	if fc.Matrix.Homeserver != hs.URL() || !strings.HasPrefix(data, "[matrix]\n") {
		t.Errorf("new config:\n%s", data)
	}
	whoamiDevice(t, hs, fc.Matrix.AccessToken)
	for _, prompt := range []string{"Homeserver", "User", "Password for @bot:sendertest.localhost: "} {
		if !strings.Contains(stderr, prompt) {
			t.Errorf("no prompt %q in:\n%s", prompt, stderr)
		}
	}
	if stdout != "" {
		t.Errorf("stdout: %q", stdout)
	}
	// The config's homeserver is the default next time: an empty line takes it.
	code, _, stderr = runApp(t, "\nbot\n"+loginPassword+"\n", env, "login")
	if code != 0 || !strings.Contains(stderr, "["+hs.URL()+"]") {
		t.Errorf("default homeserver: exit %d\n%s", code, stderr)
	}
	if devs := hs.Devices(); len(devs) != 2 {
		t.Errorf("devices: %v", devs)
	}
}

// TestLoginHomeserverFromTheConf: a netdata admin has set MATRIX_HOMESERVER
// in health_alarm_notify.conf: login offers it, and an empty line takes it.
// A password piped in alone is taken for the first answer: the error says
// how piped lines are read.
func TestLoginHomeserverFromTheConf(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	defer hs.Close()
	tmp := t.TempDir()
	env := loginEnv(tmp)
	os.MkdirAll(filepath.Join(tmp, "etc"), 0o755)
	writeFile(t, filepath.Join(tmp, "etc", "health_alarm_notify.conf"), fmt.Sprintf("MATRIX_HOMESERVER=%q\n", hs.URL()))
	code, _, stderr := runApp(t, loginPassword+"\n", env, "login", "--user", "bot")
	if code != exitUsage || !strings.Contains(stderr, "piped in, its lines answer the questions asked, in order") {
		t.Errorf("a lone piped password: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runApp(t, "\n"+loginPassword+"\n", env, "login", "--user", "bot")
	if code != 0 || !strings.Contains(stderr, "["+hs.URL()+"]") {
		t.Errorf("the conf's homeserver as the default: exit %d\n%s", code, stderr)
	}
}

func TestLoginPrint(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	defer hs.Close()
	tmp := t.TempDir()
	path := filepath.Join(tmp, "config.toml")
	code, stdout, stderr := runApp(t, loginPassword+"\n", loginEnv(tmp), "login", "--print", "--homeserver", hs.URL(), "--user", "bot", "--config", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	token := strings.TrimSuffix(stdout, "\n")
	if token == "" || strings.Contains(token, "\n") {
		t.Fatalf("stdout %q: want the token alone", stdout)
	}
	whoamiDevice(t, hs, token)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("--print wrote %s", path)
	}
	if strings.Contains(stderr, token) {
		t.Errorf("token on stderr:\n%s", stderr)
	}
}

func TestLoginAccessTokenFile(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	defer hs.Close()
	tmp := t.TempDir()
	path, tokenFile := filepath.Join(tmp, "config.toml"), filepath.Join(tmp, "token")
	conf := "[matrix]\nhomeserver = \"https://old.example.org\"\naccess_token_file = " + tomlQuote(tokenFile) + "\n"
	os.WriteFile(path, []byte(conf), 0o600)
	os.WriteFile(tokenFile, []byte("syt_old\n"), 0o600)
	if code, _, stderr := runApp(t, loginPassword+"\n", loginEnv(tmp), "login", "--homeserver", hs.URL(), "--user", "bot", "--config", path); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	data, fc := readTOML(t, path)
	if strings.Contains(data, "access_token =") || fc.Matrix.Homeserver != hs.URL() {
		t.Errorf("config:\n%s", data)
	}
	if st, err := os.Stat(tokenFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v %v", st, err)
	}
	if fc.Matrix.AccessToken == "syt_old" { // loadFileConfig reads the token file
		t.Error("token file not updated")
	}
	whoamiDevice(t, hs, fc.Matrix.AccessToken)
}

func TestLoginFailures(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	defer hs.Close()
	tmp := t.TempDir()
	path := filepath.Join(tmp, "config.toml")
	const before = "[matrix]\nhomeserver = \"https://keep.example.org\"\naccess_token = \"syt_keep\"\n"
	os.WriteFile(path, []byte(before), 0o600)
	env := loginEnv(tmp)
	tests := []struct {
		name, stdin string
		args        []string
		code        int
		want        string
	}{
		{"wrong password", "nope\n", []string{"--homeserver", hs.URL(), "--user", "bot"}, 2, "wrong user or password"},
		{"password in argv", "", []string{"--homeserver", hs.URL(), "--user", "bot", "--password", "x"}, 2, "flag provided but not defined: -password"},
		{"password as a word", "", []string{"--homeserver", hs.URL(), "--user", "bot", "hunter2"}, 2, "never given on the command line"},
		{"no password", "", []string{"--homeserver", hs.URL(), "--user", "bot"}, 2, "no password on stdin"},
		{"empty password", "\n", []string{"--homeserver", hs.URL(), "--user", "bot"}, 2, "empty password"},
		{"not a homeserver", loginPassword + "\n", []string{"--homeserver", hs.URL() + "/nothing", "--user", "bot"}, 3, "is this the Matrix homeserver's URL?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"login", "--config", path}, tt.args...)
			code, stdout, stderr := runApp(t, tt.stdin, env, args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, tt.code, tt.want, stderr)
			}
			if stdout != "" || strings.Contains(stderr, loginPassword) {
				t.Errorf("stdout %q, stderr:\n%s", stdout, stderr)
			}
			if data, _ := os.ReadFile(path); string(data) != before {
				t.Errorf("config changed:\n%s", data)
			}
		})
	}
	if devs := hs.Devices(); len(devs) != 1 {
		t.Errorf("failed logins created devices: %v", devs)
	}
}

func TestSetMatrixKeys(t *testing.T) {
	keys := [][2]string{{"homeserver", "https://hs"}, {"access_token", `t"k`}}
	tests := []struct{ name, in, want string }{
		{"empty", "", "[matrix]\nhomeserver = \"https://hs\"\naccess_token = \"t\\\"k\"\n"},
		{"no matrix table", "timezone = \"UTC\"\n[serve]\nlisten = \"x\"",
			"timezone = \"UTC\"\n[serve]\nlisten = \"x\"\n\n[matrix]\nhomeserver = \"https://hs\"\naccess_token = \"t\\\"k\"\n"},
		{"missing keys go after the header", "[matrix] # mine\nrooms = [\"!a\"]\n[matrix.x]\nhomeserver = \"no\"\n",
			"[matrix] # mine\nhomeserver = \"https://hs\"\naccess_token = \"t\\\"k\"\nrooms = [\"!a\"]\n[matrix.x]\nhomeserver = \"no\"\n"},
		{"crlf", "[matrix]\r\nhomeserver = \"a\" # c\r\naccess_token=\"b\"\r\n",
			"[matrix]\r\nhomeserver = \"https://hs\" # c\r\naccess_token = \"t\\\"k\"\r\n"},
		{"access_token_file is another key", "[matrix]\naccess_token_file = \"/f\"\n",
			"[matrix]\nhomeserver = \"https://hs\"\naccess_token = \"t\\\"k\"\naccess_token_file = \"/f\"\n"},
		{"escaped quote in old value", "[matrix]\nhomeserver = \"a\\\"b\" # x\naccess_token = \"\"\n",
			"[matrix]\nhomeserver = \"https://hs\" # x\naccess_token = \"t\\\"k\"\n"},
		{"'#' inside the old values", "[matrix]\nhomeserver = \"a#b\" # c\naccess_token = 'x#y'#d\n",
			"[matrix]\nhomeserver = \"https://hs\" # c\naccess_token = \"t\\\"k\"#d\n"},
		{"dotted keys", "matrix.homeserver = \"a\"\nmatrix.access_token = 'b'\n",
			"matrix.homeserver = \"https://hs\"\nmatrix.access_token = \"t\\\"k\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := setMatrixKeys(tt.in, keys)
			if err != nil || got != tt.want {
				t.Errorf("got %q %v\nwant %q", got, err, tt.want)
			}
		})
	}
	if _, err := setMatrixKeys("[matrix]\nhomeserver = \"\"\"\nx\"\"\"\n", keys); err == nil {
		t.Error("multi-line string rewritten")
	}
	// Any value round-trips, control characters included.
	odd := "a\x01\t\n\x7f\"\\é"
	got, err := setMatrixKeys("[matrix]\nhomeserver = \"old\"\n", [][2]string{{"homeserver", odd}})
	if err != nil || strings.Count(got, "\n") != 2 {
		t.Errorf("control characters: %q %v", got, err)
	}
}

// TestLoginWritesForNetdata: root logging in for netdata (a TOML file in
// netdata's config directory) writes a file netdata's user can read:
// root:netdata 0640 (netdata's user: the owner of NETDATA_LIB_DIR), not
// root:root 0600, which would lose every alarm. Elsewhere it stays 0600.
func TestLoginWritesForNetdata(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	defer hs.Close()
	tmp := t.TempDir()
	env := loginEnv(tmp)
	for _, d := range []string{"etc", "lib"} {
		os.MkdirAll(filepath.Join(tmp, d), 0o755)
	}
	if err := os.Chown(filepath.Join(tmp, "lib"), nobody, nobody); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path   string
		gid    int
		perm   fs.FileMode
		logged string
	}{
		{filepath.Join(tmp, "etc", "matrix-notify.toml"), nobody, 0o640, "so that netdata can read it"},
		{filepath.Join(tmp, "own.toml"), 0, 0o600, `access="mode 0600"`},
	} {
		code, _, stderr := runApp(t, loginPassword+"\n", env, "login", "--homeserver", hs.URL(), "--user", "bot", "--config", tc.path)
		if code != 0 || !strings.Contains(stderr, tc.logged) {
			t.Fatalf("%s: exit %d\n%s", tc.path, code, stderr)
		}
		st, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		uid, gid, _ := fileOwner(st)
		if uid != 0 || gid != tc.gid || st.Mode().Perm() != tc.perm {
			t.Errorf("%s: %d:%d %04o, want 0:%d %04o", tc.path, uid, gid, st.Mode().Perm(), tc.gid, tc.perm)
		}
	}
}

// TestLoginFindsNetdatasConfig: with matrix-notify set up for netdata,
// login without --config updates the TOML file exec mode reads, not one in
// the XDG directory that netdata never looks at.
func TestLoginFindsNetdatasConfig(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	defer hs.Close()
	tmp := t.TempDir()
	env := loginEnv(tmp)
	os.MkdirAll(filepath.Join(tmp, "etc"), 0o755)
	writeFile(t, filepath.Join(tmp, "etc", "health_alarm_notify.conf"), "DEFAULT_RECIPIENT_MATRIX='!a:b'\n")
	code, _, stderr := runApp(t, loginPassword+"\n", env, "login", "--homeserver", hs.URL(), "--user", "bot")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if _, fc := readTOML(t, filepath.Join(tmp, "etc", "matrix-notify.toml")); fc.Matrix.Homeserver != hs.URL() {
		t.Errorf("config: %+v", fc.Matrix)
	}
}
