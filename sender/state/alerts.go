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
	var created, updated int64
	err = d.read(ctx, func(tx txn) error {
		return tx.queryRow(`SELECT root, latest, root_content, content, created, updated FROM alerts
			WHERE source = ? AND alert = ? AND room = ? AND updated >= ?`, ref.Source, ref.Alert, ref.Room, unixNano(notBefore)).
			Scan(&a.Root, &a.Latest, &a.RootContent, &a.Content, &created, &updated)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Alert{}, false, nil
	case err != nil:
		return Alert{}, false, fmt.Errorf("state: alert: %w", err)
	}
	a.Created, a.Updated = fromUnixNano(created), fromUnixNano(updated)
	return a, true, nil
}

// PutAlert records the life of ref (see alertWrite).
func (d *DB) PutAlert(ctx context.Context, ref AlertRef, a Alert) error {
	return d.alertWrite(ref, func(tx txn) error {
		_, err := tx.exec(`INSERT OR REPLACE INTO alerts (source, alert, room, root, latest, root_content, content, created, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, ref.Source, ref.Alert, ref.Room, a.Root, a.Latest, a.RootContent, a.Content,
			unixNano(a.Created), unixNano(a.Updated))
		return err
	})
}

// DeleteAlert forgets the life of ref (it was resolved; see alertWrite).
func (d *DB) DeleteAlert(ctx context.Context, ref AlertRef) error {
	return d.alertWrite(ref, func(tx txn) error {
		_, err := tx.exec("DELETE FROM alerts WHERE source = ? AND alert = ? AND room = ?", ref.Source, ref.Alert, ref.Room)
		return err
	})
}

// alertWrite runs f in a write transaction. An alert changes as an event of
// its life is sent (LifecycleTransport), which, while this process holds a
// claim of its room, is under that claim: f then joins the claim's next
// record, the send's, one transaction instead of two. Its error is that
// record's (package sender logs it), and a process killed between the send
// and that record loses both, as it would the send's record alone: the
// next attempt finds the event in the room, and the alert's next
// transition is posted on its own.
func (d *DB) alertWrite(ref AlertRef, f func(tx txn) error) error {
	d.claimsMu.Lock()
	c := d.claims[ref.Room]
	d.claimsMu.Unlock()
	if c != nil && c.join(f) {
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
