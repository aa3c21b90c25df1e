// Text made safe for an event (valid UTF-8, no NUL) and for its
// org.matrix.custom.html body (escaped, newlines as <br>), and the check for
// a link worth making clickable.

package format

import (
	"net/url"
	"strings"
)

// Valid replaces invalid UTF-8, and NUL (which homeservers storing events in
// PostgreSQL reject), with U+FFFD, so the event is valid JSON everywhere.
func Valid(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\ufffd"), "\x00", "\ufffd")
}

// validHTML is Valid for an HTML body: also the C0 controls but tab and the
// newlines, and DEL, become U+FFFD. HTML calls them parse errors and XML
// forbids them, so a client parsing formatted_body strictly would refuse it.
func validHTML(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return '\ufffd'
		}
		return r
	}, Valid(s))
}

// Text is s as literal HTML text: valid UTF-8 without control characters,
// escaped, newlines as <br>.
func Text(s string) string {
	return strings.ReplaceAll(escape(validHTML(s)), "\n", "<br>")
}

// IsHTTPURL reports whether s is an absolute http or https URL, the only
// links we put in an href (Matrix clients also allow ftp, mailto and magnet,
// but an alert's link is a web page), with no control character anywhere:
// url.Parse lets them through in the fragment, and an HTML parser would
// turn a CR there into LF (so the href would not survive sanitising as
// sent).
func IsHTTPURL(s string) bool {
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return true
	}
	return false
}
