package main

import (
	"bufio"
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
	clients        int
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
	d := max(r.elapsed, r.drained)
	if d <= 0 {
		return 0
	}
	return float64(min(r.events, r.accepted())) / d.Seconds()
}

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

func (b *bench) serveSection() error {
	for k, m := range b.o.serveMonitors {
		runs := b.o.serveRuns
		if k > 0 {
			runs = 1 // for information
		}
		for range runs {
			res, err := b.serveRun(m)
			if err != nil {
				return err
			}
			b.report.serves = append(b.report.serves, res)
		}
	}
	return nil
}

// serveRun loads a fresh `matrix-notify serve` with webhooks from monitors
// monitors.
func (b *bench) serveRun(monitors int) (*serveResult, error) {
	o := b.o
	room := "!k01:bench.test"
	hs, err := b.startHS([]string{room})
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
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		done <- cmd.Wait()
	}()
	var base string
	select {
	case base = <-found:
	case err := <-done:
		return nil, fmt.Errorf("serve exited at start: %v", err)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("serve did not start")
	}
	step("serve: %d concurrent clients, %d monitor(s), at most %d webhooks or %s", o.serveClients, monitors, o.serveMax, o.serveDuration)

	tr := &http.Transport{MaxIdleConnsPerHost: o.serveClients, MaxConnsPerHost: o.serveClients, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next atomic.Int64
	var mu sync.Mutex
	res := serveResult{clients: o.serveClients, monitors: monitors, statuses: map[int]int{}}
	var lats []time.Duration
	deadline := time.Now().Add(o.serveDuration)
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < o.serveClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			st := map[int]int{}
			errs := 0
			for time.Now().Before(deadline) {
				i := int(next.Add(1))
				if i > o.serveMax {
					break
				}
				t0 := time.Now()
				resp, err := client.Post(base+"/kuma", "application/json", bytes.NewReader(kumaBody(i, monitors)))
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
			lats = append(lats, mine...)
			for k, v := range st {
				res.statuses[k] += v
			}
			res.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if st, err := fetchStats(hs.url); err == nil {
		res.eventsAtEnd = st.Events
	}
	res.requests = len(lats) + res.errors
	slices.Sort(lats)
	if len(lats) > 0 {
		res.p50 = lats[len(lats)/2]
		res.p99 = lats[min(len(lats)-1, len(lats)*99/100)]
		res.pmax = lats[len(lats)-1]
	}
	// A 202 is a promise: wait (at most 30 s) for the homeserver to have
	// every accepted webhook.
	var st hsStats
	for {
		st, err = fetchStats(hs.url)
		if err != nil {
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
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return &res, nil
}

// procStatusKB reads a "Name:  123 kB" line of /proc/PID/status.
func procStatusKB(pid int, name string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
