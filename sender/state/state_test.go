package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func openTest(t *testing.T, dir string, now func() time.Time) *DB {
	t.Helper()
	d, err := Open(context.Background(), dir, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	d := openTest(t, dir, nil)
	if d.Path() != filepath.Join(dir, FileName) {
		t.Errorf("path %s", d.Path())
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, d.Path(): 0o600} {
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", path, info.Mode().Perm(), err, want)
		}
	}
	var mode string
	if err := d.conn.QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q %v", mode, err)
	}
	// A second open of an existing database, and a database from the future.
	openTest(t, dir, nil)
	if _, err := d.conn.ExecContext(context.Background(), "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), dir, Options{}); err == nil || !strings.Contains(err.Error(), "newer version") {
		t.Errorf("schema 99: %v", err)
	}
}

func TestEnqueueDelivered(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := openTest(t, t.TempDir(), func() time.Time { return now })
	es := []Entry{{Room: "!a", TxnID: "t1", Message: []byte("{}")}, {Room: "!a", TxnID: "t2", Message: []byte("{}")}}
	ids, delivered, _, err := d.Enqueue(ctx, "hs", es, time.Time{}, 0)
	if err != nil || ids[0] == 0 || ids[1] <= ids[0] || delivered[0] != "" {
		t.Fatalf("enqueue %v %v %v", ids, delivered, err)
	}
	c, got, err := d.Claim(ctx, "hs", "!a", time.Minute)
	if err != nil || len(got) != 2 || got[0].TxnID != "t1" || !got[0].Started.IsZero() {
		t.Fatalf("claim %+v %v", got, err)
	}
	if err := c.Sent(ids[0], "t1", "", "$e1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	// The untried entry got its started mark back; the sent one is gone
	// and remembered.
	q, _ := d.Queued(ctx, "hs")
	if len(q) != 1 || q[0].TxnID != "t2" || !q[0].Started.IsZero() {
		t.Errorf("queued %+v", q)
	}
	ids, delivered, _, err = d.Enqueue(ctx, "hs", es[:1], time.Time{}, 0)
	if err != nil || ids[0] != 0 || delivered[0] != "$e1" {
		t.Errorf("re-enqueue %v %v %v", ids, delivered, err)
	}
	if ids, delivered, _, _ = d.Enqueue(ctx, "other", es[:1], time.Time{}, 0); ids[0] == 0 || delivered[0] != "" {
		t.Errorf("another scope saw the delivery: %v %v", ids, delivered)
	}
	// Forgotten past its lifetime.
	now = now.Add(time.Hour)
	if ids, delivered, _, _ = d.Enqueue(ctx, "hs", es[:1], now.Add(-time.Minute), 0); ids[0] == 0 || delivered[0] != "" {
		t.Errorf("an expired delivery was remembered: %v %v", ids, delivered)
	}
	// The records past it are deleted every pruneEvery entries queued.
	many := make([]Entry, pruneEvery)
	for i := range many {
		many[i] = Entry{Room: "!b", TxnID: fmt.Sprint("m", i), Message: []byte("{}")}
	}
	if _, _, _, err := d.Enqueue(ctx, "hs", many, now.Add(-time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.conn.QueryRowContext(ctx, "SELECT count(*) FROM delivered").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d deliveries kept past their lifetime (%v)", n, err)
	}
}

func TestClaim(t *testing.T) {
	ctx := context.Background()
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	dir := t.TempDir()
	a, b := openTest(t, dir, clock), openTest(t, dir, clock)
	if _, _, _, err := a.Enqueue(ctx, "hs", []Entry{{Room: "!r", TxnID: "t", Message: []byte("{}")}}, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	ca, es, err := a.Claim(ctx, "hs", "!r", time.Minute)
	if err != nil || len(es) != 1 {
		t.Fatal(es, err)
	}

	// Held: another claim (even in this process) waits until its context ends.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := b.Claim(short, "hs", "!r", time.Minute); err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "another matrix-notify") {
		t.Errorf("claim of a held room: %v", err)
	}
	// Other rooms and scopes are free.
	if c, _, err := b.Claim(ctx, "hs", "!other", time.Minute); err != nil {
		t.Error(err)
	} else {
		c.Release()
	}
	// Past its lease the room is taken over, and the first holder finds out.
	now.Add(int64(2 * time.Minute))
	cb, es, err := b.Claim(ctx, "hs", "!r", time.Minute)
	if err != nil || len(es) != 1 || es[0].Started.IsZero() {
		t.Fatalf("takeover: %+v %v (the first claim marked the entry started)", es, err)
	}
	if err := ca.Sent(es[0].ID, "t", "", "$e"); !errors.Is(err, ErrClaimLost) {
		t.Errorf("sent under a lost claim: %v", err)
	}
	if err := ca.Release(); err != nil {
		t.Error(err)
	}
	if err := cb.Failed(es[0].ID, 3, "boom", false); err != nil {
		t.Error(err)
	}
	cb.Release()
	q, _ := a.Queued(ctx, "hs")
	if len(q) != 1 || q[0].Attempts != 3 || q[0].LastError != "boom" || !q[0].Started.IsZero() {
		t.Errorf("after a failure that did not arrive: %+v", q)
	}

	// A claim whose process is gone is free at once.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.conn.ExecContext(ctx, "INSERT INTO claims (scope, room, owner, pid, until) VALUES ('hs', '!r', 'x', ?, ?)",
		dead.Process.Pid, clock().Add(time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	if c, _, err := b.Claim(short, "hs", "!r", time.Minute); err != nil {
		t.Errorf("a dead process's claim: %v", err)
	} else {
		c.Release()
	}
}

// TestClaimExclusive: goroutines of two handles (as processes) claiming one
// room never hold it at once.
func TestClaimExclusive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbs := []*DB{openTest(t, dir, nil), openTest(t, dir, nil)}
	var holders, peak atomic.Int32
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 10 {
				c, _, err := dbs[g%2].Claim(ctx, "hs", "!r", time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if n := holders.Add(1); n > 1 {
					peak.Store(n)
				}
				time.Sleep(100 * time.Microsecond)
				holders.Add(-1)
				if err := c.Release(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if peak.Load() != 0 {
		t.Errorf("%d holders at once", peak.Load())
	}
}

// TestOpenStorm: many handles (as an alarm storm's processes) opening a new
// database at the same moment all open it: none fails with SQLITE_BUSY on
// the way (setting WAL mode, creating the schema).
func TestOpenStorm(t *testing.T) {
	const handles = 20
	for round := range 10 {
		dir := filepath.Join(t.TempDir(), "state")
		start := make(chan struct{})
		errs := make([]error, handles)
		var wg sync.WaitGroup
		for h := range handles {
			wg.Go(func() {
				<-start
				d, err := Open(context.Background(), dir, Options{})
				if err == nil {
					_, _, _, err = d.Enqueue(context.Background(), "hs", []Entry{{Room: "!r", TxnID: "t", Message: []byte("{}")}}, time.Time{}, 0)
					err = errors.Join(err, d.Close())
				}
				errs[h] = err
			})
		}
		close(start)
		wg.Wait()
		for h, err := range errs {
			if err != nil {
				t.Fatalf("round %d, handle %d: %v", round, h, err)
			}
		}
	}
}

// TestAlertUnderClaim: an alert written while this process holds a claim of
// its room is kept, whether the claim ends by a record or by Release.
func TestAlertUnderClaim(t *testing.T) {
	ctx := context.Background()
	d := openTest(t, t.TempDir(), nil)
	es := []Entry{{Room: "!a", TxnID: "t1", Message: []byte("{}")}, {Room: "!b", TxnID: "t2", Message: []byte("{}")}}
	ids, _, claimed, err := d.Enqueue(ctx, "hs", es, time.Time{}, time.Minute)
	if err != nil || len(claimed) != 2 {
		t.Fatal(claimed, err)
	}
	for _, room := range []string{"!a", "!b"} {
		if err := d.PutAlert(ctx, AlertRef{Source: "s", Alert: "x", Room: room}, Alert{Root: "$r" + room}); err != nil {
			t.Fatal(err)
		}
	}
	if err := claimed["!a"].Claim.Sent(ids[0], "t1", "", "$e"); err != nil {
		t.Fatal(err)
	}
	if err := claimed["!b"].Claim.Release(); err != nil {
		t.Fatal(err)
	}
	for _, room := range []string{"!a", "!b"} {
		if a, ok, err := d.Alert(ctx, AlertRef{Source: "s", Alert: "x", Room: room}, time.Time{}); err != nil || !ok || a.Root != "$r"+room {
			t.Errorf("%s: %+v %v %v", room, a, ok, err)
		}
	}
}

// TestCloseCheckpoints: Close leaves no log behind (every statement is
// finalized, so SQLite closes the connection, checkpointing as it does): the
// next process finds everything in the database file.
func TestCloseCheckpoints(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := d.Enqueue(context.Background(), "hs", []Entry{{Room: "!r", TxnID: "t", Message: []byte("{}")}}, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Path() + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the log is still there after Close: %v", err)
	}
}
