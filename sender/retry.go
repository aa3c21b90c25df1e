package sender

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"syscall"
	"time"
)

// Defaults of RetryPolicy.
const (
	DefaultRetryBase = 250 * time.Millisecond
	// DefaultRetryMax caps the backoff. The spec suggests about 5 minutes for
	// long-lived clients; an alert invocation has a deadline far shorter, and
	// what is left undelivered waits in the outbox for the next one.
	DefaultRetryMax = 30 * time.Second
)

// Failure is the kind of a failed send, as Classify tells it: the one place
// that decides whether trying again can help (RetryPolicy.Next,
// SendError.Temporary and the outbox Retrier all ask it).
type Failure int

const (
	// FailurePermanent: trying again cannot help until someone acts (401,
	// 403, 400, 404, 413, a canceled context, an error that is not a send
	// error).
	FailurePermanent Failure = iota
	// FailureUnreachable: no connection at all (refused, DNS, no route).
	// Retrying within seconds rarely helps: an invocation netdata waits for
	// queues at once (RetryPolicy.FailFastUnreachable) and leaves the
	// retrying to later invocations, the Retrier and flush.
	FailureUnreachable
	// FailureRateLimited: 429; wait what the homeserver asked for.
	FailureRateLimited
	// FailureTransient: the homeserver (or a proxy in front of it) is there
	// but failing or slow: 5xx, timeouts, dropped connections.
	FailureTransient
)

func (f Failure) String() string {
	if f >= FailurePermanent && f <= FailureTransient {
		return [...]string{"permanent", "unreachable", "rate-limited", "transient"}[f]
	}
	return fmt.Sprintf("Failure(%d)", int(f))
}

// Retryable reports whether a later attempt may succeed without anyone
// acting.
func (f Failure) Retryable() bool { return f != FailurePermanent }

// Classify tells what kind of failure err is (nil is FailurePermanent:
// there is nothing to retry).
func Classify(err error) Failure {
	if err == nil || errors.Is(err, context.Canceled) {
		return FailurePermanent
	}
	se, _ := errors.AsType[*SendError](err)
	switch {
	case se != nil && se.Status == 429:
		return FailureRateLimited
	case se != nil && se.Status >= 500:
		return FailureTransient
	case se != nil && se.Status != 0:
		return FailurePermanent
	case unreachable(err):
		return FailureUnreachable
	case se != nil:
		return FailureTransient // no answer: timeout, dropped connection
	}
	// Another transport's error (or a bare network error): its own verdict.
	var tmp interface{ Temporary() bool }
	if errors.As(err, &tmp) && tmp.Temporary() {
		return FailureTransient
	}
	return FailurePermanent
}

// unreachable reports whether err says no connection could be made at all.
// A timeout is not one: a host that drops packets, or a homeserver too busy
// to accept, may answer the next attempt; the deadline bounds those.
func unreachable(err error) bool {
	_, dns := errors.AsType[*net.DNSError](err)
	return dns || slices.ContainsFunc([]error{syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EHOSTDOWN},
		func(errno error) bool { return errors.Is(err, errno) })
}

// RetryPolicy is the one retry decision for every integration: from a
// failed attempt (see Classify), whether to try again and after how long.
// A 429 waits what the homeserver asked for (Retry-After or retry_after_ms,
// in SendError.RetryAfter), never less; everything retryable else backs off
// exponentially with jitter. The zero value is usable: DefaultRetryBase,
// DefaultRetryMax, attempts bounded by the context deadline only.
type RetryPolicy struct {
	Base time.Duration // the first backoff; each further attempt doubles it
	Max  time.Duration // caps the backoff (not a wait the homeserver asked for)
	// MaxAttempts bounds the attempts of one send, the first included;
	// <= 0 means no bound other than the context.
	MaxAttempts int
	Rand        func() float64 // in [0, 1) for the jitter; nil means math/rand
	// FailFastUnreachable gives up at once on FailureUnreachable: for an
	// invocation netdata waits for, where a homeserver that is down must
	// cost netdata's health checks nothing (the message is queued).
	FailFastUnreachable bool
}

// Next decides after the attempt-th failed attempt (1 for the first) that
// ended with err whether to try again, and how long to wait first. The
// deadline is RetryTransport's to check.
func (p RetryPolicy) Next(attempt int, err error) (wait time.Duration, retry bool) {
	if err == nil || (p.MaxAttempts > 0 && attempt >= p.MaxAttempts) {
		return 0, false
	}
	switch Classify(err) {
	case FailurePermanent:
		return 0, false
	case FailureUnreachable:
		if p.FailFastUnreachable {
			return 0, false
		}
	case FailureRateLimited:
		if se, ok := errors.AsType[*SendError](err); ok && se.RetryAfter > 0 {
			return se.RetryAfter, true
		}
	}
	return p.backoff(attempt), true
}

// backoff is Base·2^(attempt-1), capped at Max, with "equal jitter": a
// random point in its upper half, so waits grow steadily and clients that
// failed together do not come back together.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	ceiling := cmp.Or(max(p.Max, 0), DefaultRetryMax)
	d := cmp.Or(max(p.Base, 0), DefaultRetryBase)
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	r := p.Rand
	if r == nil {
		r = rand.Float64
	}
	return d/2 + time.Duration(min(max(r(), 0), 1)*float64(d/2))
}

// RetryTransport retries the sends of Next as Policy says, and never sleeps
// past the context's deadline: when the next wait would cross it, it stops
// with the last error. Every attempt sends the same Message, so the same txn
// id: a retry of a send the homeserver did accept creates nothing.
type RetryTransport struct {
	Next   Transport
	Policy RetryPolicy
	// Sleep waits d or until ctx ends; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock the deadline is compared with; nil means time.Now.
	Now func() time.Time
}

// RetryError is the last error of a send that was tried more than once, or
// whose next retry was cut by the deadline. It unwraps to that error.
type RetryError struct {
	Attempts int
	// Cut is the wait that was not started because it would have crossed the
	// context deadline; 0 when the policy itself gave up.
	Cut time.Duration
	Err error
	// InDoubt: some attempt got no answer (see MayHaveArrived), so the
	// message may have arrived, whatever the last attempt says.
	InDoubt bool
}

func (e *RetryError) Error() string {
	if e.Cut > 0 {
		return fmt.Sprintf("%v (%d attempts; next retry in %s would pass the deadline)", e.Err, e.Attempts, e.Cut.Round(time.Millisecond))
	}
	return fmt.Sprintf("%v (after %d attempts)", e.Err, e.Attempts)
}

func (e *RetryError) Unwrap() error { return e.Err }

// Temporary forwards the last error's verdict.
func (e *RetryError) Temporary() bool { return Classify(e.Err).Retryable() }

// Send implements Transport.
func (t *RetryTransport) Send(ctx context.Context, m Message) (string, error) {
	sleep := t.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	now := t.Now
	if now == nil {
		now = time.Now
	}
	inDoubt := false
	for attempt := 1; ; attempt++ {
		eventID, err := t.Next.Send(ctx, m)
		if err == nil {
			return eventID, nil
		}
		inDoubt = inDoubt || MayHaveArrived(err)
		giveUp := func(cut time.Duration) error {
			if attempt == 1 && cut == 0 {
				return err
			}
			return &RetryError{Attempts: attempt, Cut: cut, Err: err, InDoubt: inDoubt}
		}
		if ctx.Err() != nil {
			return "", giveUp(0)
		}
		wait, retry := t.Policy.Next(attempt, err)
		if !retry {
			return "", giveUp(0)
		}
		if deadline, ok := ctx.Deadline(); ok && now().Add(wait).After(deadline) {
			return "", giveUp(max(wait, 1))
		}
		if sleep(ctx, wait) != nil {
			return "", giveUp(0)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// FindSent implements SentFinder when Next does (once: the caller retries
// later if it fails).
func (t *RetryTransport) FindSent(ctx context.Context, m Message, since time.Time) (string, error) {
	return findSent(ctx, t.Next, m, since)
}
