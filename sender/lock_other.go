//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sender

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
)

const lockSupported = false

type fileLock struct{}

// lockFile is not implemented here: without a cross-process lock the outbox
// cannot keep its promises, so Outbox.Deliver sends directly instead.
func lockFile(context.Context, string) (*fileLock, error) {
	return nil, fmt.Errorf("outbox locking on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func (*fileLock) unlock() error { return nil }

func tryLock(*os.File) (bool, error) { return false, errors.ErrUnsupported }

func dirWritable(string) error { return nil }

func processRunning(int) bool { return false }

// flockWait does nothing here: the alert store's buckets are not locked, so
// two writers of one bucket at once may lose one update (see AlertStore).
func flockWait(*os.File, bool) error { return nil }

func funlock(*os.File) error { return nil }

// linked cannot tell here: a bucket kept open is used until an error.
func linked(*os.File) bool { return true }

func openFile(path string, flag int, perm uint32) (*os.File, error) {
	return os.OpenFile(path, flag, os.FileMode(perm))
}
