// Package realpeer runs the real peers of the integration tests
// (scripts/realpeers, sender/e2ee) and of the bench's encrypted rooms
// (scripts/bench): a throwaway Dendrite v0.13.8 made by
// scripts/realpeers/dendrite.sh, and matrix-nio over libolm, driven by
// sender/e2ee/testdata/nio_peer.py, as the receiving client that shares no
// code with the sender.
package realpeer

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"matrix-notify/internal/child"
)

// RepoRoot is the repository's root: the nearest directory above the
// working directory (a test's package directory) that holds go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	for ; err == nil; dir = filepath.Dir(dir) {
		if _, statErr := os.Stat(filepath.Join(dir, "go.mod")); statErr == nil {
			return dir, nil
		}
		if dir == filepath.Dir(dir) {
			return "", errors.New("no go.mod above the working directory")
		}
	}
	return "", err
}

// Dendrite is one Dendrite process and its data directory, restartable on
// the same address.
type Dendrite struct {
	URL    string // http://127.0.0.1:PORT
	Dir    string
	addr   string
	script string
	binDir string
	proc   *child.Process // nil when stopped
}

// StartDendrite makes a server in dir with dendrite.sh and the binaries in
// binDir (DENDRITE_BIN_DIR), runs it on a free loopback port and waits until
// it answers.
func StartDendrite(dir, binDir string) (*Dendrite, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	d := &Dendrite{Dir: dir, binDir: binDir, script: filepath.Join(root, "scripts/realpeers/dendrite.sh")}
	if out, err := d.scriptCmd("init", dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("dendrite.sh init: %v\n%s", err, out)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	d.addr = fmt.Sprintf("127.0.0.1:%d", port)
	d.URL = "http://" + d.addr
	return d, d.Start()
}

func (d *Dendrite) scriptCmd(args ...string) *exec.Cmd {
	cmd := exec.Command("bash", append([]string{d.script}, args...)...)
	cmd.Env = append(os.Environ(), "DENDRITE_BIN_DIR="+d.binDir)
	return cmd
}

// Start runs Dendrite (dendrite.sh execs it: the child is Dendrite itself,
// killed by the kernel if the test binary dies first) and waits until it
// answers the client API. It does nothing when Dendrite runs: a second one
// could not take the address.
func (d *Dendrite) Start() error {
	if d.proc != nil {
		return nil
	}
	logPath := filepath.Join(d.Dir, "dendrite.out")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close() // the child has its own copy
	cmd := d.scriptCmd("run", d.Dir, d.addr)
	cmd.Stdout, cmd.Stderr = f, f
	dieWithUs(cmd)
	if d.proc, err = child.Start(cmd); err != nil {
		return err
	}
	// 2 shared cores: a minute is possible, seconds usual.
	if err := d.proc.WaitHTTP(d.URL+"/_matrix/client/versions", 90*time.Second); err != nil {
		d.Stop()
		out, _ := os.ReadFile(logPath)
		return fmt.Errorf("dendrite on %s: %w\n%s", d.addr, err, tail(string(out), 3000))
	}
	return nil
}

// Stop ends Dendrite (SIGTERM, SIGKILL after 5 s) and waits until it has
// exited, so that a client sees the outage at once.
func (d *Dendrite) Stop() {
	if d == nil || d.proc == nil {
		return
	}
	d.proc.Stop(5 * time.Second)
	d.proc = nil
}

// CreateUser makes the account name with password on the running server.
func (d *Dendrite) CreateUser(name, password string) error {
	cmd := d.scriptCmd("user", d.Dir, d.URL, name)
	cmd.Stdin = strings.NewReader(password + "\n")
	// create-account logs the new token: keep it out of the test output.
	if out, err := cmd.CombinedOutput(); err != nil {
		s := string(out)
		if i := strings.Index(s, "AccessToken:"); i >= 0 {
			s = s[:i] + "AccessToken: <redacted>)"
		}
		return fmt.Errorf("creating user %s: %v\n%s", name, err, s)
	}
	return nil
}

// FreePort is a TCP port free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail is the last n bytes of s, for a failure's report.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
