// Package format is Matrix formatting, shared by both adapters and the
// sender: the Content of an m.room.message; text made safe for an event and
// for its HTML body (Valid, Text); Markdown to HTML with goldmark (Markdown);
// HTML reduced to what the Matrix spec allows with one bluemonday policy
// (Sanitize); plain text from HTML for the body (PlainText); the event size
// limit (Fit, TruncationMarker); and what an alert's Severity makes of a
// message, its msgtype and mentions (SeverityPolicy, ApplySeverity); and
// all of these for any message before it is sent (Finish).
//
// It knows Matrix and nothing of Netdata or Kuma: each adapter maps its own
// statuses to a Severity. It sits below sender, which imports it
// (sender.Content is an alias of Content).
package format
