package state

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"time"
)

// Entry is one queued message.
type Entry struct {
	ID       int64 // enqueue order within the database
	Room     string
	TxnID    string
	AlertKey string
	Summary  string
	Message  []byte // the caller's encoding
	Enqueued time.Time
	// Attempts counts failed HTTP requests so far; LastAttempt and
	// LastError describe the last failure.
	Attempts    int
	LastAttempt time.Time
	LastError   string
	// Started is set when an attempt began and its outcome is unknown (the
	// process died during it, or the request got no answer): it may have
	// reached the homeserver, and the sender should look before resending.
	Started time.Time
	// DeliveredEvent is the event of an earlier delivery of the same room
	// and txn id, when one is recorded: the entry must not be sent again.
	DeliveredEvent string
}

// ErrClaimLost is returned by a Claim's methods once another owner took the
// room over (this one overran its lease).
var ErrClaimLost = errors.New("the room was taken over by another matrix-notify (this one overran its lease)")

// pruneEvery is how often, in entries queued, Enqueue prunes the record of
// deliveries.
const pruneEvery = 64

// Claimed is a room that Enqueue claimed, and its entries (see Claim).
type Claimed struct {
	Claim   *Claim
	Entries []Entry
}

// Enqueue appends es (their ID, Enqueued and delivery fields are set here)
// to their rooms' queues in scope, in order, in one transaction, and
// returns their ids. An entry whose room and txn id were delivered at or
// after forgetBefore is not queued: its id is 0 and delivered[i] the
// recorded event. Every pruneEvery ids it also deletes the older records
// (not on every call: that would be a statement more for every alarm).
// With a lease, it claims in the same transaction the rooms of the queued
// entries that are free (see Claim); the others are for Claim to wait for.
func (d *DB) Enqueue(ctx context.Context, scope string, es []Entry, forgetBefore time.Time, lease time.Duration) (ids []int64, delivered []string, claimed map[string]Claimed, err error) {
	err = d.write(func(tx txn) error {
		ids, delivered, claimed = make([]int64, len(es)), make([]string, len(es)), map[string]Claimed{}
		now := d.now()
		var rooms []string
		seen := map[string]bool{}
		prune := false
		for i, e := range es {
			// One statement for the usual case, a message never delivered.
			err := tx.queryRow(`INSERT INTO outbox (scope, room, txn_id, alert_key, summary, message, enqueued, pid)
				SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE NOT EXISTS
				(SELECT 1 FROM delivered WHERE scope = ?1 AND room = ?2 AND txn_id = ?3 AND at >= ?9) RETURNING id`,
				scope, e.Room, e.TxnID, e.AlertKey, e.Summary, e.Message, now.UnixNano(), d.pid, unixNano(forgetBefore)).Scan(&ids[i])
			if errors.Is(err, sql.ErrNoRows) {
				if err := tx.queryRow(selectDelivered, scope, e.Room, e.TxnID).Scan(&delivered[i]); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			prune = prune || ids[i]%pruneEvery == 0
			if !seen[e.Room] {
				seen[e.Room] = true
				rooms = append(rooms, e.Room)
			}
		}
		if prune {
			if _, err := tx.exec("DELETE FROM delivered WHERE at < ?", unixNano(forgetBefore)); err != nil {
				return err
			}
		}
		if lease <= 0 {
			return nil
		}
		for _, room := range rooms {
			c := d.newClaim(scope, room, lease)
			es, ok, err := c.try(tx, now)
			if err != nil {
				return err
			}
			if ok {
				claimed[room] = Claimed{Claim: c, Entries: es}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("state: queueing: %w", err)
	}
	for _, cl := range claimed {
		d.holding(cl.Claim, true)
	}
	return ids, delivered, claimed, nil
}

const selectDelivered = "SELECT event_id FROM delivered WHERE scope = ? AND room = ? AND txn_id = ?"

// DeliveredEvent returns the event recorded for room and txnID in scope,
// "" if none.
func (d *DB) DeliveredEvent(ctx context.Context, scope, room, txnID string) (string, error) {
	var ev string
	err := d.read(ctx, func(tx txn) error {
		return tx.queryRow(selectDelivered, scope, room, txnID).Scan(&ev)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("state: %w", err)
	}
	return ev, nil
}

// Rooms returns the rooms of scope that have queued entries. It reads them
// as Queued does (Flush reads both): one statement the fewer to prepare.
func (d *DB) Rooms(ctx context.Context, scope string) ([]string, error) {
	es, err := d.Queued(ctx, scope)
	var rooms []string
	for _, e := range es {
		if len(rooms) == 0 || rooms[len(rooms)-1] != e.Room {
			rooms = append(rooms, e.Room)
		}
	}
	return rooms, err
}

// Queued returns the entries of scope, by room, oldest first within a
// room: a snapshot, for a listing.
func (d *DB) Queued(ctx context.Context, scope string) ([]Entry, error) {
	var es []Entry
	err := d.read(ctx, func(tx txn) (err error) {
		es, err = scanEntries(tx.query(selectEntries+"WHERE o.scope = ? ORDER BY o.room, o.id", scope))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return es, nil
}

const selectEntries = `SELECT o.id, o.room, o.txn_id, o.alert_key, o.summary, o.message, o.enqueued,
		o.attempts, o.last_attempt, o.last_error, o.started, COALESCE(d.event_id, '')
		FROM outbox o LEFT JOIN delivered d ON d.scope = o.scope AND d.room = o.room AND d.txn_id = o.txn_id `

func scanEntries(rows *sql.Rows, err error) ([]Entry, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var enq, last, started int64
		if err := rows.Scan(&e.ID, &e.Room, &e.TxnID, &e.AlertKey, &e.Summary, &e.Message, &enq,
			&e.Attempts, &last, &e.LastError, &started, &e.DeliveredEvent); err != nil {
			return nil, err
		}
		e.Enqueued, e.LastAttempt, e.Started = fromUnixNano(enq), fromUnixNano(last), fromUnixNano(started)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Claim is this process's exclusive right to deliver one room's entries
// (see the package comment). Its methods are safe for concurrent use.
type Claim struct {
	d                  *DB
	scope, room, owner string
	lease              time.Duration

	mu sync.Mutex
	// prev holds the Started of each entry as read by Claim, which marks
	// them all started; Release restores it for those never tried.
	prev  map[int64]int64
	tried map[int64]bool
	// later holds the alert writes that wait for the claim's next record
	// (see alertWrite); ending is set once the last record is under way.
	later            []func(tx txn) error
	ending, released bool
}

func (d *DB) newClaim(scope, room string, lease time.Duration) *Claim {
	return &Claim{d: d, scope: scope, room: room, owner: fmt.Sprintf("%d:%s", d.pid, token()), lease: lease,
		prev: map[int64]int64{}, tried: map[int64]bool{}}
}

// holding keeps the claims this process holds, by room, for alertWrite.
func (d *DB) holding(c *Claim, held bool) {
	d.claimsMu.Lock()
	defer d.claimsMu.Unlock()
	if held {
		d.claims[c.room] = c
	} else if d.claims[c.room] == c {
		delete(d.claims, c.room)
	}
}

// join defers f to the claim's next record, unless its last one is under
// way.
func (c *Claim) join(f func(tx txn) error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ending || c.released {
		return false
	}
	c.later = append(c.later, f)
	return true
}

// Claim waits until the room of scope is free, claims it for lease, and
// returns its entries, oldest first. Every entry is marked started (the
// caller is about to send them: should it die, the next one looks before
// resending); Entry.Started holds the mark as it was before. Release ends
// the claim. The wait ends with ctx.
func (d *DB) Claim(ctx context.Context, scope, room string, lease time.Duration) (*Claim, []Entry, error) {
	c := d.newClaim(scope, room, lease)
	wait := time.Millisecond
	for {
		// Tried even once ctx has ended: a free room is claimed, and the
		// caller decides what to do with no time left.
		var es []Entry
		var ok bool
		err := d.write(func(tx txn) (err error) {
			es, ok, err = c.try(tx, d.now())
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("state: claiming %s: %w", room, err)
		}
		if ok {
			d.holding(c, true)
			return c, es, nil
		}
		// Polled: a few ms against sends of tens of ms; jittered so that
		// waiters do not move in step.
		t := time.NewTimer(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("another matrix-notify was still delivering to this room: %w", ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, 25*time.Millisecond)
	}
}

// try claims the room if it is free, reads its entries and marks them
// started, in tx.
func (c *Claim) try(tx txn, now time.Time) (es []Entry, ok bool, err error) {
	var pid int
	var until int64
	err = tx.queryRow("SELECT pid, until FROM claims WHERE scope = ? AND room = ?", c.scope, c.room).Scan(&pid, &until)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, false, err
	case until > now.UnixNano() && (pid == c.d.pid || processAlive(pid)):
		return nil, false, nil // held
	}
	if _, err := tx.exec("INSERT OR REPLACE INTO claims (scope, room, owner, pid, until) VALUES (?, ?, ?, ?, ?)",
		c.scope, c.room, c.owner, c.d.pid, now.Add(c.lease).UnixNano()); err != nil {
		return nil, false, err
	}
	if es, err = scanEntries(tx.query(selectEntries+"WHERE o.scope = ? AND o.room = ? ORDER BY o.id", c.scope, c.room)); err != nil {
		return nil, false, err
	}
	if _, err = tx.exec("UPDATE outbox SET started = ? WHERE scope = ? AND room = ?", now.UnixNano(), c.scope, c.room); err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	for _, e := range es {
		c.prev[e.ID] = unixNano(e.Started)
	}
	c.mu.Unlock()
	return es, true, nil
}

// Room is the claimed room.
func (c *Claim) Room() string { return c.room }

// record runs f for entry id, with the alert writes deferred to the claim,
// in one transaction, once it checked that the claim is still this one's
// (ErrClaimLost otherwise): the record of the room's last untried entry ends
// the claim, the others extend its lease.
func (c *Claim) record(id int64, f func(tx txn, now time.Time) error) error {
	c.mu.Lock()
	c.tried[id] = true
	final := len(c.tried) >= len(c.prev)
	c.ending = c.ending || final
	later := c.later
	c.later = nil
	c.mu.Unlock()
	err := c.d.write(func(tx txn) error {
		now := c.d.now()
		q := "UPDATE claims SET until = ? WHERE scope = ? AND room = ? AND owner = ?"
		args := []any{now.Add(c.lease).UnixNano(), c.scope, c.room, c.owner}
		if final {
			q, args = "DELETE FROM claims WHERE scope = ? AND room = ? AND owner = ?", args[1:]
		}
		res, err := tx.exec(q, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return cmp.Or(err, ErrClaimLost)
		}
		for _, g := range later {
			if err := g(tx); err != nil {
				return err
			}
		}
		return f(tx, now)
	})
	if err != nil {
		return fmt.Errorf("state: %s: %w", c.room, err)
	}
	if final {
		c.mu.Lock()
		c.released = true
		c.mu.Unlock()
		c.d.holding(c, false)
	}
	return nil
}

// Sent records that entry id was delivered as eventID: the entry leaves the
// queue and the delivery is recorded under its room and txn id.
func (c *Claim) Sent(id int64, txnID, alertKey, eventID string) error {
	return c.record(id, func(tx txn, now time.Time) error {
		if _, err := tx.exec("DELETE FROM outbox WHERE id = ?", id); err != nil {
			return err
		}
		_, err := tx.exec("INSERT OR REPLACE INTO delivered (scope, room, txn_id, event_id, alert_key, at) VALUES (?, ?, ?, ?, ?, ?)",
			c.scope, c.room, txnID, eventID, alertKey, now.UnixNano())
		return err
	})
}

// Failed records a failed delivery of entry id: attempts more failed
// requests, the last one's error, and whether it may have reached the
// homeserver all the same (no answer came).
func (c *Claim) Failed(id int64, attempts int, lastError string, inDoubt bool) error {
	keep := 0
	if inDoubt {
		keep = 1
	}
	return c.record(id, func(tx txn, now time.Time) error {
		// started stays as Claim set it when the attempt may have arrived.
		_, err := tx.exec("UPDATE outbox SET attempts = attempts + ?, last_attempt = ?, last_error = ?, started = started * ? WHERE id = ?",
			attempts, now.UnixNano(), lastError, keep, id)
		return err
	})
}

// Drop removes entry id undelivered (the caller says why).
func (c *Claim) Drop(id int64) error {
	return c.record(id, func(tx txn, _ time.Time) error {
		_, err := tx.exec("DELETE FROM outbox WHERE id = ?", id)
		return err
	})
}

// Release ends the claim (if the record of its last entry did not),
// restoring the started mark of the entries that were not tried, and writes
// the alert writes deferred to it unless another owner took the room over.
func (c *Claim) Release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return nil
	}
	c.released = true
	c.d.holding(c, false)
	err := c.d.write(func(tx txn) error {
		for id, prev := range c.prev {
			if c.tried[id] {
				continue
			}
			if _, err := tx.exec("UPDATE outbox SET started = ? WHERE id = ?", prev, id); err != nil {
				return err
			}
		}
		res, err := tx.exec("DELETE FROM claims WHERE scope = ? AND room = ? AND owner = ?", c.scope, c.room, c.owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err
		}
		for _, g := range c.later {
			if err := g(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: releasing %s: %w", c.room, err)
	}
	return nil
}

// token is unique to a claim: goroutines of one process exclude each other
// as processes do.
func token() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// processAlive reports whether process pid may still run. Where signal 0
// cannot tell (not Unix), it answers true: the lease decides.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH)
}

// Count is the number of entries queued for room in scope (rarely asked:
// after a claim that failed).
func (d *DB) Count(ctx context.Context, scope, room string) (int, error) {
	es, err := d.Queued(ctx, scope)
	n := 0
	for _, e := range es {
		if e.Room == room {
			n++
		}
	}
	return n, err
}
