package format

// Content is the content of an m.room.message event as we send it. Field order
// is the JSON order, which keeps dry-run output and golden files stable.
// (sender.Content is the same type: it lives here so that formatting, below
// the sender, can build and measure it.)
type Content struct {
	MsgType       string    `json:"msgtype"`
	Body          string    `json:"body"`
	Format        string    `json:"format,omitempty"`
	FormattedBody string    `json:"formatted_body,omitempty"`
	Mentions      *Mentions `json:"m.mentions,omitempty"`
	// RelatesTo and NewContent are set by the sender's LifecycleTransport
	// only (threads, replies, edits); adapters leave them nil. Appended last
	// so the JSON of a plain message is what it always was.
	RelatesTo  *RelatesTo `json:"m.relates_to,omitempty"`
	NewContent *Content   `json:"m.new_content,omitempty"`
}

// RelatesTo is the m.relates_to object of an event: a thread
// (rel_type m.thread, with the reply fallback), a reply (InReplyTo alone) or
// an edit (rel_type m.replace).
type RelatesTo struct {
	RelType       string     `json:"rel_type,omitempty"`
	EventID       string     `json:"event_id,omitempty"`
	IsFallingBack bool       `json:"is_falling_back,omitempty"`
	InReplyTo     *InReplyTo `json:"m.in_reply_to,omitempty"`
}

// InReplyTo is the m.in_reply_to object of a reply (or of a thread event's
// reply fallback).
type InReplyTo struct {
	EventID string `json:"event_id"`
}

// Relation types the sender's LifecycleTransport uses.
const (
	RelThread  = "m.thread"
	RelReplace = "m.replace"
)

// Mentions is the m.mentions object of an event.
type Mentions struct {
	UserIDs []string `json:"user_ids,omitempty"`
	Room    bool     `json:"room,omitempty"`
}

// FormatHTML is the only value of Content.Format that Matrix defines.
const FormatHTML = "org.matrix.custom.html"
