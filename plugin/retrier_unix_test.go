//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRetrierLock: the lock admits one background flush; released, it can be
// taken again, and relockRetrier fails while someone else holds it.
func TestRetrierLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.flush.lock")
	first, err := takeRetrierLock(path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if data, _ := os.ReadFile(path); strings.TrimSpace(string(data)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid", data)
	}
	if _, err := takeRetrierLock(path); err != errFlushRunning {
		t.Fatalf("second take: %v, want errFlushRunning", err)
	}
	if _, err := spawnBackgroundFlush(path, []string{"never-run"}); err != errFlushRunning {
		t.Fatalf("spawn while held: %v, want errFlushRunning", err)
	}
	if err := unlockRetrier(first); err != nil {
		t.Fatal(err)
	}
	second, err := takeRetrierLock(path)
	if err != nil {
		t.Fatalf("take after release: %v", err)
	}
	if ok, err := relockRetrier(first); ok || err != nil {
		t.Errorf("relock while another holds it: %v %v", ok, err)
	}
	second.Close()
	if ok, err := relockRetrier(first); !ok || err != nil {
		t.Errorf("relock once free: %v %v", ok, err)
	}
}

// TestLockPIDNeverEmpty: the invocations of a storm read the lock file's pid
// (for "already running (pid N)") while the background flush writes it
// again (the pid its spawner wrote): they never find it empty.
func TestLockPIDNeverEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.flush.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writeLockPID(f, 123456)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20000 {
			writeLockPID(f, 123456)
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		if pid := readPID(path); pid != "123456" {
			t.Fatalf("read pid %q", pid)
		}
	}
}
