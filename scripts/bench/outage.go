package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// outageResult is the outage section: alarms fired one after another (as
// netdata 1.37's health thread runs them, waiting for each) while the
// homeserver refuses connections, then the homeserver back and nothing else
// run: what the background flush delivers.
type outageResult struct {
	alarms, rooms int
	execs         []sample
	total         time.Duration // first start to last exit, during the outage
	recovery      time.Duration // homeserver back until the last expected event
	flushExited   bool          // the background flush exited by the end
	expected      int
	delivered     int
	duplicates    int
	lost          int
}

var outageName = regexp.MustCompile(`outage alarm (\d+)`)

// outageDeliveryLimit is the feature's promise: delivered within 2 minutes
// of the homeserver's return, with no further command.
const outageDeliveryLimit = 2 * time.Minute

func (b *bench) outageSection() error {
	r, err := b.outage()
	if err != nil {
		return err
	}
	b.report.outage = &r
	return nil
}

func (b *bench) outage() (outageResult, error) {
	o := b.o
	r := outageResult{alarms: o.outageAlarms, rooms: o.outageRooms, expected: o.outageAlarms * o.outageRooms}
	rs := rooms("o", o.outageRooms)
	// A loopback port nothing listens on: refused until sendertest takes it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	addr := ln.Addr().String()
	ln.Close()
	h, err := b.newHome("outage", "http://"+addr, rs, "")
	if err != nil {
		return r, err
	}
	defer killBackgroundFlushes(h.cache)
	path := filepath.Join(h.plugins, "matrix-notify")
	step("outage: %d alarms x %d rooms, one after another, the homeserver refusing connections", r.alarms, r.rooms)
	start := time.Now()
	for i := range r.alarms {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		s, err := runChild(ctx, path, alarmArgs(200000+i, fmt.Sprintf("outage_alarm_%03d", i)), h.env)
		cancel()
		if err != nil {
			return r, err
		}
		r.execs = append(r.execs, s)
	}
	r.total = time.Since(start)

	step("outage: the homeserver is back on %s; nothing else is run", addr)
	var hs *homeserver
	for range 50 { // the port may linger a moment
		if hs, err = b.startHS(rs, "-listen", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return r, fmt.Errorf("sendertest on %s: %w", addr, err)
	}
	defer hs.stop()
	back := time.Now()
	for time.Since(back) < outageDeliveryLimit+30*time.Second {
		if n, err := countEvents(hs.url); err == nil && n >= r.expected {
			r.recovery = time.Since(back)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Exactly once: let the flush finish, then count.
	for time.Since(back) < outageDeliveryLimit+30*time.Second && len(backgroundFlushes(h.cache)) > 0 {
		time.Sleep(100 * time.Millisecond)
	}
	r.flushExited = len(backgroundFlushes(h.cache)) == 0
	evs, err := fetchEvents(hs.url)
	if err != nil {
		return r, err
	}
	seen := map[string]int{}
	for _, ev := range evs {
		var c struct {
			Body string `json:"body"`
		}
		json.Unmarshal(ev.Content, &c)
		if m := outageName.FindStringSubmatch(c.Body); m != nil {
			seen[ev.Room+"|"+m[1]]++
		}
	}
	for _, n := range seen {
		r.delivered++
		r.duplicates += n - 1
	}
	r.lost = r.expected - r.delivered
	if r.recovery == 0 {
		r.recovery = time.Since(back) // not all arrived: the time waited
	}
	return r, nil
}

// backgroundFlushes are the pids of the background flushes running for the
// outboxes under cache: those whose lock (flock) is held; each writes its
// pid into its lock file.
func backgroundFlushes(cache string) []int {
	locks, _ := filepath.Glob(filepath.Join(cache, "matrix-notify", "outbox", "*.flush.lock"))
	var pids []int
	for _, l := range locks {
		f, err := os.Open(l)
		if err != nil {
			continue
		}
		free := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
		f.Close()
		if free {
			continue
		}
		data, _ := os.ReadFile(l)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killBackgroundFlushes ends what the section started, if it is still there.
func killBackgroundFlushes(cache string) {
	for _, pid := range backgroundFlushes(cache) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (r *outageResult) budgets() []budgetLine {
	var maxWall time.Duration
	for _, s := range r.execs {
		maxWall = max(maxWall, s.wall)
	}
	ok := r.duplicates == 0 && r.lost == 0 && r.recovery <= outageDeliveryLimit && r.flushExited
	return []budgetLine{
		{fmt.Sprintf("outage: one exec against a refused port returns (max of %d, %d rooms each)", len(r.execs), r.rooms),
			"<= 1 s", fmt.Sprintf("%.0f ms (median %.0f ms)", float64(maxWall)/1e6, summarize(wallMS(r.execs)).med), maxWall <= time.Second, false},
		{fmt.Sprintf("outage: %d alarms one after another during the outage, in all", r.alarms),
			"<= 10 s", fmt.Sprintf("%.2f s, exit codes %s", r.total.Seconds(), exitCodes(r.execs)), r.total <= 10*time.Second, false},
		{"outage: every alarm delivered exactly once after recovery, with no further command",
			"0 dup, 0 lost, within 2 min",
			fmt.Sprintf("%d dup, %d lost of %d, all in %.1f s; the background flush exited: %v", r.duplicates, r.lost, r.expected, r.recovery.Seconds(), r.flushExited), ok, false},
	}
}

func (r *outageResult) markdown(b *strings.Builder) {
	w, c, m := summarize(wallMS(r.execs)), summarize(cpuMS(r.execs)), summarize(rssMB(r.execs))
	b.WriteString("\n## Outage\n\nThe homeserver refuses connections (a loopback port nothing listens on); the alarms run one after another, as netdata 1.37 runs them; then sendertest listens on that port and nothing else is run: the background flush the first alarm started delivers.\n\n")
	b.WriteString("| alarms × rooms | exec wall ms, median [min–max] | exec CPU ms | peak RSS MB | exit codes | all alarms | back → all delivered | delivered | duplicates | lost | flush exited |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(b, "| %d × %d | %.1f [%.1f–%.1f] | %.1f | %.1f | %s | %.2f s | %.1f s | %d / %d | %d | %d | %v |\n",
		r.alarms, r.rooms, w.med, w.min, w.max, c.med, m.max, exitCodes(r.execs), r.total.Seconds(), r.recovery.Seconds(),
		r.delivered, r.expected, r.duplicates, r.lost, r.flushExited)
}
