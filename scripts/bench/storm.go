package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"
)

type stormResult struct {
	tool          string
	alarms, rooms int
	width         int
	rate          float64
	total         time.Duration // first start to last exit
	exits         map[int]int
	expected      int // (room, alarm) pairs
	delivered     int // distinct (room, alarm) pairs that arrived
	duplicates    int // events beyond the first for a (room, alarm) pair
	lost          int
	status429     int
	requests      int
	cpu           time.Duration // summed over all processes
	maxRSSKB      int64
	slowest       time.Duration // the longest single process
}

var stormName = regexp.MustCompile(`storm alarm (\d+)`)

// stormSection launches the storm for matrix-notify, then alarm-notify.sh.
func (b *bench) stormSection() error {
	tools := []string{toolMN}
	if b.script != "" && b.o.stormScript {
		tools = append(tools, toolScript)
	}
	for _, tool := range tools {
		r, err := b.storm(tool)
		if err != nil {
			return err
		}
		b.report.storms = append(b.report.storms, r)
	}
	return nil
}

func (b *bench) storm(tool string) (stormResult, error) {
	o := b.o
	rs := rooms("s", o.stormRooms)
	hs, err := b.startHS(rs, "-rate-limit", strconv.FormatFloat(o.stormRate, 'f', -1, 64))
	if err != nil {
		return stormResult{}, err
	}
	defer hs.stop()
	h, err := b.newHome("storm-"+filepath.Base(tool), hs.url, rs, "")
	if err != nil {
		return stormResult{}, err
	}
	path := filepath.Join(h.plugins, "matrix-notify")
	if tool == toolScript {
		path = filepath.Join(h.plugins, "alarm-notify.sh")
	}
	step("storm: %s, %d alarms x %d rooms, %d at a time, homeserver limited to %g events/s", tool, o.stormAlarms, o.stormRooms, o.stormWidth, o.stormRate)

	r := stormResult{tool: tool, alarms: o.stormAlarms, rooms: o.stormRooms, width: o.stormWidth, rate: o.stormRate,
		exits: map[int]int{}, expected: o.stormAlarms * o.stormRooms}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, o.stormWidth)
	start := time.Now()
	var firstErr error
	for i := 0; i < o.stormAlarms; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			s, err := runChild(ctx, path, alarmArgs(100000+i, fmt.Sprintf("storm_alarm_%03d", i)), h.env)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			r.exits[s.code]++
			r.cpu += s.cpu
			r.maxRSSKB = max(r.maxRSSKB, s.rssKB)
			r.slowest = max(r.slowest, s.wall)
		}(i)
	}
	wg.Wait()
	r.total = time.Since(start)
	if firstErr != nil {
		return r, firstErr
	}

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
		m := stormName.FindStringSubmatch(c.Body)
		if m == nil {
			continue
		}
		seen[ev.Room+"|"+m[1]]++
	}
	for _, n := range seen {
		r.delivered++
		r.duplicates += n - 1
	}
	r.lost = r.expected - r.delivered
	reqs, err := fetchRequests(hs.url)
	if err != nil {
		return r, err
	}
	r.requests = len(reqs)
	for _, rq := range reqs {
		if rq.Status == 429 {
			r.status429++
		}
	}
	return r, nil
}

// minimum is the least time the rate limit allows for every event, as the
// budget counts it (events / rate; the bucket's initial burst of one
// second's worth would make it one second less).
func (r stormResult) minimum() time.Duration {
	return time.Duration(float64(r.expected) / r.rate * float64(time.Second))
}
