// Package sender delivers notifications to Matrix rooms: it turns a
// Notification into one Matrix message per room with a deterministic
// transaction id, and sends them concurrently through a Transport (the real
// homeserver or a dry run). It knows Matrix and nothing of Netdata or Kuma.
package sender

import (
	"crypto/sha256"
	"encoding/base32"
	"net/url"
	"strings"

	"matrix-notify/sender/format"
)

// The content of a Matrix message is built and measured by sender/format;
// these aliases keep it spelled sender.Content where it is sent.
type (
	Content   = format.Content
	RelatesTo = format.RelatesTo
	InReplyTo = format.InReplyTo
	Mentions  = format.Mentions
)

// Relation types LifecycleTransport uses.
const (
	RelThread  = format.RelThread
	RelReplace = format.RelReplace
)

// FormatHTML is the only value of Content.Format that Matrix defines.
const FormatHTML = format.FormatHTML

// Notification is what an adapter hands to the sender: one alert transition
// and the rooms it goes to.
type Notification struct {
	// Source names the adapter ("netdata", "kuma"); part of the identity.
	Source string
	// Identity names this transition of this alert uniquely and stably: the
	// same alarm event run twice yields the same Identity, so the same txn ids.
	Identity string
	// Summary is a short human description used in log lines.
	Summary string
	Rooms   []string
	Content Content
	// AlertKey names the alert across its transitions, stably (Netdata:
	// host and alarm id; Kuma: monitor id): the raise, updates and
	// resolution of one alert share it, and LifecycleTransport relates them.
	// "" means the notification is not part of a life (sent as is).
	AlertKey string `json:",omitempty"`
	// Phase is where in its alert's life this transition is; "" as AlertKey.
	Phase Phase `json:",omitempty"`
}

// Phase is the place of a transition in its alert's life.
type Phase string

const (
	// PhaseRaise starts a life: the alert fired (WARNING/CRITICAL from
	// CLEAR, Kuma DOWN). Its event becomes the root the others relate to.
	PhaseRaise Phase = "raise"
	// PhaseUpdate is a change while raised: escalation or demotion
	// (WARNING -> CRITICAL -> WARNING).
	PhaseUpdate Phase = "update"
	// PhaseResolve ends the life (Netdata CLEAR, Kuma UP).
	PhaseResolve Phase = "resolve"
)

// Message is one event to send to one room.
type Message struct {
	Room    string
	TxnID   string
	Summary string
	Content Content
	// Source, AlertKey and Phase are the Notification's, for
	// LifecycleTransport (an outbox flush mixes sources in one transport).
	Source   string `json:",omitempty"`
	AlertKey string `json:",omitempty"`
	Phase    Phase  `json:",omitempty"`
	// EventType and Wire, when EventType is set, are what MatrixTransport
	// PUTs instead of m.room.message and Content: EncryptTransport sets
	// them (m.room.encrypted and the megolm ciphertext) on its way to the
	// wire, under the message's own txn id. Nothing else sets them, and
	// nothing keeps them: the outbox stores the plaintext Content, and a
	// message sent again is encrypted again (a new megolm index, the same
	// txn id, so the homeserver still deduplicates).
	EventType string `json:"-"`
	Wire      any    `json:"-"`
}

// Messages expands n into one Message per room, in the order of n.Rooms.
func Messages(n Notification) []Message {
	msgs := make([]Message, 0, len(n.Rooms))
	for _, room := range n.Rooms {
		msgs = append(msgs, Message{
			Room:     room,
			TxnID:    TxnID(n.Source, n.Identity, room),
			Summary:  n.Summary,
			Content:  n.Content,
			Source:   n.Source,
			AlertKey: n.AlertKey,
			Phase:    n.Phase,
		})
	}
	return msgs
}

var txnEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// TxnID derives the transaction id of an alert transition for one room. Matrix
// scopes txn ids to the access token and endpoint, and a homeserver answers a
// repeated PUT with the first event id, so a deterministic id makes every
// retry and every re-run of the same alarm duplicate-free.
func TxnID(source, identity, room string) string {
	h := sha256.New()
	for _, part := range []string{source, identity, room} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	return "mn" + strings.ToLower(txnEncoding.EncodeToString(sum[:20]))
}

// SendPath is the v3 client-server path of an m.room.message send: what a
// dry run prints, for encrypted rooms too (the plaintext request, see
// WriteDryRun).
func SendPath(room, txnID string) string {
	return SendEventPath(room, EventMessage, txnID)
}

// SendEventPath is the v3 client-server path of a send of eventType.
func SendEventPath(room, eventType, txnID string) string {
	return "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/send/" + url.PathEscape(eventType) + "/" + url.PathEscape(txnID)
}

// Event types of what we send.
const (
	EventMessage   = "m.room.message"
	EventEncrypted = "m.room.encrypted"
)

// WireType is the event type m is PUT as: EventType, or m.room.message.
func (m Message) WireType() string {
	if m.EventType != "" {
		return m.EventType
	}
	return EventMessage
}

// WireContent is the content m is PUT with: Wire, or Content.
func (m Message) WireContent() any {
	if m.EventType != "" {
		return m.Wire
	}
	return m.Content
}
