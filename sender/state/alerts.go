package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AlertRef names one alert's life in one room.
type AlertRef struct {
	Source, Alert, Room string
}

// Alert is what is kept of an alert's life in a room: its root and latest
// events, and (for edits) what the root was sent with and shows now, in the
// caller's encoding.
type Alert struct {
	Root, Latest         string
	RootContent, Content []byte
	Created, Updated     time.Time
}

// Alert returns the life of ref if one is recorded and was updated after
// notBefore.
func (d *DB) Alert(ctx context.Context, ref AlertRef, notBefore time.Time) (a Alert, ok bool, err error) {
	if c := d.held(ref.Room); c != nil {
		c.mu.Lock()
		p, primed := c.alerts[ref]
		c.mu.Unlock()
		if primed {
			if p == nil || p.Updated.Before(notBefore) {
				return Alert{}, false, nil
			}
			return *p, true, nil
		}
	}
	err = d.read(ctx, func(tx txn) error {
		a, ok, err = readAlert(tx, ref, notBefore)
		return err
	})
	if err != nil {
		return Alert{}, false, fmt.Errorf("state: alert: %w", err)
	}
	return a, ok, nil
}

// PrimeAlerts reads, in one read transaction, the lives of those of refs
// whose room this process holds a claim on, and keeps them with the claim:
// Alert answers from there while it is held, and the claim's alert writes
// keep them current. What a claim read stays true while it is held, for
// the claim serialises the sends, and so the writes, of its room's alerts
// across processes. This is for a fan-out: its rooms' alerts are read
// before it starts, instead of one room's send after another's, taking
// turns on the connection.
func (d *DB) PrimeAlerts(ctx context.Context, refs []AlertRef, notBefore time.Time) error {
	claims := map[AlertRef]*Claim{}
	for _, ref := range refs {
		if c := d.held(ref.Room); c != nil {
			claims[ref] = c
		}
	}
	if len(claims) == 0 {
		return nil
	}
	read := map[AlertRef]*Alert{}
	err := d.read(ctx, func(tx txn) error {
		// One snapshot, and one taking of SQLite's read lock for them all.
		if _, err := tx.exec("BEGIN"); err != nil {
			return err
		}
		// Ended whatever becomes of ctx (the driver runs nothing with an
		// ended context): a connection left in the transaction would keep
		// its snapshot and fail every later write of the process.
		end := txn{ctx: context.WithoutCancel(ctx), d: d}
		for ref := range claims {
			a, ok, err := readAlert(tx, ref, notBefore)
			if err != nil {
				_, rerr := end.exec("ROLLBACK")
				return errors.Join(err, rerr)
			}
			if ok {
				read[ref] = &a
			} else {
				read[ref] = nil
			}
		}
		if _, err := end.exec("COMMIT"); err != nil {
			_, rerr := end.exec("ROLLBACK")
			return errors.Join(err, rerr)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: alerts: %w", err)
	}
	for ref, c := range claims {
		c.mu.Lock()
		if _, ok := c.alerts[ref]; !ok { // a write since is newer
			c.alerts[ref] = read[ref]
		}
		c.mu.Unlock()
	}
	return nil
}

// readAlert reads the life of ref in tx (see Alert).
func readAlert(tx txn, ref AlertRef, notBefore time.Time) (a Alert, ok bool, err error) {
	var created, updated int64
	err = tx.queryRow(`SELECT root, latest, root_content, content, created, updated FROM alerts
		WHERE source = ? AND alert = ? AND room = ? AND updated >= ?`, ref.Source, ref.Alert, ref.Room, unixNano(notBefore)).
		Scan(&a.Root, &a.Latest, &a.RootContent, &a.Content, &created, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Alert{}, false, nil
	case err != nil:
		return Alert{}, false, err
	}
	a.Created, a.Updated = fromUnixNano(created), fromUnixNano(updated)
	return a, true, nil
}

// PutAlert records the life of ref (see alertWrite).
func (d *DB) PutAlert(ctx context.Context, ref AlertRef, a Alert) error {
	return d.alertWrite(ref, &a, func(tx txn) error {
		_, err := tx.exec(`INSERT OR REPLACE INTO alerts (source, alert, room, root, latest, root_content, content, created, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, ref.Source, ref.Alert, ref.Room, a.Root, a.Latest, a.RootContent, a.Content,
			unixNano(a.Created), unixNano(a.Updated))
		return err
	})
}

// DeleteAlert forgets the life of ref (it was resolved; see alertWrite).
func (d *DB) DeleteAlert(ctx context.Context, ref AlertRef) error {
	return d.alertWrite(ref, nil, func(tx txn) error {
		_, err := tx.exec("DELETE FROM alerts WHERE source = ? AND alert = ? AND room = ?", ref.Source, ref.Alert, ref.Room)
		return err
	})
}

// alertWrite runs f, which makes the life of ref a (nil: none), in a write
// transaction. An alert changes as an event of
// its life is sent (LifecycleTransport), which, while this process holds a
// claim of its room, is under that claim: f then joins the claim's next
// record, the send's, one transaction instead of two. Its error is that
// record's (package sender logs it), and a process killed between the send
// and that record loses both, as it would the send's record alone: the
// next attempt finds the event in the room, and the alert's next
// transition is posted on its own. What the claim primed of ref becomes a.
func (d *DB) alertWrite(ref AlertRef, a *Alert, f func(tx txn) error) error {
	if c := d.held(ref.Room); c != nil && c.join(ref, a, f) {
		return nil
	}
	if err := d.write(f); err != nil {
		return fmt.Errorf("state: alert: %w", err)
	}
	return nil
}

// PruneAlerts forgets every life not updated since forgetBefore, and
// returns how many. Most calls find none, which a read tells cheaper than a
// write transaction.
func (d *DB) PruneAlerts(ctx context.Context, forgetBefore time.Time) (int, error) {
	var n int64
	err := d.read(ctx, func(tx txn) error {
		return tx.queryRow("SELECT count(*) FROM alerts WHERE updated < ?", unixNano(forgetBefore)).Scan(&n)
	})
	if err != nil || n == 0 {
		return 0, err
	}
	err = d.write(func(tx txn) error {
		res, err := tx.exec("DELETE FROM alerts WHERE updated < ?", unixNano(forgetBefore))
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("state: alert: %w", err)
	}
	return int(n), nil
}
