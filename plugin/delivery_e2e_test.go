package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"matrix-notify/sender/sendertest"
	"matrix-notify/sender/state"
)

// The delivery guarantees, shown with the built binary against sendertest.

// eventBodies returns the bodies a room received, in order.
func eventBodies(t *testing.T, hs *sendertest.Server, room string) []string {
	t.Helper()
	var out []string
	for _, c := range eventContents(t, hs, room) {
		out = append(out, c.Body)
	}
	return out
}

// alarmN is alarm number i of a sequence: its info carries the number so
// order and duplicates can be read back from the rooms.
func alarmN(i int) []string {
	return alarmArgs("sysadmin", strconv.Itoa(10000+i), strconv.Itoa(i), "WARNING", "CLEAR", fmt.Sprintf("alarm #%03d", i))
}

// checkExactlyOnceInOrder asserts that room got alarms 0..n-1, each once, in order.
func checkExactlyOnceInOrder(t *testing.T, hs *sendertest.Server, room string, n int) {
	t.Helper()
	bodies := eventBodies(t, hs, room)
	seen := map[int]int{}
	last := -1
	for _, b := range bodies {
		i := strings.Index(b, "alarm #")
		if i < 0 {
			t.Errorf("%s: unexpected body %q", room, b)
			continue
		}
		k, _ := strconv.Atoi(b[i+7 : i+10])
		seen[k]++
		if k < last {
			t.Errorf("%s: alarm %d arrived after alarm %d", room, k, last)
		}
		last = k
	}
	for k := 0; k < n; k++ {
		if seen[k] != 1 {
			t.Errorf("%s: alarm %d delivered %d times", room, k, seen[k])
		}
	}
}

// fastRetries keeps the tests' backoff short; the behaviour is the same.
const fastRetries = "[matrix]\nretry_base = \"5ms\"\nretry_max = \"50ms\"\n"

var fiveRooms = []string{"!r1:hs.test", "!r2:hs.test", "!r3:hs.test", "!r4:hs.test", "!r5:hs.test"}

// TestE2EFaultyHomeserver: 30% of answers 429 (half Retry-After, half
// retry_after_ms), 10% 5xx, 5% dropped connections; 200 alarms x 5 rooms run
// one after another as netdata would, then a flush for what the last one
// left queued: every (alarm, room) exactly once, in order per room.
func TestE2EFaultyHomeserver(t *testing.T) {
	if testing.Short() {
		t.Skip("200 invocations")
	}
	hs := sendertest.New(sendertest.Options{Joined: fiveRooms, Seed: 7})
	defer hs.Close()
	hs.SetFaultRates(sendertest.FaultRates{RateLimit: 0.30, ServerError: 0.10, Drop: 0.05, RetryAfter: 20 * time.Millisecond})
	h := newNetdataHome(t, confFor(hs, strings.Join(fiveRooms, " ")))
	h.writeTOML(t, fastRetries+"timeout = \"1s\"\n")
	const n = 200
	queuedRuns := 0
	for i := 0; i < n; i++ {
		r := h.run(t, nil, alarmN(i)...)
		switch r.code {
		case 0:
		case 3:
			queuedRuns++ // left queued by the deadline: the next run sends it first
		default:
			t.Fatalf("alarm %d: exit %d\n%s", i, r.code, r.stderr)
		}
		assertNoToken(t, hs.Token(), r.stdout, r.stderr)
	}
	hs.SetFaultRates(sendertest.FaultRates{})
	if r := h.run(t, []string{"MATRIX_NOTIFY_CONFIG=" + h.user + "/matrix-notify.toml", "MATRIX_HOMESERVER=" + hs.URL(), "MATRIX_ACCESSTOKEN=" + hs.Token()}, "flush"); r.code != 0 {
		t.Fatalf("flush: exit %d\n%s", r.code, r.stderr)
	}
	for _, room := range fiveRooms {
		checkExactlyOnceInOrder(t, hs, room, n)
	}
	var faults int
	for _, rq := range hs.Requests() {
		if rq.Fault != "" {
			faults++
		}
	}
	t.Logf("%d requests, %d faulted, %d runs left something queued", len(hs.Requests()), faults, queuedRuns)
	if faults == 0 {
		t.Error("no faults were injected: the test shows nothing")
	}
}

// TestE2EHomeserverDownThenUp: a whole invocation against a homeserver that
// answers nothing useful -> exit 3, queued; once it is back the next
// invocation delivers the queued alarm before its own, and `flush` empties
// the rest. Zero duplicates.
func TestE2EHomeserverDownThenUp(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: fiveRooms[:2]})
	defer hs.Close()
	h := newNetdataHome(t, confFor(hs, strings.Join(fiveRooms[:2], " ")))
	h.writeTOML(t, "[matrix]\ntimeout = \"1s\"\n")
	down := make([]sendertest.Fault, 0, 200)
	for i := 0; i < 200; i++ {
		if i%2 == 0 {
			down = append(down, sendertest.ServerError(503))
		} else {
			down = append(down, sendertest.Drop())
		}
	}
	hs.Inject(down...)
	r := h.run(t, nil, alarmN(0)...)
	if r.code != 3 || !strings.Contains(r.stderr, "queued") {
		t.Fatalf("down: exit %d\n%s", r.code, r.stderr)
	}
	if len(hs.AllEvents()) != 0 {
		t.Fatal("something arrived while the homeserver was down")
	}
	q := h.run(t, []string{"MATRIX_HOMESERVER=" + hs.URL()}, "queue")
	if q.code != 0 || strings.Count(q.stdout, "alarm") < 0 || !strings.Contains(q.stdout, "2 queued") {
		t.Errorf("queue: exit %d\n%s%s", q.code, q.stdout, q.stderr)
	}
	// Back up.
	for hs.PendingFaults() > 0 {
		hs.Inject() // no-op; drain the remaining faults below
		break
	}
	hs2Faults := hs.PendingFaults()
	for i := 0; i < hs2Faults; i++ {
		// Faults are consumed by sends: burn them with a request that
		// is not ours so the homeserver is "up" again.
		burnFault(t, hs)
	}
	r = h.run(t, nil, alarmN(1)...)
	if r.code != 0 {
		t.Fatalf("up: exit %d\n%s", r.code, r.stderr)
	}
	for _, room := range fiveRooms[:2] {
		checkExactlyOnceInOrder(t, hs, room, 2)
	}
	if r := h.run(t, []string{"MATRIX_HOMESERVER=" + hs.URL()}, "queue"); !strings.Contains(r.stdout, "is empty") {
		t.Errorf("outbox not empty after recovery:\n%s", r.stdout)
	}
}

// burnFault sends one throwaway request to consume a one-shot fault.
func burnFault(t *testing.T, hs *sendertest.Server) {
	t.Helper()
	// net/http, not curl: curl would read the tester's ~/.curlrc.
	req, err := http.NewRequest(http.MethodPut, hs.URL()+"/_matrix/client/v3/rooms/%21burn:hs.test/send/m.room.message/burn"+strconv.Itoa(rand.IntN(1<<30)), strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+hs.Token())
	// Any answer, or none (a dropped connection), consumes the fault.
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// TestE2EKill9: kill -9 at random points during delivery (the homeserver
// answers slowly, so kills land between the outbox write and the sends,
// during sends, and after some were accepted), then a new invocation against
// a homeserver that forgot its txn ids: nothing lost, nothing duplicated. An invocation killed before it wrote its
// alarm to the outbox never took it on; that window is not "during
// delivery" and no notifier can cover it (netdata does not re-run it).
func TestE2EKill9(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: fiveRooms})
	defer hs.Close()
	hs.SetDelay(40 * time.Millisecond)
	h := newNetdataHome(t, confFor(hs, strings.Join(fiveRooms, " ")))
	const n = 12
	rng := rand.New(rand.NewPCG(1, 2))
	killed := 0
	for i := 0; i < n; i++ {
		cmd := exec.Command(binPath, alarmN(i)...)
		cmd.Env = h.env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Wait until this process has its alarm stored (its rows in the
		// outbox carry its pid), then kill it a random moment later.
		pid := cmd.Process.Pid
		exited := false
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			select {
			case <-done:
				exited = true
			default:
			}
			if exited || queuedBy(h.lib, pid) >= 1 {
				break
			}
		}
		if exited {
			continue
		}
		select {
		case <-done:
		case <-time.After(time.Duration(rng.IntN(150)) * time.Millisecond):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			killed++
		}
	}
	hs.SetDelay(0)
	// The homeserver restarts meanwhile and forgets the txn ids (Dendrite):
	// what a killed run may have sent is looked for, not sent again.
	hs.ForgetTxnIDs()
	if r := h.run(t, []string{"MATRIX_HOMESERVER=" + hs.URL(), "MATRIX_ACCESSTOKEN=" + hs.Token()}, "flush"); r.code != 0 {
		t.Fatalf("flush: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("%d of %d invocations killed with SIGKILL during delivery", killed, n)
	if killed == 0 {
		t.Error("no invocation was killed: the test shows nothing")
	}
	for _, room := range fiveRooms {
		checkExactlyOnceInOrder(t, hs, room, n)
	}
}

// queuedBy counts the outbox entries under dir (in the state database
// found there) that process pid stored and that are not delivered yet.
func queuedBy(dir string, pid int) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != state.FileName {
			return nil
		}
		db, err := sql.Open("sqlite", "file:"+p+"?mode=ro&_pragma=busy_timeout(1000)")
		if err != nil {
			return nil
		}
		defer db.Close()
		var k int
		if db.QueryRow("SELECT count(*) FROM outbox WHERE pid = ?", pid).Scan(&k) == nil {
			n += k
		}
		return nil
	})
	return n
}

// TestE2EConcurrentInvocations: 20 invocations at once sharing one outbox
// (an alarm storm), against a homeserver that rate-limits: no corruption,
// no loss, no duplicate.
func TestE2EConcurrentInvocations(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: fiveRooms[:3]})
	defer hs.Close()
	hs.SetFaultRates(sendertest.FaultRates{RateLimit: 0.2, ServerError: 0.05, RetryAfter: 20 * time.Millisecond})
	h := newNetdataHome(t, confFor(hs, strings.Join(fiveRooms[:3], " ")))
	h.writeTOML(t, fastRetries+"timeout = \"5s\"\n")
	const n = 20
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i] = h.run(t, nil, alarmN(i)...).code
		}(i)
	}
	wg.Wait()
	hs.SetFaultRates(sendertest.FaultRates{})
	if r := h.run(t, []string{"MATRIX_HOMESERVER=" + hs.URL(), "MATRIX_ACCESSTOKEN=" + hs.Token()}, "flush"); r.code != 0 {
		t.Fatalf("flush: exit %d\n%s", r.code, r.stderr)
	}
	for i, c := range codes {
		if c != 0 && c != 3 {
			t.Errorf("invocation %d: exit %d", i, c)
		}
	}
	for _, room := range fiveRooms[:3] {
		bodies := eventBodies(t, hs, room)
		seen := map[string]int{}
		for _, b := range bodies {
			seen[b]++
		}
		if len(bodies) != n || len(seen) != n {
			t.Errorf("%s: %d events, %d distinct, want %d", room, len(bodies), len(seen), n)
		}
	}
}

// TestE2EServeQueuesWhileDown: serve answers 202 while the homeserver is
// down (5xx through the whole delivery deadline), keeps the webhook, and
// delivers it once the homeserver is back.
func TestE2EServeQueuesWhileDown(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!kuma:hs.test"}})
	defer hs.Close()
	// Backoffs of 200-400 ms within a deadline of 1 s: 3 to 5 attempts,
	// all refused; the drain's next rounds use up the rest.
	down := make([]sendertest.Fault, 8)
	for i := range down {
		down[i] = sendertest.ServerError(502)
	}
	hs.Inject(down...)
	slowRetries := "[matrix]\nretry_base = \"400ms\"\nretry_max = \"400ms\"\n"
	p := startServe(t, strings.Replace(serveConfig(hs, "s3cret-value"), "[matrix]\n", slowRetries, 1), "--timeout", "1s")
	status, body := post(t, p.base+"/kuma", "application/json", strings.NewReader(kumaDown), "Bearer s3cret-value")
	if status != 202 {
		t.Fatalf("%d %s", status, body)
	}
	var resp map[string]any
	json.Unmarshal([]byte(body), &resp)
	// The drain keeps retrying through the 502s; the faults run out and
	// the webhook arrives, once.
	waitEvents(t, hs, "!kuma:hs.test", 1)
}
