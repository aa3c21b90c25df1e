//go:build linux

package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"matrix-notify/internal/flushlock"
	"matrix-notify/sender/sendertest"
)

// withoutEnv is env without name's entries.
func withoutEnv(env []string, name string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
}

// freeLoopbackAddr is a loopback address nothing listens on (a port that was
// just free): connections to it are refused until someone listens there.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serveAt runs hs on addr (the homeserver coming back where it was).
func serveAt(t *testing.T, hs *sendertest.Server, addr string) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the homeserver cannot come back on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: hs, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// outageHome is a netdata home routing to rooms on hs, which is down: its
// URL is addr, where nothing listens until serveAt. The background flush is
// on (newNetdataHome turns it off); the flushes the test leaves running are
// killed at its end. outboxes is where the outboxes and their flush locks
// are.
func outageHome(t *testing.T, rooms ...string) (h *netdataHome, hs *sendertest.Server, addr, outboxes string) {
	t.Helper()
	addr = freeLoopbackAddr(t)
	hs = sendertest.NewHandler(sendertest.Options{Joined: rooms})
	t.Cleanup(hs.Close)
	h = newNetdataHome(t, fmt.Sprintf("MATRIX_HOMESERVER=%q\nMATRIX_ACCESSTOKEN=%q\nDEFAULT_RECIPIENT_MATRIX=%q\n", "http://"+addr, hs.Token(), strings.Join(rooms, " ")))
	h.env = withoutEnv(h.env, "MATRIX_NOTIFY_BACKGROUND_FLUSH")
	outboxes = filepath.Join(h.lib, "matrix-notify")
	t.Cleanup(func() { flushlock.KillRunning(outboxes) })
	return h, hs, addr, outboxes
}

var (
	backgroundPID = regexp.MustCompile(`background flush (?:already running )?\(pid (\d+)`)
	backgroundLog = regexp.MustCompile(`background flush \(pid \d+, log (\S+\.flush\.log)\)`)
)

// TestE2EOutageDeliveredWithoutAnotherAlarm is item 2's promise, with the
// real binary: the homeserver refuses connections, one alarm fires (exit 3,
// queued), the homeserver comes back, and nothing else is run: the alarm
// arrives, once, by itself. The alarm's process does not wait for the
// background flush: its pipes reach EOF while the flush still runs (netdata
// reads a notifier's pipes until EOF).
func TestE2EOutageDeliveredWithoutAnotherAlarm(t *testing.T) {
	const room = "!ops:hs.test"
	h, hs, addr, outboxes := outageHome(t, room)

	start := time.Now()
	r := h.run(t, nil, alarmArgs("sysadmin", "2001", "1", "CRITICAL", "WARNING", "disk full")...)
	took := time.Since(start)
	if r.code != 3 || !strings.Contains(r.stderr, "queued") {
		t.Fatalf("alarm during the outage: exit %d, want 3 (queued)\n%s", r.code, r.stderr)
	}
	t.Logf("the alarm returned after %v (exit 3); stderr:\n%s", took.Round(time.Millisecond), r.stderr)
	m := backgroundPID.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("the alarm does not say it started a background flush:\n%s", r.stderr)
	}
	pid, _ := strconv.Atoi(m[1])
	// The alarm's pipes reached EOF (h.run returned) while the background
	// flush lives on: it did not inherit them.
	if running := flushlock.Running(outboxes); !slices.Contains(running, pid) {
		t.Fatalf("background flush %d is not running (running: %v)", pid, running)
	}
	if strings.Contains(r.stderr, hs.Token()) {
		t.Error("the token appears in the log")
	}

	// Back only once the flush has met the outage: it must wait and retry.
	logPath := backgroundLog.FindStringSubmatch(r.stderr)[1]
	deadline := time.Now().Add(150 * time.Second) // the promise is 2 minutes; poll generously
	for time.Now().Before(deadline) {
		if data, _ := os.ReadFile(logPath); strings.Contains(string(data), "next_round_in=") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	serveAt(t, hs, addr)
	for len(hs.Events(room)) == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if len(hs.Events(room)) == 0 {
		t.Fatalf("nothing delivered %v after the homeserver came back", 150*time.Second)
	}
	// Exactly once: the flush exits once the outbox is empty, and has sent
	// nothing more by then.
	for len(flushlock.Running(outboxes)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if left := flushlock.Running(outboxes); len(left) > 0 {
		t.Errorf("the background flush %v is still running with nothing queued", left)
	}
	if n := len(hs.Events(room)); n != 1 {
		t.Errorf("%d events in %s, want exactly 1", n, room)
	}
	if q := h.run(t, []string{"MATRIX_HOMESERVER=http://" + addr}, "queue"); !strings.Contains(q.stdout, "is empty") {
		t.Errorf("the outbox is not empty:\n%s%s", q.stdout, q.stderr)
	}
	data, _ := os.ReadFile(logPath)
	t.Logf("the background flush's log:\n%s", data)
	if !strings.Contains(string(data), "sent queued Matrix notification") || strings.Contains(string(data), hs.Token()) {
		t.Errorf("the background flush's log lacks the delivery, or holds the token:\n%s", data)
	}
}

// TestE2EOutageStormOneFlush: alarms fired one after another during an
// outage each queue and exit 3; only the first starts a background flush,
// the others find it running. When the homeserver is back every alarm
// arrives exactly once, in order, with no further command.
func TestE2EOutageStormOneFlush(t *testing.T) {
	rooms := []string{"!a:hs.test", "!b:hs.test"}
	h, hs, addr, outboxes := outageHome(t, rooms...)

	const n = 6
	pids := map[string]bool{}
	for i := range n {
		r := h.run(t, nil, alarmN(i)...)
		if r.code != 3 {
			t.Fatalf("alarm %d: exit %d, want 3\n%s", i, r.code, r.stderr)
		}
		m := backgroundPID.FindStringSubmatch(r.stderr)
		if m == nil {
			t.Fatalf("alarm %d names no background flush:\n%s", i, r.stderr)
		}
		pids[m[1]] = true
		if i > 0 && !strings.Contains(r.stderr, "already running") {
			t.Errorf("alarm %d did not find the flush running:\n%s", i, r.stderr)
		}
	}
	if len(pids) != 1 {
		t.Errorf("%d background flushes started, want 1: %v", len(pids), pids)
	}
	serveAt(t, hs, addr)
	deadline := time.Now().Add(150 * time.Second)
	for len(flushlock.Running(outboxes)) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	for _, room := range rooms {
		checkExactlyOnceInOrder(t, hs, room, n)
	}
}

// TestE2EFlushByHandDuringOutage: `flush` run by hand while the homeserver
// refuses connections says so at once, not after its 10-minute deadline
// (the test bounds it generously), and leaves the retrying to the
// background flush, which it names.
func TestE2EFlushByHandDuringOutage(t *testing.T) {
	const room = "!ops:hs.test"
	h, _, _, _ := outageHome(t, room)
	h.writeTOML(t, "[matrix]\ntimeout = \"10m\"\n")
	if r := h.run(t, []string{backgroundFlushOff}, alarmN(0)...); r.code != exitFailed {
		t.Fatalf("alarm during the outage: exit %d\n%s", r.code, r.stderr)
	}
	done := make(chan result, 1)
	go func() { done <- h.run(t, nil, "flush") }()
	select {
	case r := <-done:
		if r.code != exitFailed || !strings.Contains(r.stderr, "connection refused") || !backgroundPID.MatchString(r.stderr) {
			t.Errorf("flush: exit %d, want 3, the refusal and the background flush\n%s", r.code, r.stderr)
		}
	case <-time.After(time.Minute):
		t.Fatal("flush by hand still retrying a refused homeserver after a minute")
	}
}
