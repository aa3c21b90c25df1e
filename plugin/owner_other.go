//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import (
	"errors"
	"fmt"
	"io/fs"
)

// becomeUser is not possible here.
func becomeUser(int, int) error { return errors.New("not supported on this system") }

// fileIdentity is what tells one version of a file from another.
func fileIdentity(st fs.FileInfo) string {
	return fmt.Sprintf("size=%d mtime=%d mode=%04o", st.Size(), st.ModTime().UnixNano(), st.Mode().Perm())
}

// fileOwner is not known here.
func fileOwner(fs.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }
