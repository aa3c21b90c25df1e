//go:build unix

package main

import (
	"io/fs"
	"os"
	"syscall"
	"testing"
	"time"
)

// ownedFile is a FileInfo whose owner and group fileOwner reads.
type ownedFile struct{ uid, gid uint32 }

func (ownedFile) Name() string       { return "health_alarm_notify.conf" }
func (ownedFile) Size() int64        { return 0 }
func (ownedFile) Mode() fs.FileMode  { return 0o644 }
func (ownedFile) ModTime() time.Time { return time.Time{} }
func (ownedFile) IsDir() bool        { return false }
func (f ownedFile) Sys() any         { return &syscall.Stat_t{Uid: f.uid, Gid: f.gid} }

// TestRestrictCommand: the fix offered for a world-readable file holding
// the token leaves it readable by netdata. "chmod o-rwx" on edit-config's
// root:root 0644 made it unreadable to netdata (the walkthrough on Debian
// found it): that case needs the group too.
func TestRestrictCommand(t *testing.T) {
	const f, nd = "/etc/netdata/health_alarm_notify.conf", 995
	me := uint32(os.Geteuid())
	for _, c := range []struct {
		name  string
		st    ownedFile
		ndGID int
		want  string
	}{
		{"root:root", ownedFile{0, 0}, nd, "chown root:" + groupName(nd) + " " + f + " && chmod 0640 " + f},
		{"root:netdata", ownedFile{0, nd}, nd, "chmod 0640 " + f},
		{"no netdata group", ownedFile{0, 0}, -1, "chmod o-rwx " + f},
	} {
		if got := restrictCommand(f, c.st, c.ndGID); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if me != 0 {
		if got := restrictCommand(f, ownedFile{me, 1234}, nd); got != "chmod 0600 "+f {
			t.Errorf("our own file: %q", got)
		}
	}
}
