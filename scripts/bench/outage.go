package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"matrix-notify/internal/flushlock"
	"matrix-notify/internal/realpeer"
)

var outageName = regexp.MustCompile(`outage alarm (\d+)`)

// outageDeliveryLimit is the feature's promise: delivered within 2 minutes
// of the homeserver's return, with no further command.
const outageDeliveryLimit = 2 * time.Minute

// outageSection fires alarms one after another (as netdata 1.37's health
// thread runs them, waiting for each) while the homeserver refuses
// connections, then brings the homeserver back and runs nothing else: what
// the background flush delivers.
func (b *bench) outageSection() error {
	o := b.o
	rs := rooms("o", o.outageRooms)
	// A loopback port nothing listens on: refused until sendertest takes it.
	port, err := realpeer.FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	h, err := b.newHome("outage", "http://"+addr, rs, "")
	if err != nil {
		return err
	}
	state := filepath.Join(h.dir, "lib", "matrix-notify") // NETDATA_LIB_DIR/matrix-notify
	defer flushlock.KillRunning(state)
	step("outage: %d alarms x %d rooms, one after another, the homeserver refusing connections", o.outageAlarms, o.outageRooms)
	var execs []sample
	start := time.Now()
	for i := range o.outageAlarms {
		s, err := b.runChild(time.Minute, filepath.Join(h.plugins, "matrix-notify"), alarmArgs(200000+i, fmt.Sprintf("outage_alarm_%03d", i)), h.env)
		if err != nil {
			return err
		}
		execs = append(execs, s)
	}
	total := time.Since(start)

	step("outage: the homeserver is back on %s; nothing else is run", addr)
	var hs *proc
	waitFor(time.Now().Add(5*time.Second), 100*time.Millisecond, func() bool { // the port may linger a moment
		hs, err = b.startHS(addr, rs, 0, 0)
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("sendertest on %s: %w", addr, err)
	}
	defer hs.stop()
	expected := o.outageAlarms * o.outageRooms
	back := time.Now()
	deadline := back.Add(outageDeliveryLimit + 30*time.Second)
	waitFor(deadline, 100*time.Millisecond, func() bool {
		st, err := hs.stats()
		return err == nil && st.Events >= expected
	})
	recovery := time.Since(back) // until the last expected event, or the time waited
	// Exactly once: let the flush finish, then count.
	flushExited := waitFor(deadline, 100*time.Millisecond, func() bool { return len(flushlock.Running(state)) == 0 })
	delivered, dup, err := countPairs(hs.url, outageName)
	lost := expected - delivered
	if err != nil {
		return err
	}

	w := of(execs, wall)
	b.report.section("Outage", "The homeserver refuses connections (a loopback port nothing listens on); the alarms run one after another, as netdata 1.37 runs them; then sendertest listens on that port and nothing else is run: the background flush the first alarm started delivers.",
		[]string{"alarms × rooms", "exec wall ms, median [min–max]", "exec CPU ms", "peak RSS MB", "exit codes", "all alarms", "back → all delivered", "delivered", "duplicates", "lost", "flush exited"},
		[][]string{{fmt.Sprintf("%d × %d", o.outageAlarms, o.outageRooms), w.String(), fmt.Sprintf("%.1f", of(execs, cpu).med), fmt.Sprintf("%.1f", of(execs, rss).max),
			exitCodes(execs), fmt.Sprintf("%.2f s", total.Seconds()), fmt.Sprintf("%.1f s", recovery.Seconds()),
			fmt.Sprintf("%d / %d", delivered, expected), fmt.Sprint(dup), fmt.Sprint(lost), fmt.Sprint(flushExited)}})
	b.report.add(
		line(fmt.Sprintf("outage: one exec against a refused port returns (max of %d, %d rooms each)", len(execs), o.outageRooms),
			"<= 1 s", fmt.Sprintf("%.0f ms (median %.0f ms)", w.max, w.med), w.max <= 1000, false),
		line(fmt.Sprintf("outage: %d alarms one after another during the outage, in all", o.outageAlarms),
			"<= 10 s", fmt.Sprintf("%.2f s, exit codes %s", total.Seconds(), exitCodes(execs)), total <= 10*time.Second, false),
		line("outage: every alarm delivered exactly once after recovery, with no further command", "0 dup, 0 lost, within 2 min",
			fmt.Sprintf("%d dup, %d lost of %d, all in %.1f s; the background flush exited: %v", dup, lost, expected, recovery.Seconds(), flushExited),
			dup == 0 && lost == 0 && recovery <= outageDeliveryLimit && flushExited, false))
	return nil
}
