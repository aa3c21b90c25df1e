package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

type report struct {
	machine     [][2]string
	launcherRSS float64 // peak RSS the launcher reports for /bin/true: the floor of RSS readings
	notes       []string
	exec        map[execKey][]sample
	execTools   []string
	storms      []stormResult
	outage      *outageResult
	serves      []*serveResult // the first is the budget's, the rest for information
	goResults   []goResult
	goCmd       string
	elapsed     time.Duration
}

func newReport() *report { return &report{} }

func (r *report) note(s string) {
	step("note: %s", s)
	r.notes = append(r.notes, s)
}

// machineInfo describes where the numbers come from.
func machineInfo(bin string) [][2]string {
	var m [][2]string
	m = append(m, [2]string{"CPUs (nproc)", fmt.Sprint(runtime.NumCPU())})
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m = append(m, [2]string{"CPU model", strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))})
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSpace(v), &kb)
				m = append(m, [2]string{"memory", fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))})
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m = append(m, [2]string{"kernel", "Linux " + strings.TrimSpace(string(data))})
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		m = append(m, [2]string{"load average at start (1, 5, 15 min)", strings.Join(strings.Fields(string(data))[:3], " ")})
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m = append(m, [2]string{"go", strings.TrimSpace(string(out))})
	}
	if fi, err := os.Stat(bin); err == nil {
		m = append(m, [2]string{"matrix-notify binary", fmt.Sprintf("%.1f MB (make build: static, -trimpath -s -w)", float64(fi.Size())/(1<<20))})
	}
	if out, err := exec.Command("bash", "--version").Output(); err == nil {
		m = append(m, [2]string{"bash", firstLine(string(out))})
	}
	if out, err := exec.Command("curl", "--version").Output(); err == nil {
		m = append(m, [2]string{"curl", firstLine(string(out))})
	}
	return m
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}

// ---------------------------------------------------------------------------
// Statistics.

type stats struct{ med, min, max, q1, q3 float64 }

func summarize(xs []float64) stats {
	if len(xs) == 0 {
		return stats{}
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	q := func(p float64) float64 { // linear interpolation between order statistics
		pos := p * float64(len(s)-1)
		lo := int(pos)
		if lo+1 >= len(s) {
			return s[lo]
		}
		return s[lo] + (pos-float64(lo))*(s[lo+1]-s[lo])
	}
	return stats{med: q(0.5), min: s[0], max: s[len(s)-1], q1: q(0.25), q3: q(0.75)}
}

func wallMS(ss []sample) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = float64(s.wall) / 1e6
	}
	return out
}

func cpuMS(ss []sample) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = float64(s.cpu) / 1e6
	}
	return out
}

func rssMB(ss []sample) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = float64(s.rssKB) / 1024
	}
	return out
}

func exitCodes(ss []sample) string {
	m := map[int]int{}
	for _, s := range ss {
		m[s.code]++
	}
	return codes(m)
}

func codes(m map[int]int) string {
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// ---------------------------------------------------------------------------
// Budget lines.

type budgetLine struct {
	item, target, measured string
	pass                   bool
	info                   bool // informational: not a budget line
}

func (b budgetLine) verdict() string {
	switch {
	case b.info:
		return "info"
	case b.pass:
		return "PASS"
	}
	return "MISS"
}

func (r *report) budgets() []budgetLine {
	var out []budgetLine
	d50 := 50 * time.Millisecond
	curl := r.exec[execKey{toolCurl, d50, 10}]
	script := r.exec[execKey{toolScript, d50, 10}]
	mn := r.exec[execKey{toolMN, d50, 10}]
	mnc := r.exec[execKey{toolMNC, d50, 10}]
	if len(curl) > 0 && len(mn) > 0 {
		c, m := summarize(wallMS(curl)).med, summarize(wallMS(mn)).med
		out = append(out, budgetLine{"10 rooms at 50 ms: matrix-notify wall <= 1.15x one curl PUT (median)",
			fmt.Sprintf("<= %.1f ms", 1.15*c), fmt.Sprintf("%.1f ms = %.2fx the floor (%.1f ms)", m, m/c, c), m <= 1.15*c, false})
		if len(mnc) > 0 {
			mc := summarize(wallMS(mnc)).med
			out = append(out, budgetLine{"  same with [matrix] concurrency = 32 in matrix-notify.toml",
				fmt.Sprintf("<= %.1f ms", 1.15*c), fmt.Sprintf("%.1f ms = %.2fx the floor", mc, mc/c), mc <= 1.15*c, true})
		}
	}
	if len(script) > 0 && len(mn) > 0 {
		s, m := summarize(wallMS(script)).med, summarize(wallMS(mn)).med
		out = append(out, budgetLine{"10 rooms at 50 ms: matrix-notify >= 10x faster than alarm-notify.sh (wall, median)",
			">= 10x", fmt.Sprintf("%.1fx (%.0f ms vs %.1f ms)", s/m, s, m), s/m >= 10, false})
		sc, mc := summarize(cpuMS(script)).med, summarize(cpuMS(mn)).med
		out = append(out, budgetLine{"10 rooms at 50 ms: CPU per alarm <= 1/20 of alarm-notify.sh's (user+sys, median)",
			fmt.Sprintf("<= %.2f ms", sc/20), fmt.Sprintf("%.2f ms = 1/%.1f of %.1f ms", mc, sc/mc, sc), mc <= sc/20, false})
	}
	var maxRSS float64
	var n int
	for k, ss := range r.exec {
		if k.tool == toolMN || k.tool == toolMNC {
			for _, x := range rssMB(ss) {
				maxRSS = max(maxRSS, x)
				n++
			}
		}
	}
	for _, st := range r.storms {
		if st.tool == toolMN {
			maxRSS = max(maxRSS, float64(st.maxRSSKB)/1024)
			n += st.alarms
		}
	}
	if n > 0 {
		out = append(out, budgetLine{"peak RSS of one matrix-notify exec (max over every exec and storm run)",
			"<= 18 MB", fmt.Sprintf("%.1f MB (max of %d runs)", maxRSS, n), maxRSS <= 18, false})
	}
	for _, st := range r.storms {
		lim := 1.2 * st.minimum().Seconds()
		ok := st.total.Seconds() <= lim && st.duplicates == 0 && st.lost == 0
		item := fmt.Sprintf("storm, %s: %d alarms x %d rooms within 1.2x the rate limit's minimum, no duplicates, no losses", st.tool, st.alarms, st.rooms)
		out = append(out, budgetLine{item, fmt.Sprintf("<= %.1f s, 0 dup, 0 lost", lim),
			fmt.Sprintf("%.1f s, %d dup, %d lost of %d", st.total.Seconds(), st.duplicates, st.lost, st.expected), ok, st.tool != toolMN})
	}
	if r.outage != nil {
		out = append(out, r.outage.budgets()...)
	}
	// One pair of lines per monitor count, over its runs (the median; the
	// first count is the budget's, the others for information).
	var counts []int
	byCount := map[int][]*serveResult{}
	for _, s := range r.serves {
		if _, ok := byCount[s.monitors]; !ok {
			counts = append(counts, s.monitors)
		}
		byCount[s.monitors] = append(byCount[s.monitors], s)
	}
	for k, m := range counts {
		var rates, p99s []float64
		for _, s := range byCount[m] {
			rates = append(rates, s.rate())
			p99s = append(p99s, float64(s.p99)/1e6)
		}
		rate, p99 := summarize(rates).med, summarize(p99s).med
		of := func(xs []float64, f string) string {
			if len(xs) == 1 {
				return ""
			}
			var parts []string
			for _, x := range xs {
				parts = append(parts, fmt.Sprintf(f, x))
			}
			return fmt.Sprintf(" (median of %d runs: %s)", len(xs), strings.Join(parts, ", "))
		}
		out = append(out, budgetLine{fmt.Sprintf("serve, %d monitor(s): Kuma webhooks delivered to sendertest per second", m),
			">= 1000/s", fmt.Sprintf("%.0f/s", rate) + of(rates, "%.0f"), rate >= 1000, k > 0})
		out = append(out, budgetLine{fmt.Sprintf("serve, %d monitor(s): p99 latency", m), "< 50 ms",
			fmt.Sprintf("%.1f ms", p99) + of(p99s, "%.1f"), p99 < 50, k > 0})
	}
	for _, g := range r.goResults {
		out = append(out, budgetLine{"go: " + g.budget.name,
			fmt.Sprintf("<= %s, %s, %.0f allocs", fmtNs(g.budget.nsPerOp), fmtBytes(g.budget.bytesOp), g.budget.allocsOp),
			fmt.Sprintf("%s, %s, %.0f allocs", fmtNs(g.nsPerOp), fmtBytes(g.bytesOp), g.allocsOp), g.pass(), false})
	}
	return out
}

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func fmtBytes(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

// ---------------------------------------------------------------------------
// Markdown.

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# make bench results\n\nGenerated by scripts/bench on %s in %.0f s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), r.elapsed.Seconds())
	b.WriteString("## Machine\n\n| | |\n|---|---|\n")
	for _, kv := range r.machine {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], kv[1])
	}
	if r.launcherRSS > 0 {
		fmt.Fprintf(&b, "\nChildren are run by scripts/bench/launch, whose own RSS (%.1f MB, what it reports for /bin/true) is the floor of every peak RSS reading.\n", r.launcherRSS)
	}
	for _, n := range r.notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}

	if len(r.exec) > 0 {
		b.WriteString("\n## One alarm, side by side\n\n")
		b.WriteString("Median [min–max] over the runs; CPU is user+sys of the process and everything it waited for (bash's curls, dates...); peak RSS is the largest single process among them.\n\n")
		b.WriteString("| delay | rooms | tool | runs | wall ms | CPU ms | peak RSS MB | exit codes |\n|---|---|---|---|---|---|---|---|\n")
		for _, delay := range []time.Duration{0, 50 * time.Millisecond} {
			for _, n := range []int{1, 10} {
				for _, tool := range r.execTools {
					ss := r.exec[execKey{tool, delay, n}]
					if len(ss) == 0 {
						continue
					}
					w, c, m := summarize(wallMS(ss)), summarize(cpuMS(ss)), summarize(rssMB(ss))
					rooms := fmt.Sprint(n)
					if tool == toolCurl {
						rooms = "1 request"
					}
					fmt.Fprintf(&b, "| %s | %s | %s | %d | %.1f [%.1f–%.1f] | %.1f [%.1f–%.1f] | %.1f [%.1f–%.1f] | %s |\n",
						fmtDelay(delay), rooms, tool, len(ss), w.med, w.min, w.max, c.med, c.min, c.max, m.med, m.min, m.max, exitCodes(ss))
				}
			}
		}
		b.WriteString("\n## Fan-out at 50 ms server delay\n\nMedian wall ms [IQR]:\n\n")
		r.fanoutTable(&b, func(ss []sample) string {
			w := summarize(wallMS(ss))
			return fmt.Sprintf("%.1f [%.1f–%.1f]", w.med, w.q1, w.q3)
		})
		// The RSS budget is a maximum, and fan-out is what moves it.
		b.WriteString("\nPeak RSS MB, median [max]:\n\n")
		r.fanoutTable(&b, func(ss []sample) string {
			m := summarize(rssMB(ss))
			return fmt.Sprintf("%.1f [%.1f]", m.med, m.max)
		})
	}

	if len(r.storms) > 0 {
		b.WriteString("\n## Storm\n\n| tool | alarms × rooms | at once | rate limit | total | minimum (events/rate) | slowest process | 429 answers / requests | delivered | duplicates | lost | exit codes | CPU total | max RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range r.storms {
			fmt.Fprintf(&b, "| %s | %d × %d | %d | %g/s | %.1f s | %.1f s | %.1f s | %d / %d | %d / %d | %d | %d | %s | %.1f s | %.1f |\n",
				s.tool, s.alarms, s.rooms, s.width, s.rate, s.total.Seconds(), s.minimum().Seconds(), s.slowest.Seconds(),
				s.status429, s.requests, s.delivered, s.expected, s.duplicates, s.lost, codes(s.exits), s.cpu.Seconds(), float64(s.maxRSSKB)/1024)
		}
	}

	if r.outage != nil {
		r.outage.markdown(&b)
	}

	if len(r.serves) > 0 {
		b.WriteString("\n## serve under Kuma webhooks\n\n| clients | monitors | webhooks | load time | delivered by the load's end | last event at | delivered/s | p50 | p99 | max | statuses | client errors | events at the homeserver | serve CPU per webhook | serve VmHWM |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	}
	for _, s := range r.serves {
		per := 0.0
		if s.requests > 0 {
			per = float64(s.cpu) / float64(s.requests) / 1e3
		}
		fmt.Fprintf(&b, "| %d | %d | %d | %.1f s | %d | %.1f s | %.0f | %.2f ms | %.2f ms | %.1f ms | %s | %d | %d | %.0f µs | %.1f MB |\n",
			s.clients, s.monitors, s.requests, s.elapsed.Seconds(), s.eventsAtEnd, max(s.elapsed, s.drained).Seconds(), s.rate(), float64(s.p50)/1e6, float64(s.p99)/1e6, float64(s.pmax)/1e6,
			codes(s.statuses), s.errors, s.events, per, float64(s.vmHWMKB)/1024)
	}

	if len(r.goResults) > 0 {
		fmt.Fprintf(&b, "\n## Go benchmarks\n\n`%s`\n\n| benchmark | what | time/op | B/op | allocs/op |\n|---|---|---|---|---|\n", r.goCmd)
		for _, g := range r.goResults {
			if !g.found {
				fmt.Fprintf(&b, "| %s | %s | not run | | |\n", g.budget.name, g.budget.why)
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f |\n", g.budget.name, g.budget.why, fmtNs(g.nsPerOp), fmtBytes(g.bytesOp), g.allocsOp)
		}
	}

	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(&b, "\nLoad average at the end (1, 5, 15 min): %s.\n", strings.Join(strings.Fields(string(data))[:3], " "))
	}
	b.WriteString("\n## Budget\n\n| | budget item | target | measured |\n|---|---|---|---|\n")
	for _, l := range r.budgets() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", l.verdict(), l.item, l.target, l.measured)
	}
	return b.String()
}

func fmtDelay(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// fanoutTable writes a table of the fan-out points (rows) and tools
// (columns) at 50 ms, cell saying what each point's samples show.
func (r *report) fanoutTable(b *strings.Builder, cell func([]sample) string) {
	b.WriteString("| rooms |")
	for _, tool := range r.execTools {
		fmt.Fprintf(b, " %s |", tool)
	}
	b.WriteString("\n|---|")
	for range r.execTools {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, n := range fanoutRooms {
		fmt.Fprintf(b, "| %d |", n)
		for _, tool := range r.execTools {
			if ss := r.exec[execKey{tool, 50 * time.Millisecond, n}]; len(ss) > 0 {
				fmt.Fprintf(b, " %s |", cell(ss))
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
}
