package sender

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"matrix-notify/sender/sendertest"
)

// sleepRecorder is an injectable Sleep that records the waits and returns at
// once (or when ctx has ended), so no test depends on the wall clock. Its Now
// is a fake clock that only the recorded waits move, from start.
type sleepRecorder struct {
	mu    sync.Mutex
	start time.Time
	waits []time.Duration
}

func (s *sleepRecorder) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.start
	for _, w := range s.waits {
		t = t.Add(w)
	}
	return t
}

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}

// scriptTransport answers each send with the next error of its script, then
// succeeds.
type scriptTransport struct {
	mu     sync.Mutex
	script []error
	calls  []Message
}

func (s *scriptTransport) Send(_ context.Context, m Message) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, m)
	if len(s.script) > 0 {
		err := s.script[0]
		s.script = s.script[1:]
		if err != nil {
			return "", err
		}
	}
	return "$ok", nil
}

func randOne() float64 { return 1 }

func TestRetryPolicyNext(t *testing.T) {
	limited := func(ra time.Duration) error {
		return &SendError{Status: 429, ErrCode: "M_LIMIT_EXCEEDED", RetryAfter: ra}
	}
	p := RetryPolicy{Base: 100 * time.Millisecond, Max: time.Second, Rand: randOne}
	tests := []struct {
		name    string
		policy  RetryPolicy
		attempt int
		err     error
		wait    time.Duration
		retry   bool
	}{
		{"429 Retry-After honoured", p, 1, limited(3 * time.Second), 3 * time.Second, true},
		{"429 wait above the cap still honoured", p, 1, limited(90 * time.Second), 90 * time.Second, true},
		{"429 without a wait backs off", p, 3, limited(0), 400 * time.Millisecond, true},
		{"500 first backoff", p, 1, &SendError{Status: 500}, 100 * time.Millisecond, true},
		{"502 second", p, 2, &SendError{Status: 502}, 200 * time.Millisecond, true},
		{"503 capped", p, 10, &SendError{Status: 503}, time.Second, true},
		{"huge attempt capped", p, 1000, &SendError{Status: 503}, time.Second, true},
		{"network error", p, 1, &SendError{Err: errors.New("connection reset")}, 100 * time.Millisecond, true},
		{"timeout", p, 1, &SendError{Err: context.DeadlineExceeded}, 100 * time.Millisecond, true},
		{"canceled", p, 1, &SendError{Err: context.Canceled}, 0, false},
		{"bare canceled", p, 1, context.Canceled, 0, false},
		{"401", p, 1, &SendError{Status: 401, ErrCode: "M_UNKNOWN_TOKEN"}, 0, false},
		{"403", p, 1, &SendError{Status: 403, ErrCode: "M_FORBIDDEN"}, 0, false},
		{"400", p, 1, &SendError{Status: 400, ErrCode: "M_BAD_JSON"}, 0, false},
		{"404", p, 1, &SendError{Status: 404, ErrCode: "M_NOT_FOUND"}, 0, false},
		{"413", p, 1, &SendError{Status: 413, ErrCode: "M_TOO_LARGE"}, 0, false},
		{"unknown error", p, 1, errors.New("disk full"), 0, false},
		{"nil", p, 1, nil, 0, false},
		{"max attempts reached", RetryPolicy{MaxAttempts: 3}, 3, &SendError{Status: 500}, 0, false},
		{"max attempts not reached", RetryPolicy{MaxAttempts: 3, Rand: randOne}, 2, &SendError{Status: 500}, 2 * DefaultRetryBase, true},
		{"zero policy defaults", RetryPolicy{Rand: randOne}, 1, &SendError{Status: 500}, DefaultRetryBase, true},
		{"zero policy cap", RetryPolicy{Rand: randOne}, 60, &SendError{Status: 500}, DefaultRetryMax, true},
		{"wrapped by RetryError", p, 1, &RetryError{Attempts: 2, Err: &SendError{Status: 500}}, 100 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wait, retry := tt.policy.Next(tt.attempt, tt.err)
			if wait != tt.wait || retry != tt.retry {
				t.Errorf("Next(%d, %v) = %v, %v; want %v, %v", tt.attempt, tt.err, wait, retry, tt.wait, tt.retry)
			}
		})
	}
}

func TestRetryPolicyJitter(t *testing.T) {
	// Equal jitter: the wait lies in the upper half of the backoff.
	for _, r := range []float64{0, 0.25, 0.5, 0.999, 1, 7, -3} {
		p := RetryPolicy{Base: 100 * time.Millisecond, Max: 10 * time.Second, Rand: func() float64 { return r }}
		for attempt := 1; attempt <= 8; attempt++ {
			full := min(100*time.Millisecond<<(attempt-1), 10*time.Second)
			wait, ok := p.Next(attempt, &SendError{Status: 503})
			if !ok || wait < full/2 || wait > full {
				t.Errorf("rand %v attempt %d: wait %v outside [%v, %v]", r, attempt, wait, full/2, full)
			}
		}
	}
	// The default jitter source stays within bounds too.
	for range 100 {
		if wait, _ := (RetryPolicy{}).Next(2, &SendError{Status: 500}); wait < DefaultRetryBase || wait > 2*DefaultRetryBase {
			t.Fatalf("default jitter wait %v", wait)
		}
	}
}

func TestRetryTransport(t *testing.T) {
	e500 := &SendError{Status: 500, ErrCode: "M_UNKNOWN", Message: "boom"}
	e401 := &SendError{Status: 401, ErrCode: "M_UNKNOWN_TOKEN", Message: "bad"}
	limited := func(ra time.Duration) error {
		return &SendError{Status: 429, ErrCode: "M_LIMIT_EXCEEDED", RetryAfter: ra}
	}
	now := time.Now() // the transport's clock: only its sleeps move it
	tests := []struct {
		name     string
		script   []error
		policy   RetryPolicy
		deadline time.Duration // from now; 0: none
		waits    []time.Duration
		wantErr  bool
		cut      time.Duration // RetryError.Cut expected
	}{
		{name: "first try", waits: nil},
		{name: "Retry-After then ok", script: []error{limited(2 * time.Second)}, waits: []time.Duration{2 * time.Second}},
		{name: "backoff grows", script: []error{e500, e500, e500, e500},
			waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}},
		{name: "backoff capped", script: []error{e500, e500, e500, e500, e500},
			policy: RetryPolicy{Base: 100 * time.Millisecond, Max: 300 * time.Millisecond, Rand: randOne},
			waits:  []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}},
		{name: "mixed", script: []error{limited(1500 * time.Millisecond), e500, limited(0)},
			waits: []time.Duration{1500 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}},
		{name: "401 not retried", script: []error{e401}, wantErr: true},
		{name: "max attempts", script: []error{e500, e500, e500, e500}, policy: RetryPolicy{Base: 100 * time.Millisecond, MaxAttempts: 3, Rand: randOne},
			waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, wantErr: true},
		{name: "deadline cuts a long Retry-After", script: []error{limited(30 * time.Second)}, deadline: 10 * time.Second,
			wantErr: true, cut: 30 * time.Second},
		{name: "deadline allows a short Retry-After", script: []error{limited(5 * time.Second)}, deadline: 10 * time.Second,
			waits: []time.Duration{5 * time.Second}},
		{name: "deadline cuts the backoff", script: []error{e500, e500, e500, e500, e500, e500}, deadline: time.Second,
			waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}, wantErr: true, cut: 800 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &scriptTransport{script: slices.Clone(tt.script)}
			rec := &sleepRecorder{start: now}
			policy := tt.policy
			if policy.Base == 0 && policy.MaxAttempts == 0 {
				policy = RetryPolicy{Base: 100 * time.Millisecond, Max: 10 * time.Second, Rand: randOne}
			}
			rt := &RetryTransport{Next: st, Policy: policy, Sleep: rec.Sleep, Now: rec.Now}
			ctx := context.Background()
			if tt.deadline > 0 {
				// A real deadline (at least 1s away, never reached by this fast
				// test), measured by the transport against the fake clock.
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, now.Add(tt.deadline))
				defer cancel()
			}
			m := Message{Room: "!r:hs", TxnID: "txn1"}
			ev, err := rt.Send(ctx, m)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && ev != "$ok" {
				t.Errorf("event id %q", ev)
			}
			if got := rec.Waits(); !slices.Equal(got, tt.waits) {
				t.Errorf("waits = %v, want %v", got, tt.waits)
			}
			if want := len(tt.waits) + 1; len(st.calls) != want {
				t.Errorf("attempts = %d, want %d", len(st.calls), want)
			}
			for _, c := range st.calls {
				if c.TxnID != "txn1" {
					t.Errorf("attempt with txn id %q: every attempt must reuse the message's", c.TxnID)
				}
			}
			if err != nil {
				var se *SendError
				if !errors.As(err, &se) {
					t.Errorf("error %v does not unwrap to a SendError", err)
				}
				var re *RetryError
				if errors.As(err, &re) {
					if re.Cut != tt.cut || re.Attempts != len(st.calls) {
						t.Errorf("RetryError %+v, want cut %v after %d attempts", re, tt.cut, len(st.calls))
					}
				} else if tt.cut != 0 || len(st.calls) > 1 {
					t.Errorf("error %T %v: want a RetryError", err, err)
				}
			}
		})
	}
}

func TestRetryTransportStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st := &scriptTransport{script: []error{&SendError{Status: 503}, &SendError{Status: 503}}}
	n := 0
	rt := &RetryTransport{Next: st, Policy: RetryPolicy{Rand: randOne}, Sleep: func(ctx context.Context, _ time.Duration) error {
		n++
		cancel()
		return ctx.Err()
	}}
	if _, err := rt.Send(ctx, Message{}); err == nil || n != 1 || len(st.calls) != 1 {
		t.Fatalf("err %v after %d sleeps and %d attempts", err, n, len(st.calls))
	}
}

// TestRetryTransportAgainstHomeserver drives the real transport through every
// fault the fake homeserver has: both 429 flavours are honoured, and the
// message arrives once.
func TestRetryTransportAgainstHomeserver(t *testing.T) {
	const room = "!alerts:sendertest.localhost"
	hs := sendertest.New(sendertest.Options{Joined: []string{room}})
	defer hs.Close()
	hs.Inject(sendertest.RateLimited(2*time.Second), sendertest.RateLimitedBody(1500*time.Millisecond),
		sendertest.ServerError(503), sendertest.Drop(), sendertest.ServerError(500))
	mt, err := NewMatrixTransport(hs.URL(), hs.Token(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &sleepRecorder{}
	rt := &RetryTransport{Next: mt, Policy: RetryPolicy{Base: 100 * time.Millisecond, Rand: randOne}, Sleep: rec.Sleep}
	m := Messages(Notification{Source: "test", Identity: "a1", Rooms: []string{room}, Content: Content{MsgType: "m.notice", Body: "hi"}})[0]
	ev, err := rt.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	// The 429s wait what they said; attempts 3 to 5 back off 100ms·2^(n-1).
	want := []time.Duration{2 * time.Second, 1500 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond}
	if got := rec.Waits(); !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	events := hs.Events(room)
	if len(events) != 1 || events[0].EventID != ev || events[0].TxnID != m.TxnID {
		t.Fatalf("events = %+v, event id %s", events, ev)
	}
	reqs := hs.Requests()
	if len(reqs) != 6 {
		t.Fatalf("want 6 requests, got %d", len(reqs))
	}
	for _, r := range reqs {
		if !strings.HasSuffix(r.Path, "/"+m.TxnID) {
			t.Errorf("request %s does not reuse txn id %s", r.Path, m.TxnID)
		}
	}
}

// TestRetryTransportSlowAnswer: the first attempt times out after the server
// recorded the event; the retry, same txn id, gets the same event back.
func TestRetryTransportSlowAnswer(t *testing.T) {
	const room = "!alerts:sendertest.localhost"
	hs := sendertest.New(sendertest.Options{Joined: []string{room}})
	defer hs.Close()
	hs.Inject(sendertest.Slow(time.Minute))
	mt, err := NewMatrixTransport(hs.URL(), hs.Token(), &http.Client{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rec := &sleepRecorder{}
	rt := &RetryTransport{Next: mt, Sleep: rec.Sleep}
	m := Message{Room: room, TxnID: "slow1", Content: Content{MsgType: "m.notice", Body: "x"}}
	ev, err := rt.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	events := hs.Events(room)
	if len(events) != 1 || events[0].EventID != ev || len(rec.Waits()) < 1 {
		t.Fatalf("events %+v, event id %s, waits %v", events, ev, rec.Waits())
	}
	replayed := 0
	for _, r := range hs.Requests() {
		if r.Replayed {
			replayed++
		}
	}
	if replayed != len(rec.Waits()) { // every retry (one, unless the machine is very slow)
		t.Errorf("want every retry answered from the txn cache, replayed = %d, retries %d", replayed, len(rec.Waits()))
	}
}

func TestSendErrorHints(t *testing.T) {
	tests := []struct {
		err  SendError
		want string
	}{
		{SendError{Room: "!r:hs", Status: 401, ErrCode: "M_UNKNOWN_TOKEN", Message: "Invalid access token passed."}, "the access token was rejected: run `matrix-notify login`"},
		{SendError{Room: "!r:hs", Status: 401, ErrCode: "M_MISSING_TOKEN", Message: "Missing access token."}, "run `matrix-notify login`"},
		{SendError{Room: "!r:hs", Status: 403, ErrCode: "M_FORBIDDEN", Message: "User @bot:hs not in room !r:hs"}, "the bot is not in room !r:hs: invite it, or enable auto_join"},
		{SendError{Room: "!r:hs", Status: 403, ErrCode: "M_FORBIDDEN", Message: "You don't have permission to post that to the room. user_level (0) < send_level (50)"}, "raise its power level"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); !strings.Contains(got, tt.want) {
			t.Errorf("%q lacks %q", got, tt.want)
		}
	}
}

// refusedURL is a loopback URL nothing listens on: a port that was just
// free, closed again.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestClassify(t *testing.T) {
	dial := func(errno syscall.Errno) error {
		return &url.Error{Op: "Put", URL: "http://hs.test/x", Err: &net.OpError{Op: "dial", Net: "tcp",
			Err: os.NewSyscallError("connect", errno)}}
	}
	dns := &url.Error{Op: "Put", URL: "https://matrix.example.invalid/x", Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: &net.DNSError{Err: "no such host", Name: "matrix.example.invalid", IsNotFound: true}}}
	dnsDown := &net.DNSError{Err: "server misbehaving", Name: "matrix.example.org", IsTemporary: true}
	tests := []struct {
		name string
		err  error
		want Failure
	}{
		{"nil", nil, FailurePermanent},
		{"connection refused", &SendError{Err: dial(syscall.ECONNREFUSED)}, FailureUnreachable},
		{"no route to host", &SendError{Err: dial(syscall.EHOSTUNREACH)}, FailureUnreachable},
		{"network unreachable", &SendError{Err: dial(syscall.ENETUNREACH)}, FailureUnreachable},
		{"no such host", &SendError{Err: dns}, FailureUnreachable},
		{"DNS server failing", &SendError{Err: fmt.Errorf("discovery: %w", dnsDown)}, FailureUnreachable},
		{"refused, after retries", &RetryError{Attempts: 3, Err: &SendError{Err: dial(syscall.ECONNREFUSED)}}, FailureUnreachable},
		{"bare refused", dial(syscall.ECONNREFUSED), FailureUnreachable},
		{"connection reset", &SendError{Err: dial(syscall.ECONNRESET)}, FailureTransient},
		{"dropped", &SendError{Err: io.EOF}, FailureTransient},
		{"timeout", &SendError{Err: context.DeadlineExceeded}, FailureTransient},
		{"bare timeout", context.DeadlineExceeded, FailureTransient},
		{"503", &SendError{Status: 503}, FailureTransient},
		{"500", &SendError{Status: 500, ErrCode: "M_UNKNOWN"}, FailureTransient},
		{"429", &SendError{Status: 429, ErrCode: "M_LIMIT_EXCEEDED"}, FailureRateLimited},
		{"429 after retries", &RetryError{Attempts: 2, Err: &SendError{Status: 429}}, FailureRateLimited},
		{"401", &SendError{Status: 401, ErrCode: "M_UNKNOWN_TOKEN"}, FailurePermanent},
		{"403", &SendError{Status: 403, ErrCode: "M_FORBIDDEN"}, FailurePermanent},
		{"413", &SendError{Status: 413}, FailurePermanent},
		{"canceled", &SendError{Err: context.Canceled}, FailurePermanent},
		{"refused while canceling", fmt.Errorf("%w: %w", context.Canceled, dial(syscall.ECONNREFUSED)), FailurePermanent},
		{"not a send error", errors.New("disk full"), FailurePermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
			// Our errors' Temporary agrees (net's own types keep theirs).
			var se *SendError
			if errors.As(tt.err, &se) && tt.err.(interface{ Temporary() bool }).Temporary() != tt.want.Retryable() {
				t.Errorf("Temporary() disagrees with Classify's %v", tt.want)
			}
		})
	}
}

// TestRetryPolicyFailFastUnreachable: with FailFastUnreachable, a homeserver
// that refuses the connection is not retried; a failing or rate-limiting
// one still is. Without it, refused is retried like any network error.
func TestRetryPolicyFailFastUnreachable(t *testing.T) {
	refused := &SendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	fast := RetryPolicy{Base: 100 * time.Millisecond, Rand: randOne, FailFastUnreachable: true}
	patient := RetryPolicy{Base: 100 * time.Millisecond, Rand: randOne}
	tests := []struct {
		name   string
		policy RetryPolicy
		err    error
		wait   time.Duration
		retry  bool
	}{
		{"fail fast: refused", fast, refused, 0, false},
		{"fail fast: no such host", fast, &SendError{Err: &net.DNSError{Err: "no such host", Name: "hs.invalid", IsNotFound: true}}, 0, false},
		{"fail fast: 503 still retried", fast, &SendError{Status: 503}, 100 * time.Millisecond, true},
		{"fail fast: 429 still waits", fast, &SendError{Status: 429, RetryAfter: time.Second}, time.Second, true},
		{"fail fast: timeout still retried", fast, &SendError{Err: context.DeadlineExceeded}, 100 * time.Millisecond, true},
		{"patient: refused retried", patient, refused, 100 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wait, retry := tt.policy.Next(1, tt.err)
			if wait != tt.wait || retry != tt.retry {
				t.Errorf("Next = %v, %v; want %v, %v", wait, retry, tt.wait, tt.retry)
			}
		})
	}
}

// TestRetryTransportRefused: the real transport against a port that refuses
// connections: fail fast makes one attempt and no wait, and the error is
// classified as unreachable; the patient policy keeps trying.
func TestRetryTransportRefused(t *testing.T) {
	mt, err := NewMatrixTransport(refusedURL(t), "syt_token", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := Message{Room: "!r:hs", TxnID: "t1", Content: Content{MsgType: "m.notice", Body: "x"}}

	rec := &sleepRecorder{}
	rt := &RetryTransport{Next: mt, Policy: RetryPolicy{FailFastUnreachable: true}, Sleep: rec.Sleep}
	_, err = rt.Send(context.Background(), m)
	if Classify(err) != FailureUnreachable {
		t.Fatalf("err %v classified %v, want unreachable", err, Classify(err))
	}
	if len(rec.Waits()) != 0 {
		t.Errorf("fail fast waited %v", rec.Waits())
	}

	rec = &sleepRecorder{start: time.Now()}
	rt = &RetryTransport{Next: mt, Policy: RetryPolicy{MaxAttempts: 3, Rand: randOne}, Sleep: rec.Sleep, Now: rec.Now}
	if _, err := rt.Send(context.Background(), m); err == nil || len(rec.Waits()) != 2 {
		t.Errorf("patient policy: err %v after waits %v, want 2 waits", err, rec.Waits())
	}
}
