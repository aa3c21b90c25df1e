package netdata

import (
	"html"
	"strconv"
	"strings"

	"matrix-notify/sender"
	"matrix-notify/sender/format"
)

// Emoji is send_matrix's status emoji: WARNING ⚠️, CRITICAL 🔴, CLEAR ✅,
// anything else ⚪️.
func Emoji(status string) string {
	switch status {
	case StatusWarning:
		return "\u26a0\ufe0f"
	case StatusCritical:
		return "\U0001f534"
	case StatusClear:
		return "\u2705"
	}
	return "\u26aa\ufe0f"
}

// Content builds the m.room.message content of the send_matrix of the
// netdata that called us, same words in the same order, plus the host's
// alarm counts:
//
//	body:           EMOJI HOST STATUS_MESSAGE - NAME CHART GOTO_URL ALARM INFO
//	formatted_body: EMOJI HOST STATUS_MESSAGE - <b>NAME</b><br>CHART<br><a href="GOTO_URL">ALARM</a><br><i>INFO</i>
//
// and, when netdata passes the host's alarm counts (total_warnings,
// total_critical) and they are not both 0, a last line (see Totals):
//
//	HOST: 2 warnings, 1 critical
//
// where NAME is ${name//_/ } (master uses name here and summary only in
// ALARM, see Fields.DisplayName) and CHART is what each version prints (see
// ChartText): "CHART (FAMILY)" for netdata 1.x's argv, which has a family,
// the chart alone for 2.x's. Unlike the script, every value is escaped:
// formatted_body HTML-escapes each field (the href too) and turns newlines
// into <br>; the link is only made for an http(s) goto_url that net/url
// parses (a chart name with control characters, which goes into goto_url
// raw, makes it plain text), otherwise ALARM is plain text. Invalid UTF-8
// and NUL become U+FFFD in both bodies, so the JSON is valid and lossless.
func Content(f Fields) sender.Content {
	a := f.Alarm
	emoji := Emoji(a.Status)
	name := strings.ReplaceAll(a.Name, "_", " ")
	chart := ChartText(a)
	body := emoji + " " + f.Host + " " + f.StatusMessage + " - " + name + " " + chart + " " +
		f.GotoURL + " " + f.AlarmText + " " + a.Info

	link := format.Text(f.AlarmText)
	if format.IsHTTPURL(f.GotoURL) {
		link = `<a href="` + html.EscapeString(format.Valid(f.GotoURL)) + `">` + link + `</a>`
	}
	formatted := emoji + " " + format.Text(f.Host) + " " + format.Text(f.StatusMessage) + " - <b>" + format.Text(name) +
		"</b><br>" + format.Text(chart) + "<br>" + link + "<br><i>" + format.Text(a.Info) + "</i>"

	if t := Totals(f.Host, a.TotalWarnings, a.TotalCritical); t != "" {
		body += "\n" + t
		formatted += "<br>" + format.Text(t)
	}

	return sender.Content{
		MsgType:       "m.notice",
		Body:          format.Valid(body),
		Format:        sender.FormatHTML,
		FormattedBody: formatted,
	}
}

// ChartText is the chart as the calling netdata's send_matrix prints it:
// "${chart} (${family})" in 1.x (alarm-notify.sh 1.37, Layout1, even when
// family is empty: "disk.io ()"), "${chart}" in master (Layout2 has no
// family).
func ChartText(a Alarm) string {
	if a.Layout == Layout1 {
		return a.Chart + " (" + a.Family + ")"
	}
	return a.Chart
}

// Notification wraps a's message for the sender, to rooms. Identity is
// args_host|unique_id|alarm_id|event_id|when: unique_id and alarm_id with
// event_id name one transition of one alarm on one host, and netdata
// re-running the same transition passes the same values, so retries map to
// the same Matrix txn ids; when is added because the ids restart for some
// invocations (test mode always uses unique_id 1, alarm_id 1, event_id
// 1..3), so two test runs, or ids reused after netdata's alarm log is reset,
// are not swallowed by the homeserver's txn-id deduplication; status and
// old_status because a txn id must never be reused for different content,
// even if a caller passes the same ids for another transition. Summary is
// the script's log text "host chart.name is STATUS".
func Notification(a Alarm, f Fields, rooms []string) sender.Notification {
	return sender.Notification{
		Source:   "netdata",
		Identity: strings.Join([]string{f.ArgsHost, a.UniqueID, a.AlarmID, a.EventID, a.When, a.Status, a.OldStatus}, "|"),
		Summary:  f.Host + " " + a.Chart + "." + a.Name + " is " + a.Status,
		Rooms:    rooms,
		Content:  Content(f),
	}
}

// Totals is the line with the host's raised alarms, "web01: 2 warnings,
// 1 critical", from netdata's total_warnings and total_critical: a count
// that is empty or not a number is left out ("web01: 1 critical"), and
// there is no line ("") when neither is known or both are 0.
func Totals(host, warnings, critical string) string {
	count := func(s string) (uint64, bool) {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		return n, err == nil
	}
	w, wok := count(warnings)
	c, cok := count(critical)
	if (!wok || w == 0) && (!cok || c == 0) {
		return ""
	}
	var parts []string
	if wok {
		word := " warnings"
		if w == 1 {
			word = " warning"
		}
		parts = append(parts, strconv.FormatUint(w, 10)+word)
	}
	if cok {
		parts = append(parts, strconv.FormatUint(c, 10)+" critical")
	}
	return host + ": " + strings.Join(parts, ", ")
}
