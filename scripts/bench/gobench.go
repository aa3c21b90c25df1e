package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// goBudget is the budget of one Go benchmark on the machine of
// BENCHMARKS.md; the same numbers are in each benchmark's comment (for the
// two older benchmarks, whose files this harness does not own, only here and
// in BENCHMARKS.md).
type goBudget struct {
	pkg, name string // name without the -GOMAXPROCS suffix
	perOp     [3]float64
	why       string
}

var goUnits = []string{"ns/op", "B/op", "allocs/op"}

var goBudgets = []goBudget{
	{"./adapters/netdata/healthconf", "BenchmarkLoadStock", [3]float64{3e6, 1 << 20, 8000},
		"Debian's 55 KB stock file, parsed as bash, once per alarm: the largest part of an exec's CPU"},
	{"./adapters/netdata", "BenchmarkMessage/layout1", [3]float64{50e3, 16 << 10, 100}, "argv, netdata.Derive, netdata.Content"},
	{"./adapters/netdata", "BenchmarkMessage/layout2", [3]float64{50e3, 16 << 10, 100}, "argv, netdata.Derive, netdata.Content"},
	{"./adapters/liquidjs", "BenchmarkRender/plain", [3]float64{50e3, 16 << 10, 100}, "a Kuma template as users write them"},
	{"./adapters/liquidjs", "BenchmarkRender/date", [3]float64{50e3, 16 << 10, 100}, "the same with a date filter"},
	{"./adapters/liquidjs", "BenchmarkRender/json", [3]float64{50e3, 16 << 10, 100}, "heartbeatJSON piped to the json filter"},
	{"./plugin", "BenchmarkDryRunAlarm", [3]float64{3e6, 1 << 20, 8000},
		"one alarm end to end in-process, 10 rooms, Debian's stock conf, dry run"},
}

// benchLine is a line of `go test -bench` output: the name without its
// -GOMAXPROCS suffix, then the measurements.
var benchLine = regexp.MustCompile(`^(Benchmark\S*?)(?:-\d+)?\s+\d+\s+(.*)$`)

func (b *bench) goBenchSection() error {
	var pkgs, names []string
	for _, gb := range goBudgets {
		top, _, _ := strings.Cut(gb.name, "/")
		pkgs, names = append(pkgs, gb.pkg), append(names, top)
	}
	// goBudgets lists a package's benchmarks together (go test would drop
	// any other repeat of a package; a name's is harmless in the regexp).
	pkgs, names = slices.Compact(pkgs), slices.Compact(names)
	args := append([]string{"test", "-run", "^$", "-bench", "^(" + strings.Join(names, "|") + ")$", "-benchmem",
		"-benchtime", b.o.benchtime, "-count", "1"}, pkgs...)
	step("go %s", strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v\n%s", err, out.String())
	}
	got := map[string][3]float64{}
	for _, l := range strings.Split(out.String(), "\n") {
		m := benchLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var v [3]float64
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			if u := slices.Index(goUnits, f[i+1]); u >= 0 {
				v[u], _ = strconv.ParseFloat(f[i], 64)
			}
		}
		got[m[1]] = v
	}
	// time/op, B/op, allocs/op
	format := func(v [3]float64) []string {
		return []string{time.Duration(v[0]).Round(100).String(), fmt.Sprintf("%.0f B", v[1]), fmt.Sprintf("%.0f allocs", v[2])}
	}
	var rows [][]string
	for _, gb := range goBudgets {
		v, ok := got[gb.name]
		cells := format(v)
		if !ok {
			cells = []string{"not run", "", ""}
		}
		rows = append(rows, append([]string{gb.name, gb.why}, cells...))
		b.report.add(line("go: "+gb.name, "<= "+strings.Join(format(gb.perOp), ", "), strings.Join(cells, ", "),
			ok && v[0] <= gb.perOp[0] && v[1] <= gb.perOp[1] && v[2] <= gb.perOp[2], false))
	}
	b.report.section("Go benchmarks", "`go "+strings.Join(args, " ")+"`", []string{"benchmark", "what", "time/op", "B/op", "allocs/op"}, rows)
	return nil
}
