//go:build unix

package flushlock

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// TestRunning: a lock file whose flock is held names a running flush; a
// free one does not.
func TestRunning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "matrix-notify.db.flush.lock")
	if err := os.WriteFile(path, []byte("4242\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := Running(dir); len(got) != 0 {
		t.Errorf("free lock: %v", got)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if got := Running(dir); !slices.Equal(got, []int{4242}) {
		t.Errorf("held lock: %v, want [4242]", got)
	}
}
