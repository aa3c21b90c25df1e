//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sender

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"matrix-notify/sender/sendertest"
	"matrix-notify/sender/state"
)

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the log lines containing every one of subs.
func (b *lockedBuffer) lines(subs ...string) []string {
	var out []string
	for l := range strings.Lines(b.String()) {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

func openTestOutbox(t *testing.T, dir string, opts OutboxOptions) *Outbox {
	t.Helper()
	ob, err := OpenOutbox(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	return ob
}

// quickSleep keeps the real waits tiny (the fake homeserver does not enforce
// the waits it advertises), so the scenarios run fast.
func quickSleep(ctx context.Context, d time.Duration) error {
	return sleepCtx(ctx, min(d, time.Millisecond))
}

// hsTransport is the real transport to hs with the retry policy; maxAttempts
// > 0 makes failures (and so queued entries) frequent.
func hsTransport(t testing.TB, url, token string, maxAttempts int) Transport {
	t.Helper()
	tr, err := newHSTransport(url, token, maxAttempts)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func newHSTransport(url, token string, maxAttempts int) (Transport, error) {
	mt, err := NewMatrixTransport(url, token, nil)
	if err != nil {
		return nil, err
	}
	return &RetryTransport{Next: mt, Policy: RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond, MaxAttempts: maxAttempts}, Sleep: quickSleep}, nil
}

// testAlarm is alarm number i of a source, to rooms.
func testAlarm(source string, i int, rooms ...string) []Message {
	return Messages(Notification{
		Source:   source,
		Identity: fmt.Sprintf("%s-%04d", source, i),
		Summary:  fmt.Sprintf("%s alarm %d", source, i),
		Rooms:    rooms,
		Content:  Content{MsgType: "m.notice", Body: fmt.Sprintf("%s %04d", source, i)},
	})
}

// roomBodies returns the bodies of a room's events, failing on a repeated txn id
// or body.
func roomBodies(t *testing.T, hs *sendertest.Server, room string) []string {
	t.Helper()
	var out []string
	txns := map[string]bool{}
	seen := map[string]bool{}
	for _, e := range hs.Events(room) {
		var c Content
		if err := json.Unmarshal(e.Content, &c); err != nil {
			t.Fatal(err)
		}
		if txns[e.TxnID] || seen[c.Body] {
			t.Errorf("%s: duplicate event txn %s body %q", room, e.TxnID, c.Body)
		}
		txns[e.TxnID], seen[c.Body] = true, true
		out = append(out, c.Body)
	}
	return out
}

func replayCount(hs *sendertest.Server) int {
	n := 0
	for _, r := range hs.Requests() {
		if r.Replayed {
			n++
		}
	}
	return n
}

func testRooms(n int) []string {
	rooms := make([]string, n)
	for i := range rooms {
		rooms[i] = fmt.Sprintf("!room%d:sendertest.localhost", i)
	}
	return rooms
}

func listLen(t *testing.T, ob *Outbox) int {
	t.Helper()
	l, err := ob.List()
	if err != nil {
		t.Fatal(err)
	}
	return len(l)
}

// TestOutboxFlakyHomeserver is scenario (a): 200 alarms to 5 rooms, one
// Deliver after another, against a homeserver that answers 30% 429 (both
// flavours), 10% 5xx and drops 5% of connections. Every alarm arrives in
// every room exactly once, in order.
func TestOutboxFlakyHomeserver(t *testing.T) {
	rooms := testRooms(5)
	hs := sendertest.New(sendertest.Options{Joined: rooms, Seed: 7})
	defer hs.Close()
	hs.SetFaultRates(sendertest.FaultRates{RateLimit: 0.3, ServerError: 0.1, Drop: 0.05, RetryAfter: 20 * time.Millisecond})
	var logs lockedBuffer
	ob := openTestOutbox(t, t.TempDir(), OutboxOptions{Log: newTestLogger(&logs)})
	tr := hsTransport(t, hs.URL(), hs.Token(), 3)

	const n = 200
	var queued, older int
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		rep := ob.Deliver(ctx, tr, testAlarm("netdata", i, rooms...), len(rooms))
		cancel()
		if got := rep.Count(OutcomeDelivered) + rep.Count(OutcomeQueued); got != len(rooms) {
			t.Fatalf("alarm %d: %d delivered or queued of %d: %+v", i, got, len(rooms), rep)
		}
		queued += rep.Count(OutcomeQueued)
		older += rep.OlderDelivered
	}
	if queued == 0 || older == 0 {
		t.Errorf("queued %d, older delivered %d: the scenario did not exercise the queue", queued, older)
	}
	hs.SetFaultRates(sendertest.FaultRates{})
	fr := ob.Flush(context.Background(), tr, 0)
	if fr.Remaining != 0 || fr.Err() != nil {
		t.Fatalf("flush left %d: %v", fr.Remaining, fr.Err())
	}
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("netdata %04d", i)
	}
	for _, room := range rooms {
		if got := roomBodies(t, hs, room); !slices.Equal(got, want) {
			t.Errorf("%s: %d events, not the 200 alarms in order:\n%v", room, len(got), got)
		}
	}
	if l := listLen(t, ob); l != 0 {
		t.Errorf("%d entries left", l)
	}
	if got := len(logs.lines("level=ERROR", "dropped")); got != 0 {
		t.Errorf("%d entries dropped", got)
	}
	t.Logf("%d queued by one call and delivered by a later one (%d older deliveries), %d replayed requests, %d requests",
		queued, older, replayCount(hs), len(hs.Requests()))
}

// TestOutboxHomeserverDown is scenario (b): a homeserver down for whole calls
// leaves every message queued, and the report says so; a flush against the
// server once back delivers all, in order, once.
func TestOutboxHomeserverDown(t *testing.T) {
	rooms := testRooms(2)
	down := sendertest.New(sendertest.Options{Joined: rooms})
	url := down.URL()
	down.Close()
	var logs lockedBuffer
	dir := t.TempDir()
	ob := openTestOutbox(t, dir, OutboxOptions{Log: newTestLogger(&logs)})
	tr := hsTransport(t, url, sendertest.DefaultToken, 4)
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		rep := ob.Deliver(ctx, tr, testAlarm("kuma", i, rooms...), 0)
		cancel()
		if rep.Delivered() || rep.Count(OutcomeQueued) != 2 || rep.Pending != 2*(i+1) {
			t.Fatalf("call %d: %+v", i, rep)
		}
		for _, r := range rep.Results {
			var se *SendError
			if !errors.As(r.Err, &se) || se.Status != 0 || r.ID == "" {
				t.Errorf("call %d: result %+v: want the network error and an entry id", i, r)
			}
			if i > 0 && !strings.Contains(r.Err.Error(), "behind an older message") {
				t.Errorf("call %d: %v: want queued behind the older one", i, r.Err)
			}
		}
	}
	entries, err := ob.List()
	if err != nil || len(entries) != 6 {
		t.Fatalf("list: %d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		if e.Room == rooms[0] && e.Summary == "kuma alarm 0" && (e.Attempts != 3*4 || !strings.Contains(e.LastError, "no answer from homeserver")) {
			t.Errorf("entry %+v: want 3 deliveries of 4 failed attempts each, with the last error", e)
		}
	}
	if got := len(logs.lines("level=ERROR", "failed to send")); got == 0 {
		t.Errorf("no ERROR line for the failures:\n%s", logs.String())
	}

	// Back up, "at the same state": a new server with the rooms.
	up := sendertest.New(sendertest.Options{Joined: rooms})
	defer up.Close()
	ob2 := openTestOutbox(t, dir, OutboxOptions{Log: newTestLogger(&logs)}) // a later process
	fr := ob2.Flush(context.Background(), hsTransport(t, up.URL(), up.Token(), 0), 1)
	if fr.Delivered != 6 || fr.Remaining != 0 || fr.Dropped != 0 || len(fr.Rooms) != 2 || fr.Err() != nil {
		t.Fatalf("flush %+v", fr)
	}
	for _, room := range rooms {
		if got := roomBodies(t, up, room); !slices.Equal(got, []string{"kuma 0000", "kuma 0001", "kuma 0002"}) {
			t.Errorf("%s got %v", room, got)
		}
	}
	if got := len(logs.lines("level=INFO", `msg="sent queued Matrix notification" alarm="kuma alarm`)); got != 6 {
		t.Errorf("%d INFO lines for queued deliveries, want 6", got)
	}
	if fr := ob2.Flush(context.Background(), hsTransport(t, up.URL(), up.Token(), 0), 1); len(fr.Rooms) != 0 {
		t.Errorf("second flush %+v", fr)
	}
}

// TestHelperProcess is not a test: the subprocess tests run the test binary
// again with MN_HELPER set to be a matrix-notify invocation that can die.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv("MN_HELPER") {
	case "crash":
		helperCrash()
	case "worker":
		helperWorker()
	default:
		return
	}
	os.Exit(0)
}

func helperEnvInt(name string) int {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		panic(name + ": " + err.Error())
	}
	return n
}

// helperCrash delivers MN_ALARMS alarms to one room in one call, and kills
// itself with SIGKILL at the MN_AT-th time it reaches crash point MN_POINT.
func helperCrash() {
	point, at := os.Getenv("MN_POINT"), helperEnvInt("MN_AT")
	var seen atomic.Int32
	crashHook = func(p string) {
		if p == point && int(seen.Add(1)) == at && point != "" {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	ob, err := OpenOutbox(os.Getenv("MN_DIR"), OutboxOptions{})
	if err != nil {
		panic(err)
	}
	var msgs []Message
	for i := range helperEnvInt("MN_ALARMS") {
		msgs = append(msgs, testAlarm("crash", i, os.Getenv("MN_ROOMS"))...)
	}
	tr, err := newHSTransport(os.Getenv("MN_URL"), os.Getenv("MN_TOKEN"), 1)
	if err != nil {
		panic(err)
	}
	ob.Deliver(context.Background(), tr, msgs, 1)
	fmt.Println("survived")
}

// helperWorker is one of many concurrent invocations sharing an outbox.
func helperWorker() {
	w, n := helperEnvInt("MN_WORKER"), helperEnvInt("MN_ALARMS")
	rooms := strings.Split(os.Getenv("MN_ROOMS"), ",")
	ob, err := OpenOutbox(os.Getenv("MN_DIR"), OutboxOptions{})
	if err != nil {
		panic(err)
	}
	tr, err := newHSTransport(os.Getenv("MN_URL"), os.Getenv("MN_TOKEN"), 3)
	if err != nil {
		panic(err)
	}
	counts := map[string]int{}
	for i := range n {
		msgs := testAlarm(fmt.Sprintf("w%02d", w), i, rooms...)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		rep := ob.Deliver(ctx, tr, msgs, len(rooms))
		for _, r := range rep.Results {
			counts[r.Outcome.String()]++
		}
		counts["older"] += rep.OlderDelivered
		cancel()
	}
	json.NewEncoder(os.Stdout).Encode(counts)
}

func helperCmd(t *testing.T, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// TestOutboxKill9 is scenario (c): an invocation killed (SIGKILL, for real)
// at each point that matters loses nothing that Deliver had stored, and the
// next run delivers it without a duplicate, even from a homeserver that
// forgot the txn ids meanwhile (a restart): what may have arrived is looked
// for in the room first.
func TestOutboxKill9(t *testing.T) {
	const room = "!crash:sendertest.localhost"
	tests := []struct {
		name   string
		point  string // crash point; "" kills the helper once the homeserver has its first event
		at     int
		inject []sendertest.Fault
		before int // events before recovery
		queued int // entries left by the dead process
	}{
		{name: "stored, before any send", point: "enqueued", at: 1, before: 0, queued: 3},
		// The second was accepted, not yet recorded: found in the room.
		{name: "accepted, not yet recorded", point: "sent", at: 2, before: 2, queued: 2},
		// The homeserver has the event and holds its answer: found too.
		{name: "during a send", inject: []sendertest.Fault{sendertest.Slow(time.Minute)}, before: 1, queued: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := sendertest.New(sendertest.Options{Joined: []string{room}})
			defer hs.Close()
			hs.Inject(tt.inject...)
			dir := t.TempDir()
			cmd := helperCmd(t, "MN_HELPER=crash", "MN_DIR="+dir, "MN_URL="+hs.URL(), "MN_TOKEN="+hs.Token(),
				"MN_ROOMS="+room, "MN_ALARMS=3", "MN_POINT="+tt.point, "MN_AT="+strconv.Itoa(tt.at))
			var out bytes.Buffer
			cmd.Stdout = &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if tt.point == "" {
				for deadline := time.Now().Add(10 * time.Second); len(hs.Events(room)) == 0 && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond) // polling for the event
				}
				cmd.Process.Signal(syscall.SIGKILL)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
				t.Fatalf("helper was not killed: %v\n%s", err, out.String())
			}
			if got := len(hs.Events(room)); got != tt.before {
				t.Errorf("before recovery: %d events, want %d", got, tt.before)
			}
			hs.ForgetTxnIDs() // a homeserver restart
			ob := openTestOutbox(t, dir, OutboxOptions{})
			if got := listLen(t, ob); got != tt.queued {
				t.Errorf("dead process left %d entries, want %d", got, tt.queued)
			}
			fr := ob.Flush(context.Background(), hsTransport(t, hs.URL(), hs.Token(), 0), 1)
			if fr.Remaining != 0 || fr.Err() != nil {
				t.Fatalf("flush %+v", fr)
			}
			want := []string{"crash 0000", "crash 0001", "crash 0002"}
			if got := roomBodies(t, hs, room); !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
		})
	}
}

// TestOutboxManyProcesses is scenario (d): 20 processes share one outbox,
// each delivering 10 alarms to the same 3 rooms against a flaky homeserver,
// picking up each other's leftovers. Nothing is corrupted, lost or
// duplicated, and each process's alarms keep their order in every room.
func TestOutboxManyProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 20 processes")
	}
	const workers, alarms = 20, 10
	rooms := testRooms(3)
	hs := sendertest.New(sendertest.Options{Joined: rooms, Seed: 3})
	defer hs.Close()
	hs.SetFaultRates(sendertest.FaultRates{RateLimit: 0.15, ServerError: 0.05, Drop: 0.03, RetryAfter: 20 * time.Millisecond})
	dir := t.TempDir()

	var wg sync.WaitGroup
	outs := make([][]byte, workers)
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			cmd := helperCmd(t, "MN_HELPER=worker", "MN_DIR="+dir, "MN_URL="+hs.URL(), "MN_TOKEN="+hs.Token(),
				"MN_ROOMS="+strings.Join(rooms, ","), "MN_WORKER="+strconv.Itoa(w), "MN_ALARMS="+strconv.Itoa(alarms))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			outs[w], errs[w] = cmd.Output()
			if errs[w] != nil {
				errs[w] = fmt.Errorf("%w: %s", errs[w], stderr.String())
			}
		})
	}
	wg.Wait()
	totals := map[string]int{}
	for w := range workers {
		if errs[w] != nil {
			t.Fatalf("worker %d: %v", w, errs[w])
		}
		var counts map[string]int
		if err := json.Unmarshal(outs[w], &counts); err != nil {
			t.Fatalf("worker %d: %q: %v", w, outs[w], err)
		}
		for k, v := range counts {
			totals[k] += v
		}
	}
	t.Logf("outcomes over all workers: %v", totals)
	if totals["failed"]+totals["dropped"] != 0 {
		t.Errorf("failed or dropped: %v", totals)
	}

	hs.SetFaultRates(sendertest.FaultRates{})
	ob := openTestOutbox(t, dir, OutboxOptions{})
	if fr := ob.Flush(context.Background(), hsTransport(t, hs.URL(), hs.Token(), 0), 0); fr.Remaining != 0 || fr.Err() != nil {
		t.Fatalf("final flush %+v", fr)
	}
	for _, room := range rooms {
		got := roomBodies(t, hs, room)
		if len(got) != workers*alarms {
			t.Errorf("%s: %d events, want %d", room, len(got), workers*alarms)
		}
		next := map[string]int{} // worker -> next alarm expected
		for _, b := range got {
			src, num, _ := strings.Cut(b, " ")
			i, _ := strconv.Atoi(num)
			if i != next[src] {
				t.Errorf("%s: %s arrived when alarm %d of %s was expected", room, b, next[src], src)
			}
			next[src] = i + 1
		}
		if len(next) != workers {
			t.Errorf("%s: alarms of %d workers, want %d", room, len(next), workers)
		}
	}
	if l := listLen(t, ob); l != 0 {
		t.Errorf("%d entries left", l)
	}
	t.Logf("%d requests, %d replayed", len(hs.Requests()), replayCount(hs))
}

// fakeClock is a settable clock for OutboxOptions.Now.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Now() time.Time  { return time.Unix(0, c.ns.Load()) }

// TestOutboxMaxAge is scenario (e): an entry older than max_age is dropped,
// with an ERROR line, and the room moves on.
func TestOutboxMaxAge(t *testing.T) {
	const room = "!r:sendertest.localhost"
	hs := sendertest.New(sendertest.Options{Joined: []string{room}})
	defer hs.Close()
	var clk fakeClock
	start := time.Now()
	clk.Set(start.Add(-25 * time.Hour))
	var logs lockedBuffer
	ob := openTestOutbox(t, t.TempDir(), OutboxOptions{Log: newTestLogger(&logs), Now: clk.Now})
	if err := ob.Enqueue(testAlarm("old", 0, room)); err != nil {
		t.Fatal(err)
	}
	clk.Set(start.Add(-23 * time.Hour))
	if err := ob.Enqueue(testAlarm("old", 1, room)); err != nil {
		t.Fatal(err)
	}
	clk.Set(start)
	rep := ob.Deliver(context.Background(), hsTransport(t, hs.URL(), hs.Token(), 0), testAlarm("new", 0, room), 0)
	if !rep.Delivered() || rep.OlderDropped != 1 || rep.OlderDelivered != 1 || rep.Pending != 0 {
		t.Fatalf("report %+v", rep)
	}
	if got := roomBodies(t, hs, room); !slices.Equal(got, []string{"old 0001", "new 0000"}) {
		t.Errorf("events %v", got)
	}
	lines := logs.lines("level=ERROR", `msg="dropped Matrix notification" alarm="old alarm 0" room=`+room, "longer than max_age 24h0m0s")
	if len(lines) != 1 {
		t.Errorf("want one ERROR line for the expired entry, log:\n%s", logs.String())
	}
	// A message of this call is judged like any other (a custom MaxAge).
	ob2 := openTestOutbox(t, t.TempDir(), OutboxOptions{Log: newTestLogger(&logs), Now: clk.Now, MaxAge: time.Minute})
	clk.Set(start.Add(-2 * time.Minute))
	ob2.Enqueue(testAlarm("stale", 0, room))
	clk.Set(start)
	fr := ob2.Flush(context.Background(), hsTransport(t, hs.URL(), hs.Token(), 0), 0)
	if fr.Dropped != 1 || fr.Delivered != 0 || fr.Remaining != 0 {
		t.Errorf("flush %+v", fr)
	}
}

// funcTransport answers with a function.
type funcTransport func(ctx context.Context, m Message) (string, error)

func (f funcTransport) Send(ctx context.Context, m Message) (string, error) { return f(ctx, m) }

// TestOutboxErrorHandling is scenario (f) as a table: content errors drop the
// entry (with an ERROR line) and let the room move on; everything else keeps
// it queued, in front of the newer ones, with the error recorded.
func TestOutboxErrorHandling(t *testing.T) {
	const room = "!r:hs"
	tests := []struct {
		name string
		err  error
		drop bool
	}{
		{"400 M_BAD_JSON", &SendError{Room: room, Status: 400, ErrCode: "M_BAD_JSON", Message: "bad"}, true},
		{"400 M_NOT_JSON", &SendError{Room: room, Status: 400, ErrCode: "M_NOT_JSON", Message: "bad"}, true},
		{"413 M_TOO_LARGE", &SendError{Room: room, Status: 413, ErrCode: "M_TOO_LARGE", Message: "big"}, true},
		{"413 from a proxy", &SendError{Room: room, Status: 413, Message: "Request Entity Too Large"}, true},
		{"401 M_UNKNOWN_TOKEN", &SendError{Room: room, Status: 401, ErrCode: "M_UNKNOWN_TOKEN", Message: "no"}, false},
		{"403 M_FORBIDDEN", &SendError{Room: room, Status: 403, ErrCode: "M_FORBIDDEN", Message: "not in room"}, false},
		{"404 M_NOT_FOUND", &SendError{Room: room, Status: 404, ErrCode: "M_NOT_FOUND", Message: "?"}, false},
		{"400 M_INVALID_PARAM (the room, not the content)", &SendError{Room: room, Status: 400, ErrCode: "M_INVALID_PARAM", Message: "room"}, false},
		{"429 after retries", &RetryError{Attempts: 3, Err: &SendError{Room: room, Status: 429, ErrCode: "M_LIMIT_EXCEEDED"}}, false},
		{"503", &SendError{Room: room, Status: 503, Message: "bad gateway"}, false},
		{"network", &SendError{Room: room, Message: "connection refused", Err: syscall.ECONNREFUSED}, false},
		{"not a SendError", errors.New("something else"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs lockedBuffer
			ob := openTestOutbox(t, t.TempDir(), OutboxOptions{Log: newTestLogger(&logs)})
			msgs := append(testAlarm("a", 0, room), testAlarm("a", 1, room)...)
			bad := msgs[0].TxnID
			var sent []string
			tr := funcTransport(func(_ context.Context, m Message) (string, error) {
				if m.TxnID == bad {
					return "", tt.err
				}
				sent = append(sent, m.TxnID)
				return "$" + m.TxnID, nil
			})
			rep := ob.Deliver(context.Background(), tr, msgs, 0)
			first, second := rep.Results[0], rep.Results[1]
			if tt.drop {
				if first.Outcome != OutcomeDropped || second.Outcome != OutcomeDelivered || rep.Pending != 0 || listLen(t, ob) != 0 {
					t.Fatalf("want the first dropped and the second delivered: %+v", rep)
				}
				if len(logs.lines("level=ERROR", `msg="dropped Matrix notification" alarm="a alarm 0" room=!r:hs`, "every retry")) != 1 {
					t.Errorf("no ERROR line for the drop:\n%s", logs.String())
				}
				return
			}
			if first.Outcome != OutcomeQueued || second.Outcome != OutcomeQueued || len(sent) != 0 || rep.Pending != 2 {
				t.Fatalf("want both queued, nothing sent past the failure: %+v, sent %v", rep, sent)
			}
			if !errors.Is(first.Err, tt.err) || !strings.Contains(second.Err.Error(), "behind an older message") {
				t.Errorf("errors %v / %v", first.Err, second.Err)
			}
			wantAttempts := 1
			if re := (*RetryError)(nil); errors.As(tt.err, &re) {
				wantAttempts = re.Attempts
			}
			entries, _ := ob.List()
			if len(entries) != 2 || entries[0].TxnID != bad || entries[0].Attempts != wantAttempts || entries[0].LastError != tt.err.Error() || entries[1].Attempts != 0 {
				t.Errorf("entries %+v", entries)
			}
			if len(logs.lines("level=ERROR", `msg="failed to send Matrix notification, kept in the outbox" alarm="a alarm 0"`, "queued=2")) != 1 ||
				len(logs.lines("level=ERROR", `msg="queued Matrix notification" alarm="a alarm 1"`)) != 1 {
				t.Errorf("log:\n%s", logs.String())
			}
		})
	}
}

// TestOutboxRealErrors: the same with the fake homeserver's own answers: an
// oversized event (413) is dropped, a room the bot is not in (403) keeps its
// messages until the bot is invited, and a bad token (401) too.
func TestOutboxRealErrors(t *testing.T) {
	const joined, notJoined = "!joined:sendertest.localhost", "!elsewhere:sendertest.localhost"
	hs := sendertest.New(sendertest.Options{Joined: []string{joined}})
	defer hs.Close()
	var logs lockedBuffer
	ob := openTestOutbox(t, t.TempDir(), OutboxOptions{Log: newTestLogger(&logs)})
	tr := hsTransport(t, hs.URL(), hs.Token(), 0)

	huge := testAlarm("big", 0, joined)
	huge[0].Content.Body = strings.Repeat("x", 70000)
	msgs := append(huge, testAlarm("small", 0, joined, notJoined)...)
	rep := ob.Deliver(context.Background(), tr, msgs, 0)
	if got := []Outcome{rep.Results[0].Outcome, rep.Results[1].Outcome, rep.Results[2].Outcome}; !slices.Equal(got, []Outcome{OutcomeDropped, OutcomeDelivered, OutcomeQueued}) {
		t.Fatalf("outcomes %v: %+v", got, rep)
	}
	if len(logs.lines("level=ERROR", `msg="dropped Matrix notification" alarm="big alarm 0"`, "M_TOO_LARGE")) != 1 {
		t.Errorf("no ERROR line for the oversized event:\n%s", logs.String())
	}
	if len(logs.lines("level=ERROR", "the bot is not in room "+notJoined+": invite it")) != 1 {
		t.Errorf("no actionable line for the 403:\n%s", logs.String())
	}
	bad := hsTransport(t, hs.URL(), "wrong-token", 0)
	if rep := ob.Deliver(context.Background(), bad, testAlarm("small", 1, joined), 0); rep.Results[0].Outcome != OutcomeQueued ||
		!strings.Contains(rep.Results[0].Err.Error(), "run `matrix-notify login`") {
		t.Errorf("401: %+v", rep)
	}
	hs.Join(notJoined)
	fr := ob.Flush(context.Background(), tr, 0)
	if fr.Delivered != 2 || fr.Remaining != 0 {
		t.Fatalf("flush %+v", fr)
	}
	if got := roomBodies(t, hs, joined); !slices.Equal(got, []string{"small 0000", "small 0001"}) {
		t.Errorf("%s: %v", joined, got)
	}
	if got := roomBodies(t, hs, notJoined); !slices.Equal(got, []string{"small 0000"}) {
		t.Errorf("%s: %v", notJoined, got)
	}
}

// TestOutboxConcurrentInvocation: a call claims its rooms as it stores its
// messages, so a Flush by another invocation right then leaves them alone;
// and a call whose room another invocation holds reports what that one did
// with its messages (delivered or dropped) without sending them again.
func TestOutboxConcurrentInvocation(t *testing.T) {
	const room = "!r:hs"
	ctx := context.Background()
	dir := t.TempDir()
	ob := openTestOutbox(t, dir, OutboxOptions{})
	other := openTestOutbox(t, dir, OutboxOptions{})
	var sends atomic.Int32
	tr := funcTransport(func(_ context.Context, m Message) (string, error) { sends.Add(1); return "$x", nil })
	crashHook = func(p string) {
		if p == "enqueued" {
			crashHook = nil
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if fr := other.Flush(short, tr, 1); fr.Remaining != 1 || !strings.Contains(fr.Err().Error(), "another matrix-notify") || sends.Load() != 0 {
				t.Errorf("concurrent flush %+v: %v", fr, fr.Err())
			}
		}
	}
	rep := ob.Deliver(ctx, tr, testAlarm("a", 0, room), 1)
	crashHook = nil
	if r := rep.Results[0]; r.Outcome != OutcomeDelivered || sends.Load() != 1 {
		t.Fatalf("%d sends, result %+v", sends.Load(), r)
	}

	for i, drop := range []bool{false, true} {
		claim, _, err := other.State().Claim(ctx, "", room, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan OutboxReport)
		go func() {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			done <- ob.Deliver(dctx, tr, testAlarm("b", i, room), 1)
		}()
		var q []QueuedEntry
		for deadline := time.Now().Add(5 * time.Second); len(q) == 0; {
			if time.Now().After(deadline) {
				t.Fatalf("the message was never stored: %+v", <-done)
			}
			time.Sleep(time.Millisecond) // polling for the stored message
			q, _ = other.List()
		}
		id, _ := strconv.ParseInt(q[0].ID, 10, 64)
		if drop {
			err = claim.Drop(id)
		} else {
			err = claim.Sent(id, q[0].TxnID, "", "$other")
		}
		if err != nil {
			t.Fatal(err)
		}
		r := (<-done).Results[0]
		switch {
		case sends.Load() != 1:
			t.Errorf("drop=%v: sent again", drop)
		case drop && (r.Outcome != OutcomeDropped || !strings.Contains(r.Err.Error(), "dropped by another matrix-notify")):
			t.Errorf("result %+v", r)
		case !drop && (r.Outcome != OutcomeDelivered || r.EventID != "$other"):
			t.Errorf("result %+v", r)
		}
	}
	if l := listLen(t, ob); l != 0 {
		t.Errorf("%d entries left", l)
	}
}

// TestOutboxClaimWait: a room claimed by another live invocation for longer
// than the deadline leaves this call's message queued, for the claim holder
// or the next run; a claim whose process is gone is taken over at once.
func TestOutboxClaimWait(t *testing.T) {
	const room = "!r:hs"
	dir := t.TempDir()
	ob := openTestOutbox(t, dir, OutboxOptions{})
	other, err := state.Open(context.Background(), dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	claim, _, err := other.Claim(context.Background(), "", room, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var sends atomic.Int32
	tr := funcTransport(func(context.Context, Message) (string, error) { sends.Add(1); return "$x", nil })
	rep := ob.Deliver(ctx, tr, testAlarm("a", 0, room), 0)
	if r := rep.Results[0]; r.Outcome != OutcomeQueued || !strings.Contains(r.Err.Error(), "another matrix-notify") || sends.Load() != 0 || rep.Pending != 1 {
		t.Fatalf("report %+v", rep)
	}
	if err := claim.Release(); err != nil {
		t.Fatal(err)
	}
	if fr := ob.Flush(context.Background(), tr, 0); fr.Delivered != 1 || sends.Load() != 1 {
		t.Fatalf("flush %+v", fr)
	}

	// A claim left by a process that died (a pid that is no longer there).
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := setClaimOwner(other, room, dead.Process.Pid); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if rep := ob.Deliver(ctx, tr, testAlarm("a", 1, room), 0); !rep.Delivered() {
		t.Fatalf("a dead process's claim held the room: %+v", rep)
	}
}

// TestOutboxDeadlineBeforeTurn: with the context already over, messages are
// stored and reported queued, nothing is sent.
func TestOutboxDeadlineBeforeTurn(t *testing.T) {
	ob := openTestOutbox(t, t.TempDir(), OutboxOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tr := funcTransport(func(context.Context, Message) (string, error) { t.Error("sent"); return "", nil })
	rep := ob.Deliver(ctx, tr, testAlarm("a", 0, "!a:hs", "!b:hs"), 0)
	if rep.Count(OutcomeQueued) != 2 || listLen(t, ob) != 2 {
		t.Fatalf("report %+v", rep)
	}
}

// TestOutboxCorruptEntry: an entry whose stored message does not decode is
// dropped, loudly, and does not block the room.
func TestOutboxCorruptEntry(t *testing.T) {
	const room = "!r:hs"
	dir := t.TempDir()
	var logs lockedBuffer
	ob := openTestOutbox(t, dir, OutboxOptions{Log: newTestLogger(&logs)})
	bad := []state.Entry{{Room: room, TxnID: "t0", Summary: "garbled", Message: []byte("{not json")}}
	if _, _, _, err := ob.db.Enqueue(context.Background(), "", bad, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	if err := ob.Enqueue(testAlarm("a", 1, room)); err != nil {
		t.Fatal(err)
	}
	var sent []string
	tr := funcTransport(func(_ context.Context, m Message) (string, error) { sent = append(sent, m.Summary); return "$x", nil })
	fr := ob.Flush(context.Background(), tr, 0)
	if fr.Delivered != 1 || fr.Dropped != 1 || len(sent) != 1 || fr.Remaining != 0 {
		t.Fatalf("flush %+v, sent %v", fr, sent)
	}
	if len(logs.lines("level=ERROR", `msg="dropped Matrix notification" alarm=garbled`, "unreadable")) != 1 {
		t.Errorf("log:\n%s", logs.String())
	}
}

// TestOutboxStoreFailure: a message the outbox cannot store is sent directly,
// and if that fails the report says it is lost, not queued.
func TestOutboxStoreFailure(t *testing.T) {
	const room = "!r:hs"
	dir := t.TempDir()
	var logs lockedBuffer
	ob := openTestOutbox(t, dir, OutboxOptions{Log: newTestLogger(&logs)})
	ob.db.Close() // broken from here on
	ok := funcTransport(func(context.Context, Message) (string, error) { return "$direct", nil })
	rep := ob.Deliver(context.Background(), ok, testAlarm("a", 0, room), 0)
	if r := rep.Results[0]; r.Outcome != OutcomeDelivered || r.EventID != "$direct" || r.ID != "" {
		t.Fatalf("result %+v", r)
	}
	fail := funcTransport(func(context.Context, Message) (string, error) { return "", &SendError{Status: 503, Message: "down"} })
	rep = ob.Deliver(context.Background(), fail, testAlarm("a", 1, room), 0)
	if r := rep.Results[0]; r.Outcome != OutcomeFailed || r.Err == nil {
		t.Fatalf("result %+v", r)
	}
	if len(logs.lines("level=ERROR", "cannot store the notifications")) != 2 ||
		len(logs.lines("level=ERROR", "not queued: it is lost")) != 1 {
		t.Errorf("log:\n%s", logs.String())
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := OpenOutbox(filepath.Join(file, "sub"), OutboxOptions{}); err == nil {
		t.Error("OpenOutbox under a file succeeded")
	}
}

// TestOutboxDatabase: one database file per state directory, private to its
// owner, listed by List.
func TestOutboxDatabase(t *testing.T) {
	const room = "!r:hs"
	dir := t.TempDir()
	var clk fakeClock
	clk.Set(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	ob := openTestOutbox(t, dir, OutboxOptions{Now: clk.Now})
	m := Message{Room: room, TxnID: "mntxn", Summary: "disk full", Content: Content{MsgType: "m.notice", Body: "b", Mentions: &Mentions{}}}
	if err := ob.Enqueue([]Message{m, m}); err != nil {
		t.Fatal(err)
	}
	if ob.Dir() != filepath.Join(dir, state.FileName) {
		t.Errorf("database %s", ob.Dir())
	}
	info, err := os.Stat(ob.Dir())
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
	entries, err := ob.List()
	if err != nil || len(entries) != 2 || entries[0].Room != room || entries[0].TxnID != "mntxn" || entries[0].Summary != "disk full" ||
		entries[0].Age != 0 || entries[0].ID >= entries[1].ID {
		t.Errorf("list %+v %v", entries, err)
	}
	// Another scope (another homeserver's account) is another outbox.
	other := NewOutbox(ob.State(), OutboxOptions{Scope: "https://other.example"})
	if l := listLen(t, other); l != 0 {
		t.Errorf("another scope lists %d entries", l)
	}
}

// TestOutboxPersistsWholeMessage fails when Message gains a field the outbox
// does not store: add it to entry (and entry.message) first.
func TestOutboxPersistsWholeMessage(t *testing.T) {
	var fields []string
	mt := reflect.TypeFor[Message]()
	for i := range mt.NumField() {
		fields = append(fields, mt.Field(i).Name)
	}
	// EventType and Wire are the encrypted wire form, made at delivery and
	// never stored: the outbox keeps the plaintext.
	if !slices.Equal(fields, []string{"Room", "TxnID", "Summary", "Content", "Source", "AlertKey", "Phase", "EventType", "Wire"}) {
		t.Errorf("Message fields %v: persist the new ones in the outbox entry", fields)
	}
	m := Message{Room: "!r:hs", TxnID: "t", Summary: "s", Content: Content{MsgType: "m.text", Body: "b", Format: FormatHTML, FormattedBody: "<b>b</b>", Mentions: &Mentions{UserIDs: []string{"@u:hs"}, Room: true},
		RelatesTo:  &RelatesTo{RelType: RelThread, EventID: "$root", IsFallingBack: true, InReplyTo: &InReplyTo{EventID: "$latest"}},
		NewContent: &Content{MsgType: "m.text", Body: "n"}},
		Source: "netdata", AlertKey: "host/1", Phase: PhaseUpdate}
	ob := openTestOutbox(t, t.TempDir(), OutboxOptions{})
	ob.Enqueue([]Message{m})
	var got Message
	ob.Flush(context.Background(), funcTransport(func(_ context.Context, sm Message) (string, error) { got = sm; return "$x", nil }), 0)
	if !reflect.DeepEqual(got, m) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, m)
	}
}

func TestContentRejected(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&SendError{Status: 400, ErrCode: "M_BAD_JSON"}, true},
		{&SendError{Status: 400, ErrCode: "M_NOT_JSON"}, true},
		{&SendError{Status: 413}, true},
		{&RetryError{Err: &SendError{Status: 413, ErrCode: "M_TOO_LARGE"}}, true},
		{&SendError{Status: 400, ErrCode: "M_INVALID_PARAM"}, false},
		{&SendError{Status: 400}, false},
		{&SendError{Status: 403, ErrCode: "M_FORBIDDEN"}, false},
		{&SendError{Status: 500}, false},
		{errors.New("x"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := ContentRejected(tt.err); got != tt.want {
			t.Errorf("ContentRejected(%v) = %v", tt.err, got)
		}
	}
}

// TestOutboxAlertsInOneRoom: in one room, each alert's messages keep their
// order and stop at its first failure; another alert's go on.
func TestOutboxAlertsInOneRoom(t *testing.T) {
	const room = "!r:hs"
	ob := openTestOutbox(t, t.TempDir(), OutboxOptions{})
	var msgs []Message
	for i := range 3 {
		for _, alert := range []string{"ok", "bad"} {
			msgs = append(msgs, Message{Room: room, TxnID: fmt.Sprintf("%s%d", alert, i), Summary: alert, AlertKey: alert,
				Content: Content{MsgType: "m.notice", Body: fmt.Sprintf("%s %d", alert, i)}})
		}
	}
	var mu sync.Mutex
	var sent []string
	tr := funcTransport(func(_ context.Context, m Message) (string, error) {
		if m.TxnID == "bad1" {
			return "", &SendError{Status: 503, Message: "down"}
		}
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, m.Content.Body)
		return "$x", nil
	})
	rep := ob.Deliver(context.Background(), tr, msgs, 0)
	if want := []string{"ok 0", "ok 1", "ok 2"}; !slices.Equal(slices.DeleteFunc(slices.Clone(sent), func(b string) bool { return strings.HasPrefix(b, "bad") }), want) {
		t.Errorf("ok alert sent %v", sent)
	}
	if !slices.Contains(sent, "bad 0") || slices.Contains(sent, "bad 2") {
		t.Errorf("bad alert: sent %v", sent)
	}
	if rep.Count(OutcomeQueued) != 2 || rep.Pending != 2 {
		t.Errorf("report %+v", rep)
	}
	entries, _ := ob.List()
	if len(entries) != 2 || entries[0].TxnID != "bad1" || entries[1].TxnID != "bad2" || entries[0].Attempts != 1 {
		t.Errorf("queued %+v", entries)
	}
}

// Enqueue queues msgs as entries of their rooms without sending them: the
// state a call leaves when its sends failed.
func (o *Outbox) Enqueue(msgs []Message) error {
	es := make([]state.Entry, len(msgs))
	for i, m := range msgs {
		var err error
		if es[i], err = toEntry(m); err != nil {
			return err
		}
	}
	_, _, _, err := o.db.Enqueue(context.Background(), o.scope, es, time.Time{}, 0)
	return err
}

// setClaimOwner makes the claims of room in db's file look like pid's.
func setClaimOwner(db *state.DB, room string, pid int) error {
	claim, _, err := db.Claim(context.Background(), "", room, time.Hour)
	if err != nil {
		return err
	}
	_ = claim // left held: the rewrite below hands it to pid
	raw, err := sql.Open("sqlite", "file:"+db.Path()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer raw.Close()
	_, err = raw.Exec("UPDATE claims SET pid = ?, owner = ? WHERE room = ?", pid, fmt.Sprintf("%d:dead", pid), room)
	return err
}

// TestOutboxHomeserverForgetsTxnIDs (issue 13.4): a homeserver that forgot
// its txn ids (Dendrite keeps them in memory, per token, for 30-60 minutes)
// still gets each message once: a re-run of the same alarm is answered from
// the record of deliveries, and an attempt that got no answer is looked for
// in the room before it is sent again.
//
// Run against both flavours: Dendrite sets unsigned.transaction_id only in
// /sync, never in /messages, so FindSent must look in both.
func TestOutboxHomeserverForgetsTxnIDs(t *testing.T) {
	for _, sw := range []sendertest.Software{sendertest.Synapse, sendertest.Dendrite} {
		t.Run(cmp.Or(string(sw), "synapse"), func(t *testing.T) { testOutboxHomeserverForgetsTxnIDs(t, sw) })
	}
}

func testOutboxHomeserverForgetsTxnIDs(t *testing.T, sw sendertest.Software) {
	const room = "!r:sendertest.localhost"
	hs := sendertest.New(sendertest.Options{Joined: []string{room}, Software: sw})
	defer hs.Close()
	dir := t.TempDir()
	var logs lockedBuffer
	tr := hsTransport(t, hs.URL(), hs.Token(), 1)

	ob := openTestOutbox(t, dir, OutboxOptions{Log: newTestLogger(&logs)})
	first := ob.Deliver(context.Background(), tr, testAlarm("netdata", 0, room), 0)
	if !first.Delivered() {
		t.Fatalf("first run %+v", first)
	}
	hs.ForgetTxnIDs()
	again := openTestOutbox(t, dir, OutboxOptions{Log: newTestLogger(&logs)}) // the same alarm, run again
	rerun := again.Deliver(context.Background(), tr, testAlarm("netdata", 0, room), 0)
	if !rerun.Delivered() || rerun.Results[0].EventID != first.Results[0].EventID {
		t.Errorf("re-run %+v, want the first event %s", rerun, first.Results[0].EventID)
	}

	// No answer: the homeserver stores the event and holds its answer past
	// the deadline.
	hs.Inject(sendertest.Slow(5 * time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	rep := ob.Deliver(ctx, tr, testAlarm("netdata", 1, room), 0)
	cancel()
	if rep.Results[0].Outcome != OutcomeQueued || !MayHaveArrived(rep.Results[0].Err) {
		t.Fatalf("timed-out send %+v", rep)
	}
	hs.ForgetTxnIDs()
	if fr := ob.Flush(context.Background(), tr, 0); fr.Delivered != 1 || fr.Remaining != 0 {
		t.Fatalf("flush %+v", fr)
	}
	if got := roomBodies(t, hs, room); !slices.Equal(got, []string{"netdata 0000", "netdata 0001"}) {
		t.Errorf("events %v", got)
	}
	if len(logs.lines("level=INFO", "had arrived in an earlier attempt")) != 1 || len(logs.lines("level=INFO", "was delivered before")) != 1 {
		t.Errorf("log:\n%s", logs.String())
	}
	// Looked for, not there: sent.
	hs.Inject(sendertest.Drop())
	rep = ob.Deliver(context.Background(), tr, testAlarm("netdata", 2, room), 0)
	if rep.Results[0].Outcome != OutcomeQueued {
		t.Fatalf("dropped connection %+v", rep)
	}
	if fr := ob.Flush(context.Background(), tr, 0); fr.Delivered != 1 {
		t.Fatalf("flush %+v", fr)
	}
	if got := roomBodies(t, hs, room); len(got) != 3 {
		t.Errorf("events %v", got)
	}
}

// TestOutboxSameAlarmQueuedTwice: two runs of one alarm that both queued it
// (the homeserver was down) deliver it once.
func TestOutboxSameAlarmQueuedTwice(t *testing.T) {
	const room = "!r:hs"
	ob := openTestOutbox(t, t.TempDir(), OutboxOptions{})
	for range 2 {
		if err := ob.Enqueue(testAlarm("a", 0, room)); err != nil {
			t.Fatal(err)
		}
	}
	var sends atomic.Int32
	tr := funcTransport(func(context.Context, Message) (string, error) { sends.Add(1); return "$x", nil })
	if fr := ob.Flush(context.Background(), tr, 0); fr.Delivered != 2 || sends.Load() != 1 {
		t.Errorf("flush %+v, %d sends", fr, sends.Load())
	}
}
