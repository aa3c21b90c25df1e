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
// short: none is held across a network request. Within a process, writes
// are group-committed: what the goroutines of a fan-out record while a
// transaction commits goes into the next one, and an alert's change joins
// the record of the send it follows (see alertWrite). The pages each
// transaction touches, each written to the log, and the statements, each
// parsed once per process, are what an alarm's share of the store costs.
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
	"sync"
	"time"

	"modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
	sqlite3 "modernc.org/sqlite/lib"
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
//
// It uses one connection, kept for its life, with its statements prepared
// once (parsing is most of what a statement costs in this driver): this
// process's transactions queue and batch here (see write) instead of
// meeting SQLite's busy handler, which sleeps between tries; other
// processes still do. mu serialises the connection's use; transactions are
// begun and ended by statement on it.
type DB struct {
	db   *sql.DB
	conn *sql.Conn
	path string
	now  func() time.Time
	pid  int

	mu    sync.Mutex
	stmts map[string]*sql.Stmt

	claimsMu sync.Mutex
	claims   map[string]*Claim // see holding

	// The group commit (see write).
	batchMu  sync.Mutex
	pending  []*writeOp
	batching bool
}

// writeOp is one caller's part of a batched transaction.
type writeOp struct {
	f    func(tx txn) error
	done chan error
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
	// The driver sets the busy timeout first, for it to be in effect for
	// every statement after it. WAL mode is set by migrate.
	dsn := fmt.Sprintf("file:%s?_busy_timeout=%d&_synchronous=NORMAL", (&url.URL{Path: path}).EscapedPath(), busyTimeout.Milliseconds())
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("state: %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(1)
	d := &DB{db: sdb, path: path, now: opts.Now, pid: os.Getpid(), stmts: map[string]*sql.Stmt{}, claims: map[string]*Claim{}}
	if d.now == nil {
		d.now = time.Now
	}
	if d.conn, err = sdb.Conn(ctx); err == nil {
		err = d.migrate(ctx)
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("state: %s: %w", path, err)
	}
	return d, nil
}

// setWAL puts the database in WAL mode.
//
// The switch reads the database's header, then writes it: two processes
// switching a new database at the same moment (an alarm storm opens dozens
// at once) may each hold the read lock and want the write lock, a deadlock
// SQLite breaks by failing one at once with SQLITE_BUSY, its busy handler
// uncalled. That one lets go of its read lock by failing, so trying again
// soon finds the other's switch done.
func (d *DB) setWAL(ctx context.Context) error {
	deadline := time.Now().Add(busyTimeout)
	for try := 1; ; try++ {
		var mode string
		err := d.conn.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		switch {
		case err == nil && mode == "wal":
			return nil
		case err == nil:
			return fmt.Errorf("journal mode %q, not WAL", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return fmt.Errorf("setting WAL mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("setting WAL mode: %w", ctx.Err())
		case <-time.After(time.Duration(min(try, 20)) * time.Millisecond):
		}
	}
}

// isBusy reports whether err is SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// migrate puts a new database in WAL mode and creates its schema. A
// database with the schema is in WAL mode already: the mode is kept in the
// file, set before the schema.
func (d *DB) migrate(ctx context.Context) error {
	var v int
	if err := d.conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v == schemaVersion {
		return err
	}
	if err := d.setWAL(ctx); err != nil {
		return err
	}
	return d.write(func(tx txn) error {
		// Again under the write lock: another process may have won the race.
		if err := tx.queryRow("PRAGMA user_version").Scan(&v); err != nil {
			return err
		}
		switch v {
		case schemaVersion:
			return nil
		case 0:
		default:
			return fmt.Errorf("schema version %d is not one this matrix-notify knows (%d): written by a newer version?", v, schemaVersion)
		}
		if _, err := d.conn.ExecContext(tx.ctx, schema); err != nil {
			return err
		}
		_, err := d.conn.ExecContext(tx.ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
		return err
	})
}

// Path is the database file.
func (d *DB) Path() string { return d.path }

// Close closes the database. The statements first: database/sql leaves
// those of a Conn open, and SQLite closes a connection with open statements
// only once they are (until then its log is neither checkpointed nor
// removed).
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, st := range d.stmts {
		errs = append(errs, st.Close())
	}
	if d.conn != nil {
		errs = append(errs, d.conn.Close())
	}
	return errors.Join(append(errs, d.db.Close())...)
}

// Checkpoint copies what is committed into the database file and syncs it,
// so that it survives a power loss (a commit alone survives the process).
// Best effort: readers still at older data keep part of the log.
func (d *DB) Checkpoint(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.conn.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	return err
}

// stmtLocked returns the prepared statement of query; d.mu is held.
func (d *DB) stmtLocked(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := d.stmts[query]; st != nil {
		return st, nil
	}
	st, err := d.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	d.stmts[query] = st
	return st, nil
}

// read runs f with the connection, outside a transaction.
func (d *DB) read(ctx context.Context, f func(tx txn) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return f(txn{ctx: ctx, d: d})
}

// txn is the connection as a read, or a write transaction's part of a
// batch, sees it; d.mu is held.
type txn struct {
	ctx context.Context
	d   *DB
}

func (t txn) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.d.stmtLocked(t.ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t txn) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.d.stmtLocked(t.ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

// errRow is a Row-like result for a statement that did not prepare.
type row interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (t txn) queryRow(query string, args ...any) row {
	st, err := t.d.stmtLocked(t.ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(t.ctx, args...)
}

// write runs f in a write transaction, committed before it returns: f's
// error, or the commit's. Calls that arrive while a transaction is under
// way share the next one (a group commit). Should one of them fail, the
// transaction is rolled back and each is run again on its own, so that one
// failing leaves the others be. The transaction does not end with any
// caller's context: it is bounded by the busy timeout.
func (d *DB) write(f func(tx txn) error) error {
	op := &writeOp{f: f, done: make(chan error, 1)}
	d.batchMu.Lock()
	d.pending = append(d.pending, op)
	if d.batching {
		d.batchMu.Unlock()
		return <-op.done
	}
	d.batching = true
	for len(d.pending) > 0 {
		batch := d.pending
		d.pending = nil
		d.batchMu.Unlock()
		if err := d.runBatch(batch); err != nil && len(batch) > 1 {
			for _, op := range batch {
				op.done <- d.runBatch([]*writeOp{op})
			}
		} else {
			for _, op := range batch {
				op.done <- err
			}
		}
		d.batchMu.Lock()
	}
	d.batching = false
	d.batchMu.Unlock()
	return <-op.done
}

// runBatch runs ops in one transaction.
func (d *DB) runBatch(ops []*writeOp) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*busyTimeout)
	defer cancel()
	d.mu.Lock()
	defer d.mu.Unlock()
	t := txn{ctx: ctx, d: d}
	if _, err := t.exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	// Ended even once ctx has (the driver runs nothing with an ended
	// context): a connection left in the transaction would keep the
	// database's write lock from every other process.
	end := txn{ctx: context.WithoutCancel(ctx), d: d}
	for _, op := range ops {
		if err := op.f(t); err != nil {
			_, rerr := end.exec("ROLLBACK")
			return errors.Join(err, rerr)
		}
	}
	if _, err := t.exec("COMMIT"); err != nil {
		_, rerr := end.exec("ROLLBACK")
		return errors.Join(err, rerr)
	}
	return nil
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
