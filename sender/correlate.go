package sender

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultAlertMaxAge is how long an alert's correlation is kept after its
// last transition when no resolution comes (a resolve removes it at once).
// Past it the next update of the alert is posted on its own, as the root of
// a new life.
const DefaultAlertMaxAge = 7 * 24 * time.Hour

// The alert store on disk, under the directory given to OpenAlertStore
// (e.g. <state_dir>/alerts):
//
//	<bb>.json    a bucket: {"v":2,"states":[...]}, the lives (AlertState,
//	             each with its ref) whose key starts with bb
//	<key>.json   a life in the previous layout (one file per ref, "v":1):
//	             no longer read, removed by Prune once past MaxAge
//	.tmp-*       a write of the previous layout cut short: removed by Prune
//
// key is the first 32 hex digits of sha256(source \0 alert key \0 room), bb
// its first two: 256 buckets, so the rooms of one alert land, in all
// likelihood, in different ones.
//
// A bucket is updated in place, so that steady use allocates no inode (a
// new file per state, temp file and rename, was the largest cost of a
// fanned-out alarm, in the kernel's inode allocator; only the first write
// to each bucket creates one): Put, Delete and Prune open it (Put creating
// it), take its flock exclusively, read it, drop its expired states, write
// the new content at offset 0 and truncate the file to that length; Get
// reads it under a shared flock. A change rewrites the whole bucket, so its
// cost grows with the states the bucket holds (one in 256 of the live
// ones). Only the first JSON value of a bucket is read, so a process killed
// between the write and the truncate (new content, then the end of the
// old) leaves a bucket that still reads right. Nothing is fsync'ed: the
// store is an aid (a lost state costs a thread, not an alert: the next
// transition is posted plainly), and a bucket that does not decode (a power
// loss, a write cut short) is an error for Get, everything in it unknown,
// and is replaced by the next Put to it. A bucket is never removed, even
// empty: a lock taken on a removed file would not exclude the next
// process's.
const (
	alertBucketVersion = 2
	// alertTmpPrefix and alertLeftoverAge: the previous layout's temp files,
	// and when one is an orphan.
	alertTmpPrefix   = ".tmp-"
	alertLeftoverAge = time.Hour
)

// AlertRef names one alert's life in one room.
type AlertRef struct {
	Source string // "netdata", "kuma"
	Alert  string // Message.AlertKey
	Room   string // the room as configured (Message.Room)
}

// AlertState is what the store remembers of an alert's life in a room.
type AlertState struct {
	// Root is the event that raised the alert: the thread root, reply and
	// edit target.
	Root string `json:"root"`
	// Latest is the last event of the life (Root until the first update),
	// the reply fallback of the next threaded event.
	Latest string `json:"latest"`
	// RootContent is the content the root was sent with, and Content the
	// content of the last transition as the adapter made it (no relation,
	// no "* "): what the root shows now. LifecycleTransport keeps them in
	// edit mode only, the one that needs them.
	RootContent Content   `json:"root_content,omitzero"`
	Content     Content   `json:"content,omitzero"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// alertEntry is an AlertState as stored: with its ref, so that the states
// of a bucket can be told apart and read by a person.
type alertEntry struct {
	Source string `json:"source"`
	Alert  string `json:"alert"`
	Room   string `json:"room"`
	AlertState
}

func (e *alertEntry) is(ref AlertRef) bool {
	return e.Source == ref.Source && e.Alert == ref.Alert && e.Room == ref.Room
}

// alertBucket is the content of a bucket file.
type alertBucket struct {
	Version int          `json:"v"`
	States  []alertEntry `json:"states"`
}

// AlertStoreOptions configure an AlertStore. The zero value is usable.
type AlertStoreOptions struct {
	// MaxAge forgets an alert this long after its last transition; 0 means
	// DefaultAlertMaxAge.
	MaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// AlertStore remembers, per (source, alert, room), the events of an alert's
// life, in a fixed set of small JSON bucket files, so that its updates and
// resolution can be related to the event that raised it, across
// invocations.
//
// Concurrency: a Get, Put or Delete is atomic on its own, and the updates of
// two refs that share a bucket never lose each other, whoever makes them:
// each call opens the bucket and holds its flock (exclusive to change it,
// shared to read it) for the read-modify-write, and flock locks belong to
// the open file, so goroutines of one process exclude each other as
// processes do. The lock is held only around local file I/O, never across a
// send. A read-send-write by LifecycleTransport (Get, send, Put) is not
// atomic as a whole: it is serialised per (source, alert, room) within a
// process by the transport, and across processes by the outbox's per-room
// lock, under which every queued message is sent: the ref contains the room,
// so two processes never race on one ref. Used without the outbox (a plain
// Sender), two processes delivering transitions of the same alert to the
// same room at the same moment may both read the old state: each event is
// still sent and related to a valid earlier event of the life, and the last
// write wins. Prune takes the same locks: it removes only what is expired
// when it looks (a transition recorded after it is kept). On a platform
// without flock (lockSupported false) buckets are not locked: two writers
// of one bucket at the same moment may lose one update.
type AlertStore struct {
	dir    string
	prefix string // of a bucket's path: the directory, cleaned, and a separator
	maxAge time.Duration
	now    func() time.Time

	// files keeps the buckets open between uses, by path: an open and a
	// close per use were ~5 % of serve's CPU. See openBucket.
	filesMu sync.Mutex
	files   map[string]*bucketFile
}

// bucketFile is a bucket kept open. mu is held from openBucket to close:
// flock locks belong to the open file, so they do not exclude the
// goroutines that share it; mu does.
type bucketFile struct {
	mu sync.Mutex
	f  *os.File // nil until opened, or after an error
}

// OpenAlertStore opens (creating it if needed) the store in dir.
func OpenAlertStore(dir string, opts AlertStoreOptions) (*AlertStore, error) {
	s := &AlertStore{dir: dir, maxAge: cmp.Or(opts.MaxAge, DefaultAlertMaxAge), now: opts.Now}
	s.prefix = bucketPrefix(dir)
	if s.now == nil {
		s.now = time.Now
	}
	if _, err := os.Stat(dir); err == nil {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("alert store: %w", err)
	}
	// A new store gets all its (empty) buckets at once: creating a file is
	// the dearest part of a Put (an inode allocation, 0.2-0.4 ms of CPU on
	// ext4 under churn), better paid once here than by the first few
	// hundred alarm-room pairs while they send. Best effort: a bucket that
	// is not there is created by its first Put.
	for i := range 256 {
		if f, err := openFile(filepath.Join(dir, fmt.Sprintf("%02x.json", i)), os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
			f.Close()
		}
	}
	return s, nil
}

// Dir is the directory the store lives in.
func (s *AlertStore) Dir() string { return s.dir }

// alertKey is the 32 hex digits that name ref: its file in the previous
// layout, and by its first two its bucket.
func alertKey(ref AlertRef) string {
	h := sha256.New()
	for _, part := range []string{ref.Source, ref.Alert, ref.Room} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// alertBucketName is the file of ref's bucket.
func alertBucketName(ref AlertRef) string {
	var name [len("00.json")]byte
	return string(appendAlertBucketName(name[:0], ref))
}

// appendAlertBucketName appends the file name of ref's bucket (alertKey's
// first two digits, without the rest).
func appendAlertBucketName(dst []byte, ref AlertRef) []byte {
	const hexDigits = "0123456789abcdef"
	key := make([]byte, 0, 256)
	for _, part := range [...]string{ref.Source, ref.Alert, ref.Room} {
		key = append(append(key, part...), 0)
	}
	sum := sha256.Sum256(key)
	return append(dst, hexDigits[sum[0]>>4], hexDigits[sum[0]&0xf], '.', 'j', 's', 'o', 'n')
}

// bucketPrefix is what a bucket's name is appended to for its path in dir:
// what filepath.Join(dir, name) puts before it.
func bucketPrefix(dir string) string {
	return strings.TrimSuffix(filepath.Join(dir, "00.json"), "00.json")
}

// bucketPath is the path of ref's bucket.
func (s *AlertStore) bucketPath(ref AlertRef) string {
	var name [len("00.json")]byte
	return s.prefix + string(appendAlertBucketName(name[:0], ref))
}

// isHexName reports whether name is n lower-case hex digits and ".json".
func isHexName(name string, n int) bool {
	stem, ok := strings.CutSuffix(name, ".json")
	if !ok || len(stem) != n {
		return false
	}
	for _, c := range []byte(stem) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *AlertStore) expired(st AlertState) bool {
	return s.now().Sub(st.Updated) > s.maxAge
}

// openBucket is a bucket file, open and locked, and what it holds.
type openBucket struct {
	f    *os.File
	bf   *bucketFile // f's entry in the store's open files, locked; nil if f is not kept
	size int64       // of the file as read
	b    alertBucket
	bad  error // why the content does not decode (b is then empty)
}

// openBucket opens and locks (exclusive or shared) the bucket at path (a
// bucketPath), and reads it: all its states, or with only the first of
// that ref (the others are decoded, not kept: Get). A bucket that does not
// exist is created with create, and has no file (f nil) otherwise. An error
// is of the file, not of its content (see bad). It is returned by value,
// which keeps it off the heap.
func (s *AlertStore) openBucket(path string, create, exclusive bool, only *AlertRef) (openBucket, error) {
	s.filesMu.Lock()
	bf := s.files[path]
	if bf == nil {
		if s.files == nil {
			s.files = map[string]*bucketFile{}
		}
		bf = &bucketFile{}
		s.files[path] = bf
	}
	s.filesMu.Unlock()

	bf.mu.Lock()
	if bf.f != nil && !linked(bf.f) {
		// Removed or replaced (by hand, or the whole store): the path's
		// file is the bucket now.
		bf.f.Close()
		bf.f = nil
	}
	ob := openBucket{f: bf.f, bf: bf}
	if ob.f == nil {
		// Read-write even to read: the file is kept for the next use.
		flag := os.O_RDWR
		if create {
			flag |= os.O_CREATE
		}
		f, err := openFile(path, flag, 0o600)
		if create && errors.Is(err, fs.ErrNotExist) { // the directory was removed under us
			if err = os.MkdirAll(s.dir, 0o700); err == nil {
				f, err = openFile(path, flag, 0o600)
			}
		}
		if !create && !exclusive && errors.Is(err, fs.ErrPermission) {
			// Readable, not writable (another user's store): read it, keep
			// nothing.
			if f, err = openFile(path, os.O_RDONLY, 0); err == nil {
				bf.mu.Unlock()
				ob = openBucket{f: f}
			}
		}
		if err != nil {
			bf.mu.Unlock()
			if !create && errors.Is(err, fs.ErrNotExist) {
				return openBucket{}, nil
			}
			return openBucket{}, err
		}
		if ob.bf != nil {
			bf.f = f
		}
		ob.f = f
	}
	if err := ob.read(exclusive, only); err != nil {
		ob.close(err)
		return openBucket{}, err
	}
	return ob, nil
}

func (ob *openBucket) read(exclusive bool, only *AlertRef) error {
	if err := flockWait(ob.f, exclusive); err != nil {
		return err
	}
	// The size by a seek, not a Stat (no FileInfo to allocate).
	size, err := ob.f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	ob.size = size
	ob.b = alertBucket{Version: alertBucketVersion}
	if ob.size == 0 {
		return nil // new, or cut short before its first write
	}
	// The lock keeps the size: one read, into a pooled buffer (what is
	// decoded from it is copied out).
	buf := getBucketBuf(int(ob.size))
	defer putBucketBuf(buf)
	data := (*buf)[:ob.size]
	n, err := ob.f.ReadAt(data, 0)
	if err != nil && err != io.EOF {
		return err
	}
	// The first value only: what follows it may be the end of a longer
	// content that a killed writer did not truncate.
	switch b, err := decodeAlertBucket(data[:n], only); {
	case err != nil:
		ob.bad = err
	case b.Version != alertBucketVersion:
		ob.bad = fmt.Errorf("version %d, want %d", b.Version, alertBucketVersion)
	default:
		ob.b = b
	}
	return nil
}

// dropExpired removes the states past MaxAge (and any without a root), and
// returns how many.
func (ob *openBucket) dropExpired(s *AlertStore) int {
	n := len(ob.b.States)
	now := s.now()
	ob.b.States = slices.DeleteFunc(ob.b.States, func(e alertEntry) bool {
		return e.Root == "" || now.Sub(e.Updated) > s.maxAge
	})
	return n - len(ob.b.States)
}

// write replaces the file's content with the bucket: at offset 0, then
// truncated to its length (unless it grew).
func (ob *openBucket) write() error {
	if ob.b.States == nil {
		ob.b.States = []alertEntry{} // "states":[], not null
	}
	buf := getBucketBuf(int(ob.size) + 512)
	defer putBucketBuf(buf)
	data, ok := appendAlertBucket((*buf)[:0], &ob.b)
	if !ok { // what appendAlertBucket does not encode itself: an error, in all likelihood
		var err error
		if data, err = json.Marshal(ob.b); err != nil {
			return err
		}
	}
	data = append(data, '\n')
	*buf = data[:0] // grown
	if _, err := ob.f.WriteAt(data, 0); err != nil {
		return err
	}
	if int64(len(data)) < ob.size {
		if err := ob.f.Truncate(int64(len(data))); err != nil {
			return err
		}
	}
	ob.size = int64(len(data))
	return nil
}

// close releases the file's lock, and the file: kept open for the next use,
// unless err or the release failed (the next use opens it again), or it was
// not to be kept. It returns err or the release's error.
func (ob *openBucket) close(err error) error {
	if ob.bf == nil {
		if cerr := ob.f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	uerr := funlock(ob.f)
	if err != nil || uerr != nil {
		ob.f.Close() // its lock goes with it
		ob.bf.f = nil
	}
	ob.bf.mu.Unlock()
	return cmp.Or(err, uerr)
}

// Get returns the state of ref; ok is false when none is known (never
// recorded, resolved, expired: an expired state is dropped by the next
// change to its bucket, or by Prune). A bucket that does not decode is an
// error, and ok false: everything in it is unknown until a Put rewrites it.
func (s *AlertStore) Get(ref AlertRef) (st AlertState, ok bool, err error) {
	path := s.bucketPath(ref)
	ob, err := s.openBucket(path, false, false, &ref)
	if err != nil {
		return st, false, fmt.Errorf("alert store: %w", err)
	}
	if ob.f == nil {
		return st, false, nil
	}
	ob.close(nil) // read-only: nothing to lose
	if ob.bad != nil {
		return st, false, fmt.Errorf("alert store: %s: %w", path[len(s.prefix):], ob.bad)
	}
	for _, e := range ob.b.States {
		if e.is(ref) {
			if e.Root == "" || s.expired(e.AlertState) {
				break
			}
			return e.AlertState, true, nil
		}
	}
	return st, false, nil
}

// Put records st for ref, replacing its state, and drops the expired states
// of its bucket. A bucket that does not decode is replaced (what it held
// was lost already). It is not fsync'ed: see the store's layout, and
// BENCHMARKS.md (two syncs per room and alarm were a third of an exec's
// time).
func (s *AlertStore) Put(ref AlertRef, st AlertState) error {
	ob, err := s.openBucket(s.bucketPath(ref), true, true, nil)
	if err == nil {
		ob.dropExpired(s)
		e := alertEntry{Source: ref.Source, Alert: ref.Alert, Room: ref.Room, AlertState: st}
		if i := slices.IndexFunc(ob.b.States, func(o alertEntry) bool { return o.is(ref) }); i >= 0 {
			ob.b.States[i] = e
		} else {
			ob.b.States = append(ob.b.States, e)
		}
		err = ob.close(ob.write())
	}
	if err != nil {
		return fmt.Errorf("alert store: %w", err)
	}
	return nil
}

// Delete forgets ref (its alert was resolved), and drops the expired states
// of its bucket. A bucket that does not exist is not created, nor one that
// does not decode rewritten (ref is unknown there already).
func (s *AlertStore) Delete(ref AlertRef) error {
	ob, err := s.openBucket(s.bucketPath(ref), false, true, nil)
	if err == nil && ob.f != nil {
		var werr error
		if ob.bad == nil {
			n := len(ob.b.States)
			ob.b.States = slices.DeleteFunc(ob.b.States, func(e alertEntry) bool { return e.is(ref) })
			if len(ob.b.States) < n || ob.dropExpired(s) > 0 {
				werr = ob.write()
			}
		}
		err = ob.close(werr)
	}
	if err != nil {
		return fmt.Errorf("alert store: %w", err)
	}
	return nil
}

// Prune drops the states past MaxAge from every bucket, empties the buckets
// that have not decoded for an hour (a fresh one may be mid-edit by hand; a
// Put replaces it anyway), and removes the previous layout's files: its
// temp files older than an hour, its per-ref files once past MaxAge (kept
// until then only for a downgrade; they are never read). It returns how
// many states and files it removed, an emptied bucket counting one. Put and
// Delete drop the expired states of the bucket they change; Prune is for the
// rest (serve calls it hourly).
func (s *AlertStore) Prune() (int, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("alert store: %w", err)
	}
	n := 0
	var errs []error
	for _, de := range des {
		name := de.Name()
		if isHexName(name, 2) {
			m, err := s.pruneBucket(name)
			n += m
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			continue
		}
		var stale bool
		switch {
		case strings.HasPrefix(name, alertTmpPrefix):
			info, err := de.Info()
			stale = err == nil && time.Since(info.ModTime()) > alertLeftoverAge
		case isHexName(name, 32):
			stale = s.oldFileExpired(filepath.Join(s.dir, name), de)
		}
		if !stale {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("alert store: %w", errors.Join(errs...))
	}
	return n, nil
}

// pruneBucket drops the expired states of a bucket, or empties it if it has
// not decoded for long.
func (s *AlertStore) pruneBucket(name string) (int, error) {
	ob, err := s.openBucket(s.prefix+name, false, true, nil)
	if err != nil || ob.f == nil {
		return 0, err
	}
	n := 0
	var werr error
	switch {
	case ob.bad != nil:
		if fi, err := ob.f.Stat(); err != nil {
			werr = err
		} else if time.Since(fi.ModTime()) > alertLeftoverAge {
			ob.b = alertBucket{Version: alertBucketVersion}
			n, werr = 1, ob.write()
		}
	default:
		if n = ob.dropExpired(s); n > 0 {
			werr = ob.write()
		}
	}
	if err := ob.close(werr); err != nil {
		return 0, err
	}
	return n, nil
}

// oldFileExpired reports whether a state file of the previous layout is past
// MaxAge (or, unreadable, older than an hour).
func (s *AlertStore) oldFileExpired(path string, de fs.DirEntry) bool {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	var old struct {
		Updated time.Time `json:"updated"`
	}
	if err == nil {
		err = json.Unmarshal(data, &old)
	}
	if err != nil {
		info, ierr := de.Info()
		return ierr == nil && time.Since(info.ModTime()) > alertLeftoverAge
	}
	return s.expired(AlertState{Updated: old.Updated})
}
