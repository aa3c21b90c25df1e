package sender

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
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
	mu     sync.Mutex
	f      *os.File // nil until opened, or after an error
	opened time.Time
}

// bucketReopen is how long a bucket is kept open before it is opened again
// by path: should the file be removed or replaced (by hand, or the whole
// store), changes reach the new one after this at the latest.
const bucketReopen = 5 * time.Second

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
	if bf.f != nil && time.Since(bf.opened) > bucketReopen {
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
			bf.f, bf.opened = f, time.Now()
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

// The bucket codec. A bucket is decoded on every Get, Put and Delete, and
// encoded on every change: with encoding/json that was most of the store's
// CPU (reflection, a scan of the whole value before decoding it, a slice
// grown state by state). What the store writes is always of one shape
// (compact, the keys of alertBucket and alertEntry in order, each once), so
// a parser made for that shape decodes it, and encoding/json decides
// whatever it does not take on; appendAlertBucket writes that shape.

// bucketBufPool holds the buffers a bucket is read into and encoded in.
var bucketBufPool = sync.Pool{New: func() any { return new([]byte) }}

// getBucketBuf returns a pooled buffer of at least n bytes' capacity.
func getBucketBuf(n int) *[]byte {
	buf := bucketBufPool.Get().(*[]byte)
	if cap(*buf) < n {
		*buf = make([]byte, 0, max(n, 4096))
	}
	return buf
}

// putBucketBuf returns buf to the pool, unless it grew large (a bucket of
// many states: keep the memory of the common case only).
func putBucketBuf(buf *[]byte) {
	if cap(*buf) <= 64<<10 {
		bucketBufPool.Put(buf)
	}
}

// decodeAlertBucket decodes the first JSON value of data into a bucket as
// json.NewDecoder(bytes.NewReader(data)).Decode does: what follows the
// value is not looked at. With only, the states may be only the first of
// that ref (the fast parser keeps no other). The fast parser accepts only
// what it decodes to the same bucket as encoding/json
// (FuzzDecodeAlertBucket checks it): JSON with the known keys, each once,
// and values of their types (no null); given anything else (another key or
// case, a duplicate, a syntax error) it gives up, and encoding/json decodes
// the value, with its errors.
func decodeAlertBucket(data []byte, only *AlertRef) (alertBucket, error) {
	if b, ok := parseAlertBucket(data, only); ok {
		return b, nil
	}
	var b alertBucket
	err := json.NewDecoder(bytes.NewReader(data)).Decode(&b)
	return b, err
}

// parseAlertBucket is the fast parser of decodeAlertBucket, ok false when
// it gives up. With only, the states are only the first of that ref, if
// any (nil if none).
func parseAlertBucket(data []byte, only *AlertRef) (b alertBucket, ok bool) {
	p := bucketParser{data: data, text: string(data)}
	if only != nil {
		p.only, p.onlyOne = *only, true
	}
	return p.bucket()
}

// bucketParser is the fast parser of decodeAlertBucket: each method parses
// a value at i, or reports false. text is data as a string: the strings it
// decodes are parts of it, one allocation for them all (a state kept keeps
// its bucket's text).
type bucketParser struct {
	data []byte
	text string
	i    int
	// only and onlyOne: parseAlertBucket's only (a copy: escape analysis
	// would put a pointer kept here on the heap).
	only    AlertRef
	onlyOne bool
}

// The keys of the objects of a bucket, in the order appendAlertBucket
// writes them.
var (
	alertBucketKeys = []string{"v", "states"}
	alertEntryKeys  = []string{"source", "alert", "room", "root", "latest", "root_content", "content",
		"created", "updated"}
	alertContentKeys = []string{"msgtype", "body", "format", "formatted_body", "m.mentions", "m.relates_to",
		"m.new_content"}
)

func (p *bucketParser) bucket() (b alertBucket, ok bool) {
	ok = p.object(alertBucketKeys, func(k int) bool {
		if k == 0 {
			return p.smallInt(&b.Version)
		}
		return p.states(&b.States)
	})
	return b, ok
}

func (p *bucketParser) states(out *[]alertEntry) bool {
	if !p.next('[') {
		return false
	}
	if p.onlyOne {
		return p.onlyState(out)
	}
	// Room for every state, and the one a Put may add (a state takes 200
	// bytes or more).
	states := make([]alertEntry, 0, len(p.data)/200+1)
	if !p.next(']') {
		for {
			states = append(states, alertEntry{})
			if !p.entry(&states[len(states)-1]) {
				return false
			}
			if p.next(',') {
				continue
			}
			if !p.next(']') {
				return false
			}
			break
		}
	}
	*out = states
	return true
}

// onlyState parses the states after the '[' as states does, keeping only
// the first of p.only.
func (p *bucketParser) onlyState(out *[]alertEntry) bool {
	var found []alertEntry
	if !p.next(']') {
		for {
			var e alertEntry
			if !p.entry(&e) {
				return false
			}
			if found == nil && e.is(p.only) {
				found = []alertEntry{e}
			}
			if p.next(',') {
				continue
			}
			if !p.next(']') {
				return false
			}
			break
		}
	}
	*out = found
	return true
}

func (p *bucketParser) entry(e *alertEntry) bool {
	return p.object(alertEntryKeys, func(k int) bool {
		switch k {
		case 0:
			return p.str(&e.Source)
		case 1:
			return p.str(&e.Alert)
		case 2:
			return p.str(&e.Room)
		case 3:
			return p.str(&e.Root)
		case 4:
			return p.str(&e.Latest)
		case 5:
			return p.content(&e.RootContent)
		case 6:
			return p.content(&e.Content)
		case 7:
			return p.timestamp(&e.Created)
		default:
			return p.timestamp(&e.Updated)
		}
	})
}

func (p *bucketParser) content(c *Content) bool {
	return p.object(alertContentKeys, func(k int) bool {
		switch k {
		case 0:
			return p.str(&c.MsgType)
		case 1:
			return p.str(&c.Body)
		case 2:
			return p.str(&c.Format)
		case 3:
			return p.str(&c.FormattedBody)
		case 4:
			return parseBucketRare(p, &c.Mentions)
		case 5:
			return parseBucketRare(p, &c.RelatesTo)
		default:
			return parseBucketRare(p, &c.NewContent)
		}
	})
}

// object parses an object whose keys are among keys, each at most once,
// field parsing the value of keys[k].
func (p *bucketParser) object(keys []string, field func(k int) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	var seen uint32
	for {
		key, ok := p.key()
		if !ok {
			return false
		}
		k := -1
		for j, name := range keys {
			if string(key) == name {
				k = j
				break
			}
		}
		if k < 0 || seen&(1<<k) != 0 {
			return false
		}
		seen |= 1 << k
		if !p.next(':') || !field(k) {
			return false
		}
		if !p.next(',') {
			return p.next('}')
		}
	}
}

// ws skips white space.
func (p *bucketParser) ws() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space, and c if it comes next.
func (p *bucketParser) next(c byte) bool {
	p.ws()
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

// quoted returns the content of the string at i, raw, and whether it holds
// an escape or a byte past ASCII. A control character is a syntax error.
func (p *bucketParser) quoted() (raw []byte, escaped, wide, ok bool) {
	if !p.next('"') {
		return nil, false, false, false
	}
	start := p.i
	// Most strings are plain ASCII: find the quote, check what it closes.
	end := bytes.IndexByte(p.data[start:], '"')
	if end >= 0 && bucketPlainASCII(p.data[start:start+end]) {
		p.i = start + end + 1
		return p.data[start : start+end], false, false, true
	}
	for i := start; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '"':
			p.i = i + 1
			return p.data[start:i], escaped, wide, true
		case c == '\\':
			escaped = true
			i++ // what is escaped, a quote included
		case c < 0x20:
			return nil, false, false, false
		case c >= utf8.RuneSelf:
			wide = true
		}
	}
	return nil, false, false, false
}

// bucketPlainASCII reports whether s is ASCII without control characters or
// backslashes, eight bytes at a time.
func bucketPlainASCII(s []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; len(s) >= 8; s = s[8:] {
		w := binary.LittleEndian.Uint64(s)
		bs := w ^ ('\\' * ones) // a zero byte where s has a backslash
		if (w|(w-0x20*ones)|(bs-ones)&^bs)&highs != 0 {
			return false
		}
	}
	for _, c := range s {
		if c < 0x20 || c >= utf8.RuneSelf || c == '\\' {
			return false
		}
	}
	return true
}

// key parses a key: one without escapes (no known key needs them).
func (p *bucketParser) key() ([]byte, bool) {
	raw, escaped, _, ok := p.quoted()
	return raw, ok && !escaped
}

// str parses a string. One with escapes or invalid UTF-8 is decoded by
// encoding/json, the rest taken as they are (as encoding/json does).
func (p *bucketParser) str(s *string) bool {
	p.ws()
	start := p.i
	raw, escaped, wide, ok := p.quoted()
	switch {
	case !ok:
		return false
	case escaped || wide && !utf8.Valid(raw):
		var v string // not s: see parseBucketRare
		if json.Unmarshal(p.data[start:p.i], &v) != nil {
			return false
		}
		*s = v
		return true
	}
	*s = p.text[p.i-1-len(raw) : p.i-1]
	return true
}

// timestamp parses a time as encoding/json does: time.Time.UnmarshalJSON
// given the literal, escapes and all (so an escape is an error).
func (p *bucketParser) timestamp(t *time.Time) bool {
	p.ws()
	start := p.i
	if _, escaped, _, ok := p.quoted(); !ok || escaped {
		return false
	}
	return t.UnmarshalJSON(p.data[start:p.i]) == nil
}

// smallInt parses a small non-negative integer.
func (p *bucketParser) smallInt(n *int) bool {
	p.ws()
	start := p.i
	for p.i < len(p.data) && '0' <= p.data[p.i] && p.data[p.i] <= '9' {
		p.i++
	}
	digits := p.data[start:p.i]
	if len(digits) == 0 || len(digits) > 9 || digits[0] == '0' && len(digits) > 1 {
		return false
	}
	v := 0
	for _, c := range digits {
		v = v*10 + int(c-'0')
	}
	*n = v
	return true
}

// parseBucketRare decodes the value at i into *dst with encoding/json: the
// rare parts of a content (mentions, relations), each met once (*dst is
// nil). Decoded apart, not into *dst, which escape analysis would then put
// on the heap with all that holds it.
func parseBucketRare[T any](p *bucketParser, dst **T) bool {
	p.ws()
	start := p.i
	if !p.skip() {
		return false
	}
	var v *T
	if json.Unmarshal(p.data[start:p.i], &v) != nil {
		return false
	}
	*dst = v
	return true
}

// skip moves past the value at i: to the end of the string, or of the
// bracket that closes the one at i, or of a literal. What it skips is not
// checked (parseBucketRare's json.Unmarshal does): if it is valid JSON, it
// is the whole value.
func (p *bucketParser) skip() bool {
	depth := 0
	for p.i < len(p.data) {
		switch c := p.data[p.i]; c {
		case '"':
			if _, _, _, ok := p.quoted(); !ok {
				return false
			}
		case '{', '[':
			depth++
			p.i++
		case '}', ']':
			if depth == 0 {
				return false
			}
			depth--
			p.i++
		default:
			if depth == 0 { // a literal: true, false, null, a number
				start := p.i
				for p.i < len(p.data) && isBucketLiteralByte(p.data[p.i]) {
					p.i++
				}
				return p.i > start
			}
			p.i++
		}
		if depth == 0 {
			return true
		}
	}
	return false
}

func isBucketLiteralByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// appendAlertBucket appends b encoded as json.Marshal encodes it (the same
// bytes: TestAppendAlertBucket, FuzzAppendAlertBucket). It reports false if
// it could not (a time out of RFC 3339's range): json.Marshal then says
// why.
func appendAlertBucket(dst []byte, b *alertBucket) ([]byte, bool) {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(b.Version), 10)
	dst = append(dst, `,"states":`...)
	if b.States == nil {
		return append(dst, "null}"...), true
	}
	dst = append(dst, '[')
	for i := range b.States {
		e := &b.States[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"source":`...)
		dst = appendBucketString(dst, e.Source)
		dst = append(dst, `,"alert":`...)
		dst = appendBucketString(dst, e.Alert)
		dst = append(dst, `,"room":`...)
		dst = appendBucketString(dst, e.Room)
		dst = append(dst, `,"root":`...)
		dst = appendBucketString(dst, e.Root)
		dst = append(dst, `,"latest":`...)
		dst = appendBucketString(dst, e.Latest)
		var ok bool
		if e.RootContent != (Content{}) {
			dst = append(dst, `,"root_content":`...)
			if dst, ok = appendBucketContent(dst, &e.RootContent); !ok {
				return dst, false
			}
		}
		if e.Content != (Content{}) {
			dst = append(dst, `,"content":`...)
			if dst, ok = appendBucketContent(dst, &e.Content); !ok {
				return dst, false
			}
		}
		dst = append(dst, `,"created":"`...)
		if dst, ok = appendBucketTime(dst, e.Created); !ok {
			return dst, false
		}
		dst = append(dst, `","updated":"`...)
		if dst, ok = appendBucketTime(dst, e.Updated); !ok {
			return dst, false
		}
		dst = append(dst, `"}`...)
	}
	return append(dst, "]}"...), true
}

func appendBucketTime(dst []byte, t time.Time) ([]byte, bool) {
	out, err := t.AppendText(dst)
	if err != nil {
		return dst, false
	}
	return out, true
}

// appendBucketContent appends c; its rare parts (mentions, relations) by
// json.Marshal.
func appendBucketContent(dst []byte, c *Content) ([]byte, bool) {
	dst = append(dst, `{"msgtype":`...)
	dst = appendBucketString(dst, c.MsgType)
	dst = append(dst, `,"body":`...)
	dst = appendBucketString(dst, c.Body)
	if c.Format != "" {
		dst = append(dst, `,"format":`...)
		dst = appendBucketString(dst, c.Format)
	}
	if c.FormattedBody != "" {
		dst = append(dst, `,"formatted_body":`...)
		dst = appendBucketString(dst, c.FormattedBody)
	}
	for _, part := range []struct {
		key string
		v   any
		set bool
	}{
		{`,"m.mentions":`, c.Mentions, c.Mentions != nil},
		{`,"m.relates_to":`, c.RelatesTo, c.RelatesTo != nil},
		{`,"m.new_content":`, c.NewContent, c.NewContent != nil},
	} {
		if !part.set {
			continue
		}
		data, err := json.Marshal(part.v)
		if err != nil {
			return dst, false
		}
		dst = append(append(dst, part.key...), data...)
	}
	return append(dst, '}'), true
}

// appendBucketString appends s quoted as encoding/json quotes it (HTML
// characters escaped, invalid UTF-8 replaced, U+2028 and U+2029 escaped).
func appendBucketString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
