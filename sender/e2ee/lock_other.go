//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package e2ee

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

type fileLock struct{}

// lock is not implemented here: without a cross-process lock two processes
// would reuse megolm indices, which receivers reject as replays.
func lock(context.Context, string) (*fileLock, error) {
	return nil, fmt.Errorf("crypto store locking on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func (*fileLock) unlock() error { return nil }
