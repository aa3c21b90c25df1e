package sendertest

import (
	"cmp"
	"time"
)

// FaultKind names a fault; it is also what Request.Fault records.
type FaultKind string

// The kinds of fault. Only send requests (PUT or legacy POST .../send/...)
// meet faults; a faulted send records no event, except FaultSlow, which
// succeeds late.
const (
	// Fault429Header answers 429 M_LIMIT_EXCEEDED with a Retry-After header
	// (whole seconds, rounded up) and no retry_after_ms: the modern form.
	Fault429Header FaultKind = "429-header"
	// Fault429Body answers 429 M_LIMIT_EXCEEDED with retry_after_ms in the
	// body and no header: what older Synapse sends and mautrix-go ignores.
	Fault429Body FaultKind = "429-body"
	// FaultStatus answers a 5xx. 500 carries a Matrix JSON error; 502, 503
	// and 504 carry an HTML page, as a reverse proxy in front of a dead
	// homeserver does, so the client must not expect JSON.
	FaultStatus FaultKind = "status"
	// FaultSlow processes the send normally (the event is recorded at once)
	// and then holds the answer back. A client that times out and retries
	// with the same txn id must get the same event id: the case that makes
	// deterministic txn ids matter.
	FaultSlow FaultKind = "slow"
	// FaultDrop reads the request and closes the connection without a byte
	// of answer, as a crashing server or a cut network does.
	FaultDrop FaultKind = "drop"
	// FaultRateLimit is recorded for a send refused by SetRateLimit.
	FaultRateLimit FaultKind = "rate-limit"
)

// Fault is one fault for Inject. Build it with the helper functions.
type Fault struct {
	Kind   FaultKind
	Status int           // FaultStatus: the HTTP status
	Wait   time.Duration // 429: the advertised wait; FaultSlow: the delay
}

// RateLimited is a 429 advertising wait in a Retry-After header.
func RateLimited(wait time.Duration) Fault { return Fault{Kind: Fault429Header, Wait: wait} }

// RateLimitedBody is a 429 advertising wait in retry_after_ms.
func RateLimitedBody(wait time.Duration) Fault { return Fault{Kind: Fault429Body, Wait: wait} }

// ServerError is a 5xx answer with the given status.
func ServerError(status int) Fault { return Fault{Kind: FaultStatus, Status: status} }

// Slow answers successfully after d.
func Slow(d time.Duration) Fault { return Fault{Kind: FaultSlow, Wait: d} }

// Drop closes the connection without answering.
func Drop() Fault { return Fault{Kind: FaultDrop} }

// FaultRates are probabilities, per send request, of a fault when no
// injected fault is queued. One seeded draw per send picks the fault, so a
// run with the same seed and the same sequence of sends meets the same faults.
type FaultRates struct {
	RateLimit   float64       // 429, half with the header and half with the body field
	ServerError float64       // 500, 502 or 503, evenly
	Drop        float64       // connection dropped
	RetryAfter  time.Duration // wait advertised by the 429s; 0 means 1s
}

// Inject queues one-shot faults for the next send requests, first in first out.
func (s *Server) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// PendingFaults is the number of injected faults not yet used.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults)
}

// SetFaultRates sets the probabilistic faults; the zero value turns them off.
func (s *Server) SetFaultRates(r FaultRates) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rates = r
}

// nextFault takes the fault for one send request, if any.
func (s *Server) nextFault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		return f, true
	}
	r := s.rates
	if r.RateLimit+r.ServerError+r.Drop <= 0 {
		return Fault{}, false
	}
	wait, u := cmp.Or(r.RetryAfter, time.Second), s.rng.Float64()
	switch {
	case u < r.RateLimit:
		if s.rng.IntN(2) == 0 {
			return RateLimited(wait), true
		}
		return RateLimitedBody(wait), true
	case u < r.RateLimit+r.ServerError:
		return ServerError([]int{500, 502, 503}[s.rng.IntN(3)]), true
	case u < r.RateLimit+r.ServerError+r.Drop:
		return Drop(), true
	}
	return Fault{}, false
}
