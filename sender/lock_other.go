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
