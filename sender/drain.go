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

// drainRun is one drain of a claimed room: the one delivery loop of Deliver
// and Flush.
type drainRun struct {
	o    *Outbox
	t    Transport
	c    *state.Claim
	room string
	// mine maps the calling Deliver's entry ids to indexes in results,
	// which the run fills in; both nil for Flush.
	mine    map[int64]int
	results []OutboxResult

	mu       sync.Mutex
	rf       RoomFlush
	failures []func()          // failed sends to log once the queue length is known
	sentTxn  map[string]string // txn id -> event, delivered by this run
}

// drainRooms drains rooms, up to concurrency at once: each is claimed (or
// was, by Enqueue: claimed), delivered as Outbox says, and released.
func (o *Outbox) drainRooms(ctx context.Context, t Transport, rooms []string, claimed map[string]state.Claimed,
	mine map[int64]int, results []OutboxResult, concurrency int) []RoomFlush {
	out := make([]RoomFlush, len(rooms))
	var eg errgroup.Group
	eg.SetLimit(limit(concurrency))
	for i, room := range rooms {
		eg.Go(func() error {
			out[i] = o.drain(ctx, t, room, claimed[room], mine, results, concurrency)
			return nil
		})
	}
	_ = eg.Wait() // drains never fail; the results carry the errors
	return out
}

func (o *Outbox) drain(ctx context.Context, t Transport, room string, cl state.Claimed,
	mine map[int64]int, results []OutboxResult, concurrency int) RoomFlush {
	if cl.Claim == nil {
		var err error
		if cl.Claim, cl.Entries, err = o.db.Claim(ctx, o.scope, room, leaseFor(ctx)); err != nil {
			rf := RoomFlush{Room: room, Err: err}
			var cerr error
			if rf.Remaining, cerr = o.db.Count(context.WithoutCancel(ctx), o.scope, room); cerr != nil {
				o.log.Error("outbox: cannot count the queued notifications", "room", room, "err", cerr)
			}
			for _, i := range mine {
				if r := &results[i]; r.Message.Room == room {
					r.Outcome, r.Err = OutcomeQueued, err
					o.log.Error("queued Matrix notification", "alarm", r.Message.Summary, "room", room, "err", err)
				}
			}
			return rf
		}
	}
	r := &drainRun{o: o, t: t, c: cl.Claim, room: room, mine: mine, results: results,
		rf: RoomFlush{Room: room}, sentTxn: map[string]string{}}
	defer func() {
		if err := cl.Claim.Release(); err != nil {
			o.log.Error("outbox: cannot release the room", "room", room, "err", err)
		}
	}()

	// Only this call's entries, none tried before: each alert's go in
	// order, different alerts at once. Otherwise the room is drained
	// oldest first.
	fresh := len(cl.Entries) > 0
	for _, e := range cl.Entries {
		_, isMine := mine[e.ID]
		fresh = fresh && isMine && e.Started.IsZero() && e.Attempts == 0
	}
	if !fresh {
		r.seq(ctx, cl.Entries)
	} else {
		var alerts []string // in order of first entry
		byAlert := map[string][]state.Entry{}
		for _, e := range cl.Entries {
			if byAlert[e.AlertKey] == nil {
				alerts = append(alerts, e.AlertKey)
			}
			byAlert[e.AlertKey] = append(byAlert[e.AlertKey], e)
		}
		var eg errgroup.Group
		eg.SetLimit(limit(concurrency))
		for _, a := range alerts {
			eg.Go(func() error { r.seq(ctx, byAlert[a]); return nil })
		}
		_ = eg.Wait()
	}
	for _, log := range r.failures {
		log()
	}
	return r.rf
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
			blocked = r.one(ctx, e)
			tried = blocked != nil
			continue
		}
		err := fmt.Errorf("not sent before the deadline, kept in the outbox: %w", blocked)
		if tried {
			err = fmt.Errorf("kept in the outbox behind an older message that failed: %w", blocked)
		}
		r.mu.Lock()
		r.rf.Remaining++
		r.rf.Err = cmp.Or(r.rf.Err, blocked)
		r.mu.Unlock()
		if res := r.result(e); res != nil {
			res.Outcome, res.Err = OutcomeQueued, err
			r.o.log.Error("queued Matrix notification", "alarm", e.Summary, "room", r.room, "err", err)
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
		r.sent(e, m, ev, 0, "Matrix notification was delivered before: not sent again")
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
			r.sent(e, m, ev, 0, "Matrix notification had arrived in an earlier attempt that got no answer: not sent again")
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

// sent records e delivered as event ev; note is the log line when it was
// not sent now.
func (r *drainRun) sent(e state.Entry, m Message, ev string, took time.Duration, note string) {
	o := r.o
	if err := r.c.Sent(e.ID, e.TxnID, e.AlertKey, ev); err != nil {
		// It was delivered; the next attempt finds it (it is marked started).
		o.log.Error("outbox: cannot record the delivery", "alarm", m.Summary, "room", r.room, "event", ev, "err", err)
	}
	res := r.result(e)
	r.mu.Lock()
	r.sentTxn[e.TxnID] = ev
	r.rf.Delivered++
	r.mu.Unlock()
	switch {
	case note != "":
		o.log.Info(note, "alarm", m.Summary, "room", r.room, "event", ev)
	case res != nil:
		o.log.Info("sent Matrix notification", "alarm", m.Summary, "room", r.room, "event", ev)
	default:
		o.log.Info("sent queued Matrix notification", "alarm", m.Summary, "room", r.room, "event", ev,
			"queued_for", o.now().Sub(e.Enqueued).Round(time.Second))
	}
	if res != nil {
		res.Outcome, res.EventID, res.Err, res.Duration = OutcomeDelivered, ev, nil, took
	}
}

// result is where the calling Deliver wants e's outcome, nil for an entry
// of an earlier invocation.
func (r *drainRun) result(e state.Entry) *OutboxResult {
	if i, ok := r.mine[e.ID]; ok {
		return &r.results[i]
	}
	return nil
}

// drop removes e undelivered, with an ERROR line saying why.
func (r *drainRun) drop(e state.Entry, m Message, reason string, cause error) {
	if err := r.c.Drop(e.ID); err != nil {
		r.o.log.Error("outbox: cannot remove a dropped entry", "entry", e.ID, "reason", reason, "err", err)
	}
	res := r.result(e)
	r.mu.Lock()
	r.rf.Dropped++
	r.mu.Unlock()
	r.o.log.Error("dropped Matrix notification", "alarm", cmp.Or(m.Summary, e.Summary), "room", r.room, "reason", reason)
	if res != nil {
		res.Outcome, res.Err = OutcomeDropped, cause
	}
}

// failed keeps e queued after a failed attempt, and says why for
// `matrix-notify queue`.
func (r *drainRun) failed(e state.Entry, m Message, err error, took time.Duration) {
	attempts := 1
	if re, ok := errors.AsType[*RetryError](err); ok {
		attempts = re.Attempts
	}
	if rerr := r.c.Failed(e.ID, attempts, err.Error(), MayHaveArrived(err)); rerr != nil {
		r.o.log.Error("outbox: cannot record the failed attempt", "err", rerr)
	}
	res := r.result(e)
	r.mu.Lock()
	r.rf.Remaining++
	r.rf.Err = cmp.Or(r.rf.Err, err)
	r.failures = append(r.failures, func() {
		msg := "failed to send queued Matrix notification, kept in the outbox"
		if res != nil {
			msg = "failed to send Matrix notification, kept in the outbox"
		}
		r.o.log.Error(msg, "alarm", m.Summary, "room", r.room, "err", err, "queued", r.rf.Remaining)
	})
	r.mu.Unlock()
	if res != nil {
		res.Outcome, res.Err, res.Duration = OutcomeQueued, err, took
	}
}
