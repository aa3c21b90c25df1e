package format

// Severity: how an alert's severity shapes its Matrix message, the msgtype
// (m.text notifies, m.notice does not) and who is mentioned. Each adapter
// maps its own statuses to a Severity (netdata.SeverityOf, kuma.SeverityOf).

import (
	"fmt"
	"html"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Severity is how bad an alert transition is.
type Severity string

const (
	Critical Severity = "critical" // netdata CRITICAL, Kuma DOWN
	Warning  Severity = "warning"  // netdata WARNING, Kuma PENDING
	Clear    Severity = "clear"    // netdata CLEAR, Kuma UP
	Info     Severity = "info"     // tests, expiry notices, maintenance, anything else
)

// Severities are the severities, worst first.
var Severities = []Severity{Critical, Warning, Clear, Info}

// ParseSeverity reads a severity as written in the configuration: critical,
// warning, clear, info, or the status words down, up, pending, test,
// maintenance (any case).
func ParseSeverity(s string) (Severity, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical", "down":
		return Critical, true
	case "warning", "pending":
		return Warning, true
	case "clear", "up":
		return Clear, true
	case "info", "test", "maintenance":
		return Info, true
	}
	return "", false
}

// SeverityPolicy is the configured treatment of each severity. The zero SeverityPolicy
// sends the default msgtypes and mentions nobody.
type SeverityPolicy struct {
	// MsgType overrides the default msgtype (see MsgTypeFor): "m.text" or
	// "m.notice".
	MsgType map[Severity]string
	// MentionUsers are the Matrix user ids mentioned (mention_on_critical
	// = ["@oncall:example.org"]).
	MentionUsers map[Severity][]string
	// MentionRoom mentions the whole room (@room); it needs the sender to
	// have the room's notifications.room power level.
	MentionRoom map[Severity]bool
}

// MsgTypeFor is the msgtype the policy gives s; without configuration
// m.text (notifies) for critical and warning, m.notice (silent) for clear
// and info.
func (p SeverityPolicy) MsgTypeFor(s Severity) string {
	switch {
	case p.MsgType[s] != "":
		return p.MsgType[s]
	case s == Critical, s == Warning:
		return "m.text"
	}
	return "m.notice"
}

// userID is a Matrix user id, historical characters included:
// @localpart:server[:port]. It is compiled on first use: most runs
// configure no mentions.
var userID = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^@[\x21-\x39\x3b-\x7e]+:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$`)
})

// ValidUserID reports whether id is a Matrix user id (@local:server).
func ValidUserID(id string) bool { return len(id) <= 255 && userID().MatchString(id) }

// Validate warns about mentions on a severity sent as m.notice: the
// default push rule .m.rule.suppress_notices runs before the mention
// rules, so an m.notice never notifies anyone, mentions included. (Unknown
// severities, msgtypes and user ids are errors of the configuration,
// which rejects them before a policy exists.)
func (p SeverityPolicy) Validate() []string {
	var warns []string
	for _, s := range Severities {
		if (len(p.MentionUsers[s]) > 0 || p.MentionRoom[s]) && p.MsgTypeFor(s) == "m.notice" {
			warns = append(warns, fmt.Sprintf("mentions on %s are sent as m.notice, which never notifies (push rule .m.rule.suppress_notices runs first): set its msgtype to m.text", s))
		}
	}
	return warns
}

// ApplySeverity gives c the policy's treatment of sev:
//
//   - msgtype: MsgTypeFor(sev);
//   - m.mentions is always set (an empty object {} when nobody is
//     mentioned: Matrix clients then know the message mentions no one), with
//     the severity's valid user ids (merged with any c already has, no
//     duplicates) and room: true for @room;
//   - when someone is mentioned, body starts "@room @oncall:example.org: "
//     and formatted_body with "@room <a href="https://matrix.to/#/@oncall:example.org">@oncall:example.org</a>: "
//     (the pill clients show). A content without HTML gets a
//     formatted_body, its body as HTML text, so the pill can be shown;
//   - and then the body is one line, its lines joined with " · ": a
//     homeserver without the m.mentions push rules (Dendrite 0.13) only
//     highlights through the legacy rules, which match the user name,
//     display name or "@room" in a body with no line break at all (their
//     glob becomes ^(.*name.*)$, and . stops at a newline). The
//     formatted_body, what clients show, keeps its lines.
//
// ApplySeverity does not modify c's slices.
func ApplySeverity(c Content, sev Severity, p SeverityPolicy) Content {
	c.MsgType = p.MsgTypeFor(sev)
	m := &Mentions{}
	if c.Mentions != nil {
		m.UserIDs = slices.Clone(c.Mentions.UserIDs)
		m.Room = c.Mentions.Room
	}
	var users []string
	for _, id := range p.MentionUsers[sev] {
		if ValidUserID(id) && !slices.Contains(users, id) {
			users = append(users, id)
			if !slices.Contains(m.UserIDs, id) {
				m.UserIDs = append(m.UserIDs, id)
			}
		}
	}
	room := p.MentionRoom[sev]
	m.Room = m.Room || room
	c.Mentions = m

	if len(users) == 0 && !room {
		return c
	}
	var plain, rich []string
	if room {
		plain, rich = append(plain, "@room"), append(rich, "@room")
	}
	for _, id := range users {
		plain = append(plain, id)
		rich = append(rich, `<a href="`+html.EscapeString(Permalink(id))+`">`+html.EscapeString(id)+`</a>`)
	}
	if c.Format != FormatHTML || c.FormattedBody == "" {
		c.Format, c.FormattedBody = FormatHTML, Text(c.Body)
	}
	c.Body = strings.Join(plain, " ") + ": " + oneLine(c.Body)
	c.FormattedBody = strings.Join(rich, " ") + ": " + c.FormattedBody
	return c
}

// oneLine joins the non-blank lines of s, trimmed, with " · ".
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var lines []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " · ")
}

// Permalink is the matrix.to link of a user id, the href clients turn into
// a pill: https://matrix.to/#/@oncall:example.org, with characters beyond
// letters, digits and @:._=-/+[] percent-encoded.
func Permalink(id string) string {
	var b strings.Builder
	b.WriteString("https://matrix.to/#/")
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("@:._=-/+[]", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
