package realpeers

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"matrix-notify/internal/child"
	"matrix-notify/internal/realpeer"
)

// TestNetdataDaemon: Debian's netdata daemon, started as root with its own
// netdata.conf (every directory in a scratch folder; it drops to user
// netdata), raises and clears a statsd-driven alarm; matrix-notify, installed
// by scripts/install.sh, delivers both to every room in each way the README
// documents. In the first way, an outage too: the alarm queues, and `flush`
// run as netdata's user delivers it once.
func TestNetdataDaemon(t *testing.T) {
	need(t)
	netdata := os.Getenv("REALPEERS_NETDATA")
	if netdata == "" {
		realpeer.Skip(t, "REALPEERS_NETDATA is not set: this test runs a real netdata daemon (Debian's netdata package; `make integration` sets it when netdata is installed)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: netdata is started as root and drops to user netdata, as packaged")
	}
	nu, err := user.Lookup("netdata")
	if err != nil {
		realpeer.Skip(t, "no netdata user: %v", err)
	}
	uid, _ := strconv.Atoi(nu.Uid)
	gid, _ := strconv.Atoi(nu.Gid)
	ids := ownerIDs{uid, gid}
	// Where the package keeps alarm-notify.sh and the stock configuration:
	// what install.sh finds on this machine.
	out, err := exec.Command("bash", filepath.Join(env.repo, "scripts/install.sh"), "--print-plugins-dir").CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh --print-plugins-dir: %v\n%s", err, out)
	}
	pkgPlugins := strings.TrimSpace(string(out))
	pkgStock := filepath.Join(filepath.Dir(pkgPlugins), "conf.d")
	if _, err := os.Stat(filepath.Join(pkgStock, "health_alarm_notify.conf")); err != nil {
		t.Skipf("netdata's stock health_alarm_notify.conf is not next to its plugins.d (%s): only Debian's layout is set up here", pkgStock)
	}

	ways := []struct {
		name   string
		script string                   // netdata.conf's script to execute on alarm, relative to plugins.d; "" keeps alarm-notify.sh
		exec   bool                     // the health entry's own exec: line runs matrix-notify
		setup  func(*ndScratch, string) // writes the configuration for rooms
		outage bool
	}{
		{name: "script to execute on alarm", script: "matrix-notify", setup: (*ndScratch).matrixConf, outage: true},
		{name: "exec", exec: true, setup: (*ndScratch).matrixConf},
		{name: "custom_sender", setup: (*ndScratch).customSenderConf},
		{name: "side by side", script: "alarm-notify-with-matrix.sh", setup: (*ndScratch).wrapperConf},
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			r := newReader(t)
			alias := fmt.Sprintf("nd-%d", time.Now().UnixNano())
			rooms := []id.RoomID{r.room(roomOpts{botJoined: true}), r.room(roomOpts{alias: alias, botJoined: true})}
			recipients := string(rooms[0]) + " #" + alias + ":" + serverName

			nd := newNDScratch(t, ids, netdata, pkgPlugins, pkgStock)
			script := filepath.Join(nd.stock, "../plugins.d/alarm-notify.sh")
			if w.script != "" {
				script = filepath.Join(nd.plugins, w.script)
			}
			execLine := ""
			if w.exec {
				execLine = "  exec: " + filepath.Join(nd.plugins, "matrix-notify")
			}
			nd.writeNetdataConf(script, execLine)
			w.setup(nd, recipients)
			nd.start()

			nd.gauge(10) // UNINITIALIZED -> CLEAR: nothing to send
			time.Sleep(2 * time.Second)
			nd.gauge(90)
			raised := make([]message, len(rooms))
			for i, room := range rooms {
				msgs := r.expectMessages(room, 1)
				if len(msgs) > 0 {
					raised[i] = msgs[0]
					if !strings.Contains(msgs[0].Body, "realpeers") {
						t.Errorf("raise in %s does not name the alarm: %q", room, msgs[0].Body)
					}
				}
			}
			nd.gauge(10)
			for i, room := range rooms {
				msgs := r.expectMessages(room, 2)
				if len(msgs) == 2 && !strings.Contains(msgs[1].Body, "recovered") && !strings.Contains(msgs[1].Body, "CLEAR") {
					t.Errorf("clear in %s: %q", room, msgs[1].Body)
				}
				if len(msgs) == 2 && (msgs[1].RelatesTo == nil || msgs[1].RelatesTo.EventID != string(raised[i].ID)) {
					t.Errorf("clear in %s does not follow the raise: %s", room, msgs[1].Raw)
				}
			}
			nd.checkOwnership()
			if w.outage {
				nd.rootCommands()
				nd.checkOwnership()
				nd.outage(r, rooms)
			}
			nd.stop()
			nd.checkOwnership()
		})
	}
}

type ownerIDs struct{ uid, gid int }

// ndScratch is one netdata daemon's scratch tree, laid out as Debian's
// package lays out the real one, under a prefix.
type ndScratch struct {
	t                               *testing.T
	ids                             ownerIDs
	bin, root, user, stock, plugins string
	cache, lib, log                 string
	web, statsd                     string         // loopback addresses
	proc                            *child.Process // nil when stopped
}

func newNDScratch(t *testing.T, ids ownerIDs, bin, pkgPlugins, pkgStock string) *ndScratch {
	t.Helper()
	root, err := os.MkdirTemp("", "realpeers-netdata-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(root)
		} else {
			t.Logf("netdata's scratch tree is kept in %s", root)
		}
	})
	nd := &ndScratch{t: t, ids: ids, bin: bin, root: root,
		user: filepath.Join(root, "etc/netdata"), stock: filepath.Join(root, "usr/lib/netdata/conf.d"),
		plugins: filepath.Join(root, "usr/lib/netdata/plugins.d"),
		cache:   filepath.Join(root, "var/cache/netdata"), lib: filepath.Join(root, "var/lib/netdata"),
		log: filepath.Join(root, "var/log/netdata")}
	for _, d := range []string{filepath.Join(nd.user, "health.d"), filepath.Join(nd.stock, "health.d"), nd.plugins} {
		must(t, os.MkdirAll(d, 0o755))
	}
	for _, d := range []string{nd.cache, nd.lib, nd.log} {
		must(t, os.MkdirAll(d, 0o755))
		must(t, os.Chown(d, ids.uid, ids.gid))
	}
	for d := root; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	// The package's alarm-notify.sh (as packaged: root:netdata 0755) and
	// stock notification settings; no stock alarms, only ours.
	out, err := exec.Command("cp", "-p", filepath.Join(pkgPlugins, "alarm-notify.sh"), nd.plugins).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(pkgStock, "health_alarm_notify.conf"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(nd.stock, "health_alarm_notify.conf"), data, 0o644))

	// matrix-notify, installed by the install script into this tree.
	cmd := exec.Command("bash", filepath.Join(env.repo, "scripts/install.sh"), "--prefix", root, "--bin", env.bin)
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	st, err := os.Stat(filepath.Join(nd.plugins, "matrix-notify"))
	must(t, err)
	ref, _ := os.Stat(filepath.Join(nd.plugins, "alarm-notify.sh"))
	if st.Mode() != ref.Mode() || st.Sys().(*syscall.Stat_t).Gid != ref.Sys().(*syscall.Stat_t).Gid {
		t.Errorf("matrix-notify installed %v gid %d, want alarm-notify.sh's %v gid %d", st.Mode(), st.Sys().(*syscall.Stat_t).Gid, ref.Mode(), ref.Sys().(*syscall.Stat_t).Gid)
	}

	nd.web, nd.statsd = loopbackAddr(t), loopbackAddr(t)
	return nd
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func loopbackAddr(t *testing.T) string {
	t.Helper()
	p, err := realpeer.FreePort()
	must(t, err)
	return fmt.Sprintf("127.0.0.1:%d", p)
}

// writeConf writes a configuration file the way an admin should: root-owned,
// readable by group netdata only.
func (nd *ndScratch) writeConf(name, content string) {
	nd.t.Helper()
	path := filepath.Join(nd.user, name)
	must(nd.t, os.WriteFile(path, []byte(content), 0o640))
	must(nd.t, os.Chown(path, 0, nd.ids.gid))
	must(nd.t, os.Chmod(path, 0o640))
}

func (nd *ndScratch) writeNetdataConf(script, execLine string) {
	nd.t.Helper()
	conf := fmt.Sprintf(`[global]
    run as user = netdata
    hostname = realpeers
    memory mode = ram
    update every = 1
[directories]
    config = %[1]s
    stock config = %[2]s
    log = %[3]s
    cache = %[4]s
    lib = %[5]s
    home = %[5]s
    lock = %[5]s/lock
    plugins = "%[6]s"
    health config = %[1]s/health.d
    stock health config = %[2]s/health.d
[logs]
    debug = %[3]s/debug.log
    error = %[3]s/error.log
    access = none
    health = %[3]s/health.log
[health]
    enabled = yes
    run at least every seconds = 1
    script to execute on alarm = %[7]s
[web]
    bind to = %[8]s
[registry]
    enabled = no
[ml]
    enabled = no
[cloud]
    enabled = no
[plugins]
    enable running new plugins = no
    proc = no
    diskspace = no
    cgroups = no
    tc = no
    idlejitter = no
    timex = no
    apps = no
    python.d = no
    charts.d = no
    go.d = no
    node.d = no
    ebpf = no
    perf = no
    slabinfo = no
    nfacct = no
    cups = no
    statsd = yes
[statsd]
    enabled = yes
    bind to = udp:%[9]s
    update every (flushInterval) = 1
`, nd.user, nd.stock, nd.log, nd.cache, nd.lib, nd.plugins, script, nd.web, nd.statsd)
	nd.writeConf("netdata.conf", conf)
	// A gauge set over UDP raises and clears this within about a second.
	health := fmt.Sprintf(` alarm: realpeers_temperature
    on: statsd_realpeers.temp_gauge
  calc: $gauge
 every: 1s
  crit: $this > 80
 units: C
  info: a temperature <set> by the "realpeers" test & its gauge
    to: sysadmin
%s
`, execLine)
	nd.writeConf("health.d/realpeers.conf", health)
}

// matrixConf: everything in health_alarm_notify.conf (ways 1 and "exec").
func (nd *ndScratch) matrixConf(recipients string) {
	nd.writeConf("health_alarm_notify.conf", fmt.Sprintf("SEND_MATRIX=\"YES\"\nMATRIX_HOMESERVER=%q\nMATRIX_ACCESSTOKEN=%q\nDEFAULT_RECIPIENT_MATRIX=%q\n",
		env.hs.URL, env.botToken, recipients))
}

// tomlConf: the homeserver and token in matrix-notify.toml, as the README
// says for the custom sender and the wrapper.
func (nd *ndScratch) tomlConf() {
	nd.writeConf("matrix-notify.toml", fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token = %q\n", env.hs.URL, env.botToken))
}

// customSenderConf: scripts/custom_sender.conf appended, its rooms set.
func (nd *ndScratch) customSenderConf(recipients string) {
	snippet, err := os.ReadFile(filepath.Join(env.repo, "scripts/custom_sender.conf"))
	must(nd.t, err)
	nd.writeConf("health_alarm_notify.conf", string(snippet)+fmt.Sprintf("\nDEFAULT_RECIPIENT_CUSTOM=%q\n", recipients))
	nd.tomlConf()
}

// wrapperConf: recipients in health_alarm_notify.conf, serving both
// programs; homeserver and token in the TOML file.
func (nd *ndScratch) wrapperConf(recipients string) {
	nd.writeConf("health_alarm_notify.conf", fmt.Sprintf("DEFAULT_RECIPIENT_MATRIX=%q\n", recipients))
	nd.tomlConf()
}

func (nd *ndScratch) start() {
	nd.t.Helper()
	cmd := exec.Command(nd.bin, "-c", filepath.Join(nd.user, "netdata.conf"), "-D")
	cmd.Dir = nd.root
	logf, err := os.Create(filepath.Join(nd.root, "netdata.out"))
	must(nd.t, err)
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: stopping it stops its spawn server too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	nd.proc, err = child.Start(cmd)
	must(nd.t, err)
	nd.t.Cleanup(nd.stop)
	if err := nd.proc.WaitHTTP("http://"+nd.web+"/api/v1/info", 30*time.Second); err != nil {
		out, _ := os.ReadFile(filepath.Join(nd.log, "error.log"))
		nd.t.Fatalf("netdata: %v\n%s", err, tail(string(out), 30))
	}
}

// stop ends netdata and its spawn server (SIGTERM to the group, SIGKILL
// after 15 s).
func (nd *ndScratch) stop() {
	if nd.proc == nil {
		return
	}
	nd.proc.Stop(15 * time.Second)
	nd.proc = nil
}

// gauge sets the statsd gauge the alarm watches.
func (nd *ndScratch) gauge(v int) {
	nd.t.Helper()
	c, err := net.Dial("udp", nd.statsd)
	must(nd.t, err)
	defer c.Close()
	fmt.Fprintf(c, "realpeers.temp:%d|g", v)
}

// alarmLog is netdata's record of its notifications: did it run the
// script, and with what exit code.
type alarmLogEntry struct {
	Status   string `json:"status"`
	ExecRun  int64  `json:"exec_run"`
	ExecCode int    `json:"exec_code"`
}

// alarmLog returns netdata's alarm log, newest first.
func (nd *ndScratch) alarmLog() []alarmLogEntry {
	resp, err := http.Get("http://" + nd.web + "/api/v1/alarm_log")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var entries []alarmLogEntry
	json.NewDecoder(resp.Body).Decode(&entries)
	return entries
}

func (nd *ndScratch) count(status string) int {
	n := 0
	for _, e := range nd.alarmLog() {
		if e.Status == status {
			n++
		}
	}
	return n
}

// waitExec waits until netdata has run the script for a new entry of the
// given status (there were `before`) and it has exited, and returns its
// exit code as netdata recorded it.
func (nd *ndScratch) waitExec(status string, before int) int {
	nd.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	idle := 0
	for time.Now().Before(deadline) {
		var newest *alarmLogEntry
		n := 0
		for _, e := range nd.alarmLog() {
			if e.Status == status {
				if newest == nil {
					newest = &e
				}
				n++
			}
		}
		if n > before && newest.ExecRun != 0 {
			if newest.ExecCode != 0 {
				return newest.ExecCode
			}
			// 0 is also what netdata shows before it has waited for the script.
			if idle++; nd.scriptRunning() {
				idle = 0
			}
			if idle >= 4 {
				return 0
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	nd.t.Fatalf("netdata did not run the notification script for a new %s within 90 s", status)
	return -1
}

// scriptRunning reports whether an installed matrix-notify is running.
func (nd *ndScratch) scriptRunning() bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, p := range procs {
		if exe, err := os.Readlink(p); err == nil && strings.HasPrefix(exe, nd.plugins) {
			return true
		}
	}
	return false
}

// outage: the homeserver stops, the alarm is raised again (netdata's exec
// queues it, exit 3), the homeserver returns, and `flush` run as netdata's
// user with netdata's environment delivers it exactly once.
func (nd *ndScratch) outage(r *reader, rooms []id.RoomID) {
	t := nd.t
	t.Helper()
	before := nd.count("CRITICAL")
	env.hs.Stop()
	nd.gauge(95)
	code := nd.waitExec("CRITICAL", before)
	if code != 3 {
		t.Errorf("netdata's exec of matrix-notify during the outage: exit code %d, want 3 (queued)", code)
	}
	hsUp(t)
	cmd := exec.Command("runuser", "-u", "netdata", "--", filepath.Join(nd.plugins, "matrix-notify"), "flush")
	cmd.Env = nd.netdataEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("flush as netdata: %v\n%s", err, out)
	}
	for _, room := range rooms {
		r.expectMessages(room, 3)
	}
}

// netdataEnv is the environment netdata gives a notifier, for commands run
// by hand against this tree.
func (nd *ndScratch) netdataEnv() []string {
	return []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"NETDATA_USER_CONFIG_DIR=" + nd.user, "NETDATA_STOCK_CONFIG_DIR=" + nd.stock,
		"NETDATA_CACHE_DIR=" + nd.cache, "NETDATA_LIB_DIR=" + nd.lib}
}

// rootCommands: an admin runs the README's commands as root against
// netdata's configuration and state (issue 12 item 8). Whatever they answer,
// they must leave nothing netdata's next alarm cannot use.
func (nd *ndScratch) rootCommands() {
	nd.t.Helper()
	for _, args := range [][]string{{"queue"}, {"test", "--dry-run"}, {"flush"}, {"doctor"}} {
		cmd := exec.Command(filepath.Join(nd.plugins, "matrix-notify"), args...)
		cmd.Env = nd.netdataEnv()
		out, err := cmd.CombinedOutput()
		nd.t.Logf("as root: matrix-notify %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// checkOwnership: nothing matrix-notify keeps under netdata's directories
// belongs to root (a root-owned file there breaks the next alarm).
func (nd *ndScratch) checkOwnership() {
	nd.t.Helper()
	for _, d := range []string{nd.cache, nd.lib} {
		filepath.WalkDir(d, func(path string, de fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			info, err := de.Info()
			if err != nil {
				return nil
			}
			if !strings.Contains(path, "matrix-notify") {
				return nil
			}
			if st := info.Sys().(*syscall.Stat_t); int(st.Uid) != nd.ids.uid {
				nd.t.Errorf("%s belongs to uid %d, not netdata", path, st.Uid)
			}
			return nil
		})
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
