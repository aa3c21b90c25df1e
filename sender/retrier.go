package sender

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of Retrier. Once the homeserver is back, what waits in the
// outbox goes out within about DefaultRetrierMax (plus one round).
const (
	DefaultRetrierBase  = 2 * time.Second
	DefaultRetrierMax   = 60 * time.Second
	DefaultRetrierRound = 10 * time.Second
)

// Flusher is what a Retrier needs of the outbox: Outbox.Flush.
type Flusher interface {
	Flush(ctx context.Context, t Transport, concurrency int) FlushReport
}

// Retrier flushes an outbox in rounds, backing off between them, until it
// is empty. It is what delivers the alarms an outage left queued once the
// homeserver is back, without waiting for the next alarm (netdata runs us
// only when an alarm changes, which may be days later).
//
// After a round that delivered nothing it waits Policy's backoff for the
// round's failures (a 429 what the homeserver asked for); after a round
// that made progress the next one starts at once.
type Retrier struct {
	Outbox      Flusher
	Transport   Transport
	Concurrency int // Flush's
	// Round bounds one Flush (0: DefaultRetrierRound). Keep it short: a
	// round holds the claims of the rooms it drains, which an invocation
	// netdata waits for may need.
	Round time.Duration
	// Policy shapes the wait between rounds; zero Base and Max mean
	// DefaultRetrierBase and DefaultRetrierMax. Its MaxAttempts and
	// FailFastUnreachable do not apply: the retrier outlasts an outage.
	Policy RetryPolicy
	// Sleep waits d or until ctx ends; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Log gets one line per round that changed something; nil discards.
	Log *slog.Logger
}

// ErrNeedsAction is returned by Retrier.Run when every room left is blocked
// by a failure that retrying cannot fix (a rejected token, a room the bot may
// not post in): a person must act, then `matrix-notify flush` delivers.
var ErrNeedsAction = errors.New("the queued notifications wait for a fix that retrying cannot make")

// Run flushes until a round leaves nothing queued (nil; entries older than
// max_age are dropped by Flush, so an outage longer than that ends it too),
// every room left is blocked by a permanent failure (an error wrapping
// ErrNeedsAction), or ctx ends (its error).
func (r *Retrier) Run(ctx context.Context) error {
	sleep := r.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	log := orDiscard(r.Log)
	policy := r.Policy
	policy.Base = cmp.Or(policy.Base, DefaultRetrierBase)
	policy.Max = cmp.Or(policy.Max, DefaultRetrierMax)
	policy.MaxAttempts, policy.FailFastUnreachable = 0, false

	for failed := 0; ; { // failed: rounds in a row that delivered nothing
		rctx, cancel := context.WithTimeout(ctx, cmp.Or(r.Round, DefaultRetrierRound))
		rep := r.Outbox.Flush(rctx, r.Transport, r.Concurrency)
		cancel()
		if rep.Delivered+rep.Dropped > 0 {
			log.Info("retry round", "delivered", rep.Delivered, "dropped", rep.Dropped, "queued", rep.Remaining)
		}
		if rep.Remaining == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if rep.Delivered+rep.Dropped > 0 {
			failed = 0
			continue // the homeserver answers: go on at once
		}
		failed++
		// The longest wait any blocked room asks for (a 429 speaks for the
		// whole account), if any room may still succeed.
		wait, retry := time.Duration(0), len(rep.Rooms) == 0 // entries left that no room reported
		if retry {
			wait = policy.backoff(failed)
		}
		for _, rf := range rep.Rooms {
			if rf.Remaining == 0 {
				continue
			}
			// Left with entries but no error (emptied and refilled
			// meanwhile?): worth another round.
			if w, ok := policy.Next(failed, cmp.Or(rf.Err, context.DeadlineExceeded)); ok {
				wait, retry = max(wait, w), true
			}
		}
		if !retry {
			return fmt.Errorf("%w: %w", ErrNeedsAction, rep.Err())
		}
		if failed == 1 || failed%10 == 0 {
			log.Info("retry round: nothing delivered", "queued", rep.Remaining, "next_round_in", wait.Round(time.Second), "err", rep.Err())
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}
