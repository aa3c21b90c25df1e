package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"matrix-notify/sender"
	"matrix-notify/sender/sendertest"
)

// loginOnce logs in with --config path and returns the token saved there.
func loginOnce(t *testing.T, hs *sendertest.Server, env map[string]string, path string, extra ...string) (token, stdout, stderr string) {
	t.Helper()
	args := append([]string{"login", "--homeserver", hs.URL(), "--user", "bot", "--config", path}, extra...)
	code, stdout, stderr := runApp(t, loginPassword+"\n", env, args...)
	if code != 0 {
		t.Fatalf("login: exit %d\n%s", code, stderr)
	}
	_, fc := readTOML(t, path)
	return fc.Matrix.AccessToken, stdout, stderr
}

func rejected(t *testing.T, hs *sendertest.Server, token string) bool {
	t.Helper()
	tr, err := sender.NewMatrixTransport(hs.URL(), token, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = tr.Whoami(context.Background())
	return err != nil && strings.Contains(err.Error(), "M_UNKNOWN_TOKEN")
}

func writeConf(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// firstLogin is where these tests start: a bot logged in once, with
// --config main, on hs, in tmp's netdata and XDG directories (loginEnv).
type firstLogin struct {
	hs   *sendertest.Server
	tmp  string
	env  map[string]string
	main string // the configuration login writes
	old  string // the token of the first login
}

func loggedIn(t *testing.T) *firstLogin {
	t.Helper()
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	t.Cleanup(hs.Close)
	tmp := t.TempDir()
	l := &firstLogin{hs: hs, tmp: tmp, env: loginEnv(tmp), main: filepath.Join(tmp, "main.toml")}
	l.old, _, _ = loginOnce(t, hs, l.env, l.main)
	return l
}

// login logs in again, as the first time.
func (l *firstLogin) login(t *testing.T) (token, stdout, stderr string) {
	t.Helper()
	return loginOnce(t, l.hs, l.env, l.main)
}

// Logging in again revokes the device's previous token (Synapse and
// Dendrite alike): every configuration login knows that held it gets the
// new one; a token of another device, of another homeserver, or one
// already refused is not touched.
func TestLoginUpdatesRevokedCopies(t *testing.T) {
	l := loggedIn(t)

	// Copies of the old token, and tokens that must stay as they are.
	other := filepath.Join(l.tmp, "other.toml") // MATRIX_NOTIFY_CONFIG
	l.env["MATRIX_NOTIFY_CONFIG"] = other
	writeConf(t, other, "# kuma\n[matrix]\nhomeserver = \""+l.hs.URL()+"\"\naccess_token = \""+l.old+"\" # copied\nrooms = [\"!k:hs\"]\n", 0o600)
	tokenFile := filepath.Join(l.tmp, "netdata-token")
	netdataTOML := filepath.Join(l.tmp, "etc", "matrix-notify.toml")
	writeConf(t, netdataTOML, "[matrix]\naccess_token_file = \""+tokenFile+"\"\n", 0o600)
	writeConf(t, tokenFile, l.old+"\n", 0o600)
	healthConf := filepath.Join(l.tmp, "etc", "health_alarm_notify.conf")
	const confHead = "#!/usr/bin/env bash\n# netdata\nSEND_MATRIX=\"YES\"\nMATRIX_HOMESERVER=\""
	conf := confHead + l.hs.URL() + "\"\nMATRIX_ACCESSTOKEN=\"" + l.old + "\"   # from login --print\nDEFAULT_RECIPIENT_MATRIX=\"!a:hs\"\n"
	writeConf(t, healthConf, conf, 0o640)
	xdg := filepath.Join(l.tmp, "xdg", "matrix-notify", "config.toml") // already dead
	xdgConf := "[matrix]\nhomeserver = \"" + l.hs.URL() + "\"\naccess_token = \"syt_long_dead\"\n"
	writeConf(t, xdg, xdgConf, 0o600)

	newToken, stdout, stderr := l.login(t)
	if newToken == l.old || !rejected(t, l.hs, l.old) || rejected(t, l.hs, newToken) {
		t.Fatalf("the homeserver did not revoke the old token (old rejected: %v)", rejected(t, l.hs, l.old))
	}
	read := func(p string) string {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if got, want := read(other), strings.Replace(read(other), l.old, newToken, 1); got != want || !strings.Contains(got, "\""+newToken+"\" # copied") {
		t.Errorf("%s not updated:\n%s", other, got)
	}
	if got := read(tokenFile); got != newToken+"\n" {
		t.Errorf("token file: %q", got)
	}
	if got, want := read(healthConf), strings.Replace(conf, l.old, newToken, 1); got != want {
		t.Errorf("health_alarm_notify.conf:\n%s\nwant only the token changed:\n%s", got, want)
	}
	if st, _ := os.Stat(healthConf); st.Mode().Perm() != 0o640 {
		t.Errorf("health_alarm_notify.conf mode %04o, want 0640 kept", st.Mode().Perm())
	}
	if got := read(xdg); got != xdgConf {
		t.Errorf("a refused token of unknown origin was changed:\n%s", got)
	}
	for _, want := range []string{
		"made the homeserver revoke the token it had, which other configurations held device=" + sender.DeviceID("bot", l.hs.URL()) + " configurations=3",
		"updated a configuration to the new token setting=\"[matrix] access_token\" file=" + other + "\n",
		"updated a configuration to the new token setting=\"[matrix] access_token_file\" file=" + tokenFile + "\n",
		"updated a configuration to the new token setting=MATRIX_ACCESSTOKEN file=" + healthConf + "\n",
		"already refuses: replace it with the new token if it is meant for this account setting=\"[matrix] access_token\" file=" + xdg + " user=@bot:sendertest.localhost new_token=" + l.main + "\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, l.old) || strings.Contains(stderr, newToken) || stdout != "" {
		t.Errorf("token shown: stdout %q\nstderr:\n%s", stdout, stderr)
	}
}

// Copies naming another homeserver, or holding another device's token, stay.
func TestLoginLeavesOtherTokens(t *testing.T) {
	l := loggedIn(t)
	elsewhere := filepath.Join(l.tmp, "xdg", "matrix-notify", "config.toml")
	elsewhereConf := "[matrix]\nhomeserver = \"https://matrix.other.example\"\naccess_token = \"" + l.old + "\"\n"
	writeConf(t, elsewhere, elsewhereConf, 0o600)
	healthConf := filepath.Join(l.tmp, "etc", "health_alarm_notify.conf")
	conf := "MATRIX_ACCESSTOKEN=\"" + l.hs.Token() + "\"\n" // the server's first device
	writeConf(t, healthConf, conf, 0o640)

	_, _, stderr := l.login(t)
	if data, _ := os.ReadFile(elsewhere); string(data) != elsewhereConf {
		t.Errorf("another homeserver's config changed:\n%s", data)
	}
	if data, _ := os.ReadFile(healthConf); string(data) != conf {
		t.Errorf("another device's token changed:\n%s", data)
	}
	if strings.Contains(stderr, "revoke") || strings.Contains(stderr, "refuses") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

// A token the file does not write as a plain value is not edited: login
// names the line and prints the line to write on stdout (not in the log).
func TestLoginNamesHealthConfLine(t *testing.T) {
	l := loggedIn(t)
	healthConf := filepath.Join(l.tmp, "etc", "health_alarm_notify.conf")
	half := len(l.old) / 2
	conf := "A=\"" + l.old[:half] + "\"\nB=\"" + l.old[half:] + "\"\n\nMATRIX_ACCESSTOKEN=\"${A}${B}\"\n"
	writeConf(t, healthConf, conf, 0o640)

	newToken, stdout, stderr := l.login(t)
	if data, _ := os.ReadFile(healthConf); string(data) != conf {
		t.Errorf("edited:\n%s", data)
	}
	if stdout != "MATRIX_ACCESSTOKEN='"+newToken+"'\n" {
		t.Errorf("stdout %q", stdout)
	}
	want := "holds the revoked token and was not updated setting=MATRIX_ACCESSTOKEN file=" + healthConf + " err=\"the token is not written there as a plain value; write there the line printed on stdout (at " + healthConf + ":4)\""
	if !strings.Contains(stderr, want) || strings.Contains(stderr, newToken) {
		t.Errorf("stderr lacks %q (or shows the token):\n%s", want, stderr)
	}
}

// --print writes no file: the copies are named, not edited.
func TestLoginPrintNamesCopies(t *testing.T) {
	l := loggedIn(t)
	before, _ := os.ReadFile(l.main)
	code, stdout, stderr := runApp(t, loginPassword+"\n", l.env, "login", "--print", "--homeserver", l.hs.URL(), "--user", "bot", "--config", l.main)
	if code != 0 || !rejected(t, l.hs, l.old) {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if after, _ := os.ReadFile(l.main); string(after) != string(before) {
		t.Errorf("--print edited %s", l.main)
	}
	if want := "holds the revoked token: put the one printed here instead setting=\"[matrix] access_token\" file=" + l.main + "\n"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if strings.Contains(stderr, strings.TrimSpace(stdout)) {
		t.Errorf("token on stderr")
	}
}
