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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"matrix-notify/sender/sendertest"
)

var listeningRE = regexp.MustCompile(`listening url=(http://127\.0\.0\.1:\d+)`)

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
			row, rate, p99, err := b.serveRun(m)
			if err != nil {
				return err
			}
			rows, rates, p99s = append(rows, row), append(rates, rate), append(p99s, p99)
		}
		rate, p99 := summarize(rates).med, summarize(p99s).med
		b.report.add(line(fmt.Sprintf("serve, %d monitor(s): Kuma webhooks delivered to sendertest per second", m),
			">= 1000/s", fmt.Sprintf("%.0f/s (median of %d run(s), each in the serve table)", rate, len(rates)), rate >= 1000, k > 0),
			line(fmt.Sprintf("serve, %d monitor(s): p99 latency", m), "< 50 ms", fmt.Sprintf("%.1f ms (median of %d run(s))", p99, len(p99s)), p99 < 50, k > 0))
	}
	b.report.section("serve under Kuma webhooks", "", []string{"clients", "monitors", "webhooks", "load time", "delivered by the load's end", "last event at",
		"delivered/s", "p50", "p99", "max", "statuses", "client errors", "events at the homeserver", "serve CPU per webhook", "serve VmHWM"}, rows)
	return nil
}

// serveRun loads a fresh `matrix-notify serve` with webhooks from monitors
// monitors; it returns its table row, the webhooks delivered per second and
// the p99 latency in ms.
func (b *bench) serveRun(monitors int) (row []string, rate, p99 float64, err error) {
	o := b.o
	room := "!k01:bench.test"
	hs, err := b.startHS("", []string{room}, 0, 0)
	if err != nil {
		return nil, 0, 0, err
	}
	defer hs.stop()
	dir := filepath.Join(b.tmp, fmt.Sprintf("serve-%d", monitors))
	cfg := filepath.Join(dir, "serve.toml")
	toml := fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token = %q\nrooms = [%q]\n", hs.url, "syt_sendertest_token", room)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, 0, err
	}
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		return nil, 0, 0, err
	}
	cmd := exec.Command(b.bin, "serve", "--listen", "127.0.0.1:0", "--config", cfg)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TZ=UTC", "HOME=" + dir}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, 0, 0, err
	}
	srv, err := startProc(cmd, stderr, listeningRE)
	if err != nil {
		return nil, 0, 0, err
	}
	step("serve: %d concurrent clients, %d monitor(s), at most %d webhooks or %s", o.serveClients, monitors, o.serveMax, o.serveDuration)

	tr := &http.Transport{MaxIdleConnsPerHost: o.serveClients, MaxConnsPerHost: o.serveClients, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		wg       sync.WaitGroup
		lats     []time.Duration
		errs     int
		statuses = map[int]int{}
		deadline = time.Now().Add(o.serveDuration)
		start    = time.Now()
		accepted int // 2xx: 200 (delivered before answering) or 202 (queued, delivered after)
	)
	for range o.serveClients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				i := int(next.Add(1))
				if i > o.serveMax {
					break
				}
				t0 := time.Now()
				resp, err := client.Post(srv.url+"/kuma", "application/json", bytes.NewReader(kumaBody(i, monitors)))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				if err != nil {
					errs++
				} else {
					lats = append(lats, time.Since(t0))
					statuses[resp.StatusCode]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	atEnd, _ := hs.stats()
	slices.Sort(lats)
	if len(lats) == 0 {
		return nil, 0, 0, fmt.Errorf("serve answered none of %d webhooks", errs)
	}
	for code, n := range statuses {
		if code/100 == 2 {
			accepted += n
		}
	}
	// A 202 is a promise: wait (at most 30 s) for the homeserver to have
	// every accepted webhook.
	var st sendertest.Stats
	waitFor(start.Add(elapsed+30*time.Second), 20*time.Millisecond, func() bool {
		st, err = hs.stats()
		return err != nil || st.Events >= accepted
	})
	if err != nil {
		return nil, 0, 0, err
	}
	// Webhooks delivered per second: from the first request until the
	// homeserver stored the last of them, by its clock (the same machine's),
	// not when a poll noticed: the load's end, or later when serve answers
	// 202 and drains an outbox.
	until := max(elapsed, st.LastEvent.Sub(start))
	rate = float64(min(st.Events, accepted)) / until.Seconds()
	vmHWM := procStatusKB(cmd.Process.Pid, "VmHWM")
	tr.CloseIdleConnections()
	srv.stop()
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpuPer := float64(ru.Utime.Nano()+ru.Stime.Nano()) / float64(len(lats)+errs) / 1e3
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
	p50, p99d, pmax := lats[len(lats)/2], lats[min(len(lats)-1, len(lats)*99/100)], lats[len(lats)-1]
	return []string{fmt.Sprint(o.serveClients), fmt.Sprint(monitors), fmt.Sprint(len(lats) + errs), fmt.Sprintf("%.1f s", elapsed.Seconds()),
		fmt.Sprint(atEnd.Events), fmt.Sprintf("%.1f s", until.Seconds()), fmt.Sprintf("%.0f", rate), ms(p50), ms(p99d),
		fmt.Sprintf("%.1f ms", float64(pmax)/1e6), codes(statuses), fmt.Sprint(errs), fmt.Sprint(st.Events),
		fmt.Sprintf("%.0f µs", cpuPer), fmt.Sprintf("%.1f MB", float64(vmHWM)/1024)}, rate, float64(p99d) / 1e6, nil
}

// procStatusKB reads a "Name:  123 kB" line of /proc/PID/status.
func procStatusKB(pid int, name string) (kb int64) {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if _, v, ok := strings.Cut(string(data), "\n"+name+":"); ok {
		fmt.Sscan(v, &kb)
	}
	return kb
}
