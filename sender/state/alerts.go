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

// PutAlert records the life of ref.
func (d *DB) PutAlert(ctx context.Context, ref AlertRef, a Alert) error {
	err := d.write(func(tx txn) error {
		_, err := tx.exec(`INSERT OR REPLACE INTO alerts (source, alert, room, root, latest, root_content, content, created, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, ref.Source, ref.Alert, ref.Room, a.Root, a.Latest, a.RootContent, a.Content,
			unixNano(a.Created), unixNano(a.Updated))
		return err
	})
	if err != nil {
		return fmt.Errorf("state: alert: %w", err)
	}
	return nil
}

// DeleteAlert forgets the life of ref (it was resolved).
func (d *DB) DeleteAlert(ctx context.Context, ref AlertRef) error {
	err := d.write(func(tx txn) error {
		_, err := tx.exec("DELETE FROM alerts WHERE source = ? AND alert = ? AND room = ?", ref.Source, ref.Alert, ref.Room)
		return err
	})
	if err != nil {
		return fmt.Errorf("state: alert: %w", err)
	}
	return nil
}

// PruneAlerts forgets every life not updated since forgetBefore, and
// returns how many.
func (d *DB) PruneAlerts(ctx context.Context, forgetBefore time.Time) (int, error) {
	var n int64
	err := d.write(func(tx txn) error {
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
