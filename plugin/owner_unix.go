//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"fmt"
	"io/fs"
	"syscall"
)

// becomeUser makes the whole process run as uid and gid, with gid as its
// only group. On Linux, Go applies these calls to every thread of the
// process (since Go 1.16), so nothing keeps root behind our back.
func becomeUser(uid, gid int) error {
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("setgroups(%d): %w", gid, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid(%d): %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid(%d): %w", uid, err)
	}
	return nil
}

// fileIdentity is what tells one version of a file from another without
// reading it: device and inode, size, modification time, owner and mode.
func fileIdentity(st fs.FileInfo) string {
	id := fmt.Sprintf("size=%d mtime=%d mode=%04o", st.Size(), st.ModTime().UnixNano(), st.Mode().Perm())
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		id = fmt.Sprintf("dev=%d ino=%d uid=%d gid=%d ", sys.Dev, sys.Ino, sys.Uid, sys.Gid) + id
	}
	return id
}

// fileOwner is the owner and group of the file st describes.
func fileOwner(st fs.FileInfo) (uid, gid int, ok bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(sys.Uid), int(sys.Gid), true
}
