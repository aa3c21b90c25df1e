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

// tryLock takes f's lock if it is free, without waiting.
func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, nil
	}
	return false, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
}

// dirWritable reports why dir is not writable by this process, if it is not.
func dirWritable(dir string) error {
	if err := syscall.Access(dir, 0x2 /* W_OK */); err != nil {
		return &os.PathError{Op: "access", Path: dir, Err: err}
	}
	return nil
}

// processRunning reports whether a process with this pid exists.
func processRunning(pid int) bool {
	if pid <= 0 { // kill(0) and kill(-n) name process groups
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// flockWait takes f's flock, exclusive or shared, waiting for it without a
// deadline: it is for locks held only around local file I/O (the alert
// store's buckets), never across a network call. Closing f releases it.
func flockWait(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EINTR) {
			return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
	}
}

// linked reports whether f still has a name (it was not removed, nor
// replaced by a rename over it), by fstat: cheaper than opening the path
// again.
func linked(f *os.File) bool {
	var st syscall.Stat_t
	return syscall.Fstat(int(f.Fd()), &st) == nil && st.Nlink > 0
}

// funlock releases f's flock, keeping the file open.
func funlock(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return nil
}

// openFile is os.OpenFile for a regular file, without the poller
// registration os.OpenFile attempts on every file (a regular file cannot be
// polled: the attempt costs four fcntl and an epoll_ctl per open). The file
// is in blocking mode.
func openFile(path string, flag int, perm uint32) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, flag|syscall.O_CLOEXEC, perm)
		if err == nil {
			return os.NewFile(uintptr(fd), path), nil
		}
		if !errors.Is(err, syscall.EINTR) {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
	}
}
