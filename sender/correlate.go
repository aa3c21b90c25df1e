package sender

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
//	<key>.json   one alert's life in one room (AlertState, with its ref)
//	.tmp-*       a file being written (renamed into place when whole)
//
// key is the first 32 hex digits of sha256(source \0 alert key \0 room).
// Every write goes through a synced temp file and a rename, so a reader, or
// the next process after a crash, sees the old state or the new one, never a
// part.
const alertFileVersion = 1

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
	// RootContent is the content the root was sent with.
	RootContent Content `json:"root_content"`
	// Content is the content of the last transition as the adapter made it
	// (no relation, no "* "): in edit mode, what the root shows now.
	Content Content   `json:"content"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// alertFile is an AlertState as stored: with its ref, so that a file can be
// told apart from a hash collision and read by a person.
type alertFile struct {
	Version int    `json:"v"`
	Source  string `json:"source"`
	Alert   string `json:"alert"`
	Room    string `json:"room"`
	AlertState
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
// life, one small JSON file each, so that its updates and resolution can be
// related to the event that raised it, across invocations.
//
// Concurrency: the store itself takes no lock; a Get, Put or Delete is
// atomic on its own (last writer wins). A read-send-write by
// LifecycleTransport is serialised per (source, alert, room) within a
// process by the transport, and across processes by the outbox's per-room
// lock, under which every queued message is sent: the ref contains the room,
// so two processes never race on one file. Used without the outbox (a plain
// Sender), two processes delivering transitions of the same alert to the
// same room at the same moment may both read the old state: each event is
// still sent and related to a valid earlier event of the life, and the last
// write wins. Prune runs outside those locks: a state it finds expired and
// that is rewritten in the same instant may be removed (the next transition
// is then posted unrelated, as for any lost state).
type AlertStore struct {
	dir    string
	maxAge time.Duration
	now    func() time.Time
}

// OpenAlertStore opens (creating it if needed) the store in dir.
func OpenAlertStore(dir string, opts AlertStoreOptions) (*AlertStore, error) {
	s := &AlertStore{dir: dir, maxAge: cmp.Or(opts.MaxAge, DefaultAlertMaxAge), now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("alert store: %w", err)
	}
	return s, nil
}

// Dir is the directory the store lives in.
func (s *AlertStore) Dir() string { return s.dir }

func alertFileName(ref AlertRef) string {
	h := sha256.New()
	for _, part := range []string{ref.Source, ref.Alert, ref.Room} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16]) + ".json"
}

func (s *AlertStore) expired(st AlertState) bool {
	return s.now().Sub(st.Updated) > s.maxAge
}

// Get returns the state of ref; ok is false when none is known (never
// recorded, resolved, expired: an expired file is removed). An unreadable
// file is an error, and ok false.
func (s *AlertStore) Get(ref AlertRef) (st AlertState, ok bool, err error) {
	path := filepath.Join(s.dir, alertFileName(ref))
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("alert store: %w", err)
	}
	if len(data) == 0 {
		return st, false, nil // written, not synced, then a power loss (see Put)
	}
	var f alertFile
	if err := json.Unmarshal(data, &f); err != nil {
		return st, false, fmt.Errorf("alert store: %s: %w", filepath.Base(path), err)
	}
	if f.Source != ref.Source || f.Alert != ref.Alert || f.Room != ref.Room || f.Root == "" {
		return st, false, nil // a collision, or garbage: unknown, and overwritten by the next Put
	}
	if s.expired(f.AlertState) {
		os.Remove(path)
		return st, false, nil
	}
	return f.AlertState, true, nil
}

// Put records st for ref. It is not fsync'ed: the store is an aid (a lost
// entry costs a thread, not an alert: the next message is posted plainly),
// and two syncs per room and alarm were a third of an exec's time
// (BENCHMARKS.md). The temp file and rename keep it whole after a crash of
// the process; after a power loss, an empty or stale file reads as unknown.
func (s *AlertStore) Put(ref AlertRef, st AlertState) error {
	data, err := json.Marshal(alertFile{Version: alertFileVersion, Source: ref.Source, Alert: ref.Alert, Room: ref.Room, AlertState: st})
	if err == nil {
		err = writeFileAtomic(s.dir, alertFileName(ref), data, false)
		if errors.Is(err, fs.ErrNotExist) { // the directory was removed under us
			if err = os.MkdirAll(s.dir, 0o700); err == nil {
				err = writeFileAtomic(s.dir, alertFileName(ref), data, false)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("alert store: %w", err)
	}
	return nil
}

// Delete forgets ref (its alert was resolved).
func (s *AlertStore) Delete(ref AlertRef) error {
	if err := os.Remove(filepath.Join(s.dir, alertFileName(ref))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("alert store: %w", err)
	}
	return nil
}

// Prune removes the states past MaxAge, unreadable files, and temp files
// left by a crashed write, and returns how many files it removed. Get prunes
// lazily what it reads; Prune is for the rest (serve calls it now and then).
func (s *AlertStore) Prune() (int, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("alert store: %w", err)
	}
	n := 0
	var errs []error
	for _, de := range des {
		name := de.Name()
		path := filepath.Join(s.dir, name)
		var stale bool
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			info, err := de.Info()
			stale = err == nil && time.Since(info.ModTime()) > leftoverAge
		case strings.HasSuffix(name, ".json"):
			data, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			var f alertFile
			if err == nil {
				err = json.Unmarshal(data, &f)
			}
			// Unreadable for long: garbage (a fresh one may be mid-write by
			// hand; a Put replaces it anyway).
			if err != nil {
				info, ierr := de.Info()
				stale = ierr == nil && time.Since(info.ModTime()) > leftoverAge
			} else {
				stale = s.expired(f.AlertState)
			}
		}
		if !stale {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
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
