package sender

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"matrix-notify/sender/state"
)

// DefaultAlertMaxAge is how long an alert's correlation is kept after its
// last transition when no resolution comes (a resolve removes it at once).
// Past it the next update of the alert is posted on its own, as the root of
// a new life.
const DefaultAlertMaxAge = 7 * 24 * time.Hour

// AlertRef names one alert's life in one room: Source ("netdata", "kuma"),
// Alert (Message.AlertKey) and Room (as configured, Message.Room).
type AlertRef = state.AlertRef

// AlertState is what the store remembers of an alert's life in a room.
type AlertState struct {
	Root   string // the event that raised the alert: thread root, reply and edit target
	Latest string // the last event of the life, the reply fallback of the next one
	// RootContent is the content the root was sent with, and Content the
	// content of the last transition as the adapter made it (no relation,
	// no "* "): what the root shows now. Kept in edit mode only, the one
	// that needs them.
	RootContent Content
	Content     Content
	Created     time.Time
	Updated     time.Time
}

// AlertStoreOptions configure an AlertStore. The zero value is usable.
type AlertStoreOptions struct {
	MaxAge time.Duration    // after the last transition; 0 means DefaultAlertMaxAge
	Now    func() time.Time // nil means time.Now
}

// AlertStore remembers, per (source, alert, room), the events of an alert's
// life in the state database, so that its updates and resolution can be
// related to the event that raised it, across invocations. Each call is a
// transaction of its own; the read-send-write of LifecycleTransport is
// serialised per room across processes by the outbox's claim, under which
// every message is sent.
type AlertStore struct {
	db     *state.DB
	maxAge time.Duration
	now    func() time.Time
	pruned atomic.Bool // by the first Put
}

// NewAlertStore is the alert store in db.
func NewAlertStore(db *state.DB, opts AlertStoreOptions) *AlertStore {
	s := &AlertStore{db: db, maxAge: cmp.Or(opts.MaxAge, DefaultAlertMaxAge), now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

func (s *AlertStore) horizon() time.Time { return s.now().Add(-s.maxAge) }

// Get returns the state of ref; ok is false when none is known (never
// recorded, resolved, expired).
func (s *AlertStore) Get(ctx context.Context, ref AlertRef) (st AlertState, ok bool, err error) {
	a, ok, err := s.db.Alert(ctx, ref, s.horizon())
	if err != nil || !ok || a.Root == "" {
		return st, false, err
	}
	st = AlertState{Root: a.Root, Latest: a.Latest, Created: a.Created, Updated: a.Updated}
	if err := unmarshalContent(a.RootContent, &st.RootContent); err != nil {
		return st, false, fmt.Errorf("alert store: %v: root content: %w", ref, err)
	}
	if err := unmarshalContent(a.Content, &st.Content); err != nil {
		return st, false, fmt.Errorf("alert store: %v: content: %w", ref, err)
	}
	return st, true, nil
}

// Put records st for ref, replacing its state; the first Put of a store
// also forgets the expired states (as Prune).
func (s *AlertStore) Put(ctx context.Context, ref AlertRef, st AlertState) error {
	if !s.pruned.Swap(true) {
		if _, err := s.Prune(ctx); err != nil {
			return err
		}
	}
	return s.db.PutAlert(ctx, ref, state.Alert{Root: st.Root, Latest: st.Latest, Created: st.Created, Updated: st.Updated,
		RootContent: marshalContent(st.RootContent), Content: marshalContent(st.Content)})
}

// Delete forgets ref (its alert was resolved).
func (s *AlertStore) Delete(ctx context.Context, ref AlertRef) error {
	return s.db.DeleteAlert(ctx, ref)
}

// Prune forgets the states past MaxAge and returns how many: once per store
// by its first Put, and as often as a long-running process likes.
func (s *AlertStore) Prune(ctx context.Context) (int, error) {
	return s.db.PruneAlerts(ctx, s.horizon())
}

// marshalContent is nil for the zero Content (threads and replies keep
// none).
func marshalContent(c Content) []byte {
	if c == (Content{}) {
		return nil
	}
	data, _ := json.Marshal(c) // a Content always marshals
	return data
}

func unmarshalContent(data []byte, c *Content) error {
	if len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, c)
}
