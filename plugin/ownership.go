package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"matrix-notify/adapters/netdata"
)

// userName is the name of uid, or "uid N" when it has none.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

// groupName is the name of gid, or "gid N".
func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return "gid " + strconv.Itoa(gid)
}

// runningAs describes the user this process runs as.
func runningAs() string {
	return fmt.Sprintf("%s (uid %d, gid %d)", userName(os.Geteuid()), os.Geteuid(), os.Getegid())
}

// unreadable returns, for a configuration file that exists but that this
// process may not read, an error naming the file, its owner and mode, the
// user we run as, and the modes that work; nil otherwise (a missing file is
// for the caller to judge).
func unreadable(path string) error {
	f, err := os.Open(path)
	if err == nil {
		f.Close()
		return nil
	}
	if !errors.Is(err, fs.ErrPermission) {
		return nil
	}
	st, serr := os.Stat(path)
	if serr != nil {
		return fmt.Errorf("cannot read %s as %s: %w", path, runningAs(), err)
	}
	uid, gid, _ := fileOwner(st)
	me := userName(os.Geteuid())
	return fmt.Errorf("cannot read %s: it belongs to %s:%s with mode %04o, and matrix-notify runs as %s. "+
		"Let that user read it and nobody else: chown root:%s %s && chmod 0640 %s (or make it %s's, mode 0600)",
		path, userName(uid), groupName(gid), st.Mode().Perm(), runningAs(), groupName(os.Getegid()), path, path, me)
}

// restrictCommand is the command that leaves path, a file holding the
// token, readable by netdata's user and nobody else: 0600 when that user
// owns it, else root:<netdata's group> 0640. A bare "chmod o-rwx" would
// turn edit-config's root:root 0644 into a file netdata cannot read.
// ndGID is netdata's group, -1 when unknown (netdataGroup).
func restrictCommand(path string, st fs.FileInfo, ndGID int) string {
	uid, gid, ok := fileOwner(st)
	switch {
	case !ok || ndGID < 0:
		return "chmod o-rwx " + path
	case uid != 0 && uid == os.Geteuid():
		return "chmod 0600 " + path
	case gid == ndGID:
		return "chmod 0640 " + path
	}
	return fmt.Sprintf("chown root:%s %s && chmod 0640 %s", groupName(ndGID), path, path)
}

// netdataGroup is the group netdata runs as: the netdata group, else (a
// netdata run as another user) ours unless we are root; -1 when unknown.
func netdataGroup() int {
	if g, err := user.LookupGroup("netdata"); err == nil {
		if gid, err := strconv.Atoi(g.Gid); err == nil {
			return gid
		}
	}
	if os.Geteuid() != 0 {
		return os.Getegid()
	}
	return -1
}

// causeError is an error worded for a person that keeps the error it comes
// from for errors.Is and errors.As.
type causeError struct {
	error
	cause error
}

func (e causeError) Unwrap() []error { return []error{e.error, e.cause} }

// tokenFileProblem says what is wrong with the mode of a file that holds
// the access token, or "". Working modes: owned by the user we run as with
// mode 0600, or group-readable by that user's group (root:netdata 0640,
// which root can write and netdata read); never readable by others. A
// process running as root accepts a root-owned file's group: root chose it.
func tokenFileProblem(path string, st fs.FileInfo) string {
	perm := st.Mode().Perm()
	if perm&0o007 != 0 {
		return fmt.Sprintf("%s holds the access token and every user of this machine can read it (mode %04o): run %s (the file should be 0600 owned by the user netdata runs as, or root:netdata 0640)", path, perm, restrictCommand(path, st, netdataGroup()))
	}
	if perm&0o070 == 0 {
		return ""
	}
	uid, gid, ok := fileOwner(st)
	if !ok || gid == os.Getegid() || (os.Geteuid() == 0 && uid == 0) {
		return ""
	}
	return fmt.Sprintf("%s holds the access token and group %s can read it (mode %04o), not only %s: run chmod g-rwx %s, or chgrp %s %s",
		path, groupName(gid), perm, userName(os.Geteuid()), path, groupName(os.Getegid()), path)
}

// enterStateDir makes sure cmd, run as root, writes nothing in a state
// directory that belongs to another user (netdata's): it becomes that user
// (the owner of the directory, or of its nearest existing parent) for the
// rest of the run, so every file it leaves is one netdata can read, replace
// and remove. When it cannot, a command run by hand is refused, saying how
// to run it as that user without sudo; netdata's own invocations go on as
// root, as an alarm must not be lost.
func (a *app) enterStateDir(cmd, dir string) error {
	if os.Geteuid() != 0 || dir == "" {
		return nil
	}
	where, uid, gid, ok := ownerOf(dir)
	if !ok || uid == 0 {
		return nil
	}
	var err error
	if a.becomeUser == nil {
		err = errors.New("not allowed here")
	} else {
		err = a.becomeUser(uid, gid)
	}
	if err == nil {
		a.log.Debug("running as the owner of the state directory, not as root", "user", userName(uid), "uid", uid, "gid", gid, "dir", where)
		return nil
	}
	if netdatasOwn(cmd) {
		a.log.Warn("could not run as the owner of the state directory: files left there belong to root", "user", userName(uid), "dir", where, "state_dir", dir, "err", err)
		return nil
	}
	return usagef("%s: %s belongs to %s (uid %d), and matrix-notify could not run as that user (%v): what root would write in %s, that user's matrix-notify (netdata's) could not read or remove. Run it as that user: %s",
		cmd, where, userName(uid), uid, err, dir, runAsHint(a.program(), uid, gid, cmd))
}

// runAsHint is the command line that runs `program cmd` as uid, with what
// a minimal Debian has (util-linux, no sudo).
func runAsHint(program string, uid, gid int, cmd string) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("runuser -u %s -- %s %s", u.Username, program, cmd)
	}
	return fmt.Sprintf("setpriv --reuid=%d --regid=%d --clear-groups %s %s", uid, gid, program, cmd)
}

// program is how a hint names this program: by its path, since netdata's
// plugins.d, where it is installed, is not on PATH; "matrix-notify" when
// the path is unknown.
func (a *app) program() string {
	if a.executable != nil {
		if exe, err := a.executable(); err == nil {
			return exe
		}
	}
	return "matrix-notify"
}

// permissionHint adds to an error that is a permission denied in the state
// directory whose user may run cmd there.
func permissionHint(err error, program, dir, cmd string) error {
	d, uid, gid, ok := ownerOf(dir)
	if !errors.Is(err, fs.ErrPermission) || !ok || uid == os.Geteuid() {
		return err
	}
	hint := runAsHint(program, uid, gid, cmd)
	if os.Geteuid() != 0 {
		hint = fmt.Sprintf("sudo %s (as root)", hint)
	}
	return fmt.Errorf("%w: %s belongs to %s; run as that user: %s", err, d, userName(uid), hint)
}

// ownerOf is the owner of dir, or of its nearest existing parent (the
// directory it names in d) when dir does not exist yet; ok is false when
// none can tell.
func ownerOf(dir string) (d string, uid, gid int, ok bool) {
	for d = filepath.Clean(dir); ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil {
			uid, gid, ok = fileOwner(st)
			return d, uid, gid, ok
		}
		if filepath.Dir(d) == d {
			return "", 0, 0, false
		}
	}
}

// shareWithNetdata makes the files login wrote, as root, for a TOML file in
// netdata's configuration directory readable by netdata and nobody else:
// root:netdata 0640 (a root:root 0600 file would lose every alarm). It
// returns how they are now, for the log line.
func (a *app) shareWithNetdata(toml string, files ...string) string {
	desc := "mode 0600"
	// netdata's user is the owner of NETDATA_LIB_DIR (/var/lib/netdata).
	_, uid, gid, ok := ownerOf(netdata.LibDir(a.netdataVar))
	if os.Geteuid() != 0 || !ok || uid == 0 || modeOf(toml, a.netdataDirs()) != netdataMode {
		return desc
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			continue
		}
		if uid, _, ok := fileOwner(st); !ok || uid != 0 {
			continue // netdata's own file (0600) is readable already
		}
		if os.Chown(f, 0, gid) == nil && os.Chmod(f, 0o640) == nil {
			desc = fmt.Sprintf("root:%s, mode 0640, so that netdata can read it", groupName(gid))
		}
	}
	return desc
}
