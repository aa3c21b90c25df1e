package main

import (
	"matrix-notify/sender"
	"matrix-notify/sender/format"
)

// finishContent makes any message fit for a room, whatever built it (a
// default message or a user's template): the HTML limited to what Matrix
// allows, the msgtype and mentions of its severity (m.mentions always
// present), and the whole event under Matrix's size limit, truncated with a
// visible marker rather than refused.
func finishContent(c sender.Content, sev format.Severity, p format.SeverityPolicy) sender.Content {
	if c.FormattedBody != "" {
		c.Format = sender.FormatHTML
		c.FormattedBody = format.Sanitize(c.FormattedBody)
	}
	c = format.ApplySeverity(c, sev, p)
	return format.Fit(c, format.MaxContentBytes)
}
