package sender

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultMaxAge is how long an undelivered message is kept in the outbox. It
// matches how long Synapse remembers txn ids (about a day): a message re-sent
// later than that could be duplicated if an earlier attempt did arrive.
const DefaultMaxAge = 24 * time.Hour

// The outbox on disk, under the directory given to OpenOutbox:
//
//	inflight/<id>.json      the messages of one Deliver call in progress (a
//	                        journal), flock(2)ed by that call while it lives
//	rooms/<key>.lock        flock(2) target serialising delivery to one room
//	rooms/<key>/<id>.json   one queued message (an entry)
//	*/.tmp-*                a file being written (renamed into place when whole)
//	corrupt/<key>-<id>.json an entry (or inflight-<id>.json, a journal) that
//	                        could not be read, set aside
//
// key is the first 16 hex digits of sha256(room id). id is
// "<unix nanos, 20 digits>-<pid>-<counter>", so names sort in enqueue order.
const (
	inflightDirName = "inflight"
	roomsDirName    = "rooms"
	corruptDirName  = "corrupt"
	entryExt        = ".json"
	tmpPrefix       = ".tmp-"
	// leftoverAge is when an orphaned temp file is removed.
	leftoverAge  = time.Hour
	entryVersion = 1
)

// OutboxOptions configure an Outbox. The zero value is usable.
type OutboxOptions struct {
	// MaxAge drops entries queued longer than this, with an ERROR line;
	// 0 means DefaultMaxAge.
	MaxAge time.Duration
	// Log receives one line per message handled; nil discards.
	Log *slog.Logger
	// Now is the clock (enqueue time, age); nil means time.Now.
	Now func() time.Time
}

// Outbox is a crash-safe, multi-process queue of messages on disk, one FIFO
// per room. Every message is written before its first send attempt (in its
// call's journal, see Deliver) and removed only after the homeserver accepted
// it, so an invocation killed at any point loses nothing: the next one sends
// what is left, with the same txn id, and the homeserver answers a repeat
// with the first event.
//
// Durability against a power loss is bought only where it is needed: the
// journal of a Deliver call is written without fsync (the page cache survives
// the process; a kill, an OOM or a timeout cannot lose it), and a message is
// fsync'ed, file and directories, as soon as it stays queued (its attempt
// failed, the deadline came, an older entry blocks it). A machine that loses
// power during the one round trip of a first attempt can lose that message;
// the cost saved was a third of an exec's time (BENCHMARKS.md). Accept,
// which answers "stored" to a caller that then forgets the messages (serve's
// 202), syncs before it returns.
//
// Delivery to a room is serialised across processes by a lock. A room with
// queued entries is drained oldest first, stopping at the first failure, so
// a newer alert never overtakes a queued older one.
//
// An Outbox is safe for concurrent use, and any number of processes may share
// one directory.
type Outbox struct {
	dir, roomsDir string
	maxAge        time.Duration
	log           *slog.Logger
	now           func() time.Time

	// spare holds Accept's delivered journals, marked spare and still
	// locked, for the next Accept to reuse (see reuseJournal, done).
	spareMu sync.Mutex
	spare   []*journal
}

// OpenOutbox opens (creating it if needed) the outbox in dir.
func OpenOutbox(dir string, opts OutboxOptions) (*Outbox, error) {
	if !lockSupported {
		_, err := lockFile(context.Background(), "")
		return nil, err
	}
	o := &Outbox{
		dir:      dir,
		roomsDir: filepath.Join(dir, roomsDirName),
		maxAge:   cmp.Or(opts.MaxAge, DefaultMaxAge),
		log:      opts.Log,
		now:      opts.Now,
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	for _, dir := range []string{o.roomsDir, filepath.Join(dir, inflightDirName)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		// Fail now, not at the first alert, if it is not writable.
		if err := dirWritable(dir); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
	}
	return o, nil
}

// Dir is the directory the outbox lives in.
func (o *Outbox) Dir() string { return o.dir }

// outboxEntry is one queued message as stored.
type outboxEntry struct {
	Version  int       `json:"v"`
	Room     string    `json:"room"`
	TxnID    string    `json:"txn_id"`
	Summary  string    `json:"summary,omitempty"`
	Content  Content   `json:"content"`
	Enqueued time.Time `json:"enqueued"`
	// Attempts counts failed send attempts, retries included.
	Attempts    int       `json:"attempts,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Source, AlertKey and Phase let LifecycleTransport relate the message
	// when it is finally sent (a raise queued while the homeserver was down
	// still becomes its alert's root).
	Source   string `json:"source,omitempty"`
	AlertKey string `json:"alert_key,omitempty"`
	Phase    Phase  `json:"phase,omitempty"`
}

// recordFailure counts a failed delivery (its HTTP requests, retries
// included) and keeps why, for `matrix-notify queue`.
func (e *outboxEntry) recordFailure(err error, at time.Time) {
	var re *RetryError
	if errors.As(err, &re) {
		e.Attempts += re.Attempts
	} else {
		e.Attempts++
	}
	e.LastAttempt, e.LastError = at, err.Error()
}

func (e *outboxEntry) message() Message {
	return Message{Room: e.Room, TxnID: e.TxnID, Summary: e.Summary, Content: e.Content,
		Source: e.Source, AlertKey: e.AlertKey, Phase: e.Phase}
}

// roomKey names a room's directory and lock: room ids may hold any character.
func roomKey(room string) string {
	sum := sha256.Sum256([]byte(room))
	return hex.EncodeToString(sum[:8])
}

var (
	entryIDCounter atomic.Uint64
	entryIDLast    atomic.Int64
	outboxPID      = os.Getpid()
)

// newID returns an entry id that sorts after every id this process made
// before, even if the clock steps back.
func newID(now time.Time) string {
	n := now.UnixNano()
	for {
		last := entryIDLast.Load()
		if n <= last {
			n = last + 1
		}
		if entryIDLast.CompareAndSwap(last, n) {
			break
		}
	}
	return fmt.Sprintf("%020d-%07d-%06d", n, outboxPID, entryIDCounter.Add(1)%1000000)
}

// crashHook, when set (by tests only), is called at the points where a crash
// matters: "enqueued" (written, not sent), "sent" (accepted by the
// homeserver, not yet removed), "renaming" (a rewrite's temp file complete,
// not yet in place).
var crashHook func(point string)

func crashPoint(point string) {
	if crashHook != nil {
		crashHook(point)
	}
}

// writeFileAtomic writes data to dir/name through a temp file and a rename:
// a reader, or the next process after a crash, sees the old file or the new
// one, never a part. With sync, the temp file is fsync'ed before the rename,
// so a power loss cannot leave a renamed but empty file (the name itself is
// durable only once the directory is synced).
func writeFileAtomic(dir, name string, data []byte, sync bool) error {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		crashPoint("renaming")
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// syncDir makes the names in dir (a create, a rename) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// roomDir returns the directory of a room key, creating it if needed (its
// name is made durable with the first entry that must be).
func (o *Outbox) roomDir(key string) (string, error) {
	dir := filepath.Join(o.roomsDir, key)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, nil
}

// makeDurable fsyncs entries written without sync, then their directory and
// the rooms directory (which names the room's directory).
func (o *Outbox) makeDurable(dir string, ids []string) error {
	var errs []error
	for _, id := range ids {
		f, err := os.Open(filepath.Join(dir, id+entryExt))
		if errors.Is(err, fs.ErrNotExist) {
			continue // delivered or dropped meanwhile by another invocation
		}
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		errs = append(errs, err)
	}
	errs = append(errs, syncDir(dir), syncDir(o.roomsDir))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

func newEntry(m Message, now time.Time) outboxEntry {
	return outboxEntry{Version: entryVersion, Room: m.Room, TxnID: m.TxnID, Summary: m.Summary, Content: m.Content,
		Source: m.Source, AlertKey: m.AlertKey, Phase: m.Phase, Enqueued: now}
}

func newEntries(msgs []Message, now time.Time) []outboxEntry {
	entries := make([]outboxEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = newEntry(m, now)
	}
	return entries
}

// writeEntries writes entries to their rooms' queues, in order; ids[i] is the
// entry id of entries[i], or "" with errs[i] saying why it could not be
// written. With durable, files and directories are fsync'ed before it
// returns; without, an entry is safe from a crash of the process, not yet
// from a power loss (see Outbox).
func (o *Outbox) writeEntries(entries []outboxEntry, durable bool) (ids []string, errs []error) {
	ids = make([]string, len(entries))
	errs = make([]error, len(entries))
	dirty := map[string][]int{} // room dir -> entries written there
	for i := range entries {
		e := &entries[i]
		dir, err := o.roomDir(roomKey(e.Room))
		if err == nil {
			var data []byte
			if data, err = json.Marshal(e); err == nil {
				id := newID(o.now())
				if err = writeFileAtomic(dir, id+entryExt, data, durable); err == nil {
					ids[i] = id
					dirty[dir] = append(dirty[dir], i)
				}
			}
		}
		if err != nil {
			errs[i] = fmt.Errorf("outbox: %w", err)
		}
	}
	if durable {
		for dir, idx := range dirty {
			if err := errors.Join(syncDir(dir), syncDir(o.roomsDir)); err != nil {
				// The entries are there for the next process (a kill leaves them),
				// only a power loss could lose them: report, but keep them queued.
				for _, i := range idx {
					errs[i] = fmt.Errorf("outbox: %w", err)
				}
			}
		}
	}
	return ids, errs
}

// journal is the on-disk record of one Deliver call's messages while they
// are in flight (see Deliver). The call holds f's lock until it has removed
// the file, so a journal whose lock is free belongs to a call that died.
type journal struct {
	path string
	f    *os.File
	// reusable: durable (Accept's, serve's), so kept as a spare once
	// delivered; a Deliver's journal goes with its process.
	reusable bool
}

// maxSpareJournals bounds the delivered journals kept for reuse: under load
// serve's deliverer takes tens of batches in one round, and releases them
// together.
const maxSpareJournals = 64

type journalFile struct {
	Version int           `json:"v"`
	Entries []outboxEntry `json:"entries"`
}

// writeJournal records msgs in a new journal, locked, fsync'ed with durable.
func (o *Outbox) writeJournal(msgs []Message, durable bool) (*journal, error) {
	now := o.now()
	data, err := json.Marshal(&journalFile{Version: entryVersion, Entries: newEntries(msgs, now)})
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.dir, inflightDirName)
	if durable {
		if j := o.takeSpare(); j != nil {
			if err := reuseJournal(j, dir, data, now); err == nil {
				return j, nil
			}
			j.discard(o.log) // and write a new one
		}
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if errors.Is(err, fs.ErrNotExist) { // removed under us
		if err = os.MkdirAll(dir, 0o700); err == nil {
			f, err = os.CreateTemp(dir, tmpPrefix+"*")
		}
	}
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, newID(now)+entryExt)
	// Locked before it has its name: a recovering Flush never sees it free.
	_, err = tryLock(f)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil && durable {
		err = f.Sync()
	}
	if err == nil {
		crashPoint("renaming")
		err = os.Rename(f.Name(), path)
	}
	if err == nil && durable {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(f.Name())
		os.Remove(path)
		f.Close()
		return nil, err
	}
	return &journal{path: path, f: f, reusable: durable}, nil
}

// reuseJournal records data in j, a spare journal (marked empty, still
// locked by this process), under a new name, and syncs it. It is written
// over the start of the file, not truncated first: what follows it, the end
// of a longer earlier batch, is never read (only a journal's first JSON
// value is).
//
// Why reuse: a new file costs an inode allocation and a directory fsync,
// which on ext4 under serve's create/delete churn cost more CPU than the rest
// of a batch's commit (BENCHMARKS.md). A reused file needs only its data
// synced (datasync: no inode write for its mtime): its directory entry is
// durable already. The rename gives it a name of its batch's time, so that
// recovery after a crash, which goes by name, queues batches in order; it
// is not synced, so after a power loss (not a crash) the old name may come
// back, and with it only the order of the recovered batches is lost, as
// documented for recovery anyway.
func reuseJournal(j *journal, dir string, data []byte, now time.Time) error {
	if _, err := j.f.WriteAt(data, 0); err != nil {
		return err
	}
	if err := datasync(j.f); err != nil {
		return err
	}
	path := filepath.Join(dir, newID(now)+entryExt)
	if err := os.Rename(j.path, path); err != nil {
		return err
	}
	j.path = path
	return nil
}

// DropSpares removes the delivered journals Accept keeps for reuse (serve
// calls it as it stops). What a process that dies keeps is removed by the
// next recovery.
func (o *Outbox) DropSpares() {
	o.spareMu.Lock()
	spare := o.spare
	o.spare = nil
	o.spareMu.Unlock()
	for _, j := range spare {
		j.discard(o.log)
	}
}

// takeSpare returns a spare journal, or nil.
func (o *Outbox) takeSpare() *journal {
	o.spareMu.Lock()
	defer o.spareMu.Unlock()
	if len(o.spare) == 0 {
		return nil
	}
	j := o.spare[len(o.spare)-1]
	o.spare = o.spare[:len(o.spare)-1]
	return j
}

// done is called once every message of j is delivered, dropped or queued:
// an Accept journal is marked empty (spareMark) and kept for reuse (up to
// maxSpareJournals), any other removed. A spare left by a process that dies
// is removed by the next recovery. The mark is not fsync'ed: after a power
// loss the delivered batch may come back and be sent again, under the same
// txn ids, which the homeserver recognises. A nil journal (one that
// could not be written) is a no-op.
func (o *Outbox) done(j *journal) {
	if j == nil {
		return
	}
	if j.reusable && j.markSpare() == nil {
		o.spareMu.Lock()
		if len(o.spare) < maxSpareJournals {
			o.spare = append(o.spare, j)
			j = nil
		}
		o.spareMu.Unlock()
		if j == nil {
			return
		}
	}
	j.discard(o.log)
}

// spareMark, written over the start of a delivered journal, makes it read
// as nothing in flight: only a journal's first JSON value is read, and
// this is it. Cheaper than truncating (ext4 frees the blocks, 3 % of serve's
// CPU), and the next batch is written over it.
var spareMark = []byte("null")

func (j *journal) markSpare() error {
	_, err := j.f.WriteAt(spareMark, 0)
	return err
}

// discard deletes the journal, then releases its lock.
func (j *journal) discard(log *slog.Logger) {
	if err := os.Remove(j.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Error(fmt.Sprintf("outbox: cannot remove %s: %v (its notifications will be sent again; the homeserver recognises their txn ids)", j.path, err))
	}
	j.f.Close()
}

// recoverJournals turns every journal left by a call that died into entries
// of their rooms, durably, and removes it. Its messages may have been
// delivered before the call died: they are sent again with their txn ids,
// which the homeserver recognises. They queue behind whatever their rooms
// hold by then.
func (o *Outbox) recoverJournals() {
	dir := filepath.Join(o.dir, inflightDirName)
	des, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			o.log.Error(fmt.Sprintf("outbox: cannot look for notifications left in flight: %v", err))
		}
		return
	}
	for _, de := range des {
		name := de.Name()
		path := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			// A journal not yet renamed: its call is alive, or died before
			// sending anything (and failed).
			if info, err := de.Info(); err == nil && time.Since(info.ModTime()) > leftoverAge {
				os.Remove(path)
			}
		case strings.HasSuffix(name, entryExt):
			if journalOwnerRunning(name) {
				continue // the common case, decided without opening the file
			}
			if err := o.recoverJournal(path); err != nil {
				o.log.Error(fmt.Sprintf("outbox: notifications left in flight in %s: %v", path, err))
			}
		}
	}
}

// orphanJournal opens the journal at path if the call that wrote it is gone,
// and decodes it; f (nil if the call is alive or finished, or on an error
// opening it) holds the journal's lock until closed. An undecodable journal
// is returned open, with the decoding error.
func orphanJournal(path string) (f *os.File, jf journalFile, err error) {
	f, err = os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, jf, nil // its call finished meanwhile
	}
	if err != nil {
		return nil, jf, err
	}
	if free, err := tryLock(f); err != nil || !free {
		f.Close()
		return nil, jf, err // its call is alive
	}
	// The call is gone, unless it removed the file before unlocking.
	held, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, jf, err
	}
	if cur, err := os.Stat(path); err != nil || !os.SameFile(held, cur) {
		f.Close()
		return nil, jf, nil
	}
	data, err := io.ReadAll(f)
	// The first value only: a reused journal may hold the end of a longer
	// batch after it (see reuseJournal).
	var first json.RawMessage
	if err == nil && len(bytes.TrimSpace(data)) > 0 {
		err = json.NewDecoder(bytes.NewReader(data)).Decode(&first)
	}
	if err == nil && (len(first) == 0 || bytes.Equal(first, spareMark)) {
		return f, jf, nil // a spare (see Outbox.done), or never written: nothing in flight
	}
	if err == nil {
		err = json.Unmarshal(first, &jf)
	}
	if err == nil && jf.Version != entryVersion {
		err = fmt.Errorf("unknown version %d", jf.Version)
	}
	return f, jf, err
}

// journalOwnerRunning reports whether the process named in a journal's name
// (see newID) is running. A false "running" (its pid reused) only delays the
// recovery; a "not running" is checked against the journal's lock.
func journalOwnerRunning(name string) bool {
	parts := strings.Split(strings.TrimSuffix(name, entryExt), "-")
	if len(parts) != 3 {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	return err == nil && pid != outboxPID && processRunning(pid)
}

func (o *Outbox) recoverJournal(path string) error {
	f, jf, err := orphanJournal(path)
	if f == nil {
		return err
	}
	defer f.Close()
	if err != nil {
		o.quarantine(path, "inflight-"+filepath.Base(path), err)
		return nil
	}
	// A message its call was queueing when it died may be an entry already.
	queued := map[string]bool{} // room \x00 txn id
	listed := map[string]bool{}
	for _, e := range jf.Entries {
		key := roomKey(e.Room)
		if listed[key] {
			continue
		}
		listed[key] = true
		l, _ := o.list(filepath.Join(o.roomsDir, key))
		for _, id := range l.entries {
			if qe, err := readEntry(filepath.Join(o.roomsDir, key, id+entryExt)); err == nil {
				queued[qe.Room+"\x00"+qe.TxnID] = true
			}
		}
	}
	entries := slices.DeleteFunc(jf.Entries, func(e outboxEntry) bool { return queued[e.Room+"\x00"+e.TxnID] })
	ids, errs := o.writeEntries(entries, true)
	var failed []error
	for i, id := range ids {
		e := entries[i]
		if id == "" {
			failed = append(failed, errs[i])
			continue
		}
		o.log.Warn(fmt.Sprintf("queued Matrix notification for: %s to '%s', left in flight by a matrix-notify that stopped (%s)", e.Summary, e.Room, filepath.Base(path)))
	}
	if len(failed) > 0 {
		return errors.Join(failed...) // kept, for the next try
	}
	return os.Remove(path)
}

// Outcome is what became of one message.
type Outcome int

const (
	// OutcomeDelivered: the homeserver accepted it (perhaps through a
	// concurrent invocation that drained the room first).
	OutcomeDelivered Outcome = iota + 1
	// OutcomeQueued: not delivered yet, safe in the outbox; a later Deliver
	// or Flush sends it.
	OutcomeQueued
	// OutcomeDropped: removed from the outbox undelivered, with an ERROR line:
	// the homeserver refused its content, or it outlived MaxAge.
	OutcomeDropped
	// OutcomeFailed: not delivered and not queued (the outbox could not
	// store it and the direct send failed): lost unless the caller retries.
	OutcomeFailed
)

func (o Outcome) String() string {
	switch o {
	case OutcomeDelivered:
		return "delivered"
	case OutcomeQueued:
		return "queued"
	case OutcomeDropped:
		return "dropped"
	case OutcomeFailed:
		return "failed"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// OutboxResult is the outcome of one message of a Deliver call. Err is nil
// only for OutcomeDelivered; for OutcomeQueued it is what kept the message
// back.
type OutboxResult struct {
	Result
	Outcome Outcome
	// ID is the outbox entry id of a message left queued (or delivered
	// after older entries), "" otherwise.
	ID string
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
func (r OutboxReport) Delivered() bool {
	return r.Count(OutcomeDelivered) == len(r.Results)
}

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

// Report returns the plain per-message Report (Err set on every message that
// was not delivered), for code written against Sender.Deliver.
func (r OutboxReport) Report() Report {
	out := Report{Results: make([]Result, len(r.Results))}
	for i, res := range r.Results {
		out.Results[i] = res.Result
	}
	return out
}

// roomDrain is the outcome of draining one room.
type roomDrain struct {
	room                          string
	delivered, dropped, remaining int
	olderDelivered, olderDropped  int
	err                           error // what stopped the drain early, if anything
}

// Deliver delivers msgs, for every room involved (up to concurrency rooms at
// once; <= 0 means DefaultConcurrency), within ctx. t should carry the retry
// policy (RetryTransport).
//
// The call's messages are first written together to one in-flight journal
// (one file, not synced: see Outbox), which the call holds locked while it
// lives. Then, per room, under the room's lock: if nothing older is queued
// for the room, the messages are sent straight away (the common case: no
// entry file is written at all), each alert's in order and different alerts
// at once; otherwise they are queued behind the older entries and the room
// is drained oldest first. A message that is not
// delivered (its attempt failed, ctx ended, an older entry failed) becomes an
// entry of its room, made durable. Only then is the journal removed. A call
// killed before that leaves its journal, which the next Flush turns into
// entries (see Flush): nothing is lost, and what was already sent is sent
// again with its txn id, which the homeserver recognises.
//
// A message the outbox cannot store (disk full, unwritable directory) is
// still sent; only if that fails is it lost (OutcomeFailed), loudly.
func (o *Outbox) Deliver(ctx context.Context, t Transport, msgs []Message, concurrency int) OutboxReport {
	// What a call that died left in flight is older than this call's
	// messages: it goes first.
	o.recoverJournals()
	j, err := o.writeJournal(msgs, false)
	if err != nil {
		o.log.Error(fmt.Sprintf("outbox: cannot record the notifications in flight (%v): sending them anyway", err))
	}
	crashPoint("enqueued")
	// Stored first: what a slow Prepare (the crypto store's lock) holds
	// up is kept whatever happens.
	Prepare(ctx, t, msgs)
	return o.deliverJournals(ctx, t, []*journal{j}, msgs, concurrency)
}

// Accepted is a batch of messages stored by Accept, for DeliverAccepted.
type Accepted struct {
	j    *journal
	msgs []Message
}

// Len is the number of messages in the batch.
func (a *Accepted) Len() int { return len(a.msgs) }

// Accept stores msgs durably (one file and two fsyncs for the whole batch:
// serve's group commit), in a journal this process holds until
// DeliverAccepted has delivered or queued every message. When it returns
// nil, the messages survive a crash or a power loss: if this process dies
// first, the next Flush queues them. Batches must be delivered in the order
// they were accepted, by one DeliverAccepted at a time, for an alert's
// messages to keep theirs.
func (o *Outbox) Accept(msgs []Message) (*Accepted, error) {
	j, err := o.writeJournal(msgs, true)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	crashPoint("enqueued")
	return &Accepted{j: j, msgs: msgs}, nil
}

// DeliverAccepted delivers batches stored by Accept, given in the order they
// were accepted, as Deliver does, all together: the messages of many small
// batches go at once.
func (o *Outbox) DeliverAccepted(ctx context.Context, t Transport, concurrency int, batches ...*Accepted) OutboxReport {
	var (
		js   []*journal
		msgs []Message
	)
	for _, a := range batches {
		js = append(js, a.j)
		msgs = append(msgs, a.msgs...)
	}
	return o.deliverJournals(ctx, t, js, msgs, concurrency)
}

// deliverJournals delivers msgs, recorded in js (nil where that failed), and
// removes js when every message is delivered, dropped or queued.
func (o *Outbox) deliverJournals(ctx context.Context, t Transport, js []*journal, msgs []Message, concurrency int) OutboxReport {
	results := make([]OutboxResult, len(msgs))
	for i, m := range msgs {
		results[i].Message = m
	}

	// Rooms in order of first appearance, each with its messages in order.
	var keys []string
	byKey := map[string][]int{}
	for i, m := range msgs {
		key := roomKey(m.Room)
		if _, ok := byKey[key]; !ok {
			keys = append(keys, key)
		}
		byKey[key] = append(byKey[key], i)
	}

	var (
		mu     sync.Mutex
		report = OutboxReport{Results: results}
	)
	var eg errgroup.Group
	eg.SetLimit(cmp.Or(max(concurrency, 0), DefaultConcurrency))
	for _, key := range keys {
		eg.Go(func() error {
			d := o.deliverRoom(ctx, t, key, msgs, byKey[key], results, concurrency)
			mu.Lock()
			report.OlderDelivered += d.olderDelivered
			report.OlderDropped += d.olderDropped
			report.Pending += d.remaining
			mu.Unlock()
			return nil
		})
	}
	_ = eg.Wait() // goroutines never fail; results carry the errors
	// Every message is now delivered, dropped, or an entry of its room.
	for _, j := range js {
		o.done(j)
	}
	return report
}

// deliverRoom delivers msgs[idx...] (all for the room of key, in order),
// filling results, sending up to concurrency at once. See Deliver.
func (o *Outbox) deliverRoom(ctx context.Context, t Transport, key string, msgs []Message, idx []int, results []OutboxResult, concurrency int) roomDrain {
	dir := filepath.Join(o.roomsDir, key)
	lock, err := o.lockRoom(ctx, key)
	if err != nil {
		o.queue(msgs, idx, results, err, nil)
		l, _ := o.list(dir)
		return roomDrain{room: msgs[idx[0]].Room, remaining: len(l.entries), err: err}
	}
	defer lock.unlock()

	l, err := o.list(dir)
	if err != nil || len(l.entries) > 0 {
		// Older entries wait for this room (or it cannot be listed): this
		// call's messages go behind them, and the room is drained in order.
		written := newEntries(messagesAt(msgs, idx), o.now())
		ids, errs := o.writeEntries(written, false)
		mine := map[string]int{}
		writtenAt := make([]outboxEntry, len(msgs))
		var direct []int
		for k, i := range idx {
			results[i].ID = ids[k]
			if ids[k] == "" {
				o.log.Error(fmt.Sprintf("cannot queue Matrix notification for: %s to '%s' (%v): sending it without the outbox", msgs[i].Summary, msgs[i].Room, errs[k]))
				direct = append(direct, i)
				continue
			}
			mine[ids[k]], writtenAt[i] = i, written[k]
		}
		d := o.drainLocked(ctx, t, key, mine, writtenAt, results)
		for _, i := range direct {
			results[i] = o.sendDirect(ctx, t, msgs[i])
		}
		return d
	}

	// Nothing older waits: send straight away. Only the transitions of one
	// alert must keep their order (a raise before its resolution; a thread
	// root before its replies): each alert's messages go one after another,
	// stopping at the first failure, and different alerts go at once (serve
	// delivers many webhooks to one room in a batch).
	var alerts [][]int
	byAlert := map[string]int{}
	for _, i := range idx {
		a, ok := byAlert[msgs[i].AlertKey]
		if !ok {
			a = len(alerts)
			byAlert[msgs[i].AlertKey] = a
			alerts = append(alerts, nil)
		}
		alerts[a] = append(alerts[a], i)
	}
	if len(alerts) == 1 {
		return o.sendInOrder(ctx, t, msgs, idx, results)
	}
	var (
		mu   sync.Mutex
		d    = roomDrain{room: msgs[idx[0]].Room}
		eg   errgroup.Group
		next atomic.Int64
	)
	// A few workers take the alerts in turn, rather than a goroutine per
	// alert: a send grows a goroutine's stack to tens of KB, and serve's
	// rounds hold hundreds of alerts (stack growth was ~4 % of its CPU).
	for range min(cmp.Or(max(concurrency, 0), DefaultConcurrency), len(alerts)) {
		eg.Go(func() error {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(alerts) {
					return nil
				}
				sd := o.sendInOrder(ctx, t, msgs, alerts[k], results)
				mu.Lock()
				d.delivered += sd.delivered
				d.dropped += sd.dropped
				d.remaining += sd.remaining
				d.err = cmp.Or(d.err, sd.err)
				mu.Unlock()
			}
		})
	}
	_ = eg.Wait()
	return d
}

// sendInOrder sends msgs[idx...] one after another, stopping at the first
// failure: that message and those after it are queued (what follows a
// failure must not overtake it).
func (o *Outbox) sendInOrder(ctx context.Context, t Transport, msgs []Message, idx []int, results []OutboxResult) roomDrain {
	d := roomDrain{room: msgs[idx[0]].Room}
	for k, i := range idx {
		m := msgs[i]
		if err := ctx.Err(); err != nil {
			o.queue(msgs, idx[k:], results, fmt.Errorf("not sent before the deadline, kept in the outbox: %w", err), nil)
			d.remaining, d.err = len(idx)-k, err
			return d
		}
		start := time.Now()
		eventID, err := t.Send(ctx, m)
		took := time.Since(start)
		r := &results[i]
		r.EventID, r.Err, r.Duration = eventID, err, took
		switch {
		case err == nil:
			crashPoint("sent")
			r.Outcome = OutcomeDelivered
			d.delivered++
			o.log.Info(fmt.Sprintf("sent Matrix notification for: %s to '%s' (event %s)", m.Summary, m.Room, eventID))
		case ContentRejected(err):
			r.Outcome = OutcomeDropped
			d.dropped++
			o.log.Error(fmt.Sprintf("dropped Matrix notification for: %s to '%s': the homeserver refuses it and would on every retry: %v", m.Summary, m.Room, err))
		default:
			o.queue(msgs, idx[k:], results, err, err)
			d.remaining, d.err = len(idx)-k, err
			o.log.Error(fmt.Sprintf("failed to send Matrix notification for: %s to '%s': %v (kept in the outbox: %d queued for this room)",
				m.Summary, m.Room, err, d.remaining))
			return d
		}
	}
	return d
}

func messagesAt(msgs []Message, idx []int) []Message {
	out := make([]Message, len(idx))
	for k, i := range idx {
		out[k] = msgs[i]
	}
	return out
}

// queue makes msgs[idx...] durable entries of their room, in order, and
// reports them queued by err (the first one's Err is failed, when its
// attempt failed, with the attempts recorded in the entry). One that cannot
// be written is lost: OutcomeFailed, loudly.
func (o *Outbox) queue(msgs []Message, idx []int, results []OutboxResult, err, failed error) {
	entries := newEntries(messagesAt(msgs, idx), o.now())
	if failed != nil {
		entries[0].recordFailure(failed, entries[0].Enqueued)
	}
	ids, errs := o.writeEntries(entries, true)
	for k, i := range idx {
		r := &results[i]
		r.ID = ids[k]
		if ids[k] == "" {
			r.Outcome = OutcomeFailed
			if r.Err == nil {
				r.Err = err
			}
			o.log.Error(fmt.Sprintf("failed to send Matrix notification for: %s to '%s': %v, and it cannot be queued: %v (it is lost)", msgs[i].Summary, msgs[i].Room, err, errs[k]))
			continue
		}
		r.Outcome = OutcomeQueued
		if k == 0 && failed != nil {
			continue // logged by the caller, with the queue length
		}
		if failed != nil {
			r.Err = fmt.Errorf("kept in the outbox behind an older message that failed: %w", failed)
		} else {
			r.Err = err
		}
		if errs[k] != nil {
			o.log.Error(fmt.Sprintf("queued Matrix notification for: %s to '%s', but not durably: %v", msgs[i].Summary, msgs[i].Room, errs[k]))
		}
		o.log.Error(fmt.Sprintf("queued Matrix notification for: %s to '%s': %v", msgs[i].Summary, msgs[i].Room, r.Err))
	}
}

// sendDirect sends a message the outbox could not store.
func (o *Outbox) sendDirect(ctx context.Context, t Transport, m Message) OutboxResult {
	start := time.Now()
	eventID, err := t.Send(ctx, m)
	res := OutboxResult{Result: Result{Message: m, EventID: eventID, Err: err, Duration: time.Since(start)}}
	if err != nil {
		res.Outcome = OutcomeFailed
		o.log.Error(fmt.Sprintf("failed to send Matrix notification for: %s to '%s': %v (not queued: it is lost)", m.Summary, m.Room, err))
	} else {
		res.Outcome = OutcomeDelivered
		o.log.Info(fmt.Sprintf("sent Matrix notification for: %s to '%s' (event %s)", m.Summary, m.Room, eventID))
	}
	return res
}

// ContentRejected reports whether the homeserver refused a message for its
// content (400 M_BAD_JSON or M_NOT_JSON, 413 or M_TOO_LARGE): it would refuse
// it on every retry, so keeping it queued would block its room for good.
func ContentRejected(err error) bool {
	var se *SendError
	if !errors.As(err, &se) {
		return false
	}
	switch {
	case se.Status == 413, se.ErrCode == "M_TOO_LARGE":
		return true
	case se.Status == 400:
		return se.ErrCode == "M_BAD_JSON" || se.ErrCode == "M_NOT_JSON"
	}
	return false
}

// roomListing is what a room directory holds.
type roomListing struct {
	entries   []string // entry ids, oldest first
	leftovers []string // temp files past leftoverAge
}

func (o *Outbox) list(dir string) (roomListing, error) {
	var l roomListing
	des, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return l, nil
		}
		return l, err
	}
	now := time.Now()
	for _, de := range des {
		name := de.Name()
		old := func() bool {
			info, err := de.Info()
			return err == nil && now.Sub(info.ModTime()) > leftoverAge
		}
		switch {
		case strings.HasSuffix(name, entryExt) && !strings.HasPrefix(name, tmpPrefix):
			l.entries = append(l.entries, strings.TrimSuffix(name, entryExt))
		case strings.HasPrefix(name, tmpPrefix):
			if old() {
				l.leftovers = append(l.leftovers, name)
			}
		}
	}
	slices.Sort(l.entries) // ReadDir sorts already; be explicit
	return l, nil
}

func readEntry(path string) (outboxEntry, error) {
	var e outboxEntry
	data, err := os.ReadFile(path)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if e.Room == "" || e.TxnID == "" {
		return e, fmt.Errorf("%s: no room or txn id", filepath.Base(path))
	}
	return e, nil
}

// lockRoom takes the lock of the room of key, waiting until ctx ends.
func (o *Outbox) lockRoom(ctx context.Context, key string) (*fileLock, error) {
	lock, err := lockFile(ctx, filepath.Join(o.roomsDir, key+".lock"))
	switch {
	case err == nil:
		return lock, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("another matrix-notify was still delivering to this room: %w", err)
	}
	return nil, fmt.Errorf("outbox: %w", err)
}

// drainRoom takes the room's lock and drains it (Flush).
func (o *Outbox) drainRoom(ctx context.Context, t Transport, key string) roomDrain {
	lock, err := o.lockRoom(ctx, key)
	if err != nil {
		l, _ := o.list(filepath.Join(o.roomsDir, key))
		return roomDrain{remaining: len(l.entries), err: err}
	}
	defer lock.unlock()
	return o.drainLocked(ctx, t, key, nil, nil, nil)
}

// drainLocked delivers the queued entries of one room, oldest first, until
// the room is empty, an entry fails or ctx ends; the caller holds the room's
// lock. mine maps the entry ids of the calling Deliver to indexes in results,
// which it fills in, and in written, which holds what was written (so they
// need not be read back); all are nil for Flush. Whatever stays queued is
// made durable.
func (o *Outbox) drainLocked(ctx context.Context, t Transport, key string, mine map[string]int, written []outboxEntry, results []OutboxResult) roomDrain {
	var d roomDrain
	dir := filepath.Join(o.roomsDir, key)
	set := func(id string, outcome Outcome, eventID string, err error, took time.Duration) {
		if i, ok := mine[id]; ok {
			r := &results[i]
			r.Outcome, r.EventID, r.Err, r.Duration = outcome, eventID, err, took
		}
	}
	l, err := o.list(dir)
	if err != nil {
		err = fmt.Errorf("outbox: %w", err)
		for _, id := range sortedKeys(mine) {
			m := results[mine[id]].Message
			set(id, OutcomeQueued, "", err, 0)
			o.log.Error(fmt.Sprintf("queued Matrix notification for: %s to '%s': %v", m.Summary, m.Room, err))
		}
		if len(mine) > 0 {
			o.keep(dir, sortedKeys(mine))
		}
		d.remaining, d.err = len(mine), err
		return d
	}
	for _, name := range l.leftovers {
		os.Remove(filepath.Join(dir, name))
	}

	// This call's entries (written without fsync) left in the room, and
	// whether an entry was rewritten: what must be made durable.
	var (
		kept      []string
		rewritten bool
	)
	var (
		blocked error    // what stopped the drain
		tried   bool     // blocked by a failed send (else: ctx ended first)
		behind  []string // this call's entries left untried
		// logBlocker logs the failed send once the queue length is known.
		logBlocker func()
	)
	for _, id := range l.entries {
		_, isMine := mine[id]
		if blocked == nil {
			if err := ctx.Err(); err != nil {
				blocked = err
			}
		}
		if blocked != nil {
			d.remaining++
			if isMine {
				kept = append(kept, id)
				behind = append(behind, id)
			}
			continue
		}
		path := filepath.Join(dir, id+entryExt)
		var e outboxEntry
		if isMine {
			e = written[mine[id]] // written under this lock: as it is on disk
		} else if e, err = readEntry(path); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				o.quarantine(path, key+"-"+id+entryExt, err)
			}
			continue
		}
		d.room = e.Room
		m := e.message()
		if age := o.now().Sub(e.Enqueued); age > o.maxAge {
			reason := fmt.Sprintf("undelivered for %s, longer than max_age %s", age.Round(time.Second), o.maxAge)
			if e.LastError != "" {
				reason += fmt.Sprintf(" (%d attempts, last error: %s)", e.Attempts, e.LastError)
			}
			o.drop(dir, id, reason)
			d.dropped++
			if !isMine {
				d.olderDropped++
			}
			set(id, OutcomeDropped, "", errors.New(reason), 0)
			o.log.Error(fmt.Sprintf("dropped Matrix notification for: %s to '%s': %s", m.Summary, m.Room, reason))
			continue
		}

		start := time.Now()
		eventID, err := t.Send(ctx, m)
		took := time.Since(start)
		if err == nil {
			crashPoint("sent")
			if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				// It will be sent again, and the homeserver will recognise its txn id.
				o.log.Error(fmt.Sprintf("outbox: cannot remove delivered entry %s: %v", path, rerr))
			}
			d.delivered++
			set(id, OutcomeDelivered, eventID, nil, took)
			if isMine {
				o.log.Info(fmt.Sprintf("sent Matrix notification for: %s to '%s' (event %s)", m.Summary, m.Room, eventID))
			} else {
				d.olderDelivered++
				o.log.Info(fmt.Sprintf("sent queued Matrix notification for: %s to '%s' (event %s, queued %s ago)",
					m.Summary, m.Room, eventID, o.now().Sub(e.Enqueued).Round(time.Second)))
			}
			continue
		}
		if ContentRejected(err) {
			reason := fmt.Sprintf("the homeserver refuses it and would on every retry: %v", err)
			o.drop(dir, id, reason)
			d.dropped++
			if !isMine {
				d.olderDropped++
			}
			set(id, OutcomeDropped, "", err, took)
			o.log.Error(fmt.Sprintf("dropped Matrix notification for: %s to '%s': %s", m.Summary, m.Room, reason))
			continue
		}
		// Keep it, and say why, for `matrix-notify queue`.
		e.recordFailure(err, o.now())
		if data, merr := json.Marshal(&e); merr == nil {
			// Synced: it replaces a durable entry.
			if werr := writeFileAtomic(dir, id+entryExt, data, true); werr != nil {
				o.log.Error(fmt.Sprintf("outbox: cannot record the failed attempt in %s: %v", path, werr))
			} else {
				rewritten = true
			}
		}
		blocked, tried = err, true
		d.remaining++
		if isMine {
			kept = append(kept, id)
		}
		set(id, OutcomeQueued, "", err, took)
		logBlocker = func() { // after the loop, when the count is known
			what := "failed to send Matrix notification"
			if !isMine {
				what = "failed to send queued Matrix notification"
			}
			o.log.Error(fmt.Sprintf("%s for: %s to '%s': %v (kept in the outbox: %d queued for this room)",
				what, m.Summary, m.Room, err, d.remaining))
		}
	}
	if logBlocker != nil {
		logBlocker()
	}
	for _, id := range behind {
		m := results[mine[id]].Message
		err := fmt.Errorf("not sent before the deadline, kept in the outbox: %w", blocked)
		if tried {
			err = fmt.Errorf("kept in the outbox behind an older message that failed: %w", blocked)
		}
		set(id, OutcomeQueued, "", err, 0)
		o.log.Error(fmt.Sprintf("queued Matrix notification for: %s to '%s': %v", m.Summary, m.Room, err))
	}
	d.err = blocked
	if len(kept) > 0 || rewritten {
		o.keep(dir, kept)
	}
	for _, id := range sortedKeys(mine) {
		if results[mine[id]].Outcome == 0 { // removed from under the lock by hand
			m := results[mine[id]].Message
			set(id, OutcomeFailed, "", errors.New("its outbox entry disappeared"), 0)
			o.log.Error(fmt.Sprintf("failed to send Matrix notification for: %s to '%s': its outbox entry disappeared before it was sent", m.Summary, m.Room))
		}
	}
	return d
}

func sortedKeys(m map[string]int) []string {
	return slices.Sorted(maps.Keys(m))
}

// keep makes entries of dir written without fsync, and dir's names, durable
// (see Outbox); a failure only costs durability against a power loss, so it
// is logged.
func (o *Outbox) keep(dir string, ids []string) {
	if err := o.makeDurable(dir, ids); err != nil {
		o.log.Error(fmt.Sprintf("queued Matrix notifications are kept, but a power loss could lose them: %v", err))
	}
}

// drop removes an entry that will not be delivered (the caller logs why).
func (o *Outbox) drop(dir, id, reason string) {
	if err := os.Remove(filepath.Join(dir, id+entryExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		o.log.Error(fmt.Sprintf("outbox: cannot remove dropped entry %s (%s): %v", id, reason, err))
	}
}

// quarantine moves an unreadable file to corrupt/name, loudly, so it
// neither blocks its room nor disappears.
func (o *Outbox) quarantine(path, name string, cause error) {
	cdir := filepath.Join(o.dir, corruptDirName)
	dst := filepath.Join(cdir, name)
	err := os.MkdirAll(cdir, 0o700)
	if err == nil {
		err = os.Rename(path, dst)
	}
	if err != nil {
		o.log.Error(fmt.Sprintf("outbox: unreadable %s (%v), and it cannot be set aside: %v", path, cause, err))
		return
	}
	o.log.Error(fmt.Sprintf("outbox: unreadable %s (%v) moved to %s: it is not delivered", filepath.Base(path), cause, dst))
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

// Flush delivers the entries of every room, up to concurrency rooms at once,
// oldest first per room, within ctx (matrix-notify flush; serve's continuous
// drain).
func (o *Outbox) Flush(ctx context.Context, t Transport, concurrency int) FlushReport {
	var rep FlushReport
	o.recoverJournals()
	keys, err := o.roomKeys()
	if err != nil {
		rep.Rooms = append(rep.Rooms, RoomFlush{Err: fmt.Errorf("outbox: %w", err)})
		return rep
	}
	var mu sync.Mutex
	var eg errgroup.Group
	eg.SetLimit(cmp.Or(max(concurrency, 0), DefaultConcurrency))
	for _, key := range keys {
		l, err := o.list(filepath.Join(o.roomsDir, key))
		if err != nil || len(l.entries) == 0 {
			continue
		}
		eg.Go(func() error {
			d := o.drainRoom(ctx, t, key)
			if d.room == "" {
				// Not read under the lock (lock not taken): name it from an entry.
				if e, err := readEntry(filepath.Join(o.roomsDir, key, l.entries[0]+entryExt)); err == nil {
					d.room = e.Room
				} else {
					d.room = key
				}
			}
			if d.delivered+d.dropped+d.remaining == 0 {
				return nil // emptied by someone else meanwhile
			}
			mu.Lock()
			defer mu.Unlock()
			rep.Rooms = append(rep.Rooms, RoomFlush{Room: d.room, Delivered: d.delivered, Dropped: d.dropped, Remaining: d.remaining, Err: d.err})
			rep.Delivered += d.delivered
			rep.Dropped += d.dropped
			rep.Remaining += d.remaining
			return nil
		})
	}
	_ = eg.Wait()
	slices.SortFunc(rep.Rooms, func(a, b RoomFlush) int { return strings.Compare(a.Room, b.Room) })
	return rep
}

func (o *Outbox) roomKeys() ([]string, error) {
	des, err := os.ReadDir(o.roomsDir)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, de := range des {
		if de.IsDir() {
			keys = append(keys, de.Name())
		}
	}
	return keys, nil
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

// List returns the queued entries, by room, oldest first within a room, and
// the messages calls that died left in flight (the next Deliver or Flush
// queues them; their ID is "inflight/<journal>"). It changes nothing and
// takes no room lock: it is a snapshot, and an entry delivered meanwhile may
// still appear.
func (o *Outbox) List() ([]QueuedEntry, error) {
	keys, err := o.roomKeys()
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	now := o.now()
	var out []QueuedEntry
	var errs []error
	for _, key := range keys {
		dir := filepath.Join(o.roomsDir, key)
		l, err := o.list(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, id := range l.entries {
			e, err := readEntry(filepath.Join(dir, id+entryExt))
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
				continue
			}
			out = append(out, QueuedEntry{
				ID: id, Room: e.Room, TxnID: e.TxnID, Summary: e.Summary,
				Enqueued: e.Enqueued, Age: now.Sub(e.Enqueued),
				Attempts: e.Attempts, LastAttempt: e.LastAttempt, LastError: e.LastError,
			})
		}
	}
	queued := map[string]bool{} // room \x00 txn id
	for _, e := range out {
		queued[e.Room+"\x00"+e.TxnID] = true
	}
	des, _ := os.ReadDir(filepath.Join(o.dir, inflightDirName))
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) || !strings.HasSuffix(name, entryExt) || journalOwnerRunning(name) {
			continue
		}
		f, jf, err := orphanJournal(filepath.Join(o.dir, inflightDirName, name))
		if f == nil {
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		for _, e := range jf.Entries {
			if queued[e.Room+"\x00"+e.TxnID] {
				continue // queued already (its call died queueing it)
			}
			out = append(out, QueuedEntry{
				ID: inflightDirName + "/" + strings.TrimSuffix(name, entryExt), Room: e.Room, TxnID: e.TxnID, Summary: e.Summary,
				Enqueued: e.Enqueued, Age: now.Sub(e.Enqueued),
			})
		}
	}
	slices.SortStableFunc(out, func(a, b QueuedEntry) int {
		return cmp.Or(strings.Compare(a.Room, b.Room), strings.Compare(a.ID, b.ID))
	})
	if len(errs) > 0 {
		return out, fmt.Errorf("outbox: %w", errors.Join(errs...))
	}
	return out, nil
}
