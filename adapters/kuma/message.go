package kuma

import (
	"html"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"matrix-notify/adapters/liquidjs"
	"matrix-notify/sender"
	"matrix-notify/sender/format"
)

// Kuma's own status colours (src/assets/vars.scss: $danger, $primary,
// $warning, $maintenance).
const (
	colorDown        = "#dc3545"
	colorUp          = "#5cdd8b"
	colorPending     = "#f8a306"
	colorMaintenance = "#1747f5"
)

func statusLabel(s Status) (label, color string) {
	switch s {
	case Down:
		return statusDown, colorDown
	case Up:
		return statusUp, colorUp
	case Pending:
		return "\u23f3 Pending", colorPending
	case Maintenance:
		return "\U0001f527 Maintenance", colorMaintenance
	}
	return s.String(), colorPending
}

// certExpiry matches Kuma's certificate and domain expiry messages,
// "[NAME][URL] …", compiled on first use (netdata's runs never need it).
var certExpiry = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?s)^\[(.*?)\]\[(.*?)\] (.*)$`)
})

// DefaultContent is the message sent when no template is configured: Kuma's
// msg as the plain body (what Kuma's own Matrix provider sends), msgtype
// m.text, and an HTML rendering:
//
//	<span data-mx-color="#dc3545"><b>🔴 Down</b></span> <b>NAME</b><br>
//	<a href="URL">URL</a> (or <code>host:port</code>)<br>
//	HEARTBEAT MSG<br>
//	<i>Response time: 187 ms · Time (Europe/Berlin): 2026-03-14 10:12:03 · Downtime: 5m 30s</i>
//
// in Kuma's colours (down #dc3545, up #5cdd8b). The address line is left
// out when empty and for push monitors; only an http(s) URL becomes a link.
// A notification without a heartbeat (test, certificate or domain expiry)
// is msg behind a ⚠️, with the name and URL of an expiry message picked
// out. Every value is HTML-escaped, newlines become <br>; invalid UTF-8 and
// NUL become U+FFFD in both bodies, so the JSON is valid.
func (p Payload) DefaultContent() sender.Content {
	return sender.Content{
		MsgType:       "m.text",
		Body:          format.Valid(p.plainBody()),
		Format:        sender.FormatHTML,
		FormattedBody: p.htmlBody(),
	}
}

func (p Payload) plainBody() string {
	if p.Msg != "" {
		return p.Msg
	}
	if h := p.Heartbeat; h != nil {
		// Kuma's own wording (Monitor.sendNotification).
		word := statusDown
		if h.Status == Up {
			word = statusUp
		}
		return "[" + p.name() + "] [" + word + "] " + h.Msg
	}
	return "Uptime Kuma notification"
}

func (p Payload) name() string {
	if p.Monitor == nil {
		return noMonitorName
	}
	return p.Monitor.Name
}

func (p Payload) htmlBody() string {
	h := p.Heartbeat
	if h == nil {
		warn := `<span data-mx-color="` + colorPending + "\"><b>\u26a0\ufe0f</b></span> "
		if m := certExpiry().FindStringSubmatch(p.Msg); m != nil {
			return warn + "<b>" + format.Text(m[1]) + "</b> " + addressHTML(m[2]) + "<br>" + format.Text(m[3])
		}
		return warn + format.Text(p.plainBody())
	}
	label, color := statusLabel(h.Status)
	lines := []string{`<span data-mx-color="` + color + `"><b>` + label + `</b></span> <b>` + format.Text(p.name()) + `</b>`}
	if p.Monitor != nil && p.Monitor.Type != "push" {
		if addr := p.HostnameOrURL(); addr != "" {
			lines = append(lines, addressHTML(addr))
		}
	}
	if msg := strings.TrimRight(h.Msg, " \t\r\n"); msg != "" {
		lines = append(lines, format.Text(msg))
	}
	var details []string
	if h.Ping != nil {
		details = append(details, "Response time: "+liquidjs.JSNumber(*h.Ping)+" ms")
	}
	switch {
	case h.LocalDateTime != "" && h.Timezone != "":
		details = append(details, "Time ("+h.Timezone+"): "+h.LocalDateTime)
	case h.LocalDateTime != "":
		details = append(details, "Time: "+h.LocalDateTime)
	case h.Time != "":
		details = append(details, "Time (UTC): "+h.Time)
	}
	if h.Status == Up && h.LastDownTime != "" {
		if d, ok := downtime(h.LastDownTime, h.Time); ok {
			details = append(details, "Downtime: "+d)
		}
	}
	if len(details) > 0 {
		lines = append(lines, "<i>"+format.Text(strings.Join(details, " \u00b7 "))+"</i>")
	}
	return strings.Join(lines, "<br>")
}

// addressHTML is a link for an http(s) URL, code otherwise. The href is
// SafeHref's, as Sanitize would keep it (white space around it trimmed).
func addressHTML(addr string) string {
	if href, ok := format.SafeHref(addr); ok && format.IsHTTPURL(addr) {
		return `<a href="` + html.EscapeString(format.Valid(href)) + `">` + format.Text(addr) + `</a>`
	}
	return "<code>" + format.Text(addr) + "</code>"
}

// kumaTimes are the layouts of heartbeat times (2.x has milliseconds).
var kumaTimes = []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999"}

func parseKumaTime(s string) (time.Time, bool) {
	for _, layout := range kumaTimes {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// downtime is the time between the last DOWN and this UP beat as Kuma's
// providers print it (NotificationProvider.formatDuration of whole
// seconds).
func downtime(from, to string) (string, bool) {
	a, ok1 := parseKumaTime(from)
	b, ok2 := parseKumaTime(to)
	if !ok1 || !ok2 || b.Before(a) {
		return "", false
	}
	return formatDuration(b.Unix() - a.Unix()), true
}

// formatDuration is NotificationProvider.formatDuration: "1h 23m",
// "45m 30s", "0s"; seconds only below an hour.
func formatDuration(secs int64) string {
	h, m, s := secs/3600, secs%3600/60, secs%60
	var parts []string
	if h > 0 {
		parts = append(parts, strconv.FormatInt(h, 10)+"h")
	}
	if m > 0 {
		parts = append(parts, strconv.FormatInt(m, 10)+"m")
	}
	if s > 0 && h == 0 {
		parts = append(parts, strconv.FormatInt(s, 10)+"s")
	}
	if len(parts) == 0 {
		return "0s"
	}
	return strings.Join(parts, " ")
}

// Identity names this notification for deterministic Matrix txn ids.
//
// With a heartbeat it is the beat: monitor id, beat time, status (and the
// beat's msg, so a txn id is never reused for other content even if a
// sender repeats a time). Kuma stamps every beat with a millisecond time,
// so re-posting the same webhook yields the same identity and is not sent
// twice, while each resend of a long DOWN is a new beat and a new message.
//
// Test and expiry notifications carry no beat, and Kuma sends the same
// text for every test click, so their identity is msg (with the monitor id
// if any) plus received, the time the caller got the notification,
// truncated to the second: a repeat within the same second collapses into
// one message, separate clicks do not. A heartbeat without a time falls
// back to the same rule.
func (p Payload) Identity(received time.Time) string {
	monitorID := ""
	if p.Monitor != nil {
		monitorID = p.Monitor.ID
	}
	stamp := received.UTC().Truncate(time.Second).Format(time.RFC3339)
	if h := p.Heartbeat; h != nil {
		if h.MonitorID != "" {
			monitorID = h.MonitorID
		}
		id := "beat|" + monitorID + "|" + h.Time + "|" + h.Status.String() + "|" + h.Msg
		if h.Time == "" {
			id += "|" + p.Msg + "|" + stamp
		}
		return id
	}
	return "message|" + monitorID + "|" + p.Msg + "|" + stamp
}

// Notification is p as the sender takes it, received at received (see
// Identity), to rooms: the default message (a template may replace it)
// and its place in the alert's life (Lifecycle).
func (p Payload) Notification(rooms []string, received time.Time) sender.Notification {
	key, phase := p.Lifecycle()
	return sender.Notification{Source: "kuma", Identity: p.Identity(received), Summary: p.Summary(),
		Rooms: rooms, Content: p.DefaultContent(), AlertKey: key, Phase: phase}
}

// Severity is the severity of p's heartbeat (SeverityOf), Info without one.
func (p Payload) Severity() format.Severity {
	if p.Heartbeat == nil {
		return format.Info
	}
	return SeverityOf(true, int(p.Heartbeat.Status))
}

// Summary is a short line for logs: `monitor NAME is DOWN`, or
// `notification: MSG` without a heartbeat. Control characters become
// spaces and long text is cut.
func (p Payload) Summary() string {
	if h := p.Heartbeat; h != nil {
		name := p.name()
		if p.Monitor != nil && name == "" && p.Monitor.ID != "" {
			name = "#" + p.Monitor.ID
		}
		return "monitor " + logText(name, 80) + " is " + h.Status.String()
	}
	return "notification: " + logText(p.Msg, 120)
}

func logText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, format.Valid(s))
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "\u2026"
	}
	return s
}
