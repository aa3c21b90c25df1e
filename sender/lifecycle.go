package sender

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Lifecycle is how the transitions of one alert relate to each other in a
// room (the lifecycle setting).
type Lifecycle string

const (
	// LifecycleThread (the default): the raise is posted; its updates and
	// resolution go into the raise's thread (m.thread, with a reply
	// fallback to the previous event for clients without threads).
	LifecycleThread Lifecycle = "thread"
	// LifecycleReply: updates and resolution are replies (m.in_reply_to)
	// to the previous event of the alert's life, in the main timeline.
	LifecycleReply Lifecycle = "reply"
	// LifecycleEdit: updates and resolution edit the raise (m.replace), so
	// the room holds one message per alert showing its current state. Edits
	// do not notify (.m.rule.suppress_edits), except users the edit newly
	// mentions (its top-level m.mentions holds only those): an escalation
	// without a new mention is silent.
	LifecycleEdit Lifecycle = "edit"
	// LifecycleNone: every transition is posted on its own, as before.
	LifecycleNone Lifecycle = "none"
)

// DefaultLifecycle is the mode of an empty setting.
const DefaultLifecycle = LifecycleThread

// ParseLifecycle checks a lifecycle setting; "" is DefaultLifecycle.
func ParseLifecycle(s string) (Lifecycle, error) {
	switch l := Lifecycle(strings.ToLower(strings.TrimSpace(s))); l {
	case "":
		return DefaultLifecycle, nil
	case LifecycleThread, LifecycleReply, LifecycleEdit, LifecycleNone:
		return l, nil
	}
	return "", fmt.Errorf("lifecycle %q: want thread, reply, edit or none", s)
}

// ResolvedMarker starts the text an edit gives a resolved alert
// (LifecycleEdit): the marker, the resolution's text, then the text the
// message showed until then.
const ResolvedMarker = "✅ RESOLVED — "

// LifecycleTransport relates the transitions of an alert in a room, as Mode
// says, and sends them through Next. It decides when a message is sent, not
// when it is queued, so a raise that waited in the outbox still becomes the
// root of its life, and the updates queued behind it relate to it.
//
//   - raise: sent as is; its event becomes the alert's root (and latest).
//   - update, resolve with a known root: related to it (thread: m.thread
//     on the root, reply fallback to the latest event; reply: m.in_reply_to
//     the latest event; edit: m.replace of the root, m.new_content the new
//     content, or for a resolve the ResolvedMarker, the resolution and the
//     text shown until then; the top-level body is "* " and the same).
//   - update with no known root (the state was lost, the alert was raised
//     before matrix-notify kept state, or an update arrives first): posted
//     as is, and it becomes the root of the rest of the life.
//   - resolve with no known root: posted as is.
//   - a successful resolve forgets the alert: a new raise starts a new root.
//
// Messages without an AlertKey or Phase, Mode LifecycleNone, and a nil
// Store send through Next unchanged. A message with a Phase must not carry
// its own relation: the transport owns m.relates_to and m.new_content.
//
// Txn ids: the relation depends on the store, so a message re-sent after a
// crash (sent, then killed before the outbox removed it) may carry another
// relation than the first time, under the same txn id. That is safe: a
// homeserver answers a repeated txn id with the first event's id whatever
// the repeat carries, and creates nothing; the transport then records that
// first event again. (The repeat cannot come after a later transition of the
// same alert in the same room: the outbox delivers a room oldest first.) A
// homeserver that forgot the txn id would post the repeat: the outbox looks
// for an earlier attempt that got no answer first (FindSent), and records
// what it finds as a send.
//
// Safe for concurrent use: the read-send-record of one (source, alert, room)
// is serialised in the process; across processes the outbox's room claim does
// it (see AlertStore).
type LifecycleTransport struct {
	Next  Transport
	Store *AlertStore
	// Mode is "" for DefaultLifecycle; an unknown mode sends as is.
	Mode Lifecycle
	// Source is the source of messages that name none (Message.Source).
	Source string
	// Log gets a line when the store fails; nil discards.
	Log *slog.Logger

	mu    sync.Mutex
	locks map[AlertRef]*refLock
}

type refLock struct {
	sync.Mutex
	users int
}

// lock serialises the sends of one ref in this process.
func (t *LifecycleTransport) lock(ref AlertRef) func() {
	t.mu.Lock()
	if t.locks == nil {
		t.locks = map[AlertRef]*refLock{}
	}
	l := t.locks[ref]
	if l == nil {
		l = &refLock{}
		t.locks[ref] = l
	}
	l.users++
	t.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		t.mu.Lock()
		if l.users--; l.users == 0 {
			delete(t.locks, ref)
		}
		t.mu.Unlock()
	}
}

func (t *LifecycleTransport) logError(msg string) {
	if t.Log != nil {
		t.Log.Error(msg)
	}
}

// Send implements Transport.
func (t *LifecycleTransport) Send(ctx context.Context, m Message) (string, error) {
	lc, ok := t.life(ctx, m)
	if !ok {
		return t.Next.Send(ctx, m)
	}
	defer lc.unlock()
	out := m
	out.Content = lc.plain
	if lc.known {
		out.Content = related(lc.mode, lc.st, m.Phase, lc.plain)
	}
	eventID, err := t.Next.Send(ctx, out)
	if err != nil {
		return "", err
	}
	t.record(ctx, lc, m, eventID)
	return eventID, nil
}

// FindSent implements SentFinder: an earlier attempt found to have arrived
// is recorded in the alert's life as its send would have been.
func (t *LifecycleTransport) FindSent(ctx context.Context, m Message, since time.Time) (string, error) {
	lc, ok := t.life(ctx, m)
	if !ok {
		return findSent(ctx, t.Next, m, since)
	}
	defer lc.unlock()
	eventID, err := findSent(ctx, t.Next, m, since)
	if err == nil && eventID != "" {
		t.record(ctx, lc, m, eventID)
	}
	return eventID, err
}

// lifeCall is one transition of an alert's life being sent: what the store
// knew of the life before, under the ref's lock.
type lifeCall struct {
	mode   Lifecycle
	ref    AlertRef
	plain  Content // the transition's own content, without relation
	st     AlertState
	known  bool
	unlock func()
}

// life locks m's ref and reads what is known of its life; ok is false when
// m is sent as is (no lifecycle, no phase, no alert key, no store).
func (t *LifecycleTransport) life(ctx context.Context, m Message) (lc lifeCall, ok bool) {
	lc.mode = cmp.Or(t.Mode, DefaultLifecycle)
	switch lc.mode {
	case LifecycleThread, LifecycleReply, LifecycleEdit:
	default:
		return lc, false
	}
	switch m.Phase {
	case PhaseRaise, PhaseUpdate, PhaseResolve:
	default:
		return lc, false
	}
	if t.Store == nil || m.AlertKey == "" {
		return lc, false
	}
	lc.ref = AlertRef{Source: cmp.Or(m.Source, t.Source), Alert: m.AlertKey, Room: m.Room}
	lc.unlock = t.lock(lc.ref)
	lc.plain = m.Content
	lc.plain.RelatesTo, lc.plain.NewContent = nil, nil // a root is never a relation
	// A raise starts a new life: what is known of the last one is moot.
	if m.Phase != PhaseRaise {
		var err error
		lc.st, lc.known, err = t.Store.Get(ctx, lc.ref)
		if err != nil {
			t.logError(fmt.Sprintf("alert lifecycle: %v: sending %s to '%s' unrelated", err, m.Summary, m.Room))
		}
	}
	return lc, true
}

// record keeps what sending m as eventID changed in its alert's life.
func (t *LifecycleTransport) record(ctx context.Context, lc lifeCall, m Message, eventID string) {
	now := t.Store.now()
	st := lc.st
	var serr error
	switch {
	case m.Phase == PhaseResolve:
		serr = t.Store.Delete(ctx, lc.ref)
	case !lc.known: // a raise, or an update that takes the root's place
		st = AlertState{Root: eventID, Latest: eventID, Created: now, Updated: now}
		if lc.mode == LifecycleEdit {
			st.RootContent, st.Content = lc.plain, lc.plain
		}
		serr = t.Store.Put(ctx, lc.ref, st)
	default:
		st.Latest, st.Updated = eventID, now
		if lc.mode == LifecycleEdit {
			// Only an edit needs what the root shows; threads and replies
			// keep the store small.
			st.Content = lc.plain
		}
		serr = t.Store.Put(ctx, lc.ref, st)
	}
	if serr != nil {
		// Delivered all the same: the next transition may be posted unrelated.
		t.logError(fmt.Sprintf("alert lifecycle: %v (after sending %s to '%s', event %s)", serr, m.Summary, m.Room, eventID))
	}
}

// related returns c (a transition's own content) related to the alert's life
// st as mode says.
func related(mode Lifecycle, st AlertState, phase Phase, c Content) Content {
	switch mode {
	case LifecycleReply:
		c.RelatesTo = &RelatesTo{InReplyTo: &InReplyTo{EventID: cmp.Or(st.Latest, st.Root)}}
		return c
	case LifecycleEdit:
		return edit(st, phase, c)
	default: // thread
		c.RelatesTo = &RelatesTo{RelType: RelThread, EventID: st.Root, IsFallingBack: true,
			InReplyTo: &InReplyTo{EventID: cmp.Or(st.Latest, st.Root)}}
		return c
	}
}

// edit returns the m.replace event that makes the root show c (an update)
// or the resolution c over what it showed (a resolve).
func edit(st AlertState, phase Phase, c Content) Content {
	shown := st.Content
	if shown.Body == "" {
		shown = st.RootContent
	}
	nc := c
	if phase == PhaseResolve {
		nc = resolvedContent(shown, c)
	}
	nc.RelatesTo, nc.NewContent = nil, nil
	out := Content{
		MsgType:    nc.MsgType,
		Body:       "* " + nc.Body,
		Format:     nc.Format,
		Mentions:   newMentions(shown.Mentions, nc.Mentions),
		RelatesTo:  &RelatesTo{RelType: RelReplace, EventID: st.Root},
		NewContent: &nc,
	}
	if nc.FormattedBody != "" {
		out.FormattedBody = "* " + nc.FormattedBody
	}
	if editTooLarge(out) {
		// The fallback is for clients without edits: shorten it rather than
		// have the homeserver refuse the event (65,536 bytes in all).
		out.Body = "* " + truncateRunes(firstLine(nc.Body), 500)
		out.Format, out.FormattedBody = "", ""
		if phase == PhaseResolve && editTooLarge(out) {
			// Still too large: the resolution alone, without the old text.
			return edit(AlertState{Root: st.Root, Latest: st.Latest, Content: Content{MsgType: shown.MsgType, Mentions: shown.Mentions}}, PhaseUpdate, resolvedContent(Content{}, c))
		}
	}
	if !mentionsAnyone(out.Mentions) && mentionsAnyone(nc.Mentions) {
		// Nobody is newly mentioned, but the fallback names who was, on one
		// line (severity.Apply). Synapse never notifies an edit for that
		// (.m.rule.suppress_edits); Dendrite 0.13 has no such rule and its
		// legacy body rules would ping them again. Those rules never match
		// a body with a line break (observed: the same edit highlights
		// without the final newline, not with it).
		out.Body += "\n"
	}
	return out
}

func mentionsAnyone(m *Mentions) bool { return m != nil && (len(m.UserIDs) > 0 || m.Room) }

// maxEditContent leaves room, under the 65,536-byte event limit, for the
// rest of the event (ids, signatures, hashes).
const maxEditContent = 60000

func editTooLarge(c Content) bool {
	data, err := json.Marshal(c)
	return err != nil || len(data) > maxEditContent
}

// resolvedContent is what an edited alert shows once resolved: the marker
// and the resolution's text, then the text it showed until then.
func resolvedContent(shown, res Content) Content {
	marker := ResolvedMarker
	if strings.HasPrefix(res.Body, "✅") { // Netdata's recovery text has its own
		marker = strings.TrimPrefix(marker, "✅ ")
	}
	out := Content{
		MsgType:  cmp.Or(res.MsgType, shown.MsgType),
		Body:     marker + res.Body,
		Mentions: res.Mentions,
	}
	if shown.Body != "" {
		out.Body += "\n\n" + shown.Body
	}
	if res.FormattedBody != "" || shown.FormattedBody != "" {
		out.Format = FormatHTML
		out.FormattedBody = "<b>" + html.EscapeString(strings.TrimSuffix(marker, " — ")) + "</b> — " + asHTML(res)
		if shown.Body != "" {
			out.FormattedBody += "<hr>" + asHTML(shown)
		}
	}
	return out
}

// asHTML is c's formatted body, or its body escaped.
func asHTML(c Content) string {
	if c.Format == FormatHTML && c.FormattedBody != "" {
		return c.FormattedBody
	}
	return strings.ReplaceAll(html.EscapeString(c.Body), "\n", "<br>")
}

// newMentions is the top-level m.mentions of an edit: only who the new
// content mentions and the old did not (the spec's rule, so an edit never
// pings twice), and always present.
func newMentions(old, cur *Mentions) *Mentions {
	out := &Mentions{}
	if cur == nil {
		return out
	}
	for _, u := range cur.UserIDs {
		if old == nil || !slices.Contains(old.UserIDs, u) {
			out.UserIDs = append(out.UserIDs, u)
		}
	}
	out.Room = cur.Room && (old == nil || !old.Room)
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
