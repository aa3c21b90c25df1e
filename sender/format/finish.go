package format

// Finish makes any message fit for a room, whatever built it (an adapter's
// default message or a user's template): the HTML limited to what Matrix
// allows, the msgtype and mentions of its severity (m.mentions always
// present), and the whole event under Matrix's size limit, truncated with a
// visible marker rather than refused.
func Finish(c Content, sev Severity, p SeverityPolicy) Content {
	if c.FormattedBody != "" {
		c.Format = FormatHTML
		c.FormattedBody = Sanitize(c.FormattedBody)
	}
	return Fit(ApplySeverity(c, sev, p), MaxContentBytes)
}
