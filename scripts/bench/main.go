// Command bench is `make bench`: it measures matrix-notify against the tools
// it replaces (Debian's alarm-notify.sh, one curl PUT) on a loopback
// homeserver, an alarm storm, an outage, `serve` under Kuma webhooks,
// encrypted rooms on Dendrite and the Go benchmarks of the hot paths, prints
// one PASS/MISS line per item of the budget in BENCHMARKS.md, which says
// how each number is measured, and writes the tables to
// scripts/bench/results.md. Run it from the repository root:
//
//	go run ./scripts/bench -bin bin/matrix-notify
//
// Only loopback addresses are used.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	benchtime                      string
	sections                       string
}

func main() {
	if len(os.Args) == 6 && os.Args[1] == "homeserver" {
		fmt.Fprintln(os.Stderr, "bench: homeserver:", homeserver(os.Args[2], os.Args[3], os.Args[4], os.Args[5]))
		os.Exit(1)
	}
	var o options
	flag.StringVar(&o.bin, "bin", "bin/matrix-notify", "the matrix-notify binary (make build)")
	flag.StringVar(&o.script, "script", "testdata/.cache/netdata/usr/lib/netdata/plugins.d/alarm-notify.sh", "Debian's alarm-notify.sh")
	flag.StringVar(&o.stockConf, "stock-conf", "testdata/.cache/netdata/usr/lib/netdata/conf.d/health_alarm_notify.conf", "Debian's stock health_alarm_notify.conf")
	flag.StringVar(&o.outDir, "out", "scripts/bench", "where results.md goes")
	flag.IntVar(&o.runs, "runs", 10, "runs per tool and configuration (1 and 10 rooms; e2ee)")
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
	flag.StringVar(&o.benchtime, "benchtime", "1s", "go test -benchtime")
	flag.StringVar(&o.sections, "sections", "exec,e2ee,storm,outage,serve,gobench", "comma-separated sections to run")
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
	self     string // this program, which is also the homeserver
	launcher string // the scripts/bench/launch binary
	bin      string // matrix-notify, absolute
	script   []byte // alarm-notify.sh (nil when not measured)
	stock    []byte // the stock health_alarm_notify.conf (nil when missing)
	curlPath string
	report   *report
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
	b := &bench{o: o, tmp: tmp, report: &report{}, launcher: filepath.Join(tmp, "launch")}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if b.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	if _, err := os.Stat(b.bin); err != nil {
		return fmt.Errorf("%v (make build)", err)
	}
	b.script, _ = os.ReadFile(o.script)
	b.stock, _ = os.ReadFile(o.stockConf)
	_, noBash := exec.LookPath("bash")
	b.curlPath, _ = exec.LookPath("curl")
	if b.script == nil || b.stock == nil || noBash != nil || b.curlPath == "" {
		b.report.note("alarm-notify.sh is not measured: it needs Debian's alarm-notify.sh and health_alarm_notify.conf (run scripts/fetch-netdata.sh), bash and curl.")
		b.script = nil
	}
	if b.curlPath == "" {
		b.report.note("curl is missing: no floor.")
	}
	if out, err := exec.Command("go", "build", "-o", b.launcher, "./scripts/bench/launch").CombinedOutput(); err != nil {
		return fmt.Errorf("building the launcher: %v\n%s", err, out)
	}
	if s, err := b.runChild(time.Minute, "/bin/true", nil, nil); err == nil {
		b.report.launcherRSS = s.v[rss]
	}
	b.report.machine = machineInfo(b.bin)
	start := time.Now()
	all := []struct {
		name string
		run  func() error
	}{{"exec", b.execSection}, {"e2ee", b.e2eeSection}, {"storm", b.stormSection}, {"outage", b.outageSection},
		{"serve", b.serveSection}, {"gobench", b.goBenchSection}}
	for _, s := range all {
		if strings.Contains(","+strings.ReplaceAll(o.sections, " ", "")+",", ","+s.name+",") {
			if err := s.run(); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}
	md := b.report.markdown(time.Since(start))
	fmt.Print("\n" + md)
	out := filepath.Join(o.outDir, "results.md")
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s\n", out)
	return nil
}

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
