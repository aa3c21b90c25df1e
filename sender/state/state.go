// Package state is matrix-notify's persistent state: one SQLite file per
// state directory (FileName), shared by every invocation. It holds
//
//   - the outbox: messages not yet delivered, one FIFO per (scope, room),
//     scope being the account whose txn ids they carry;
//   - the record of what was delivered (room, txn id, event id), kept for a
//     bounded time, so that a message re-sent by a re-run of the same alarm,
//     or by a process that died between the send and its record, is not
//     posted twice whatever the homeserver remembers of its txn ids;
//   - the alert threads: per (source, alert, room), the events of an
//     alert's life, so that its updates relate to the event that raised it.
//
// It knows nothing of Matrix: a message is stored as the bytes its caller
// gives (package sender's JSON). It never holds the access token.
//
// Concurrency. netdata starts one process per alarm, dozens at once, and a
// Kuma receiver may run beside them. The database is in WAL mode (readers
// never block the writer) with a busy timeout, and every transaction begins
// IMMEDIATE (it takes the write lock first, so two read-then-write
// transactions never deadlock and fail with SQLITE_BUSY). Transactions are
// short: none is held across a network request.
//
// Delivery to a room is serialised across processes by a claim: a row of
// the claims table naming its owner (this process's pid and a token unique
// to the claim) and a lease. Claim waits, polling, until the room is free:
// no claim, or one whose lease ran out, or one whose owner process is gone
// (a process killed mid-send frees its rooms at once, as a flock would).
// The holder extends the lease with every change it records, and each of
// those changes first checks that the claim is still its own
// (ErrClaimLost otherwise), so a holder that overran its lease can never
// record over its successor. A claim rather than a transaction held across
// the sends: SQLite has one write lock for the whole file, which would
// serialise every room of every process.
//
// Durability: synchronous=NORMAL in WAL mode, so a commit survives the
// process (kill -9, OOM, a timeout) at no fsync; Checkpoint syncs what is
// committed, for what stays queued to survive a power loss too.
package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// FileName is the database's name in the state directory.
const FileName = "matrix-notify.db"

// busyTimeout is how long a statement waits for another process's write
// transaction before it fails with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// schemaVersion is PRAGMA user_version once the schema below is in place.
const schemaVersion = 1

const schema = `
CREATE TABLE outbox (
	id           INTEGER PRIMARY KEY AUTOINCREMENT, -- enqueue order, never reused
	scope        TEXT NOT NULL,
	room         TEXT NOT NULL,
	txn_id       TEXT NOT NULL,
	alert_key    TEXT NOT NULL,
	summary      TEXT NOT NULL,
	message      BLOB NOT NULL,
	enqueued     INTEGER NOT NULL,           -- unix ns
	pid          INTEGER NOT NULL,           -- the process that enqueued it
	attempts     INTEGER NOT NULL DEFAULT 0, -- failed HTTP requests so far
	last_attempt INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT NOT NULL DEFAULT '',
	started      INTEGER NOT NULL DEFAULT 0  -- unix ns: an attempt may have reached the server
);
CREATE INDEX outbox_room ON outbox (scope, room, id);
CREATE TABLE claims (
	scope TEXT NOT NULL,
	room  TEXT NOT NULL,
	owner TEXT NOT NULL,    -- pid:token
	pid   INTEGER NOT NULL,
	until INTEGER NOT NULL, -- unix ns
	PRIMARY KEY (scope, room)
) WITHOUT ROWID;
CREATE TABLE delivered (
	scope     TEXT NOT NULL,
	room      TEXT NOT NULL,
	txn_id    TEXT NOT NULL,
	event_id  TEXT NOT NULL,
	alert_key TEXT NOT NULL,
	at        INTEGER NOT NULL, -- unix ns
	PRIMARY KEY (scope, room, txn_id)
) WITHOUT ROWID;
CREATE INDEX delivered_at ON delivered (at);
CREATE TABLE alerts (
	source       TEXT NOT NULL,
	alert        TEXT NOT NULL,
	room         TEXT NOT NULL,
	root         TEXT NOT NULL,
	latest       TEXT NOT NULL,
	root_content BLOB,
	content      BLOB,
	created      INTEGER NOT NULL,
	updated      INTEGER NOT NULL,
	PRIMARY KEY (source, alert, room)
) WITHOUT ROWID;
CREATE INDEX alerts_updated ON alerts (updated);
`

// Options configure a DB. The zero value is usable.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DB is the state database of one state directory. Safe for concurrent use.
type DB struct {
	db   *sql.DB
	path string
	now  func() time.Time
	pid  int
}

// Open opens, creating it (0600, its directory 0700) if needed, the state
// database in dir.
func Open(ctx context.Context, dir string, opts Options) (*DB, error) {
	path := filepath.Join(dir, FileName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	// Created here, not by SQLite, for its mode: SQLite's follows the umask.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	f.Close()
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds())} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("state: %s: %w", path, err)
	}
	d := &DB{db: sdb, path: path, now: opts.Now, pid: os.Getpid()}
	if d.now == nil {
		d.now = time.Now
	}
	if err := d.migrate(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("state: %s: %w", path, err)
	}
	return d, nil
}

// migrate creates the schema in a new database.
func (d *DB) migrate(ctx context.Context) error {
	var v int
	if err := d.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v == schemaVersion {
		return nil
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		// Again under the write lock: another process may have won the race.
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return err
		}
		switch v {
		case schemaVersion:
			return nil
		case 0:
		default:
			return fmt.Errorf("schema version %d is not one this matrix-notify knows (%d): written by a newer version?", v, schemaVersion)
		}
		if _, err := tx.ExecContext(ctx, schema); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
		return err
	})
}

// Path is the database file.
func (d *DB) Path() string { return d.path }

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Checkpoint copies what is committed into the database file and syncs it,
// so that it survives a power loss (a commit alone survives the process).
// Best effort: readers still at older data keep part of the log.
func (d *DB) Checkpoint(ctx context.Context) error {
	_, err := d.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	return err
}

// tx runs f in a transaction (IMMEDIATE: see the package comment),
// committing if it returns nil.
func (d *DB) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
