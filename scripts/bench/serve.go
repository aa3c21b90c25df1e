package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type serveResult struct {
	monitors       int // distinct Kuma monitors the webhooks come from
	requests       int
	statuses       map[int]int
	errors         int
	elapsed        time.Duration
	p50, p99, pmax time.Duration
	vmHWMKB        int64
	cpu            time.Duration // the serve process's user+sys over its life
	events         int           // events the homeserver recorded
	drained        time.Duration // from the start until events reached the 2xx count (0: by the load's end)
	eventsAtEnd    int           // events the homeserver had when the load ended
}

// accepted counts the 2xx answers: 200 (delivered before answering) or 202
// (accepted into the outbox, delivered after).
func (r serveResult) accepted() int {
	n := 0
	for code, c := range r.statuses {
		if code/100 == 2 {
			n += c
		}
	}
	return n
}

// rate is webhooks delivered to the homeserver per second: events that
// arrived, over the time from the first request until the last of them
// arrived (the load's end, or later when serve answers 202 and drains an
// outbox).
func (r serveResult) rate() float64 {
	return float64(min(r.events, r.accepted())) / max(r.elapsed, r.drained).Seconds()
}

var listeningRE = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// kumaBody is webhook i as Kuma's Webhook notification posts it: from
// monitor i mod monitors, which goes DOWN and UP in turn (its 1st, 3rd...
// webhook is DOWN, the others UP), unique per i (the beat's time and msg), so
// that every webhook is a new message and none is answered from the txn
// cache. A DOWN is an alert's update (the first becomes its thread root), an
// UP its resolution: the alert store is read and written as in production.
func kumaBody(i, monitors int) []byte {
	t := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond).Format("2006-01-02 15:04:05.000")
	id := 1 + i%monitors
	status, word, icon, msg := 0, "Down", "🔴", fmt.Sprintf("connect ECONNREFUSED #%d", i)
	if (i/monitors)%2 == 1 {
		status, word, icon, msg = 1, "Up", "✅", fmt.Sprintf("200 - OK #%d", i)
	}
	return fmt.Appendf(nil, `{"heartbeat":{"monitorID":%d,"status":%d,"time":%q,"msg":%q,"ping":null,"important":true,"duration":60},"monitor":{"id":%d,"name":"API %d","url":"https://api%d.example.org/health","type":"http"},"msg":"[API %d] [%s %s] %s"}`,
		id, status, t, msg, id, id, id, id, icon, word, msg)
}

// serveSection runs serve under load: -serve-runs times for the first
// monitor count (the budget's, by the median), once for each other.
func (b *bench) serveSection() error {
	var rows [][]string
	for k, m := range b.o.serveMonitors {
		var rates, p99s []float64
		n := 1 // for information
		if k == 0 {
			n = b.o.serveRuns
		}
		for range n {
			s, err := b.serveRun(m)
			if err != nil {
				return err
			}
			rates, p99s = append(rates, s.rate()), append(p99s, float64(s.p99)/1e6)
			ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
			rows = append(rows, []string{fmt.Sprint(b.o.serveClients), fmt.Sprint(m), fmt.Sprint(s.requests), fmt.Sprintf("%.1f s", s.elapsed.Seconds()),
				fmt.Sprint(s.eventsAtEnd), fmt.Sprintf("%.1f s", max(s.elapsed, s.drained).Seconds()), fmt.Sprintf("%.0f", s.rate()),
				ms(s.p50), ms(s.p99), fmt.Sprintf("%.1f ms", float64(s.pmax)/1e6), codes(s.statuses), fmt.Sprint(s.errors), fmt.Sprint(s.events),
				fmt.Sprintf("%.0f µs", float64(s.cpu)/float64(max(s.requests, 1))/1e3), fmt.Sprintf("%.1f MB", float64(s.vmHWMKB)/1024)})
		}
		// The median over the runs, and each run's value when there are several.
		perRun := func(xs []float64, f string) string {
			if len(xs) == 1 {
				return ""
			}
			var parts []string
			for _, x := range xs {
				parts = append(parts, fmt.Sprintf(f, x))
			}
			return fmt.Sprintf(" (median of %d runs: %s)", len(xs), strings.Join(parts, ", "))
		}
		rate, p99 := summarize(rates).med, summarize(p99s).med
		b.report.add(budgetLine{fmt.Sprintf("serve, %d monitor(s): Kuma webhooks delivered to sendertest per second", m),
			">= 1000/s", fmt.Sprintf("%.0f/s", rate) + perRun(rates, "%.0f"), rate >= 1000, k > 0},
			budgetLine{fmt.Sprintf("serve, %d monitor(s): p99 latency", m), "< 50 ms", fmt.Sprintf("%.1f ms", p99) + perRun(p99s, "%.1f"), p99 < 50, k > 0})
	}
	b.report.section("serve under Kuma webhooks", "", []string{"clients", "monitors", "webhooks", "load time", "delivered by the load's end", "last event at",
		"delivered/s", "p50", "p99", "max", "statuses", "client errors", "events at the homeserver", "serve CPU per webhook", "serve VmHWM"}, rows)
	return nil
}

// serveRun loads a fresh `matrix-notify serve` with webhooks from monitors
// monitors.
func (b *bench) serveRun(monitors int) (*serveResult, error) {
	o := b.o
	room := "!k01:bench.test"
	hs, err := b.startHS("", []string{room}, 0, 0)
	if err != nil {
		return nil, err
	}
	defer hs.stop()
	dir := filepath.Join(b.tmp, fmt.Sprintf("serve-%d", monitors))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "serve.toml")
	toml := fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token = %q\nrooms = [%q]\n", hs.url, "syt_sendertest_token", room)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(b.bin, "serve", "--listen", "127.0.0.1:0", "--config", cfg)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TZ=UTC", "HOME=" + dir}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	srv, err := startProc(cmd, stderr, listeningRE)
	if err != nil {
		return nil, err
	}
	step("serve: %d concurrent clients, %d monitor(s), at most %d webhooks or %s", o.serveClients, monitors, o.serveMax, o.serveDuration)

	tr := &http.Transport{MaxIdleConnsPerHost: o.serveClients, MaxConnsPerHost: o.serveClients, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	res := serveResult{monitors: monitors, statuses: map[int]int{}}
	var lats []time.Duration
	deadline := time.Now().Add(o.serveDuration)
	start := time.Now()
	for range o.serveClients {
		wg.Go(func() {
			var mine []time.Duration
			st := map[int]int{}
			errs := 0
			for time.Now().Before(deadline) {
				i := int(next.Add(1))
				if i > o.serveMax {
					break
				}
				t0 := time.Now()
				resp, err := client.Post(srv.url+"/kuma", "application/json", bytes.NewReader(kumaBody(i, monitors)))
				if err != nil {
					errs++
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				st[resp.StatusCode]++
			}
			mu.Lock()
			defer mu.Unlock()
			lats = append(lats, mine...)
			for k, v := range st {
				res.statuses[k] += v
			}
			res.errors += errs
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	var st hsStats
	if getJSON(hs.url+"/_sendertest/stats", &st) == nil {
		res.eventsAtEnd = st.Events
	}
	res.requests = len(lats) + res.errors
	slices.Sort(lats)
	if len(lats) > 0 {
		res.p50, res.p99, res.pmax = lats[len(lats)/2], lats[min(len(lats)-1, len(lats)*99/100)], lats[len(lats)-1]
	}
	// A 202 is a promise: wait (at most 30 s) for the homeserver to have
	// every accepted webhook.
	for {
		if err := getJSON(hs.url+"/_sendertest/stats", &st); err != nil {
			return nil, err
		}
		res.events = st.Events
		if st.Events >= res.accepted() || time.Since(start) > res.elapsed+30*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// When the homeserver stored the last event, by its clock (the same
	// machine's): not when a poll noticed.
	if d := st.LastEvent.Sub(start); d > res.elapsed {
		res.drained = d
	}
	res.vmHWMKB = procStatusKB(cmd.Process.Pid, "VmHWM")
	tr.CloseIdleConnections()
	srv.stop()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return &res, nil
}

// procStatusKB reads a "Name:  123 kB" line of /proc/PID/status.
func procStatusKB(pid int, name string) int64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
