// Command bench measures matrix-notify against the tools it replaces, on one
// loopback homeserver (scripts/sendertest run as a process), and checks the
// performance budget of BENCHMARKS.md. `make bench` runs it from the
// repository root:
//
//	go run ./scripts/bench -bin bin/matrix-notify
//
// What it runs, in one go:
//
//   - exec: Debian's real alarm-notify.sh (netdata 1.37.1, fetched by
//     scripts/fetch-netdata.sh) and matrix-notify on the same argv, the same
//     health_alarm_notify.conf files and the same homeserver, for 1 and 10
//     rooms at 0 and 50 ms server delay, plus the floor: one curl PUT. Wall
//     time, CPU (user+sys, the child and everything it waited for) and peak
//     RSS come from wait4's rusage (os.ProcessState.SysUsage);
//   - fan-out: the same at 50 ms for 1, 2, 5, 10 and 20 rooms;
//   - storm: 500 alarms x 5 rooms launched 50 processes at a time against a
//     homeserver rate-limited to 200 events/s: time, 429s, duplicates, losses;
//   - outage: 20 alarms x 5 rooms one after another while the homeserver
//     refuses connections, then the homeserver back and no other command:
//     each exec's time, and what the background flush delivers;
//   - serve: Kuma webhooks from many concurrent clients into `matrix-notify
//     serve`: requests/s, p50/p99 latency, the server's peak RSS (VmHWM);
//   - Go benchmarks of the hot paths, with -benchmem.
//
// It prints the tables and one PASS/MISS line per budget item, and writes
// them to scripts/bench/results.md. Only loopback addresses are used.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bin, script, stockConf, outDir string
	runs, fanoutRuns               int
	stormAlarms, stormRooms        int
	stormWidth                     int
	stormRate                      float64
	stormScript                    bool
	serveClients                   int
	serveDuration                  time.Duration
	serveMax                       int
	serveMonitors                  []int
	serveRuns                      int
	outageAlarms, outageRooms      int
	goBench                        bool
	benchtime                      string
	sections                       string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/matrix-notify", "the matrix-notify binary (make build)")
	flag.StringVar(&o.script, "script", "testdata/.cache/netdata/usr/lib/netdata/plugins.d/alarm-notify.sh", "Debian's alarm-notify.sh")
	flag.StringVar(&o.stockConf, "stock-conf", "testdata/.cache/netdata/usr/lib/netdata/conf.d/health_alarm_notify.conf", "Debian's stock health_alarm_notify.conf")
	flag.StringVar(&o.outDir, "out", "scripts/bench", "where results.md goes")
	flag.IntVar(&o.runs, "runs", 10, "runs per tool and configuration (1 and 10 rooms)")
	flag.IntVar(&o.fanoutRuns, "fanout-runs", 5, "runs per tool for the other fan-out points (2, 5, 20 rooms)")
	flag.IntVar(&o.stormAlarms, "storm", 500, "alarms in the storm")
	flag.IntVar(&o.stormRooms, "storm-rooms", 5, "rooms per storm alarm")
	flag.IntVar(&o.stormWidth, "storm-width", 50, "storm processes running at once")
	flag.Float64Var(&o.stormRate, "storm-rate", 200, "the storm homeserver's rate limit, events/s")
	flag.BoolVar(&o.stormScript, "storm-script", true, "also run the storm with alarm-notify.sh")
	flag.IntVar(&o.serveClients, "serve-clients", 32, "concurrent webhook clients")
	flag.DurationVar(&o.serveDuration, "serve-duration", 5*time.Second, "serve load duration")
	flag.IntVar(&o.serveMax, "serve-max", 30000, "serve load: at most this many requests")
	flag.IntVar(&o.serveRuns, "serve-runs", 3, "serve runs for the budget's monitor count (the median counts)")
	monitors := flag.String("serve-monitors", "1000,1", "comma-separated: one serve run per value, webhooks from that many Kuma monitors (the first run is the budget's)")
	flag.IntVar(&o.outageAlarms, "outage", 20, "alarms fired during the outage")
	flag.IntVar(&o.outageRooms, "outage-rooms", 5, "rooms per outage alarm")
	flag.BoolVar(&o.goBench, "gobench", true, "run the Go benchmarks")
	flag.StringVar(&o.benchtime, "benchtime", "1s", "go test -benchtime")
	flag.StringVar(&o.sections, "sections", "exec,storm,outage,serve,gobench", "comma-separated sections to run")
	flag.Parse()
	for _, f := range strings.Split(*monitors, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: -serve-monitors: %q is not a positive number\n", f)
			os.Exit(2)
		}
		o.serveMonitors = append(o.serveMonitors, n)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench holds what every section shares.
type bench struct {
	o        options
	tmp      string
	hsBin    string // the sendertest binary
	bin      string // matrix-notify, absolute
	script   string // alarm-notify.sh, absolute ("" when missing)
	stock    string // stock conf, absolute ("" when missing)
	report   *report
	curlPath string
}

func run(o options) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run from the repository root (make bench)")
	}
	tmp, err := os.MkdirTemp("", "matrix-notify-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &bench{o: o, tmp: tmp, report: newReport()}
	if b.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	if _, err := os.Stat(b.bin); err != nil {
		return fmt.Errorf("%v (make build)", err)
	}
	if p, err := filepath.Abs(o.script); err == nil {
		if _, err := os.Stat(p); err == nil {
			b.script = p
		}
	}
	if p, err := filepath.Abs(o.stockConf); err == nil {
		if _, err := os.Stat(p); err == nil {
			b.stock = p
		}
	}
	if b.script == "" || b.stock == "" {
		b.report.note("Debian's alarm-notify.sh or health_alarm_notify.conf is missing (run scripts/fetch-netdata.sh): alarm-notify.sh is not measured.")
		b.script = ""
	}
	if _, err := exec.LookPath("bash"); err != nil {
		b.report.note("bash is missing: alarm-notify.sh is not measured.")
		b.script = ""
	}
	b.curlPath, _ = exec.LookPath("curl")
	if b.curlPath == "" {
		b.report.note("curl is missing: no floor, and alarm-notify.sh (which needs curl) is not measured.")
		b.script = ""
	}

	b.hsBin = filepath.Join(tmp, "sendertest")
	step("building scripts/sendertest")
	if out, err := exec.Command("go", "build", "-o", b.hsBin, "./scripts/sendertest").CombinedOutput(); err != nil {
		return fmt.Errorf("building sendertest: %v\n%s", err, out)
	}

	launcher = filepath.Join(tmp, "launch")
	if out, err := exec.Command("go", "build", "-o", launcher, "./scripts/bench/launch").CombinedOutput(); err != nil {
		return fmt.Errorf("building the launcher: %v\n%s", err, out)
	}
	if s, err := runChild(context.Background(), "/bin/true", nil, nil); err == nil {
		b.report.launcherRSS = float64(s.rssKB) / 1024
	}
	b.report.machine = machineInfo(b.bin)
	start := time.Now()
	sections := map[string]bool{}
	for _, s := range strings.Split(o.sections, ",") {
		sections[strings.TrimSpace(s)] = true
	}
	if sections["exec"] {
		if err := b.execSection(); err != nil {
			return fmt.Errorf("exec: %w", err)
		}
	}
	if sections["storm"] {
		if err := b.stormSection(); err != nil {
			return fmt.Errorf("storm: %w", err)
		}
	}
	if sections["outage"] {
		if err := b.outageSection(); err != nil {
			return fmt.Errorf("outage: %w", err)
		}
	}
	if sections["serve"] {
		if err := b.serveSection(); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	if sections["gobench"] && o.goBench {
		if err := b.goBenchSection(); err != nil {
			return fmt.Errorf("go benchmarks: %w", err)
		}
	}
	b.report.elapsed = time.Since(start)
	md := b.report.markdown()
	fmt.Println()
	fmt.Print(md)
	if err := os.WriteFile(filepath.Join(o.outDir, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s\n", filepath.Join(o.outDir, "results.md"))
	return nil
}

// step prints progress on stderr.
func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// ---------------------------------------------------------------------------
// The homeserver: scripts/sendertest as a process.

type homeserver struct {
	url  string
	cmd  *exec.Cmd
	done chan error
}

// startHS starts sendertest with rooms joined and the given flags, and reads
// its URL from the first line of its stdout.
func (b *bench) startHS(rooms []string, extra ...string) (*homeserver, error) {
	args := append([]string{"-listen", "127.0.0.1:0", "-rooms", strings.Join(rooms, ",")}, extra...)
	cmd := exec.Command(b.hsBin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	hs := &homeserver{cmd: cmd, done: make(chan error, 1)}
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		l, _ := r.ReadString('\n')
		line <- strings.TrimSpace(l)
		io.Copy(io.Discard, r)
		hs.done <- cmd.Wait()
	}()
	select {
	case hs.url = <-line:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("sendertest did not print its URL")
	}
	if !strings.HasPrefix(hs.url, "http://127.0.0.1:") {
		cmd.Process.Kill()
		return nil, fmt.Errorf("sendertest printed %q, want a loopback URL", hs.url)
	}
	return hs, nil
}

func (hs *homeserver) stop() {
	hs.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-hs.done:
	case <-time.After(10 * time.Second):
		hs.cmd.Process.Kill()
		<-hs.done
	}
}

// rooms returns n room ids with a prefix.
func rooms(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("!%s%02d:bench.test", prefix, i+1)
	}
	return out
}

// ---------------------------------------------------------------------------
// A throwaway netdata: config dirs with Debian's stock file and a user file,
// a cache dir, and the environment netdata gives a notifier.

type home struct {
	dir, user, stock, cache, plugins string
	env                              []string
}

func (b *bench) newHome(name, hsURL string, rooms []string, toml string) (*home, error) {
	dir := filepath.Join(b.tmp, name)
	h := &home{dir: dir, user: filepath.Join(dir, "etc"), stock: filepath.Join(dir, "stock"),
		cache: filepath.Join(dir, "cache"), plugins: filepath.Join(dir, "plugins.d")}
	for _, d := range []string{h.user, h.stock, h.cache, h.plugins} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if b.stock != "" {
		if err := copyFile(b.stock, filepath.Join(h.stock, "health_alarm_notify.conf"), 0o644); err != nil {
			return nil, err
		}
	}
	// Matrix only: email is on in the stock file and would cost the script
	// a sendmail run where one is installed.
	conf := fmt.Sprintf("SEND_EMAIL=\"NO\"\nSEND_MATRIX=\"YES\"\nMATRIX_HOMESERVER=%q\nMATRIX_ACCESSTOKEN=%q\nDEFAULT_RECIPIENT_MATRIX=%q\n",
		hsURL, "syt_sendertest_token", strings.Join(rooms, " "))
	if err := os.WriteFile(filepath.Join(h.user, "health_alarm_notify.conf"), []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if toml != "" {
		if err := os.WriteFile(filepath.Join(h.user, "matrix-notify.toml"), []byte(toml), 0o600); err != nil {
			return nil, err
		}
	}
	// Installed as netdata would have them, in plugins.d, and the binary the
	// way the README installs it: how a file entered the page cache changes
	// an exec's peak RSS (see installBinary).
	if err := installBinary(b.bin, filepath.Join(h.plugins, "matrix-notify")); err != nil {
		return nil, err
	}
	if b.script != "" {
		if err := copyFile(b.script, filepath.Join(h.plugins, "alarm-notify.sh"), 0o755); err != nil {
			return nil, err
		}
	}
	h.env = []string{
		"PATH=" + os.Getenv("PATH") + ":/usr/bin:/bin", "TZ=UTC", "LANG=C.UTF-8",
		"HOME=" + dir, "CURL_HOME=" + dir,
		"NETDATA_USER_CONFIG_DIR=" + h.user, "NETDATA_STOCK_CONFIG_DIR=" + h.stock, "NETDATA_CACHE_DIR=" + h.cache,
		"NETDATA_LIB_DIR=" + filepath.Join(dir, "lib"), // the state: never the host's /var/lib/netdata
		"NETDATA_REGISTRY_URL=https://netdata.example.org:19999",
	}
	return h, nil
}

// installBinary copies the binary with install(1), as the README does.
//
// Why not copyFile: the file's pages are mapped by the kernel's fault-around
// as large as the page-cache folios that hold them, and one write(2) of the
// whole 12 MB file (os.WriteFile) leaves larger folios than install's
// copy_file_range, a read from disk or the linker's own output: every exec of
// such a copy reads about 1.3 MB more file-backed RSS (14.3-14.8 MB against
// 13.0-13.5 MB for one room, measured with `launch` on the same binary).
// Users install it; they do not write it in one go.
func installBinary(from, to string) error {
	if out, err := exec.Command("install", "-m", "0755", from, to).CombinedOutput(); err != nil {
		return fmt.Errorf("install %s: %v: %s", to, err, out)
	}
	return nil
}

func copyFile(from, to string, mode os.FileMode) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, mode)
}

// alarmArgs is netdata 1.x's 29-argument argv for one CRITICAL transition,
// unique per seq (unique id, event id) and named name.
func alarmArgs(seq int, name string) []string {
	id := fmt.Sprint(seq)
	return []string{"sysadmin", "web01", "9" + id, "4" + id, id, "1763899200", name, "disk_space._", "/",
		"CRITICAL", "WARNING", "98.7", "91.3", "health.d/disks.conf:12", "300", "900", "%",
		"disk / space utilization", "98.7%", "91.3%", "$this > 90", "${this} = 98.7", "1", "0", "", "",
		"Utilization", "netdata edit-config health.d/disks.conf=12", ""}
}

// ---------------------------------------------------------------------------
// One child process, measured.

type sample struct {
	wall, cpu time.Duration
	rssKB     int64
	code      int
}

// launcher is the scripts/bench/launch binary, built at start.
var launcher string

// runChild runs path with args and env through the launcher, which measures
// it: wall time from fork to reaped, CPU (user+sys) and peak RSS from
// wait4's rusage, which counts the child and every descendant it waited for
// (bash's curls); ru_maxrss is the largest single process among them, not a
// sum.
func runChild(ctx context.Context, path string, args, env []string) (sample, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return sample{}, err
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, launcher, append([]string{path}, args...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		w.Close()
		return sample{}, err
	}
	w.Close()
	out, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		return sample{}, fmt.Errorf("%s: launcher: %v", path, err)
	}
	var wall, user, sys, rss int64
	var code int
	if _, err := fmt.Sscan(string(out), &wall, &user, &sys, &rss, &code); err != nil {
		return sample{}, fmt.Errorf("%s: launcher report %q: %v", path, out, err)
	}
	return sample{wall: time.Duration(wall), cpu: time.Duration(user + sys), rssKB: rss, code: code}, nil
}
