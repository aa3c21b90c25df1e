package sender

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// scriptedFlusher answers each Flush with the next report of its script and
// then with an empty one, recording each round's deadline.
type scriptedFlusher struct {
	script    []FlushReport
	rounds    int
	deadlines []time.Duration
}

func (f *scriptedFlusher) Flush(ctx context.Context, _ Transport, _ int) FlushReport {
	f.rounds++
	if d, ok := ctx.Deadline(); ok {
		f.deadlines = append(f.deadlines, time.Until(d))
	}
	if len(f.script) == 0 {
		return FlushReport{}
	}
	rep := f.script[0]
	f.script = f.script[1:]
	return rep
}

// left is a report of rooms still holding entries, each blocked by its error.
func left(errs ...error) FlushReport {
	var rep FlushReport
	for i, err := range errs {
		rep.Rooms = append(rep.Rooms, RoomFlush{Room: string(rune('a' + i)), Remaining: 1, Err: err})
		rep.Remaining++
	}
	return rep
}

func TestRetrierRounds(t *testing.T) {
	refused := &SendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	e503 := &SendError{Status: 503}
	e401 := &SendError{Status: 401, ErrCode: "M_UNKNOWN_TOKEN"}
	limited := &SendError{Status: 429, RetryAfter: 90 * time.Second}
	progress := FlushReport{Rooms: []RoomFlush{{Room: "a", Delivered: 3, Remaining: 2, Err: context.DeadlineExceeded}}, Delivered: 3, Remaining: 2}
	s := time.Second
	tests := []struct {
		name    string
		script  []FlushReport
		waits   []time.Duration
		rounds  int
		wantErr error
	}{
		{name: "empty at once", rounds: 1},
		{name: "refused, then back", script: []FlushReport{left(refused), left(refused), left(refused)},
			waits: []time.Duration{2 * s, 4 * s, 8 * s}, rounds: 4},
		{name: "capped at a minute", script: slices.Repeat([]FlushReport{left(e503)}, 8),
			waits: []time.Duration{2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 60 * s, 60 * s, 60 * s}, rounds: 9},
		{name: "progress: next round at once, backoff starts over",
			script: []FlushReport{left(refused), left(refused), progress, left(refused)},
			waits:  []time.Duration{2 * s, 4 * s, 2 * s}, rounds: 5},
		{name: "429 waits what it asks, above the cap", script: []FlushReport{left(limited)}, waits: []time.Duration{90 * s}, rounds: 2},
		{name: "the longest wait of the blocked rooms", script: []FlushReport{left(refused, limited)}, waits: []time.Duration{90 * s}, rounds: 2},
		{name: "a rejected token: stop, a person must act", script: []FlushReport{left(e401)}, rounds: 1, wantErr: ErrNeedsAction},
		{name: "one room rejected, another down: go on", script: []FlushReport{left(e401, refused)}, waits: []time.Duration{2 * s}, rounds: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &scriptedFlusher{script: slices.Clone(tt.script)}
			rec := &sleepRecorder{}
			r := &Retrier{Outbox: f, Round: 5 * time.Second, Policy: RetryPolicy{Rand: randOne}, Sleep: rec.Sleep}
			err := r.Run(context.Background())
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Run = %v, want %v", err, tt.wantErr)
			}
			if got := rec.Waits(); !slices.Equal(got, tt.waits) {
				t.Errorf("waits %v, want %v", got, tt.waits)
			}
			if f.rounds != tt.rounds {
				t.Errorf("%d rounds, want %d", f.rounds, tt.rounds)
			}
			for _, d := range f.deadlines {
				if d > 5*time.Second {
					t.Errorf("a round had %v, more than Round", d)
				}
			}
			if len(f.deadlines) != f.rounds {
				t.Errorf("%d of %d rounds had a deadline", len(f.deadlines), f.rounds)
			}
		})
	}
}

func TestRetrierStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &scriptedFlusher{script: slices.Repeat([]FlushReport{left(&SendError{Status: 502})}, 100)}
	sleeps := 0
	r := &Retrier{Outbox: f, Sleep: func(ctx context.Context, _ time.Duration) error {
		sleeps++
		if sleeps == 3 {
			cancel()
		}
		return ctx.Err()
	}}
	if err := r.Run(ctx); !errors.Is(err, context.Canceled) || sleeps != 3 {
		t.Fatalf("Run = %v after %d sleeps", err, sleeps)
	}
}

// outageTransport refuses every send while down is set, and records what
// was delivered.
type outageTransport struct {
	mu        sync.Mutex
	down      bool
	delivered map[string]int // txn id -> sends accepted
}

func (o *outageTransport) Send(_ context.Context, m Message) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down {
		return "", &SendError{Room: m.Room, Message: "connection refused",
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	}
	o.delivered[m.TxnID]++
	return "$" + m.TxnID, nil
}

// TestRetrierDrainsAnOutbox: messages queued during an outage, on the real
// outbox; the retrier waits while the homeserver refuses and delivers each
// once when it is back, then returns.
func TestRetrierDrainsAnOutbox(t *testing.T) {
	ob, err := OpenOutbox(t.TempDir(), OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr := &outageTransport{down: true, delivered: map[string]int{}}
	var msgs []Message
	for i, room := range []string{"!a:hs", "!b:hs", "!a:hs"} {
		msgs = append(msgs, Messages(Notification{Source: "test", Identity: string(rune('x' + i)), Rooms: []string{room},
			Content: Content{MsgType: "m.notice", Body: "alarm"}})...)
	}
	rep := ob.Deliver(context.Background(), tr, msgs, 0)
	if rep.Count(OutcomeQueued) != len(msgs) {
		t.Fatalf("queued %d of %d", rep.Count(OutcomeQueued), len(msgs))
	}
	rounds := 0
	r := &Retrier{Outbox: ob, Transport: tr, Sleep: func(ctx context.Context, _ time.Duration) error {
		rounds++
		if rounds == 3 { // back after three refused rounds
			tr.mu.Lock()
			tr.down = false
			tr.mu.Unlock()
		}
		return ctx.Err()
	}}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(tr.delivered) != len(msgs) {
		t.Errorf("delivered %d distinct messages, want %d", len(tr.delivered), len(msgs))
	}
	for txn, n := range tr.delivered {
		if n != 1 {
			t.Errorf("%s delivered %d times", txn, n)
		}
	}
	if q, err := ob.List(); err != nil || len(q) != 0 {
		t.Errorf("left in the outbox: %v %v", q, err)
	}
}
