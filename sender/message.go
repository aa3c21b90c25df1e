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
)

// Content is the content of an m.room.message event as we send it. Field order
// is the JSON order, which keeps dry-run output and golden files stable.
type Content struct {
	MsgType       string    `json:"msgtype"`
	Body          string    `json:"body"`
	Format        string    `json:"format,omitempty"`
	FormattedBody string    `json:"formatted_body,omitempty"`
	Mentions      *Mentions `json:"m.mentions,omitempty"`
}

// Mentions is the m.mentions object of an event.
type Mentions struct {
	UserIDs []string `json:"user_ids,omitempty"`
	Room    bool     `json:"room,omitempty"`
}

// FormatHTML is the only value of Content.Format that Matrix defines.
const FormatHTML = "org.matrix.custom.html"

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
}

// Message is one event to send to one room.
type Message struct {
	Room    string
	TxnID   string
	Summary string
	Content Content
}

// Messages expands n into one Message per room, in the order of n.Rooms.
func Messages(n Notification) []Message {
	msgs := make([]Message, 0, len(n.Rooms))
	for _, room := range n.Rooms {
		msgs = append(msgs, Message{
			Room:    room,
			TxnID:   TxnID(n.Source, n.Identity, room),
			Summary: n.Summary,
			Content: n.Content,
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

// SendPath is the v3 client-server path of a message event send.
func SendPath(room, txnID string) string {
	return "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/send/m.room.message/" + url.PathEscape(txnID)
}
