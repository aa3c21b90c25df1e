package sender

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"matrix-notify/sender/state"
)

// claimLease is how long a room's claim outlives the deadline of the call
// that holds it (or lasts, without one): only a holder that hangs past it,
// alive, loses the room; a dead one loses it at once.
const (
	claimLease        = 30 * time.Second
	claimLeaseNoLimit = 10 * time.Minute
)

func leaseFor(ctx context.Context) time.Duration {
	if deadline, ok := ctx.Deadline(); ok {
		return time.Until(deadline) + claimLease
	}
	return claimLeaseNoLimit
}

// roomDrain is the outcome of draining one room.
type roomDrain struct {
	delivered, dropped, remaining int
	olderDelivered, olderDropped  int
	err                           error // what stopped the drain early, if anything
}

// drainRun is one drain of a claimed room.
type drainRun struct {
	o    *Outbox
	t    Transport
	c    *state.Claim
	room string
	// mine maps the calling Deliver's entry ids to indexes in results,
	// which the run fills in; both nil for Flush.
	mine     map[int64]int
	results  []OutboxResult
	mu       sync.Mutex
	d        roomDrain
	blockers []func()          // failed sends to log once the queue length is known
	sentTxn  map[string]string // txn id -> event, delivered by this run
}

// drain claims room and delivers its entries: see Outbox.
func (o *Outbox) drain(ctx context.Context, t Transport, room string, mine map[int64]int, results []OutboxResult, concurrency int) roomDrain {
	rec := context.WithoutCancel(ctx)
	c, es, err := o.db.Claim(ctx, o.scope, room, leaseFor(ctx))
	if err != nil {
		d := roomDrain{err: err}
		n, cerr := o.db.Count(rec, o.scope, room)
		if cerr != nil {
			o.log.Error(fmt.Sprintf("outbox: %v", cerr))
		}
		d.remaining = n
		for _, i := range mine {
			if r := &results[i]; r.Message.Room == room {
				r.Outcome, r.Err = OutcomeQueued, d.err
				o.log.Error(fmt.Sprintf("queued Matrix notification for: %s to '%s': %v", r.Message.Summary, room, d.err))
			}
		}
		return d
	}
	return o.drainClaimed(ctx, t, c, es, mine, results, concurrency)
}

// drainClaimed delivers es, the entries of the room c claimed, and releases
// it.
func (o *Outbox) drainClaimed(ctx context.Context, t Transport, c *state.Claim, es []state.Entry, mine map[int64]int, results []OutboxResult, concurrency int) roomDrain {
	r := &drainRun{o: o, t: t, c: c, room: c.Room(), mine: mine, results: results, sentTxn: map[string]string{}}
	defer func() {
		if err := c.Release(); err != nil {
			o.log.Error(fmt.Sprintf("outbox: %v", err))
		}
	}()

	// Only this call's entries, none tried before: each alert's go in
	// order, different alerts at once. Otherwise the room is drained
	// oldest first.
	fresh := len(es) > 0
	for _, e := range es {
		_, isMine := mine[e.ID]
		fresh = fresh && isMine && e.Started.IsZero() && e.Attempts == 0
	}
	if !fresh {
		r.seq(ctx, es)
	} else {
		var alerts [][]state.Entry
		byAlert := map[string]int{}
		for _, e := range es {
			a, ok := byAlert[e.AlertKey]
			if !ok {
				a = len(alerts)
				byAlert[e.AlertKey] = a
				alerts = append(alerts, nil)
			}
			alerts[a] = append(alerts[a], e)
		}
		var eg errgroup.Group
		eg.SetLimit(cmp.Or(max(concurrency, 0), DefaultConcurrency))
		for _, a := range alerts {
			eg.Go(func() error { r.seq(ctx, a); return nil })
		}
		_ = eg.Wait()
	}
	for _, log := range r.blockers {
		log()
	}
	return r.d
}

// seq delivers es in order, stopping at the first failure or when ctx
// ends: what follows stays queued behind it.
func (r *drainRun) seq(ctx context.Context, es []state.Entry) {
	var blocked error
	tried := false
	for _, e := range es {
		if blocked == nil && ctx.Err() != nil {
			blocked = ctx.Err()
		}
		if blocked == nil {
			if blocked = r.one(ctx, e); blocked != nil {
				tried = true
			}
			continue
		}
		err := fmt.Errorf("not sent before the deadline, kept in the outbox: %w", blocked)
		if tried {
			err = fmt.Errorf("kept in the outbox behind an older message that failed: %w", blocked)
		}
		r.mu.Lock()
		r.d.remaining++
		r.d.err = cmp.Or(r.d.err, blocked)
		r.mu.Unlock()
		if i, ok := r.mine[e.ID]; ok {
			res := &r.results[i]
			res.Outcome, res.Err = OutcomeQueued, err
			r.o.log.Error(fmt.Sprintf("queued Matrix notification for: %s to '%s': %v", e.Summary, r.room, err))
		}
	}
}

// one delivers entry e, unless it was delivered already or is past
// MaxAge; a failure (returned) leaves it queued.
func (r *drainRun) one(ctx context.Context, e state.Entry) error {
	o := r.o
	m, err := fromEntry(e)
	if err != nil {
		r.drop(e, m, fmt.Sprintf("its stored form is unreadable (%v)", err), err)
		return nil
	}
	r.mu.Lock()
	ev := cmp.Or(e.DeliveredEvent, r.sentTxn[e.TxnID]) // the same alarm queued twice
	r.mu.Unlock()
	if ev != "" {
		r.sent(e, m, ev, 0, "was delivered before: not sent again")
		return nil
	}
	if age := o.now().Sub(e.Enqueued); age > o.maxAge {
		reason := fmt.Sprintf("undelivered for %s, longer than max_age %s", age.Round(time.Second), o.maxAge)
		if e.LastError != "" {
			reason += fmt.Sprintf(" (%d attempts, last error: %s)", e.Attempts, e.LastError)
		}
		r.drop(e, m, reason, errors.New(reason))
		return nil
	}
	if !e.Started.IsZero() {
		// An earlier attempt may have arrived: look before sending again.
		ev, err := findSent(ctx, r.t, m, e.Started)
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			// The homeserver's memory of txn ids is all there is.
		case err != nil:
			r.failed(e, m, err, 0)
			return err
		case ev != "":
			r.sent(e, m, ev, 0, "had arrived in an earlier attempt that got no answer: not sent again")
			return nil
		}
	}
	start := time.Now()
	ev, err = r.t.Send(ctx, m)
	took := time.Since(start)
	switch {
	case err == nil:
		crashPoint("sent")
		r.sent(e, m, ev, took, "")
		return nil
	case ContentRejected(err):
		r.drop(e, m, fmt.Sprintf("the homeserver refuses it and would on every retry: %v", err), err)
		return nil
	}
	r.failed(e, m, err, took)
	return err
}

// sent records e delivered as event ev; note says how, when it was not
// sent now.
func (r *drainRun) sent(e state.Entry, m Message, ev string, took time.Duration, note string) {
	o := r.o
	if err := r.c.Sent(e.ID, e.TxnID, e.AlertKey, ev); err != nil {
		// It was delivered; the next attempt finds it (it is marked started).
		o.log.Error(fmt.Sprintf("outbox: cannot record the delivery of %s to '%s' (event %s): %v", m.Summary, r.room, ev, err))
	}
	i, isMine := r.mine[e.ID]
	r.mu.Lock()
	r.sentTxn[e.TxnID] = ev
	r.d.delivered++
	if !isMine {
		r.d.olderDelivered++
	}
	r.mu.Unlock()
	switch {
	case note != "":
		o.log.Info(fmt.Sprintf("Matrix notification for: %s to '%s' (event %s) %s", m.Summary, r.room, ev, note))
	case isMine:
		o.log.Info(fmt.Sprintf("sent Matrix notification for: %s to '%s' (event %s)", m.Summary, r.room, ev))
	default:
		o.log.Info(fmt.Sprintf("sent queued Matrix notification for: %s to '%s' (event %s, queued %s ago)",
			m.Summary, r.room, ev, o.now().Sub(e.Enqueued).Round(time.Second)))
	}
	if isMine {
		res := &r.results[i]
		res.Outcome, res.EventID, res.Err, res.Duration = OutcomeDelivered, ev, nil, took
	}
}

// drop removes e undelivered, with an ERROR line saying why.
func (r *drainRun) drop(e state.Entry, m Message, reason string, cause error) {
	o := r.o
	if err := r.c.Drop(e.ID); err != nil {
		o.log.Error(fmt.Sprintf("outbox: cannot remove dropped entry %d (%s): %v", e.ID, reason, err))
	}
	i, isMine := r.mine[e.ID]
	r.mu.Lock()
	r.d.dropped++
	if !isMine {
		r.d.olderDropped++
	}
	r.mu.Unlock()
	o.log.Error(fmt.Sprintf("dropped Matrix notification for: %s to '%s': %s", cmp.Or(m.Summary, e.Summary), r.room, reason))
	if isMine {
		res := &r.results[i]
		res.Outcome, res.Err = OutcomeDropped, cause
	}
}

// failed keeps e queued after a failed attempt, and says why for
// `matrix-notify queue`.
func (r *drainRun) failed(e state.Entry, m Message, err error, took time.Duration) {
	attempts := 1
	var re *RetryError
	if errors.As(err, &re) {
		attempts = re.Attempts
	}
	if rerr := r.c.Failed(e.ID, attempts, err.Error(), MayHaveArrived(err)); rerr != nil {
		r.o.log.Error(fmt.Sprintf("outbox: cannot record the failed attempt: %v", rerr))
	}
	i, isMine := r.mine[e.ID]
	r.mu.Lock()
	r.d.remaining++
	r.d.err = cmp.Or(r.d.err, err)
	r.blockers = append(r.blockers, func() {
		what := "failed to send Matrix notification"
		if !isMine {
			what = "failed to send queued Matrix notification"
		}
		r.o.log.Error(fmt.Sprintf("%s for: %s to '%s': %v (kept in the outbox: %d queued for this room)",
			what, m.Summary, r.room, err, r.d.remaining))
	})
	r.mu.Unlock()
	if isMine {
		res := &r.results[i]
		res.Outcome, res.Err, res.Duration = OutcomeQueued, err, took
	}
}
