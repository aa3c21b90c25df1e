package main

import (
	"matrix-notify/adapters/matrixhtml"
	"matrix-notify/adapters/severity"
	"matrix-notify/sender"
)

// finishContent makes any message fit for a room, whatever built it (a
// default message or a user's template): the HTML limited to what Matrix
// allows, the msgtype and mentions of its severity (m.mentions always
// present), and the whole event under Matrix's size limit, truncated with a
// visible marker rather than refused.
func finishContent(c sender.Content, sev severity.Severity, p severity.Policy) sender.Content {
	if c.FormattedBody != "" {
		c.Format = sender.FormatHTML
		c.FormattedBody = matrixhtml.Sanitize(c.FormattedBody)
	}
	c = severity.Apply(c, sev, p)
	return matrixhtml.Fit(c, matrixhtml.MaxContentBytes)
}
