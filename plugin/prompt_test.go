//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"matrix-notify/internal/ptytest"
)

func echoOn(t *testing.T, tty *os.File) bool {
	t.Helper()
	st, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return st.Lflag&unix.ECHO != 0
}

// TestPromptTerminal: on a terminal the user and the password are read one
// line each, the password with echo off (nothing of it comes back to the
// terminal), and echo is on again afterwards.
func TestPromptTerminal(t *testing.T) {
	controller, tty := ptytest.Open(t)
	var out bytes.Buffer
	p := newPrompter(tty, &out)
	defer p.close()
	if p.tty < 0 {
		t.Fatal("the pseudo-terminal is not seen as a terminal")
	}
	ctx := context.Background()
	if _, err := controller.WriteString("bot\n"); err != nil {
		t.Fatal(err)
	}
	if user, err := p.ask(ctx, "User", ""); err != nil || user != "bot" {
		t.Fatalf("user %q, %v", user, err)
	}
	go func() {
		// type the password once echo is off, as a person would after
		// seeing the prompt
		for ptytest.Echoing(tty) {
			time.Sleep(time.Millisecond)
		}
		controller.WriteString("s3cret-pw\n")
	}()
	pw, err := p.secret(ctx, "Password", "password")
	if err != nil || pw != "s3cret-pw" {
		t.Fatalf("password %q, %v", pw, err)
	}
	if !echoOn(t, tty) {
		t.Error("echo still off after the password")
	}
	echoed := make([]byte, 4096)
	controller.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	n, _ := controller.Read(echoed)
	if strings.Contains(string(echoed[:n]), "s3cret") {
		t.Errorf("the password was echoed: %q", echoed[:n])
	}
	if !strings.Contains(out.String(), "Password: ") {
		t.Errorf("prompts: %q", out.String())
	}
}

// TestPromptTerminalInterrupted: Ctrl-C while the password is being typed
// gives up on it, and close gives the terminal its echo back.
func TestPromptTerminalInterrupted(t *testing.T) {
	_, tty := ptytest.Open(t)
	p := newPrompter(tty, &bytes.Buffer{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ptytest.Echoing(tty) {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := p.secret(ctx, "Password", "password"); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err %v, want interrupted", err)
	}
	p.close()
	if !echoOn(t, tty) {
		t.Error("echo left off after an interrupted password")
	}
}

// TestPromptPipe: from a pipe or a file, the password is a plain line (the
// last one may lack its newline), for scripts.
func TestPromptPipe(t *testing.T) {
	p := newPrompter(strings.NewReader("bot\r\npw"), &bytes.Buffer{})
	defer p.close()
	ctx := context.Background()
	user, err := p.ask(ctx, "User", "")
	if err != nil || user != "bot" {
		t.Fatalf("user %q, %v", user, err)
	}
	if pw, err := p.secret(ctx, "Password", "password"); err != nil || pw != "pw" {
		t.Fatalf("password %q, %v", pw, err)
	}
	if _, err := p.secret(ctx, "Password", "password"); err == nil || !strings.Contains(err.Error(), "no password on stdin") {
		t.Fatalf("at EOF: %v", err)
	}
}
