//go:build unix

// Package flushlock tells, from outside, which background flushes of
// matrix-notify run (for the end-to-end tests and the bench): each holds the
// flock of its outbox's OUTBOX.flush.lock and has written its pid into it
// (plugin/retrier.go).
package flushlock

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Running are the pids of the background flushes running for the outboxes
// in dir (NETDATA_LIB_DIR/matrix-notify, say): those whose lock is held.
func Running(dir string) []int {
	locks, _ := filepath.Glob(filepath.Join(dir, "*.flush.lock"))
	var pids []int
	for _, l := range locks {
		f, err := os.Open(l)
		if err != nil {
			continue
		}
		free := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
		f.Close()
		if free {
			continue
		}
		data, _ := os.ReadFile(l)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// KillRunning ends (SIGKILL) the background flushes running for the
// outboxes in dir: what a test or a bench section left behind.
func KillRunning(dir string) {
	for _, pid := range Running(dir) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
