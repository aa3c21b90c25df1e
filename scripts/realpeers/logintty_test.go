//go:build linux

package realpeers

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"matrix-notify/internal/ptytest"
	"matrix-notify/internal/realpeer"
)

// TestE2EELoginTerminal: a person logging a second host in at a terminal,
// on an account that already has a cross-signing identity. The real binary
// runs on a pseudo-terminal (stdin, stdout and stderr), as in a shell:
// login asks for the password and then for the recovery key, each read with
// echo off (neither comes back to the screen), gives the terminal its echo
// back, and the new device ends up signed by the account's self-signing key.
func TestE2EELoginTerminal(t *testing.T) {
	need(t)
	const bot = "e2eetty"
	// The first host makes the identity and prints its recovery key.
	a, rk := firstLogin(t, bot)
	devA, _ := whoamiDevice(t, a.cfg)

	// The second host, at a terminal.
	b := newSite(t)
	cfg := filepath.Join(b.dir, "config.toml")
	controller, tty := ptytest.Open(t)
	cmd := exec.Command(env.bin, "login", "--homeserver", env.hs.URL, "--user", bot, "--config", cfg)
	cmd.Env = b.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	screen := &terminalScreen{}
	read := make(chan struct{})
	go func() { defer close(read); screen.copyFrom(controller) }()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Type each answer as a person does: once its prompt is on the screen
	// and the terminal has stopped echoing.
	answer := func(prompt, secret string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(screen.String(), prompt) || ptytest.Echoing(tty) {
			select {
			case err := <-exited:
				t.Fatalf("login exited (%v) before asking %q; the screen:\n%s", err, prompt, screen)
			case <-time.After(5 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no prompt %q with echo off within 2 min; the screen:\n%s", prompt, screen)
			}
		}
		if _, err := controller.WriteString(secret + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	answer("Password for "+bot+": ", password)
	answer("Recovery key of @"+bot+":", rk)
	var err error
	select {
	case err = <-exited:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("login did not finish within 2 min; the screen:\n%s", screen)
	}
	if !ptytest.Echoing(tty) {
		t.Error("login left the terminal without echo")
	}
	// The child's ends are closed: closing ours lets the reader drain what
	// is left on the screen and stop.
	tty.Close()
	<-read
	if err != nil {
		t.Fatalf("login at a terminal: %v; the screen:\n%s", err, screen)
	}
	out := screen.String()
	if strings.Contains(out, password) || strings.Contains(out, rk) || strings.Contains(out, strings.ReplaceAll(rk, " ", "")) {
		t.Errorf("the password or the recovery key was echoed or printed; the screen:\n%s", out)
	}
	if recoveryKeyLine.MatchString(out) {
		t.Errorf("login printed a recovery key: a new identity?\n%s", out)
	}
	if !strings.Contains(out, "cross-signed device=") {
		t.Errorf("login does not say the device is cross-signed; the screen:\n%s", out)
	}
	devB, cliB := whoamiDevice(t, cfg)
	if devB == devA {
		t.Fatalf("the second host got the first host's device %s", devA)
	}
	realpeer.CheckCrossSigned(t, cliB, cliB.UserID, devB)
}

// terminalScreen is what a terminal emulator would show: everything the
// pseudo-terminal's controller end reads.
type terminalScreen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *terminalScreen) copyFrom(f *os.File) {
	b := make([]byte, 4096)
	for {
		n, err := f.Read(b)
		s.mu.Lock()
		s.buf.Write(b[:n])
		s.mu.Unlock()
		if err != nil {
			return // EIO once no process holds the terminal end
		}
	}
}

func (s *terminalScreen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
