package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"matrix-notify/sender/e2ee"
	"matrix-notify/sender/sendertest"
)

// encryptedConf is a kuma config with encryption on and its crypto store at
// store.
func encryptedConf(t *testing.T, hs *sendertest.Server, room, store, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	conf := fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token = %q\nrooms = [%q]\npickle_key = %q\ncrypto_store = %q\nretry_base = \"5ms\"\n%s",
		hs.URL(), hs.Token(), room, e2ee.NewPickleKey(), store, extra)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// standaloneEnv is kuma's and serve's environment: nothing of netdata.
func standaloneEnv(tmp string) map[string]string {
	return map[string]string{"HOME": filepath.Join(tmp, "home"), "XDG_CONFIG_HOME": filepath.Join(tmp, "xdg"), "XDG_STATE_HOME": filepath.Join(tmp, "state")}
}

func kumaPayloadFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "kuma", name, "payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// With encryption configured and its store gone (a lost state directory,
// a config copied to another host), nothing is sent in the clear: the
// alert waits in the outbox and the error says to log in again.
func TestEncryptionStoreMissing(t *testing.T) {
	const room = "!ops:hs.test"
	hs := sendertest.New(sendertest.Options{Joined: []string{room}})
	defer hs.Close()
	tmp := t.TempDir()
	env := standaloneEnv(tmp)
	store := filepath.Join(tmp, "gone", "crypto.db")
	cfg := encryptedConf(t, hs, room, store, "")

	code, _, stderr := runApp(t, kumaPayloadFile(t, "http-down"), env, "kuma", "--config", cfg)
	if code != exitFailed {
		t.Errorf("exit %d, want %d (queued)\n%s", code, exitFailed, stderr)
	}
	if !strings.Contains(stderr, "not sent: encryption: ") || !strings.Contains(stderr, "run matrix-notify login again") {
		t.Errorf("the log does not say to log in again:\n%s", stderr)
	}
	if evs := hs.Events(room); len(evs) != 0 {
		t.Errorf("the room got %d events, want none (no plaintext into a room that may be encrypted)", len(evs))
	}
	code, stdout, stderr := runApp(t, "", env, "queue", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, room) {
		t.Errorf("queue: exit %d, want the alert kept for %s:\n%s%s", code, room, stdout, stderr)
	}
	if _, err := os.Stat(store); err == nil {
		t.Errorf("a send created the crypto store %s: only login may (a new store for an existing device replaces its keys)", store)
	}
}

// A dry run with encryption on prints the plaintext request, as without:
// it opens no store and sends nothing.
func TestEncryptionDryRunPlaintext(t *testing.T) {
	const room = "!ops:hs.test"
	hs := sendertest.New(sendertest.Options{Joined: []string{room}})
	defer hs.Close()
	tmp := t.TempDir()
	store := filepath.Join(tmp, "crypto.db")
	cfg := encryptedConf(t, hs, room, store, "")
	code, stdout, stderr := runApp(t, kumaPayloadFile(t, "http-down"), standaloneEnv(tmp), "kuma", "--config", cfg, "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, `/send/m.room.message/`) || strings.Contains(stdout, "m.room.encrypted") {
		t.Errorf("dry run: want the plaintext m.room.message request:\n%s", stdout)
	}
	if _, err := os.Stat(store); err == nil {
		t.Errorf("a dry run created the crypto store")
	}
	if n := len(hs.Requests()); n != 0 {
		t.Errorf("a dry run made %d requests", n)
	}
}

// The pickle key is a secret like the token: never in a log line.
func TestEncryptionPickleKeyRedacted(t *testing.T) {
	const room = "!ops:hs.test"
	hs := sendertest.New(sendertest.Options{Joined: []string{room}})
	defer hs.Close()
	tmp := t.TempDir()
	cfg := encryptedConf(t, hs, room, filepath.Join(tmp, "crypto.db"), "")
	data, _ := os.ReadFile(cfg)
	fc, err := loadFileConfig(cfg, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A config error that quotes the whole [matrix] table would show it.
	os.WriteFile(cfg, append(data, []byte(fmt.Sprintf("pickle_kee = %q\n", fc.Matrix.PickleKey))...), 0o600)
	_, stdout, stderr := runApp(t, kumaPayloadFile(t, "http-down"), standaloneEnv(tmp), "kuma", "--config", cfg)
	_ = stdout
	if strings.Contains(stderr, fc.Matrix.PickleKey) && !strings.Contains(stderr, "unknown key") {
		t.Errorf("the pickle key is in the log:\n%s", stderr)
	}
}
