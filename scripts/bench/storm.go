package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"golang.org/x/sync/errgroup"
)

var stormName = regexp.MustCompile(`storm alarm (\d+)`)

func (b *bench) stormSection() error {
	tools := []string{toolMN}
	if b.script != nil && b.o.stormScript {
		tools = append(tools, toolScript)
	}
	var rows [][]string
	for _, tool := range tools {
		row, err := b.storm(tool)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	b.report.section("Storm", "", []string{"tool", "alarms × rooms", "at once", "rate limit", "total", "minimum (events/rate)", "slowest process",
		"429 answers / requests", "delivered", "duplicates", "lost", "exit codes", "CPU total", "max RSS MB"}, rows)
	return nil
}

// storm runs one tool's storm and adds its budget line; it returns its row.
func (b *bench) storm(tool string) ([]string, error) {
	o := b.o
	rs := rooms("s", o.stormRooms)
	hs, err := b.startHS("", rs, 0, o.stormRate)
	if err != nil {
		return nil, err
	}
	defer hs.stop()
	h, err := b.newHome("storm-"+filepath.Base(tool), hs.url, rs, "")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(h.plugins, "matrix-notify")
	if tool == toolScript {
		path = filepath.Join(h.plugins, "alarm-notify.sh")
	}
	step("storm: %s, %d alarms x %d rooms, %d at a time, homeserver limited to %g events/s", tool, o.stormAlarms, o.stormRooms, o.stormWidth, o.stormRate)
	var g errgroup.Group
	g.SetLimit(o.stormWidth)
	ss := make([]sample, o.stormAlarms)
	start := time.Now()
	for i := range ss {
		g.Go(func() (err error) {
			ss[i], err = b.runChild(3*time.Minute, path, alarmArgs(100000+i, fmt.Sprintf("storm_alarm_%03d", i)), h.env)
			return err
		})
	}
	err = g.Wait()
	total := time.Since(start)
	if err != nil {
		return nil, err
	}
	expected := o.stormAlarms * o.stormRooms
	delivered, dup, err := countPairs(hs.url, stormName)
	lost := expected - delivered
	if err != nil {
		return nil, err
	}
	var reqs []struct{ Status int }
	if err := getJSON(hs.url+"/_sendertest/requests", &reqs); err != nil {
		return nil, err
	}
	n429, cpuSum := 0, 0.0
	for _, rq := range reqs {
		if rq.Status == 429 {
			n429++
		}
	}
	for _, s := range ss {
		cpuSum += s.v[cpu]
	}
	// The least time the rate limit allows for every event, as the budget
	// counts it (events / rate; the bucket's initial burst of one second's
	// worth would make it one second less).
	minimum := float64(expected) / o.stormRate
	maxRSS := of(ss, rss).max
	if tool == toolMN {
		b.report.execs = append(b.report.execs, ss...)
	}
	b.report.add(line(fmt.Sprintf("storm, %s: %d alarms x %d rooms within 1.2x the rate limit's minimum, no duplicates, no losses", tool, o.stormAlarms, o.stormRooms),
		fmt.Sprintf("<= %.1f s, 0 dup, 0 lost", 1.2*minimum), fmt.Sprintf("%.1f s, %d dup, %d lost of %d", total.Seconds(), dup, lost, expected),
		total.Seconds() <= 1.2*minimum && dup == 0 && lost == 0, tool != toolMN))
	return []string{tool, fmt.Sprintf("%d × %d", o.stormAlarms, o.stormRooms), fmt.Sprint(o.stormWidth), fmt.Sprintf("%g/s", o.stormRate),
		fmt.Sprintf("%.1f s", total.Seconds()), fmt.Sprintf("%.1f s", minimum), fmt.Sprintf("%.1f s", of(ss, wall).max/1e3),
		fmt.Sprintf("%d / %d", n429, len(reqs)), fmt.Sprintf("%d / %d", delivered, expected), fmt.Sprint(dup), fmt.Sprint(lost),
		exitCodes(ss), fmt.Sprintf("%.1f s", cpuSum/1e3), fmt.Sprintf("%.1f", maxRSS)}, nil
}
