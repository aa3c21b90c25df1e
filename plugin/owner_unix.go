//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"os"
	"path/filepath"
	"syscall"
)

// foreignOwner reports, for a process running as root, the uid that owns
// dir, or its nearest existing parent (owned), when that is not root: the
// user (netdata's) whose files root would be writing among.
func foreignOwner(dir string) (owned string, uid int, ok bool) {
	if os.Geteuid() != 0 || dir == "" {
		return "", 0, false
	}
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err == nil {
			return d, int(st.Uid), st.Uid != 0
		}
		if parent := filepath.Dir(d); parent == d {
			return "", 0, false
		}
	}
}
