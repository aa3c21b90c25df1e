package e2ee

// A real homeserver for this package's tests: Dendrite v0.13.8 with SQLite
// in a temp dir on a loopback port, started once per test binary when its
// binaries are present (skipped otherwise). A starter of our own until the
// shared integration harness lands.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// dendriteDir holds dendrite, generate-keys, generate-config and
// create-account: DENDRITE_BIN_DIR, which `make integration` sets (the
// README's "integration tests" section says how they are built). Unset, the
// Dendrite tests skip: a test never looks in the host's cache directories.
func dendriteDir() string { return os.Getenv("DENDRITE_BIN_DIR") }

type dendrite struct {
	url    string // http://127.0.0.1:PORT
	dir    string
	config string
	cmd    *exec.Cmd
}

var (
	hsOnce sync.Once
	hs     *dendrite
	hsErr  error
)

// homeserver returns the package's Dendrite, starting it on first use, or
// skips the test when the binaries are missing.
func homeserver(t *testing.T) *dendrite {
	t.Helper()
	bin := dendriteDir()
	if bin == "" {
		t.Skip("DENDRITE_BIN_DIR is not set: `make integration` runs the tests against Dendrite")
	}
	for _, b := range []string{"dendrite", "generate-keys", "generate-config", "create-account"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Skipf("Dendrite not built (%v): `make integration` builds it", err)
		}
	}
	hsOnce.Do(func() { hs, hsErr = startDendrite(bin) })
	if hsErr != nil {
		t.Fatalf("starting Dendrite: %v", hsErr)
	}
	return hs
}

func startDendrite(bin string) (*dendrite, error) {
	dir, err := os.MkdirTemp("", "e2ee-dendrite-")
	if err != nil {
		return nil, err
	}
	d := &dendrite{dir: dir, config: filepath.Join(dir, "dendrite.yaml")}
	run := func(name string, args ...string) ([]byte, error) {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return out, fmt.Errorf("%s: %w: %s", name, err, out)
		}
		return out, nil
	}
	if _, err := run("generate-keys", "--private-key", "matrix_key.pem"); err != nil {
		return nil, err
	}
	conf, err := run("generate-config", "-ci", "-dir", dir, "-server", "localhost")
	if err != nil {
		return nil, err
	}
	// Accounts come from create-account (shared secret); -ci's open
	// registration would need -really-enable-open-registration.
	conf = bytes.Replace(conf, []byte("registration_disabled: false"), []byte("registration_disabled: true"), 1)
	if err := os.WriteFile(d.config, conf, 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	d.url = "http://" + addr
	logf, err := os.Create(filepath.Join(dir, "dendrite.log"))
	if err != nil {
		return nil, err
	}
	d.cmd = exec.Command(filepath.Join(bin, "dendrite"), "-config", d.config, "-http-bind-address", addr)
	d.cmd.Dir = dir
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	dieWithUs(d.cmd)
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(90 * time.Second) // 2 shared cores: minutes are possible, seconds usual
	for {
		resp, err := http.Get(d.url + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return d, nil
			}
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "dendrite.log"))
			return nil, fmt.Errorf("dendrite exited: %v: %s", err, tail(log))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("dendrite did not answer on %s within 90s", addr)
		}
	}
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (d *dendrite) stop() {
	if d == nil || d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Kill()
	time.Sleep(50 * time.Millisecond)
	os.RemoveAll(d.dir)
}

var userSeq struct {
	sync.Mutex
	n int
}

// newUser creates an account with a unique name and returns its localpart
// and password.
func (d *dendrite) newUser(t *testing.T, prefix string) (string, string) {
	t.Helper()
	userSeq.Lock()
	userSeq.n++
	name := fmt.Sprintf("%s%d%d", prefix, time.Now().UnixNano()%1e6, userSeq.n)
	userSeq.Unlock()
	pw := "pw-" + name + "-secret"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dendriteDir(), "create-account"),
		"-config", d.config, "-url", d.url, "-username", name, "-passwordstdin")
	cmd.Dir = d.dir
	cmd.Stdin = strings.NewReader(pw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("create-account %s: %v: %s", name, err, out)
	}
	return name, pw
}
