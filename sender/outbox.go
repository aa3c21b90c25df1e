package sender

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"matrix-notify/sender/state"
)

// DefaultMaxAge is how long an undelivered message is kept in the outbox. It
// matches how long Synapse remembers txn ids (about a day): a message re-sent
// later than that could be duplicated if an earlier attempt did arrive.
const DefaultMaxAge = 24 * time.Hour

// deliveredMinAge is the least time a delivery is remembered (see Outbox).
const deliveredMinAge = 7 * 24 * time.Hour

// OutboxOptions configure an Outbox. The zero value is usable.
type OutboxOptions struct {
	// Scope names the account whose txn ids the messages carry (the
	// homeserver): txn ids are scoped to an account, so two configured bots
	// never send each other's entries.
	Scope string
	// MaxAge drops entries queued longer than this, with an ERROR line;
	// 0 means DefaultMaxAge.
	MaxAge time.Duration
	Log    *slog.Logger     // one line per message handled; nil discards
	Now    func() time.Time // nil means time.Now
}

// Outbox is a crash-safe, multi-process queue of messages, one FIFO per
// room, in the state database (package state). Every message is stored
// before its first send attempt and removed only once the homeserver
// accepted it, so an invocation killed at any point loses nothing: the next
// one sends what is left, with the same txn id.
//
// Exactly once, whatever the homeserver remembers: every delivery is
// recorded (room, txn id, event id) for max(7 days, MaxAge), and a message
// whose room and txn id were delivered already (the same alarm run again) is
// not sent again. A message whose earlier attempt may have arrived (the
// process died during it, or the request got no answer) is first looked for
// in the room (SentFinder), and not sent again if it is there.
//
// Order: delivery to a room is serialised across processes by the room's
// claim. A room with queued entries is drained oldest first, stopping at the
// first failure, so a newer alert never overtakes a queued older one; when
// a call finds only its own messages in a room, each alert's go one after
// another and different alerts at once.
//
// An Outbox is safe for concurrent use, and any number of processes may
// share one database.
type Outbox struct {
	db     *state.DB
	own    bool // Close closes db
	scope  string
	maxAge time.Duration
	log    *slog.Logger
	now    func() time.Time
}

// OpenOutbox opens (creating it if needed) the state database in dir and
// the outbox in it; Close closes both.
func OpenOutbox(dir string, opts OutboxOptions) (*Outbox, error) {
	db, err := state.Open(context.Background(), dir, state.Options{Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	o := NewOutbox(db, opts)
	o.own = true
	return o, nil
}

// NewOutbox is the outbox in db, which the caller closes.
func NewOutbox(db *state.DB, opts OutboxOptions) *Outbox {
	o := &Outbox{db: db, scope: opts.Scope, maxAge: cmp.Or(opts.MaxAge, DefaultMaxAge), log: orDiscard(opts.Log), now: opts.Now}
	if o.now == nil {
		o.now = time.Now
	}
	return o
}

// orDiscard is l, or a logger that discards when l is nil.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Close closes the database if OpenOutbox opened it.
func (o *Outbox) Close() error {
	if o.own {
		return o.db.Close()
	}
	return nil
}

// Dir is the database file the outbox lives in (for messages to people).
func (o *Outbox) Dir() string { return o.db.Path() }

// State is the database the outbox lives in.
func (o *Outbox) State() *state.DB { return o.db }

// storedMessage is what the outbox keeps of a Message beyond its columns.
// Source and Phase let LifecycleTransport relate the message when it is
// finally sent (a raise queued while the homeserver was down still becomes
// its alert's root).
type storedMessage struct {
	Content Content `json:"content"`
	Source  string  `json:"source,omitempty"`
	Phase   Phase   `json:"phase,omitempty"`
}

func toEntry(m Message) (state.Entry, error) {
	data, err := json.Marshal(storedMessage{Content: m.Content, Source: m.Source, Phase: m.Phase})
	return state.Entry{Room: m.Room, TxnID: m.TxnID, AlertKey: m.AlertKey, Summary: m.Summary, Message: data}, err
}

func fromEntry(e state.Entry) (Message, error) {
	var sm storedMessage
	err := json.Unmarshal(e.Message, &sm)
	return Message{Room: e.Room, TxnID: e.TxnID, Summary: e.Summary, Content: sm.Content,
		Source: sm.Source, AlertKey: e.AlertKey, Phase: sm.Phase}, err
}

// Outcome is what became of one message.
type Outcome int

const (
	// OutcomeDelivered: the homeserver accepted it (perhaps through a
	// concurrent invocation that drained the room first, or earlier).
	OutcomeDelivered Outcome = iota + 1
	// OutcomeQueued: not delivered yet, safe in the outbox.
	OutcomeQueued
	// OutcomeDropped: removed from the outbox undelivered, with an ERROR line:
	// the homeserver refused its content, or it outlived MaxAge.
	OutcomeDropped
	// OutcomeFailed: not delivered and not queued (the outbox could not
	// store it and the direct send failed): lost unless the caller retries.
	OutcomeFailed
)

func (o Outcome) String() string {
	if o >= OutcomeDelivered && o <= OutcomeFailed {
		return [...]string{"delivered", "queued", "dropped", "failed"}[o-1]
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// OutboxResult is the outcome of one message of a Deliver call. Err is nil
// only for OutcomeDelivered; for OutcomeQueued it is what kept the message
// back. ID is the outbox entry id of a message that was queued.
type OutboxResult struct {
	Result
	Outcome Outcome
	ID      string
}

// OutboxReport is the outcome of Outbox.Deliver: one result per message of
// the call, in the order given, and what else happened in those rooms.
type OutboxReport struct {
	Results []OutboxResult
	// OlderDelivered and OlderDropped count entries queued by earlier
	// invocations that this call delivered or dropped on the way.
	OlderDelivered, OlderDropped int
	// Pending is how many entries (this call's and older ones) are still
	// queued for the rooms of this call.
	Pending int
}

// Delivered reports whether every message of the call reached its room.
func (r OutboxReport) Delivered() bool { return r.Count(OutcomeDelivered) == len(r.Results) }

// Count is the number of messages of the call with the given outcome.
func (r OutboxReport) Count(o Outcome) int {
	n := 0
	for _, res := range r.Results {
		if res.Outcome == o {
			n++
		}
	}
	return n
}

// RoomFlush is the outcome of draining one room.
type RoomFlush struct {
	Room                          string
	Delivered, Dropped, Remaining int
	// Err is what stopped the drain with entries left, nil if it emptied.
	Err error
}

// FlushReport is the outcome of Flush, one RoomFlush per room that had
// entries, and the totals.
type FlushReport struct {
	Rooms                         []RoomFlush
	Delivered, Dropped, Remaining int
}

// Err joins the errors of the rooms left with entries.
func (r FlushReport) Err() error {
	var errs []error
	for _, rf := range r.Rooms {
		if rf.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", rf.Room, rf.Err))
		}
	}
	return errors.Join(errs...)
}

// Deliver delivers msgs, for every room involved (up to concurrency rooms at
// once; <= 0 means DefaultConcurrency), within ctx. t should carry the retry
// policy (RetryTransport).
//
// The call's messages are first stored, in one transaction; a message
// delivered before (same room and txn id) is reported delivered and not sent
// again. Then each room is claimed and drained (see Outbox). What is not
// delivered stays queued, made durable against a power loss. A message the
// outbox cannot store (a broken database) is still sent; only if that fails
// is it lost (OutcomeFailed), loudly.
func (o *Outbox) Deliver(ctx context.Context, t Transport, msgs []Message, concurrency int) OutboxReport {
	report := OutboxReport{Results: make([]OutboxResult, len(msgs))}
	entries := make([]state.Entry, len(msgs))
	for i, m := range msgs {
		report.Results[i].Message = m
		entries[i], _ = toEntry(m) // a Message always marshals: its content is strings
	}
	// Stored even when ctx has ended: what is not sent waits. The rooms
	// that are free are claimed in the same transaction.
	ids, delivered, claimed, err := o.db.Enqueue(context.WithoutCancel(ctx), o.scope, entries,
		o.now().Add(-max(deliveredMinAge, o.maxAge)), leaseFor(ctx))
	if err != nil {
		o.log.Error("outbox: cannot store the notifications: sending them without the outbox", "err", err)
		o.sendDirect(ctx, t, report.Results, concurrency)
		return report
	}
	crashPoint("enqueued")

	mine := map[int64]int{} // this call's entry ids -> index in msgs
	var rooms []string
	var fresh []Message
	for i, m := range msgs {
		if delivered[i] != "" {
			r := &report.Results[i]
			r.Outcome, r.EventID = OutcomeDelivered, delivered[i]
			o.log.Info("Matrix notification was delivered before: not sent again", "alarm", m.Summary, "room", m.Room, "event", delivered[i])
			continue
		}
		mine[ids[i]] = i
		report.Results[i].ID = strconv.FormatInt(ids[i], 10)
		fresh = append(fresh, m)
		if !slices.Contains(rooms, m.Room) {
			rooms = append(rooms, m.Room)
		}
	}
	// The batch goes to the transport once (the encryption layer seals it
	// under one lock of its store), after it is stored: what a slow
	// Prepare holds up is kept whatever happens.
	Prepare(ctx, t, fresh)
	for _, rf := range o.drainRooms(ctx, t, rooms, claimed, mine, report.Results, concurrency) {
		report.OlderDelivered += rf.Delivered
		report.OlderDropped += rf.Dropped
		report.Pending += rf.Remaining
	}
	rec := context.WithoutCancel(ctx)
	for _, i := range mine {
		r := &report.Results[i]
		switch r.Outcome { // the drains counted this call's entries too
		case OutcomeDelivered:
			report.OlderDelivered--
		case OutcomeDropped:
			report.OlderDropped--
		case 0:
			// Handled by another invocation while this one waited for the
			// room: delivered if a delivery is recorded, dropped otherwise
			// (that invocation logged why).
			ev, err := o.db.DeliveredEvent(rec, o.scope, r.Message.Room, r.Message.TxnID)
			switch {
			case err != nil:
				r.Outcome, r.Err = OutcomeQueued, err
			case ev != "":
				r.Outcome, r.EventID = OutcomeDelivered, ev
			default:
				r.Outcome, r.Err = OutcomeDropped, errors.New("dropped by another matrix-notify delivering to this room (see its log)")
			}
		}
	}
	if report.Pending > 0 {
		o.durable(rec)
	}
	return report
}

// durable makes what stays queued survive a power loss; a failure only
// costs that, so it is logged.
func (o *Outbox) durable(ctx context.Context) {
	if err := o.db.Checkpoint(ctx); err != nil {
		o.log.Error("queued Matrix notifications are kept, but a power loss could lose them", "err", err)
	}
}

// sendDirect sends messages the outbox could not store.
func (o *Outbox) sendDirect(ctx context.Context, t Transport, results []OutboxResult, concurrency int) {
	msgs := make([]Message, len(results))
	for i, r := range results {
		msgs[i] = r.Message
	}
	rep := (&Sender{Transport: t, Concurrency: concurrency, Log: o.log}).Deliver(ctx, msgs)
	for i, res := range rep.Results {
		results[i].Result, results[i].Outcome = res, OutcomeDelivered
		if res.Err != nil {
			results[i].Outcome = OutcomeFailed
			o.log.Error("Matrix notification not queued: it is lost", "alarm", res.Message.Summary, "room", res.Message.Room, "err", res.Err)
		}
	}
}

// ContentRejected reports whether the homeserver refused a message for its
// content (400 M_BAD_JSON or M_NOT_JSON, 413 or M_TOO_LARGE): it would refuse
// it on every retry, so keeping it queued would block its room for good.
func ContentRejected(err error) bool {
	se, ok := errors.AsType[*SendError](err)
	return ok && (se.Status == 413 || se.ErrCode == "M_TOO_LARGE" ||
		se.Status == 400 && (se.ErrCode == "M_BAD_JSON" || se.ErrCode == "M_NOT_JSON"))
}

// Flush delivers the entries of every room, up to concurrency rooms at once,
// oldest first per room, within ctx (matrix-notify flush; serve's continuous
// drain).
func (o *Outbox) Flush(ctx context.Context, t Transport, concurrency int) FlushReport {
	var rep FlushReport
	rec := context.WithoutCancel(ctx)
	rooms, err := o.db.Rooms(rec, o.scope)
	if err != nil {
		rep.Rooms = []RoomFlush{{Err: fmt.Errorf("outbox: %w", err)}}
		return rep
	}
	// What waits goes to the transport's Prepare as one batch; what cannot
	// be read here the drain reads again, and says what fails.
	if _, ok := t.(Preparer); ok {
		es, _ := o.db.Queued(rec, o.scope)
		var msgs []Message
		for _, e := range es {
			if m, err := fromEntry(e); err == nil && e.DeliveredEvent == "" {
				msgs = append(msgs, m)
			}
		}
		Prepare(ctx, t, msgs)
	}
	for _, rf := range o.drainRooms(ctx, t, rooms, nil, nil, nil, concurrency) {
		if rf.Delivered+rf.Dropped+rf.Remaining == 0 {
			continue // emptied by someone else meanwhile
		}
		rep.Rooms = append(rep.Rooms, rf)
		rep.Delivered += rf.Delivered
		rep.Dropped += rf.Dropped
		rep.Remaining += rf.Remaining
	}
	if rep.Remaining > 0 {
		o.durable(rec)
	}
	return rep
}

// QueuedEntry describes one queued message, for `matrix-notify queue`.
type QueuedEntry struct {
	ID       string
	Room     string
	TxnID    string
	Summary  string
	Enqueued time.Time
	Age      time.Duration
	// Attempts counts the failed send attempts (HTTP requests, retries
	// included) over every delivery so far.
	Attempts    int
	LastAttempt time.Time
	LastError   string
}

// List returns the queued entries, by room, oldest first within a room: a
// snapshot, including the entries of invocations still delivering them.
func (o *Outbox) List() ([]QueuedEntry, error) {
	es, err := o.db.Queued(context.Background(), o.scope)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	now := o.now()
	out := make([]QueuedEntry, len(es))
	for i, e := range es {
		out[i] = QueuedEntry{
			ID: strconv.FormatInt(e.ID, 10), Room: e.Room, TxnID: e.TxnID, Summary: e.Summary,
			Enqueued: e.Enqueued, Age: now.Sub(e.Enqueued),
			Attempts: e.Attempts, LastAttempt: e.LastAttempt, LastError: e.LastError,
		}
	}
	return out, nil
}

// crashHook, when set (by tests only), is called at the points where a crash
// matters: "enqueued" (stored, not sent), "sent" (accepted by the
// homeserver, not yet recorded).
var crashHook func(point string)

func crashPoint(point string) {
	if crashHook != nil {
		crashHook(point)
	}
}
