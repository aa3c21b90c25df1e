package sender

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"matrix-notify/sender/format"
)

// Lifecycle is how the transitions of one alert relate to each other in a
// room (the lifecycle setting).
type Lifecycle string

// Updates and resolution go into the raise's thread (m.thread, with a reply
// fallback for clients without threads), are replies to the previous event,
// edit the raise (m.replace: one message per alert showing its state; an
// edit notifies only who it newly mentions), or are posted on their own.
const (
	LifecycleThread  Lifecycle = "thread"
	LifecycleReply   Lifecycle = "reply"
	LifecycleEdit    Lifecycle = "edit"
	LifecycleNone    Lifecycle = "none"
	DefaultLifecycle           = LifecycleThread
)

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

// DefaultResolvedMarker heads what an edited alert shows once resolved, for
// a source without its own (LifecycleTransport.ResolvedMarkers).
const DefaultResolvedMarker = "RESOLVED"

// LifecycleTransport relates the transitions of an alert in a room, as Mode
// says, and sends them through Next. It decides when a message is sent, not
// when it is queued, so a raise that waited in the outbox still becomes the
// root of its life, and the updates queued behind it relate to it.
//
//   - raise: sent as is; its event becomes the alert's root (and latest).
//   - update, resolve with a known root: related to it (see related and
//     edit).
//   - update with no known root (the state was lost, or an update arrives
//     first): posted as is, and it becomes the root of the rest of the life.
//   - resolve with no known root: posted as is.
//   - a successful resolve forgets the alert: a new raise starts a new root.
//
// Messages without an AlertKey or Phase, Mode LifecycleNone, and a nil
// Store send through Next unchanged. The transport owns m.relates_to and
// m.new_content of a message with a Phase.
//
// Txn ids: a message re-sent after a crash may carry another relation than
// the first time, under the same txn id. That is safe: a homeserver answers
// a repeated txn id with the first event's id and creates nothing, and the
// transport records that event again; a homeserver that forgot the txn id
// is asked first (FindSent, by the outbox).
//
// The read-send-record of one (source, alert, room) must not run twice at
// once: the outbox's room claim serialises it, across processes too.
type LifecycleTransport struct {
	Next  Transport
	Store *AlertStore
	// Mode is "" for DefaultLifecycle; an unknown mode sends as is.
	Mode Lifecycle
	// Source is the source of messages that name none (Message.Source).
	Source string
	// ResolvedMarkers is, per source (Message.Source), the words that head
	// an edited alert's resolution: the adapter's own, such as "✅ RESOLVED".
	// A source without one gets DefaultResolvedMarker.
	ResolvedMarkers map[string]string
	// Log gets a line when the store fails; nil discards.
	Log *slog.Logger
}

// Send implements Transport.
func (t *LifecycleTransport) Send(ctx context.Context, m Message) (string, error) {
	lc, ok := t.life(ctx, m)
	if !ok {
		return t.Next.Send(ctx, m)
	}
	m.Content = lc.content
	eventID, err := t.Next.Send(ctx, m)
	if err != nil {
		return "", err
	}
	t.record(ctx, lc, m, eventID)
	return eventID, nil
}

// FindSent implements SentFinder: an earlier attempt found to have arrived
// is recorded in the alert's life as its send would have been.
func (t *LifecycleTransport) FindSent(ctx context.Context, m Message, since time.Time) (string, error) {
	eventID, err := findSent(ctx, t.Next, m, since)
	if err == nil && eventID != "" {
		if lc, ok := t.life(ctx, m); ok {
			t.record(ctx, lc, m, eventID)
		}
	}
	return eventID, err
}

// lifeCall is one transition of an alert's life being sent: what the store
// knew of the life before, and the content to send.
type lifeCall struct {
	mode    Lifecycle
	ref     AlertRef
	plain   Content // the transition's own content, without relation
	content Content // plain, related to the life
	st      AlertState
	known   bool
}

// life reads what is known of m's alert; ok is false when m is sent as is
// (no lifecycle, no phase, no alert key, no store).
func (t *LifecycleTransport) life(ctx context.Context, m Message) (lc lifeCall, ok bool) {
	lc.mode = cmp.Or(t.Mode, DefaultLifecycle)
	if !slices.Contains([]Lifecycle{LifecycleThread, LifecycleReply, LifecycleEdit}, lc.mode) ||
		!slices.Contains([]Phase{PhaseRaise, PhaseUpdate, PhaseResolve}, m.Phase) || t.Store == nil || m.AlertKey == "" {
		return lc, false
	}
	lc.ref = AlertRef{Source: cmp.Or(m.Source, t.Source), Alert: m.AlertKey, Room: m.Room}
	lc.plain = m.Content
	lc.plain.RelatesTo, lc.plain.NewContent = nil, nil // a root is never a relation
	lc.content = lc.plain
	// A raise starts a new life: what is known of the last one is moot.
	if m.Phase != PhaseRaise {
		var err error
		if lc.st, lc.known, err = t.Store.Get(ctx, lc.ref); err != nil {
			orDiscard(t.Log).Error("alert lifecycle: sending unrelated", "alarm", m.Summary, "room", m.Room, "err", err)
		}
		if lc.known {
			lc.content = related(lc.mode, lc.st, m.Phase, lc.plain, cmp.Or(t.ResolvedMarkers[lc.ref.Source], DefaultResolvedMarker))
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
		orDiscard(t.Log).Error("alert lifecycle: cannot record the send", "alarm", m.Summary, "room", m.Room, "event", eventID, "err", serr)
	}
}

// related returns c (a transition's own content) related to the alert's life
// st as mode says; marker heads a resolution an edit shows.
func related(mode Lifecycle, st AlertState, phase Phase, c Content, marker string) Content {
	switch mode {
	case LifecycleReply:
		c.RelatesTo = &RelatesTo{InReplyTo: &InReplyTo{EventID: cmp.Or(st.Latest, st.Root)}}
		return c
	case LifecycleEdit:
		return edit(st, phase, c, marker)
	default: // thread
		c.RelatesTo = &RelatesTo{RelType: RelThread, EventID: st.Root, IsFallingBack: true,
			InReplyTo: &InReplyTo{EventID: cmp.Or(st.Latest, st.Root)}}
		return c
	}
}

// edit returns the m.replace event that makes the root show c (an update)
// or, headed by marker, the resolution c over what it showed (a resolve).
// It fits format.MaxContentBytes: a fallback too large becomes the first line
// of the new text, a resolution too large loses the text shown until then,
// and a new content still too large is cut by format.Fit.
func edit(st AlertState, phase Phase, c Content, marker string) Content {
	shown := st.Content
	if shown.Body == "" {
		shown = st.RootContent
	}
	nc := c
	if phase == PhaseResolve {
		nc = resolvedContent(shown, c, marker)
	}
	nc.RelatesTo, nc.NewContent = nil, nil
	mentions := newMentions(shown.Mentions, nc.Mentions)
	var end string
	if !mentionsAnyone(mentions) && mentionsAnyone(nc.Mentions) {
		// Nobody is newly mentioned, but the fallback names who was, on one
		// line (format.ApplySeverity). Synapse never notifies an edit for
		// that (.m.rule.suppress_edits); Dendrite 0.13 has no such rule and
		// its legacy body rules would ping them again. Those rules never
		// match a body with a line break (observed: the same edit highlights
		// without the final newline, not with it).
		end = "\n"
	}
	out := Content{
		MsgType:    nc.MsgType,
		Body:       "* " + nc.Body + end,
		Format:     nc.Format,
		Mentions:   mentions,
		RelatesTo:  &RelatesTo{RelType: RelReplace, EventID: st.Root},
		NewContent: &nc,
	}
	if nc.FormattedBody != "" {
		out.FormattedBody = "* " + nc.FormattedBody
	}
	if format.JSONSize(out) > format.MaxContentBytes {
		// The fallback is for clients without edits: shorten it rather than
		// have the homeserver refuse the event.
		out.Body = "* " + format.TruncateText(firstLine(nc.Body), maxEditFallback) + end
		out.Format, out.FormattedBody = "", ""
		if phase == PhaseResolve && format.JSONSize(out) > format.MaxContentBytes {
			// Still too large: the resolution alone, without the old text.
			return edit(AlertState{Root: st.Root, Latest: st.Latest, Content: Content{MsgType: shown.MsgType, Mentions: shown.Mentions}}, PhaseUpdate, resolvedContent(Content{}, c, marker), marker)
		}
		if over := format.JSONSize(out) - format.MaxContentBytes; over > 0 {
			// The new content alone is too large (an adapter fits a message
			// to the limit, not to the limit less an edit's fallback).
			fitted := format.Fit(nc, format.JSONSize(nc)-over)
			out.NewContent = &fitted
		}
	}
	return out
}

func mentionsAnyone(m *Mentions) bool { return m != nil && (len(m.UserIDs) > 0 || m.Room) }

// maxEditFallback is what the shortened fallback of an oversized edit may
// take (JSON bytes of its first line): enough to say what the alert is.
const maxEditFallback = 500

// resolvedContent is what an edited alert shows once resolved: marker and
// the resolution's text, then the text it showed until then. The marker's
// first word is left out when the resolution starts with it.
func resolvedContent(shown, res Content, marker string) Content {
	if first, rest, ok := strings.Cut(marker, " "); ok && strings.HasPrefix(res.Body, first) {
		marker = rest
	}
	out := Content{
		MsgType:  cmp.Or(res.MsgType, shown.MsgType),
		Body:     marker + " — " + res.Body,
		Mentions: res.Mentions,
	}
	if shown.Body != "" {
		out.Body += "\n\n" + shown.Body
	}
	if res.FormattedBody != "" || shown.FormattedBody != "" {
		out.Format = FormatHTML
		out.FormattedBody = "<b>" + format.Text(marker) + "</b> — " + asHTML(res)
		if shown.Body != "" {
			out.FormattedBody += "<hr>" + asHTML(shown)
		}
	}
	return out
}

// asHTML is c's formatted body, or its body as HTML text.
func asHTML(c Content) string {
	if c.Format == FormatHTML && c.FormattedBody != "" {
		return c.FormattedBody
	}
	return format.Text(c.Body)
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
	line, _, _ := strings.Cut(s, "\n")
	return line
}
