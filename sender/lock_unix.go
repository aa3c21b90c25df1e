//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sender

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// fileLock is an exclusive flock(2) on a lock file. flock locks belong to the
// open file description, so two opens in one process exclude each other as
// two processes do, and the kernel releases the lock when the process dies,
// kill -9 included: a crashed invocation never leaves a room locked.
// lockSupported says whether this platform has the cross-process lock the
// outbox needs.
const lockSupported = true

type fileLock struct{ f *os.File }

// lockFile takes the lock on path, creating the file, waiting until ctx ends.
// It polls (LOCK_NB) with short sleeps, since a blocking flock cannot be
// interrupted by a context.
func lockFile(ctx context.Context, path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
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
		if err := sleepCtx(ctx, wait); err != nil {
			f.Close()
			return nil, err
		}
		wait = min(wait*2, 20*time.Millisecond)
	}
}

// unlock releases the lock (closing the file releases it).
func (l *fileLock) unlock() error {
	return l.f.Close()
}
