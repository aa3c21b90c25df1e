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

const (
	RelThread  = format.RelThread
	RelReplace = format.RelReplace
	FormatHTML = format.FormatHTML
)

// Notification is what an adapter hands to the sender: one alert transition
// and the rooms it goes to.
type Notification struct {
	// Source names the adapter ("netdata", "kuma"); part of the identity.
	Source string
	// Identity names this transition of this alert uniquely and stably: the
	// same alarm event run twice yields the same Identity, so the same txn ids.
	Identity string
	Summary  string // a short description for log lines
	Rooms    []string
	Content  Content
	// AlertKey names the alert across its transitions, stably (Netdata:
	// host and alarm id; Kuma: monitor id), for LifecycleTransport to relate
	// them; "" means the notification is not part of a life (sent as is).
	AlertKey string `json:",omitempty"`
	Phase    Phase  `json:",omitempty"`
}

// Phase is the place of a transition in its alert's life.
type Phase string

const (
	// PhaseRaise starts a life (WARNING/CRITICAL from CLEAR, Kuma DOWN): its
	// event becomes the root the others relate to.
	PhaseRaise   Phase = "raise"
	PhaseUpdate  Phase = "update"  // escalation or demotion while raised
	PhaseResolve Phase = "resolve" // Netdata CLEAR, Kuma UP
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
	// PUTs instead of m.room.message and Content: EncryptTransport sets them
	// (m.room.encrypted and the megolm ciphertext) on the way to the wire.
	// Nothing keeps them: the outbox stores the plaintext, and a message
	// sent again is encrypted again (same txn id, so still deduplicated).
	EventType string `json:"-"`
	Wire      any    `json:"-"`
}

// Messages expands n into one Message per room, in the order of n.Rooms.
func Messages(n Notification) []Message {
	msgs := make([]Message, 0, len(n.Rooms))
	for _, room := range n.Rooms {
		msgs = append(msgs, Message{Room: room, TxnID: TxnID(n.Source, n.Identity, room), Summary: n.Summary,
			Content: n.Content, Source: n.Source, AlertKey: n.AlertKey, Phase: n.Phase})
	}
	return msgs
}

var txnEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// TxnID derives the transaction id of an alert transition for one room. Matrix
// scopes txn ids to the access token and endpoint, and a homeserver answers a
// repeated PUT with the first event id, so a deterministic id makes every
// retry and every re-run of the same alarm duplicate-free.
func TxnID(source, identity, room string) string {
	sum := sha256.Sum256([]byte(source + "\x00" + identity + "\x00" + room + "\x00"))
	return "mn" + strings.ToLower(txnEncoding.EncodeToString(sum[:20]))
}

// Event types of what we send.
const (
	EventMessage   = "m.room.message"
	EventEncrypted = "m.room.encrypted"
)

// SendPath is the v3 path of an m.room.message send: what a dry run prints,
// for encrypted rooms too (the plaintext request).
func SendPath(room, txnID string) string { return SendEventPath(room, EventMessage, txnID) }

// SendEventPath is the v3 client-server path of a send of eventType.
func SendEventPath(room, eventType, txnID string) string {
	return "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/send/" + url.PathEscape(eventType) + "/" + url.PathEscape(txnID)
}
