package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"time"
)

const (
	toolCurl   = "curl PUT (floor)"
	toolScript = "alarm-notify.sh"
	toolMN     = "matrix-notify"
	toolMNC    = "matrix-notify, concurrency=32"
)

// fanoutRooms are the room counts of the fan-out tables, at 50 ms.
var fanoutRooms = []int{1, 2, 5, 10, 20}

type execKey struct {
	tool  string
	delay time.Duration
	rooms int
}

// execSection runs the side-by-side comparison and the fan-out.
func (b *bench) execSection() error {
	tools := slices.DeleteFunc([]string{toolCurl, toolScript, toolMN, toolMNC}, func(t string) bool {
		return t == toolScript && b.script == nil || t == toolCurl && b.curlPath == ""
	})
	res := map[execKey][]sample{}
	seq := 0
	for _, delay := range []time.Duration{0, 50 * time.Millisecond} {
		if err := b.execDelay(res, tools, delay, &seq); err != nil {
			return err
		}
	}
	b.execReport(res, tools)
	return nil
}

// execDelay runs every tool for each room count on one homeserver with
// delay, interleaved run by run so that drift hits them alike.
func (b *bench) execDelay(res map[execKey][]sample, tools []string, delay time.Duration, seq *int) error {
	allRooms := rooms("r", 20)
	hs, err := b.startHS("", allRooms, delay, 0)
	if err != nil {
		return err
	}
	defer hs.stop()
	counts := []int{1, 10}
	if delay > 0 {
		counts = fanoutRooms
	}
	for _, n := range counts {
		runs := b.o.runs
		if n != 1 && n != 10 {
			runs = b.o.fanoutRuns
		}
		step("exec: %d room(s), %s delay, %d runs per tool", n, delay, runs)
		name := fmt.Sprintf("exec-%s-%d", delay, n)
		h, err := b.newHome(name, hs.url, allRooms[:n], "")
		if err != nil {
			return err
		}
		hc, err := b.newHome(name+"-c32", hs.url, allRooms[:n], "[matrix]\nconcurrency = 32\n")
		if err != nil {
			return err
		}
		before, err := hs.stats()
		if err != nil {
			return err
		}
		want := 0
		for i := -1; i < runs; i++ { // run -1 warms the page cache, not recorded
			for _, tool := range tools {
				*seq++
				path, args, env, events := filepath.Join(h.plugins, "matrix-notify"), alarmArgs(*seq, "disk_space_usage"), h.env, n
				switch tool {
				case toolCurl:
					path, args, events = b.curlPath, curlArgs(hs.url, allRooms[0], *seq), 1
				case toolScript:
					path = filepath.Join(h.plugins, "alarm-notify.sh")
				case toolMNC:
					path, env = filepath.Join(hc.plugins, "matrix-notify"), hc.env
				}
				s, err := b.runChild(time.Minute, path, args, env)
				if err != nil {
					return fmt.Errorf("%s: %w", tool, err)
				}
				if s.code == 0 {
					want += events
				}
				if i >= 0 {
					k := execKey{tool, delay, n}
					res[k] = append(res[k], s)
				}
			}
		}
		after, err := hs.stats()
		if err != nil {
			return err
		}
		if got := after.Events - before.Events; got != want {
			b.report.note(fmt.Sprintf("exec %d room(s) at %s: %d events arrived, the exit codes promised %d", n, delay, got, want))
		}
	}
	return nil
}

// curlArgs is the floor: one PUT with the token in the header, the least a
// sender can do per room.
func curlArgs(hs, room string, seq int) []string {
	return []string{"-sS", "--fail", "-o", "/dev/null", "--connect-timeout", "5", "-X", "PUT",
		"-H", "Authorization: Bearer syt_sendertest_token", "-H", "Content-Type: application/json",
		"--data", `{"msgtype":"m.notice","body":"floor"}`,
		fmt.Sprintf("%s/_matrix/client/v3/rooms/%s/send/m.room.message/floor-%d", hs, url.PathEscape(room), seq)}
}

func (b *bench) execReport(res map[execKey][]sample, tools []string) {
	r := b.report
	var rows [][]string
	for _, delay := range []time.Duration{0, 50 * time.Millisecond} {
		for _, n := range []int{1, 10} {
			for _, tool := range tools {
				ss := res[execKey{tool, delay, n}]
				rooms := fmt.Sprint(n)
				if tool == toolCurl {
					rooms = "1 request"
				}
				rows = append(rows, append([]string{fmt.Sprintf("%d ms", delay.Milliseconds()), rooms, tool}, measured(ss)...))
			}
		}
	}
	r.section("One alarm, side by side", "Median [min–max] over the runs; CPU is user+sys of the process and everything it waited for (bash's curls, dates...); peak RSS is the largest single process among them.",
		[]string{"delay", "rooms", "tool", "runs", "wall ms", "CPU ms", "peak RSS MB", "exit codes"}, rows)
	fanout := func(cell func([]sample) string) [][]string {
		var rows [][]string
		for _, n := range fanoutRooms {
			row := []string{fmt.Sprint(n)}
			for _, tool := range tools {
				row = append(row, cell(res[execKey{tool, 50 * time.Millisecond, n}]))
			}
			rows = append(rows, row)
		}
		return rows
	}
	head := append([]string{"rooms"}, tools...)
	r.section("Fan-out at 50 ms server delay", "Median wall ms [IQR]:", head, fanout(func(ss []sample) string {
		w := of(ss, wall)
		return fmt.Sprintf("%.1f [%.1f–%.1f]", w.med, w.q1, w.q3)
	}))
	// The RSS budget is a maximum, and fan-out is what moves it.
	r.section("", "Peak RSS MB, median [max]:", head, fanout(func(ss []sample) string {
		m := of(ss, rss)
		return fmt.Sprintf("%.1f [%.1f]", m.med, m.max)
	}))

	at := func(tool string, metric int) float64 {
		return of(res[execKey{tool, 50 * time.Millisecond, 10}], metric).med
	}
	c, s, m, mc := at(toolCurl, wall), at(toolScript, wall), at(toolMN, wall), at(toolMNC, wall)
	if c > 0 && m > 0 {
		r.add(line("10 rooms at 50 ms: matrix-notify wall <= 1.15x one curl PUT (median)",
			fmt.Sprintf("<= %.1f ms", 1.15*c), fmt.Sprintf("%.1f ms = %.2fx the floor (%.1f ms)", m, m/c, c), m <= 1.15*c, false),
			line("  same with [matrix] concurrency = 32 in matrix-notify.toml",
				fmt.Sprintf("<= %.1f ms", 1.15*c), fmt.Sprintf("%.1f ms = %.2fx the floor", mc, mc/c), mc <= 1.15*c, true))
	}
	if s > 0 && m > 0 {
		sc, mcpu := at(toolScript, cpu), at(toolMN, cpu)
		r.add(line("10 rooms at 50 ms: matrix-notify >= 10x faster than alarm-notify.sh (wall, median)",
			">= 10x", fmt.Sprintf("%.1fx (%.0f ms vs %.1f ms)", s/m, s, m), s/m >= 10, false),
			line("10 rooms at 50 ms: CPU per alarm <= 1/20 of alarm-notify.sh's (user+sys, median)",
				fmt.Sprintf("<= %.2f ms", sc/20), fmt.Sprintf("%.2f ms = 1/%.1f of %.1f ms", mcpu, sc/mcpu, sc), mcpu <= sc/20, false))
	}
	r.rssAt = len(r.budget)
	for k, ss := range res {
		if k.tool == toolMN || k.tool == toolMNC {
			r.execs = append(r.execs, ss...)
		}
	}
}
