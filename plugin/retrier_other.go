//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// Without flock and setsid there is no background flush: `matrix-notify
// flush` (by hand or from a timer) delivers what is queued.
var errNoBackgroundFlush = fmt.Errorf("the background flush on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func spawnBackgroundFlush(string, []string) (int, error) { return 0, errNoBackgroundFlush }

func takeRetrierLock(string) (*os.File, error) { return nil, errNoBackgroundFlush }

func unlockRetrier(*os.File) error { return errNoBackgroundFlush }

func relockRetrier(*os.File) (bool, error) { return false, errNoBackgroundFlush }
