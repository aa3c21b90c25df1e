package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// goBudget is the budget of one Go benchmark on the machine of
// BENCHMARKS.md; the same numbers are in each benchmark's comment (for the
// two older benchmarks, whose files this harness does not own, only here and
// in BENCHMARKS.md).
type goBudget struct {
	pkg, name string // name without the -GOMAXPROCS suffix
	nsPerOp   float64
	bytesOp   float64
	allocsOp  float64
	why       string
}

var goBudgets = []goBudget{
	{"./adapters/netdata/healthconf", "BenchmarkLoadStock", 3e6, 1 << 20, 8000,
		"Debian's 55 KB stock file, parsed as bash, once per alarm: the largest part of an exec's CPU"},
	{"./adapters/netdata", "BenchmarkMessage/layout1", 50e3, 16 << 10, 100, "argv, netdata.Derive, netdata.Content"},
	{"./adapters/netdata", "BenchmarkMessage/layout2", 50e3, 16 << 10, 100, "argv, netdata.Derive, netdata.Content"},
	{"./adapters/liquidjs", "BenchmarkRender/plain", 50e3, 16 << 10, 100, "a Kuma template as users write them"},
	{"./adapters/liquidjs", "BenchmarkRender/date", 50e3, 16 << 10, 100, "the same with a date filter"},
	{"./adapters/liquidjs", "BenchmarkRender/json", 50e3, 16 << 10, 100, "heartbeatJSON piped to the json filter"},
	{"./plugin", "BenchmarkDryRunAlarm", 3e6, 1 << 20, 8000,
		"one alarm end to end in-process, 10 rooms, Debian's stock conf, dry run"},
}

type goResult struct {
	budget                     goBudget
	found                      bool
	nsPerOp, bytesOp, allocsOp float64
}

func (r goResult) pass() bool {
	return r.found && r.nsPerOp <= r.budget.nsPerOp && r.bytesOp <= r.budget.bytesOp && r.allocsOp <= r.budget.allocsOp
}

func (b *bench) goBenchSection() error {
	var pkgs []string
	names := map[string]bool{}
	for _, gb := range goBudgets {
		if !contains(pkgs, gb.pkg) {
			pkgs = append(pkgs, gb.pkg)
		}
		top, _, _ := strings.Cut(gb.name, "/")
		names[top] = true
	}
	var re []string
	for n := range names {
		re = append(re, n)
	}
	args := append([]string{"test", "-run", "^$", "-bench", "^(" + strings.Join(re, "|") + ")$", "-benchmem",
		"-benchtime", b.o.benchtime, "-count", "1"}, pkgs...)
	step("go %s", strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v\n%s", err, out.String())
	}
	b.report.goCmd = "go " + strings.Join(args, " ")
	got := map[string][3]float64{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		var v [3]float64
		for i := 2; i+1 < len(f); i += 2 {
			x, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				v[0] = x
			case "B/op":
				v[1] = x
			case "allocs/op":
				v[2] = x
			}
		}
		got[name] = v
	}
	for _, gb := range goBudgets {
		v, ok := got[gb.name]
		b.report.goResults = append(b.report.goResults, goResult{budget: gb, found: ok, nsPerOp: v[0], bytesOp: v[1], allocsOp: v[2]})
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
