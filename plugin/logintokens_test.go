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

// Logging in again revokes the device's previous token (Synapse and
// Dendrite alike): every configuration login knows that held it gets the
// new one; a token of another device, of another homeserver, or one
// already refused is not touched.
func TestLoginUpdatesRevokedCopies(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	defer hs.Close()
	tmp := t.TempDir()
	env := loginEnv(tmp)
	main := filepath.Join(tmp, "main.toml")
	old, _, _ := loginOnce(t, hs, env, main)

	// Copies of the old token, and tokens that must stay as they are.
	other := filepath.Join(tmp, "other.toml") // MATRIX_NOTIFY_CONFIG
	env["MATRIX_NOTIFY_CONFIG"] = other
	writeConf(t, other, "# kuma\n[matrix]\nhomeserver = \""+hs.URL()+"\"\naccess_token = \""+old+"\" # copied\nrooms = [\"!k:hs\"]\n", 0o600)
	tokenFile := filepath.Join(tmp, "netdata-token")
	netdataTOML := filepath.Join(tmp, "etc", "matrix-notify.toml")
	writeConf(t, netdataTOML, "[matrix]\naccess_token_file = \""+tokenFile+"\"\n", 0o600)
	writeConf(t, tokenFile, old+"\n", 0o600)
	healthConf := filepath.Join(tmp, "etc", "health_alarm_notify.conf")
	const confHead = "#!/usr/bin/env bash\n# netdata\nSEND_MATRIX=\"YES\"\nMATRIX_HOMESERVER=\""
	conf := confHead + hs.URL() + "\"\nMATRIX_ACCESSTOKEN=\"" + old + "\"   # from login --print\nDEFAULT_RECIPIENT_MATRIX=\"!a:hs\"\n"
	writeConf(t, healthConf, conf, 0o640)
	xdg := filepath.Join(tmp, "xdg", "matrix-notify", "config.toml") // already dead
	xdgConf := "[matrix]\nhomeserver = \"" + hs.URL() + "\"\naccess_token = \"syt_long_dead\"\n"
	writeConf(t, xdg, xdgConf, 0o600)

	newToken, stdout, stderr := loginOnce(t, hs, env, main)
	if newToken == old || !rejected(t, hs, old) || rejected(t, hs, newToken) {
		t.Fatalf("the homeserver did not revoke the old token (old rejected: %v)", rejected(t, hs, old))
	}
	read := func(p string) string {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if got, want := read(other), strings.Replace(read(other), old, newToken, 1); got != want || !strings.Contains(got, "\""+newToken+"\" # copied") {
		t.Errorf("%s not updated:\n%s", other, got)
	}
	if got := read(tokenFile); got != newToken+"\n" {
		t.Errorf("token file: %q", got)
	}
	if got, want := read(healthConf), strings.Replace(conf, old, newToken, 1); got != want {
		t.Errorf("health_alarm_notify.conf:\n%s\nwant only the token changed:\n%s", got, want)
	}
	if st, _ := os.Stat(healthConf); st.Mode().Perm() != 0o640 {
		t.Errorf("health_alarm_notify.conf mode %04o, want 0640 kept", st.Mode().Perm())
	}
	if got := read(xdg); got != xdgConf {
		t.Errorf("a refused token of unknown origin was changed:\n%s", got)
	}
	for _, want := range []string{
		"made the homeserver revoke the token it had, which other configurations held device=" + sender.DeviceID("bot", hs.URL()) + " configurations=3",
		"updated a configuration to the new token setting=\"[matrix] access_token\" file=" + other + "\n",
		"updated a configuration to the new token setting=\"[matrix] access_token_file\" file=" + tokenFile + "\n",
		"updated a configuration to the new token setting=MATRIX_ACCESSTOKEN file=" + healthConf + "\n",
		"already refuses: replace it with the new token if it is meant for this account setting=\"[matrix] access_token\" file=" + xdg + " user=@bot:sendertest.localhost new_token=" + main + "\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, old) || strings.Contains(stderr, newToken) || stdout != "" {
		t.Errorf("token shown: stdout %q\nstderr:\n%s", stdout, stderr)
	}
}

// Copies naming another homeserver, or holding another device's token, stay.
func TestLoginLeavesOtherTokens(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	defer hs.Close()
	tmp := t.TempDir()
	env := loginEnv(tmp)
	main := filepath.Join(tmp, "main.toml")
	old, _, _ := loginOnce(t, hs, env, main)
	elsewhere := filepath.Join(tmp, "xdg", "matrix-notify", "config.toml")
	elsewhereConf := "[matrix]\nhomeserver = \"https://matrix.other.example\"\naccess_token = \"" + old + "\"\n"
	writeConf(t, elsewhere, elsewhereConf, 0o600)
	healthConf := filepath.Join(tmp, "etc", "health_alarm_notify.conf")
	conf := "MATRIX_ACCESSTOKEN=\"" + hs.Token() + "\"\n" // the server's first device
	writeConf(t, healthConf, conf, 0o640)

	_, _, stderr := loginOnce(t, hs, env, main)
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
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	defer hs.Close()
	tmp := t.TempDir()
	env := loginEnv(tmp)
	main := filepath.Join(tmp, "main.toml")
	old, _, _ := loginOnce(t, hs, env, main)
	healthConf := filepath.Join(tmp, "etc", "health_alarm_notify.conf")
	half := len(old) / 2
	conf := "A=\"" + old[:half] + "\"\nB=\"" + old[half:] + "\"\n\nMATRIX_ACCESSTOKEN=\"${A}${B}\"\n"
	writeConf(t, healthConf, conf, 0o640)

	newToken, stdout, stderr := loginOnce(t, hs, env, main)
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
	hs := sendertest.New(sendertest.Options{Password: loginPassword})
	defer hs.Close()
	tmp := t.TempDir()
	env := loginEnv(tmp)
	main := filepath.Join(tmp, "main.toml")
	old, _, _ := loginOnce(t, hs, env, main)
	before, _ := os.ReadFile(main)
	code, stdout, stderr := runApp(t, loginPassword+"\n", env, "login", "--print", "--homeserver", hs.URL(), "--user", "bot", "--config", main)
	if code != 0 || !rejected(t, hs, old) {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if after, _ := os.ReadFile(main); string(after) != string(before) {
		t.Errorf("--print edited %s", main)
	}
	if want := "holds the revoked token: put the one printed here instead setting=\"[matrix] access_token\" file=" + main + "\n"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if strings.Contains(stderr, strings.TrimSpace(stdout)) {
		t.Errorf("token on stderr")
	}
}
