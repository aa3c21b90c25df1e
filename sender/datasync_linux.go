package sender

import (
	"os"
	"syscall"
)

// datasync flushes f's data, and of its metadata only what reading the data
// back needs (its size, new blocks): fdatasync(2). A journal rewritten in
// place changes only its data and mtime, and on ext4 without a journal the
// inode write that fsync adds for the mtime was half the cost of serve's
// group commit.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
