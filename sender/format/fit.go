package format

import (
	"encoding/json"
	"html"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	xhtml "golang.org/x/net/html"
)

// Matrix refuses events over EventLimit bytes: the whole event, as the
// homeserver encodes it, envelope included (Synapse: the canonical JSON of
// the PDU, 65,536 bytes). Our content travels inside an envelope the
// homeserver adds: room_id, sender, type, origin_server_ts, depth, up to
// ~10 prev_events and ~3 auth_events (event ids of 44 bytes each), hashes
// and a server signature. That is about 1,200 bytes with ordinary names and
// up to ~1,900 with 255-byte user and server names, so EnvelopeHeadroom
// keeps 2,048 bytes free and MaxContentBytes (63,488) is what the
// JSON-encoded content may use.
const (
	EventLimit       = 65536
	EnvelopeHeadroom = 2048
	MaxContentBytes  = EventLimit - EnvelopeHeadroom
)

// TruncationMarker is what replaces the cut end of a truncated body: "… [truncated:
// N bytes]", N the bytes of UTF-8 text removed.
func TruncationMarker(n int) string { return "\u2026 [truncated: " + strconv.Itoa(n) + " bytes]" }

// JSONSize is the size of c as JSON, as sent: encoding/json's encoding,
// whose escapes (\" \\ \n \u003c for <, > and &, \u00XX for control
// characters, \u2028) cost more than the text; the homeserver's canonical
// JSON is never larger.
func JSONSize(c Content) int {
	b, err := json.Marshal(c)
	if err != nil {
		return 0
	}
	return len(b)
}

// Fit returns c small enough that its JSON encoding is at most max bytes
// (pass MaxContentBytes): an event over the limit is truncated, never
// refused. Body and formatted_body share what the other fields leave (the
// shorter keeps all it needs, the longer gets the rest). The body is cut
// at a rune boundary and ends with TruncationMarker; formatted_body is cut between
// tags or inside text (never inside a tag, an entity or a rune), the
// elements still open are closed, and TruncationMarker follows, so it stays
// well-formed if it was (run Sanitize first). Other fields are left as
// they are; if they alone exceed max, the result stays over it. An edit
// carries its text twice (top level and m.new_content): Fit the new
// content to max/2 first, then the whole content to max.
func Fit(c Content, max int) Content {
	size := JSONSize(c)
	if size <= max {
		return c
	}
	eb, ef := jsonLen(c.Body), jsonLen(c.FormattedBody)
	budget := max - (size - eb - ef)
	for range 8 { // our costs are exact; the loop is a safety net
		bb, bf := split(budget, eb, ef)
		out := c
		if eb > bb {
			out.Body = TruncateText(c.Body, bb)
		}
		if ef > bf {
			out.FormattedBody = TruncateHTML(c.FormattedBody, bf)
		}
		over := JSONSize(out) - max
		if over <= 0 || budget <= 0 {
			return out
		}
		budget -= over
	}
	return c
}

// split shares budget between two strings of cost a and b: the one that
// needs less than half gets all it needs, the other the rest.
func split(budget, a, b int) (int, int) {
	switch {
	case a <= budget/2:
		return a, budget - a
	case b <= budget/2:
		return budget - b, b
	}
	return budget / 2, budget - budget/2
}

// jsonLen is the size of s as a JSON string as encoding/json writes it,
// without the quotes: its escapes (\" \\ \n \u003c for <, > and &, \u00XX
// for control characters, \u2028, \ufffd for each invalid byte) cost more
// than the text.
func jsonLen(s string) int {
	b, _ := json.Marshal(s) // a string always marshals
	return len(b) - 2
}

// prefix is the longest prefix of s, cut before a rune's first byte,
// whose cost is at most budget, and its cost. cost must grow with the
// prefix (as jsonLen does), so that a binary search finds it.
func prefix(s string, budget int, cost func(string) int) (string, int) {
	start := func(i int) int {
		for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
			i--
		}
		return i
	}
	n := start(max(0, sort.Search(len(s)+1, func(i int) bool { return cost(s[:start(i)]) > budget })-1))
	return s[:n], cost(s[:n])
}

// TruncateText cuts s so that, with TruncationMarker appended, its JSON-encoded size
// (without quotes) is at most budget; the kept text is made valid UTF-8
// without NUL. It returns s unchanged if it fits.
func TruncateText(s string, budget int) string {
	if jsonLen(s) <= budget {
		return s
	}
	p, _ := prefix(s, max(0, budget-jsonLen(TruncationMarker(len(s)))), jsonLen)
	// Valid never adds to the JSON cost (an invalid byte or NUL costs 6 as
	// JSON, U+FFFD 3)
	return Valid(p) + TruncationMarker(len(s)-len(p))
}

// TruncateHTML cuts the HTML s so that, with the open elements closed and
// TruncationMarker appended, its JSON-encoded size (without quotes) is at most
// budget. Tags are rewritten from their parsed form and text re-escaped,
// so the result is well-formed; it returns s unchanged if it fits.
func TruncateHTML(s string, budget int) string {
	if jsonLen(s) <= budget {
		return s
	}
	markerCost := jsonLen(TruncationMarker(len(s)))
	var (
		out   strings.Builder
		cost  int
		stack []string
		// closing is the cost of the end tags of stack
		closing  int
		consumed int // bytes of s behind what out holds
	)
	endTag := func(name string) string { return "</" + name + ">" }
	z := xhtml.NewTokenizer(strings.NewReader(s))
loop:
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			break
		}
		raw := len(z.Raw())
		tok := z.Token()
		avail := budget - markerCost - closing - cost
		switch tt {
		case xhtml.TextToken:
			text := html.EscapeString(tok.Data)
			if c := jsonLen(text); c <= avail {
				out.WriteString(text)
				cost += c
				consumed += raw
				continue
			}
			p, c := prefix(tok.Data, avail, func(t string) int { return jsonLen(html.EscapeString(t)) })
			out.WriteString(html.EscapeString(p))
			cost += c
			if raw == len(tok.Data) { // no entities: raw is the text
				consumed += len(p)
			} else { // about p's escaped length
				consumed += min(raw, len(html.EscapeString(p)))
			}
			break loop
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			tag := tok.String()
			void := tt == xhtml.SelfClosingTagToken || voidTag(tok.Data)
			c := jsonLen(tag)
			extra := 0
			if !void {
				extra = jsonLen(endTag(tok.Data))
			}
			if c+extra > avail {
				break loop
			}
			out.WriteString(tag)
			cost += c
			consumed += raw
			if !void {
				stack = append(stack, tok.Data)
				closing += extra
			}
		case xhtml.EndTagToken:
			consumed += raw
			for i := len(stack) - 1; i >= 0; i-- {
				if stack[i] != tok.Data {
					continue
				}
				for j := len(stack) - 1; j >= i; j-- {
					e := endTag(stack[j])
					out.WriteString(e)
					cost += jsonLen(e)
					closing -= jsonLen(e)
				}
				stack = stack[:i]
				break
			}
		default: // comments, doctypes
			consumed += raw
		}
	}
	for j := len(stack) - 1; j >= 0; j-- {
		out.WriteString(endTag(stack[j]))
	}
	out.WriteString(html.EscapeString(TruncationMarker(max(len(s)-consumed, 1))))
	return out.String()
}
