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
	err = d.db.QueryRowContext(ctx, `SELECT root, latest, root_content, content, created, updated FROM alerts
		WHERE source = ? AND alert = ? AND room = ? AND updated >= ?`, ref.Source, ref.Alert, ref.Room, unixNano(notBefore)).
		Scan(&a.Root, &a.Latest, &a.RootContent, &a.Content, &created, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Alert{}, false, nil
	case err != nil:
		return Alert{}, false, fmt.Errorf("state: alert: %w", err)
	}
	a.Created, a.Updated = fromUnixNano(created), fromUnixNano(updated)
	return a, true, nil
}

// PutAlert records the life of ref, and forgets every life not updated
// since forgetBefore.
func (d *DB) PutAlert(ctx context.Context, ref AlertRef, a Alert, forgetBefore time.Time) error {
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM alerts WHERE updated < ?", unixNano(forgetBefore)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO alerts (source, alert, room, root, latest, root_content, content, created, updated)
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
	if _, err := d.db.ExecContext(ctx, "DELETE FROM alerts WHERE source = ? AND alert = ? AND room = ?", ref.Source, ref.Alert, ref.Room); err != nil {
		return fmt.Errorf("state: alert: %w", err)
	}
	return nil
}

// PruneAlerts forgets every life not updated since forgetBefore, and
// returns how many.
func (d *DB) PruneAlerts(ctx context.Context, forgetBefore time.Time) (int, error) {
	res, err := d.db.ExecContext(ctx, "DELETE FROM alerts WHERE updated < ?", unixNano(forgetBefore))
	if err != nil {
		return 0, fmt.Errorf("state: alert: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
