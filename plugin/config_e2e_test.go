//go:build linux

package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"matrix-notify/sender/sendertest"
)

// shareWithNobody lets uid nobody reach path (the test's temporary
// directories are 0700) and run the test binary.
func shareWithNobody(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range append(paths, filepath.Dir(binPath)) {
		for d := p; d != "/" && d != "." && d != os.TempDir(); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// chownTree gives root's tree to uid/gid.
func chownTree(t *testing.T, root string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// notOwnedBy lists the files under root that uid does not own.
func notOwnedBy(t *testing.T, root string, uid int) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid {
				out = append(out, fmt.Sprintf("%s (uid %d)", p, st.Uid))
			}
		}
		return nil
	})
	return out
}

// runAs is h.run as uid/gid.
func (h *netdataHome) runAs(t *testing.T, uid, gid int, extraEnv []string, args ...string) result {
	t.Helper()
	return h.runWith(t, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}, extraEnv, args...)
}

// TestE2EOutageQueueAndFlushNetdataOnly: the homeserver and token are only
// in health_alarm_notify.conf. The homeserver refuses connections, two
// alarms are queued; `queue` lists them and `flush`, with no flag and no
// MATRIX_* variable, finds the same configuration and outbox as exec mode
// and delivers each exactly once.
func TestE2EOutageQueueAndFlushNetdataOnly(t *testing.T) {
	addr := freeLoopbackAddr(t)
	hs := sendertest.NewHandler(sendertest.Options{Joined: fiveRooms[:2]})
	conf := fmt.Sprintf("MATRIX_HOMESERVER=%q\nMATRIX_ACCESSTOKEN=%q\nDEFAULT_RECIPIENT_MATRIX=%q\n", "http://"+addr, hs.Token(), strings.Join(fiveRooms[:2], " "))
	h := newNetdataHome(t, conf)
	h.writeTOML(t, fastRetries+"timeout = \"1s\"\n") // no homeserver, no token: netdata's conf has them
	for i := range 2 {
		if r := h.run(t, nil, alarmN(i)...); r.code != exitFailed || !strings.Contains(r.stderr, "queued") {
			t.Fatalf("alarm %d during the outage: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	q := h.run(t, nil, "queue")
	if q.code != 0 || !strings.Contains(q.stdout, "4 queued in "+filepath.Join(h.lib, "matrix-notify", "matrix-notify.db")) ||
		strings.Count(q.stdout, "disk_space_usage is WARNING") != 4 {
		t.Fatalf("queue: exit %d\n%s%s", q.code, q.stdout, q.stderr)
	}
	serveAt(t, hs, addr)
	if r := h.run(t, nil, "flush"); r.code != 0 || !strings.Contains(r.stderr, "flush delivered=4 ") {
		t.Fatalf("flush: exit %d\n%s", r.code, r.stderr)
	}
	for _, room := range fiveRooms[:2] {
		checkExactlyOnceInOrder(t, hs, room, 2)
	}
	if r := h.run(t, nil, "queue"); !strings.Contains(r.stdout, "is empty") {
		t.Errorf("outbox not empty after flush:\n%s", r.stdout)
	}
	if r := h.run(t, nil, "flush"); r.code != 0 || !strings.Contains(r.stderr, "flush delivered=0 ") {
		t.Errorf("second flush: exit %d\n%s", r.code, r.stderr)
	}
}

// TestE2ERootActsAsStateOwner: netdata's directories belong to its user;
// every command root runs there (queue first, which used to create the
// state directory as root 0700 and lock netdata out) acts as that user, so
// every file it leaves is that user's, and netdata's next alarm, as that
// user, can use the outbox.
func TestE2ERootActsAsStateOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	hs := sendertest.New(sendertest.Options{Joined: []string{"!ops:hs.test"}})
	defer hs.Close()
	h := newNetdataHome(t, confFor(hs, "")+"role_recipients_matrix[sysadmin]='!ops:hs.test'\n")
	shareWithNobody(t, h.lib, h.user, h.stock)
	chownTree(t, h.lib, nobody, nobody)
	// root:netdata 0640, as netdata's user must read it.
	conf := filepath.Join(h.user, "health_alarm_notify.conf")
	if err := os.Chown(conf, 0, nobody); err != nil {
		t.Fatal(err)
	}
	os.Chmod(conf, 0o640)
	for _, args := range [][]string{{"queue"}, {"test", "--dry-run"}, {"test"}, {"flush"}, alarmArgs("sysadmin", "7001", "1", "CRITICAL", "WARNING", "x")} {
		if r := h.run(t, nil, args...); r.code != 0 {
			t.Errorf("%s as root: exit %d\n%s%s", args[0], r.code, r.stdout, r.stderr)
		}
	}
	if len(hs.AllEvents()) != 4 {
		t.Errorf("%d events, want 3 test alarms and 1 alarm", len(hs.AllEvents()))
	}
	// The state database, and its -wal and -shm files when the last
	// process left them: all walked by notOwnedBy.
	db := filepath.Join(h.lib, "matrix-notify", "matrix-notify.db")
	if _, err := os.Stat(db); err != nil {
		t.Errorf("no state database: %v", err)
	}
	for _, f := range []string{db + "-wal", db + "-shm"} {
		if _, err := os.Stat(f); err == nil {
			t.Logf("left: %s", f)
		}
	}
	if bad := notOwnedBy(t, h.lib, nobody); len(bad) > 0 {
		t.Errorf("root left files netdata's user does not own: %v", bad)
	}
	// netdata's own invocation, as its user, still has a working outbox.
	if r := h.runAs(t, nobody, nobody, nil, alarmArgs("sysadmin", "7002", "2", "WARNING", "CRITICAL", "y")...); r.code != 0 || strings.Contains(r.stderr, "permission denied") {
		t.Errorf("alarm as netdata's user: exit %d\n%s", r.code, r.stderr)
	}
}

// TestE2ERootDryRunActsAsCacheOwner: a dry run keeps alarm-notify.sh's
// tracking files (the critical modifier) in netdata's cache as a run would;
// run by root (`test --dry-run`, an alarm with MATRIX_NOTIFY_DRY_RUN=1) it
// writes them as the cache's owner. They were root's, and netdata's user
// and alarm-notify.sh could then not write their own there.
func TestE2ERootDryRunActsAsCacheOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	h := newNetdataHome(t, "MATRIX_HOMESERVER='http://127.0.0.1:9'\nMATRIX_ACCESSTOKEN='t'\nDEFAULT_RECIPIENT_MATRIX='!ops:hs.test|critical'\n")
	shareWithNobody(t, h.lib, h.user, h.stock, h.cache)
	chownTree(t, h.cache, nobody, nobody)
	chownTree(t, h.lib, nobody, nobody)
	for _, args := range [][]string{{"test", "--dry-run"}, alarmArgs("sysadmin", "7001", "1", "CRITICAL", "WARNING", "x")} {
		// test's WARNING and CLEAR have no recipient by the modifier: exit 1.
		if r := h.run(t, []string{"MATRIX_NOTIFY_DRY_RUN=1"}, args...); r.code != 0 && r.code != exitNothing {
			t.Fatalf("%s: exit %d\n%s%s", args[0], r.code, r.stdout, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(h.cache, "alarm-notify", "matrix", "!ops:hs.test", "42")); err != nil {
		t.Errorf("no tracking file for the CRITICAL: %v", err)
	}
	if bad := notOwnedBy(t, h.cache, nobody); len(bad) > 0 {
		t.Errorf("root's dry runs left files netdata's user does not own: %v", bad)
	}
}

// TestE2EConfigErrorRoomsInTOML: the rooms only in matrix-notify.toml,
// which has a mistake (an unknown key; a value apply refuses): the alarm is
// still kept, for the rooms the file names, and flush delivers it once the
// file is fixed. A dry run fails on the mistake (exit 2).
func TestE2EConfigErrorRoomsInTOML(t *testing.T) {
	for _, mistake := range []string{"homesever = \"x\"", "lifecycle = \"threads\""} {
		t.Run(mistake, func(t *testing.T) {
			hs := sendertest.New(sendertest.Options{Joined: []string{"!ops:hs.test"}})
			defer hs.Close()
			h := newNetdataHome(t, confFor(hs, ""))
			h.writeTOML(t, "[matrix]\nrooms = [\"!ops:hs.test\"]\n"+mistake+"\n")
			if r := h.run(t, []string{"MATRIX_NOTIFY_DRY_RUN=1"}, alarmN(0)...); r.code != exitUsage {
				t.Errorf("dry run: exit %d, want 2\n%s", r.code, r.stderr)
			}
			if r := h.run(t, nil, alarmN(0)...); r.code != exitFailed || !strings.Contains(r.stderr, "notifications kept, not sent") {
				t.Fatalf("alarm: exit %d, want 3 (kept)\n%s", r.code, r.stderr)
			}
			h.writeTOML(t, "[matrix]\nrooms = [\"!ops:hs.test\"]\n")
			if r := h.run(t, nil, "flush"); r.code != 0 || !strings.Contains(r.stderr, "flush delivered=1 ") {
				t.Fatalf("flush after the fix: exit %d\n%s", r.code, r.stderr)
			}
			checkExactlyOnceInOrder(t, hs, "!ops:hs.test", 1)
		})
	}
}

// TestE2EStaticInstallByHand: matrix-notify in a static install's
// plugins.d (/opt/netdata/usr/libexec/netdata/plugins.d), run by hand with
// none of netdata's variables: `queue` and `flush` use that install's
// health_alarm_notify.conf and outbox, as its alarms do, not /etc/netdata's.
func TestE2EStaticInstallByHand(t *testing.T) {
	root := filepath.Join(t.TempDir(), "opt", "netdata")
	plugins := filepath.Join(root, "usr/libexec/netdata/plugins.d")
	confDir := filepath.Join(root, "etc/netdata")
	for _, d := range []string{plugins, confDir, filepath.Join(root, "usr/lib/netdata/conf.d"), filepath.Join(root, "var/lib/netdata"), filepath.Join(root, "var/cache/netdata")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(plugins, "matrix-notify")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freeLoopbackAddr(t)
	hs := sendertest.NewHandler(sendertest.Options{Joined: fiveRooms[:1]})
	conf := fmt.Sprintf("MATRIX_HOMESERVER=%q\nMATRIX_ACCESSTOKEN=%q\nDEFAULT_RECIPIENT_MATRIX=%q\n", "http://"+addr, hs.Token(), fiveRooms[0])
	if err := os.WriteFile(filepath.Join(confDir, "health_alarm_notify.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(netdataEnv bool, args ...string) result {
		cmd := exec.Command(exe, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TZ=UTC", "HOME=" + t.TempDir(), backgroundFlushOff}
		if netdataEnv { // as netdata runs it: its variables, under the install's root
			cmd.Env = append(cmd.Env, "NETDATA_USER_CONFIG_DIR="+confDir, "NETDATA_LIB_DIR="+filepath.Join(root, "var/lib/netdata"),
				"NETDATA_CACHE_DIR="+filepath.Join(root, "var/cache/netdata"), "NETDATA_STOCK_CONFIG_DIR="+filepath.Join(root, "usr/lib/netdata/conf.d"))
		}
		return runCmd(t, cmd)
	}
	if r := run(true, alarmN(0)...); r.code != exitFailed {
		t.Fatalf("alarm during the outage: exit %d\n%s", r.code, r.stderr)
	}
	db := filepath.Join(root, "var/lib/netdata/matrix-notify/matrix-notify.db")
	if r := run(false, "queue"); r.code != 0 || !strings.Contains(r.stdout, "1 queued in "+db) {
		t.Fatalf("queue by hand: exit %d, want 1 queued in %s\n%s%s", r.code, db, r.stdout, r.stderr)
	}
	serveAt(t, hs, addr)
	if r := run(false, "flush"); r.code != 0 || !strings.Contains(r.stderr, "flush delivered=1 ") {
		t.Fatalf("flush by hand: exit %d\n%s", r.code, r.stderr)
	}
	checkExactlyOnceInOrder(t, hs, fiveRooms[0], 1)
}

// TestE2EConfigErrorKeepsTheAlarm: a mistake in matrix-notify.toml is an
// error naming the file and line, and netdata's alarm is not lost to it: it
// is kept, and `flush` once the file is fixed delivers it once. A dry run
// still fails on the mistake (exit 2).
func TestE2EConfigErrorKeepsTheAlarm(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!ops:hs.test"}})
	defer hs.Close()
	h := newNetdataHome(t, confFor(hs, "!ops:hs.test"))
	toml := filepath.Join(h.user, "matrix-notify.toml")
	h.writeTOML(t, "[matrix]\nhomesever = \"https://x.example\"\n")
	want := toml + `:2: unknown key "homesever" in [matrix], did you mean "homeserver"?`
	if r := h.run(t, []string{"MATRIX_NOTIFY_DRY_RUN=1"}, alarmN(0)...); r.code != exitUsage || !strings.Contains(r.stderr, want) {
		t.Fatalf("dry run: exit %d, want 2 and %s\n%s", r.code, want, r.stderr)
	}
	r := h.run(t, nil, alarmN(0)...)
	if r.code != exitFailed || !strings.Contains(r.stderr, want) ||
		!strings.Contains(r.stderr, "notifications kept, not sent, as a configuration file has an error: once it is fixed, `matrix-notify flush` delivers them kept=1 of=1 ") {
		t.Fatalf("alarm: exit %d\n%s", r.code, r.stderr)
	}
	for _, cmd := range []string{"queue", "flush"} {
		if r := h.run(t, nil, cmd); r.code != exitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("%s before the fix: exit %d, want 2\n%s", cmd, r.code, r.stderr)
		}
	}
	h.writeTOML(t, "[matrix]\n")
	if q := h.run(t, nil, "queue"); !strings.Contains(q.stdout, "1 queued") || !strings.Contains(q.stdout, "not sent: "+toml+" has an error") {
		t.Fatalf("queue:\n%s%s", q.stdout, q.stderr)
	}
	if r := h.run(t, nil, "flush"); r.code != 0 || !strings.Contains(r.stderr, "flush delivered=1 ") {
		t.Fatalf("flush after the fix: exit %d\n%s", r.code, r.stderr)
	}
	checkExactlyOnceInOrder(t, hs, "!ops:hs.test", 1)
}

// TestE2EUnreadableConfigKeepsTheAlarm: the TOML file holding the token is
// root:root 0600, which netdata's user cannot read. The alarm is not lost:
// the error names the file, its owner and mode and the user we run as, the
// alarm waits in the outbox, and `flush` by root (who can read the file,
// and then acts as netdata's user) delivers it once.
func TestE2EUnreadableConfigKeepsTheAlarm(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	hs := sendertest.New(sendertest.Options{Joined: []string{"!ops:hs.test"}})
	defer hs.Close()
	h := newNetdataHome(t, "DEFAULT_RECIPIENT_MATRIX='!ops:hs.test'\n")
	h.writeTOML(t, fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token = %q\n", hs.URL(), hs.Token()))
	shareWithNobody(t, h.lib, h.user, h.stock)
	os.Chmod(filepath.Join(h.user, "health_alarm_notify.conf"), 0o644)
	chownTree(t, h.lib, nobody, nobody)

	r := h.runAs(t, nobody, nobody, nil, alarmN(0)...)
	toml := filepath.Join(h.user, "matrix-notify.toml")
	if r.code != exitFailed || !strings.Contains(r.stderr, "cannot read "+toml+": it belongs to root:root with mode 0600, and matrix-notify runs as nobody (uid 65534") ||
		!strings.Contains(r.stderr, "notifications kept, not sent, as a file could not be read: once it can, `matrix-notify flush` delivers them kept=1 of=1 ") {
		t.Fatalf("alarm as netdata's user: exit %d\n%s", r.code, r.stderr)
	}
	if len(hs.AllEvents()) != 0 {
		t.Fatal("sent without its configuration")
	}
	if q := h.run(t, nil, "queue"); !strings.Contains(q.stdout, "1 queued") || !strings.Contains(q.stdout, "not sent: "+toml+" could not be read") {
		t.Errorf("queue:\n%s%s", q.stdout, q.stderr)
	}
	if r := h.run(t, nil, "flush"); r.code != 0 {
		t.Fatalf("flush: exit %d\n%s", r.code, r.stderr)
	}
	checkExactlyOnceInOrder(t, hs, "!ops:hs.test", 1)
	if bad := notOwnedBy(t, h.lib, nobody); len(bad) > 0 {
		t.Errorf("root left files netdata's user does not own: %v", bad)
	}
	assertNoToken(t, hs.Token(), r.stdout, r.stderr)
}

// TestE2EUnreadableConfKeepsTheAlarm: the same when it is
// health_alarm_notify.conf that netdata's user cannot read, and the TOML
// file names the rooms.
func TestE2EUnreadableConfKeepsTheAlarm(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	hs := sendertest.New(sendertest.Options{Joined: []string{"!ops:hs.test"}})
	defer hs.Close()
	h := newNetdataHome(t, confFor(hs, "!ops:hs.test"))
	h.writeTOML(t, "[matrix]\nrooms = [\"!ops:hs.test\"]\n")
	shareWithNobody(t, h.lib, h.user, h.stock)
	os.Chmod(filepath.Join(h.user, "matrix-notify.toml"), 0o644)
	chownTree(t, h.lib, nobody, nobody)
	conf := filepath.Join(h.user, "health_alarm_notify.conf")
	r := h.runAs(t, nobody, nobody, nil, alarmN(0)...)
	if r.code != exitFailed || !strings.Contains(r.stderr, "cannot read "+conf+": it belongs to root:root with mode 0600") ||
		!strings.Contains(r.stderr, "notifications kept, not sent, as a file could not be read: once it can, `matrix-notify flush` delivers them kept=1 of=1 ") {
		t.Fatalf("alarm as netdata's user: exit %d\n%s", r.code, r.stderr)
	}
	if r := h.run(t, nil, "flush"); r.code != 0 {
		t.Fatalf("flush: exit %d\n%s", r.code, r.stderr)
	}
	checkExactlyOnceInOrder(t, hs, "!ops:hs.test", 1)
}

// TestE2EUnreadableConfWithTheRoomsSaysLost: when the rooms are only in
// the health_alarm_notify.conf netdata's user cannot read, there is no room
// to keep the alarm for: exit 3 with ERROR lines naming the file, its fix
// and the lost alarm. It used to be exit 3 and silence, which netdata's
// log shows as "queued".
func TestE2EUnreadableConfWithTheRoomsSaysLost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	h := newNetdataHome(t, "DEFAULT_RECIPIENT_MATRIX='!ops:hs.test'\n")
	h.writeTOML(t, "[matrix]\nhomeserver = \"http://127.0.0.1:9\"\naccess_token = \"syt_x\"\n")
	shareWithNobody(t, h.lib, h.user, h.stock)
	chownTree(t, h.lib, nobody, nobody)
	if err := os.Chown(filepath.Join(h.user, "matrix-notify.toml"), nobody, nobody); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(h.user, "health_alarm_notify.conf")
	r := h.runAs(t, nobody, nobody, nil, alarmN(0)...)
	if r.code != exitFailed || !strings.Contains(r.stderr, "ERROR: cannot read "+conf+": it belongs to root:root with mode 0600") ||
		!strings.Contains(r.stderr, "ERROR: Matrix notification lost: its rooms are in a file that cannot be read") || !strings.Contains(r.stderr, "file="+conf) {
		t.Fatalf("alarm as netdata's user: exit %d\n%s", r.code, r.stderr)
	}
}

// TestE2EUnreadableTokenFileKeepsTheAlarm: the same when it is the
// access_token_file the TOML file names.
func TestE2EUnreadableTokenFileKeepsTheAlarm(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	hs := sendertest.New(sendertest.Options{Joined: []string{"!ops:hs.test"}})
	defer hs.Close()
	h := newNetdataHome(t, "DEFAULT_RECIPIENT_MATRIX='!ops:hs.test'\n")
	tokenFile := filepath.Join(h.user, "matrix-token")
	writeFile(t, tokenFile, hs.Token()+"\n")
	h.writeTOML(t, fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token_file = %q\n", hs.URL(), tokenFile))
	shareWithNobody(t, h.lib, h.user, h.stock)
	os.Chmod(filepath.Join(h.user, "matrix-notify.toml"), 0o644)
	os.Chmod(filepath.Join(h.user, "health_alarm_notify.conf"), 0o644)
	chownTree(t, h.lib, nobody, nobody)
	r := h.runAs(t, nobody, nobody, nil, alarmN(0)...)
	if r.code != exitFailed || !strings.Contains(r.stderr, "cannot read "+tokenFile+": it belongs to root:root with mode 0600") ||
		!strings.Contains(r.stderr, "notifications kept, not sent, as a file could not be read: once it can, `matrix-notify flush` delivers them kept=1 of=1 ") {
		t.Fatalf("alarm as netdata's user: exit %d\n%s", r.code, r.stderr)
	}
	if r := h.runAs(t, nobody, nobody, nil, "flush"); r.code != exitUsage || !strings.Contains(r.stderr, "cannot read "+tokenFile) {
		t.Errorf("flush as netdata's user: exit %d\n%s", r.code, r.stderr)
	}
	if r := h.run(t, nil, "flush"); r.code != 0 {
		t.Fatalf("flush: exit %d\n%s", r.code, r.stderr)
	}
	checkExactlyOnceInOrder(t, hs, "!ops:hs.test", 1)
}
