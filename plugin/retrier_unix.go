//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// spawnBackgroundFlush starts `matrix-notify ARGS` detached, holding the
// retrier lock at lockPath, and returns its pid; errFlushRunning when the
// lock is held (a background flush already runs).
func spawnBackgroundFlush(lockPath string, args []string) (int, error) {
	f, err := openLocked(lockPath)
	if err != nil {
		return 0, err
	}
	defer f.Close() // the child keeps the lock: it shares the open file description
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("finding this program: %w", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = os.Environ() // the same configuration and state directory
	cmd.Dir = "/"
	// Stdin, stdout and stderr stay nil: /dev/null. An inherited pipe
	// would keep netdata reading until the child exits.
	cmd.ExtraFiles = []*os.File{f} // fd 3: the lock, already taken
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	writeLockPID(f, pid)
	cmd.Process.Release() // not waited for: it outlives us
	return pid, nil
}

// lockFD is where spawnBackgroundFlush hands the lock to the child.
const lockFD = 3

// takeRetrierLock returns the retrier lock at path, taken: the one inherited
// on fd 3 from spawnBackgroundFlush, or else taken here. errFlushRunning
// when another process holds it.
func takeRetrierLock(path string) (*os.File, error) {
	var fdSt, pathSt syscall.Stat_t
	if syscall.Fstat(lockFD, &fdSt) != nil || syscall.Stat(path, &pathSt) != nil ||
		fdSt.Dev != pathSt.Dev || fdSt.Ino != pathSt.Ino {
		f, err := openLocked(path)
		if err == nil {
			writeLockPID(f, os.Getpid())
		}
		return f, err
	}
	syscall.CloseOnExec(lockFD)
	f := os.NewFile(lockFD, path)
	if err := flockNB(f); err != nil { // ours already: LOCK_EX again is a no-op
		f.Close()
		return nil, err
	}
	writeLockPID(f, os.Getpid())
	return f, nil
}

// openLocked opens the lock file at path and takes its lock.
func openLocked(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flockNB(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// unlockRetrier releases the lock, keeping the file open for relockRetrier.
func unlockRetrier(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return nil
}

// relockRetrier takes the lock again if it is free.
func relockRetrier(f *os.File) (bool, error) {
	switch err := flockNB(f); {
	case errors.Is(err, errFlushRunning):
		return false, nil
	case err != nil:
		return false, err
	}
	writeLockPID(f, os.Getpid())
	return true, nil
}

// flockNB takes f's exclusive flock if it is free, without waiting;
// errFlushRunning if another process holds it.
func flockNB(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errFlushRunning
		case errors.Is(err, syscall.EINTR):
			continue
		}
		return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
}
