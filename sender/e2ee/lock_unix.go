//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package e2ee

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// fileLock is an exclusive flock(2) on <db>.lock. flock belongs to the open
// file description, so two opens in one process exclude each other as two
// processes do, and the kernel drops it when the process dies (kill -9
// included): a crashed invocation never leaves the store locked.
type fileLock struct{ f *os.File }

// lock takes the lock on path, creating the file 0600, polling (LOCK_NB)
// until ctx ends: a blocking flock cannot be interrupted by a context.
func lock(ctx context.Context, path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &fileLock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("waiting for the crypto store's lock %s (another matrix-notify holds it): %w", path, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(wait*2, 20*time.Millisecond)
	}
}

// unlock releases the lock (closing the file releases it).
func (l *fileLock) unlock() error { return l.f.Close() }
