package format

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestJSONLen(t *testing.T) {
	for _, s := range []string{"", "plain", `"quoted" \back`, "<b>&amp;</b>", "\x00\x01\x1f\t\n\r\b\f",
		"é🔴\u2028\u2029", "bad \xff\xfe", strings.Repeat("ü<", 100)} {
		b, _ := json.Marshal(s)
		if got := jsonLen(s); got != len(b)-2 {
			t.Errorf("jsonLen(%q) = %d, want %d", s, got, len(b)-2)
		}
	}
}

func TestFitUnchanged(t *testing.T) {
	c := Content{MsgType: "m.text", Body: "short", Format: FormatHTML, FormattedBody: "<b>short</b>",
		Mentions: &Mentions{}}
	if got := Fit(c, MaxContentBytes); got != c {
		t.Errorf("Fit changed a small content: %+v", got)
	}
	if MaxContentBytes != 65536-2048 {
		t.Errorf("MaxContentBytes = %d", MaxContentBytes)
	}
}

var markerRE = regexp.MustCompile(`… \[truncated: ([0-9]+) bytes\]$`)

// checkFit asserts what every truncated content must be: within max as
// JSON, valid UTF-8, a body ending in the marker with the right count, a
// formatted_body that is well-formed Matrix HTML ending in the marker.
func checkFit(t *testing.T, name string, in, got Content, max int) {
	t.Helper()
	if n := JSONSize(got); n > max {
		t.Errorf("%s: %d bytes > %d", name, n, max)
	}
	if !utf8.ValidString(got.Body) || !utf8.ValidString(got.FormattedBody) {
		t.Errorf("%s: invalid UTF-8 (split rune)", name)
	}
	if got.Body != in.Body {
		m := markerRE.FindStringSubmatch(got.Body)
		if m == nil {
			t.Fatalf("%s: body without marker: ...%q", name, tail(got.Body))
		}
		kept := strings.TrimSuffix(got.Body, m[0])
		if !strings.HasPrefix(in.Body, kept) {
			t.Errorf("%s: body is not a prefix of the input", name)
		}
		if n, _ := strconv.Atoi(m[1]); n != len(in.Body)-len(kept) {
			t.Errorf("%s: marker says %d bytes, %d removed", name, n, len(in.Body)-len(kept))
		}
	}
	if got.FormattedBody != in.FormattedBody {
		if !markerRE.MatchString(got.FormattedBody) {
			t.Errorf("%s: formatted_body without marker: ...%q", name, tail(got.FormattedBody))
		}
		if err := checkMatrixHTML(got.FormattedBody); err != nil {
			t.Errorf("%s: formatted_body: %v: ...%q", name, err, tail(got.FormattedBody))
		}
	}
	if got.MsgType != in.MsgType || got.Format != in.Format || got.Mentions != in.Mentions {
		t.Errorf("%s: other fields changed", name)
	}
}

func tail(s string) string {
	if len(s) > 200 {
		return s[len(s)-200:]
	}
	return s
}

func TestFitHuge(t *testing.T) {
	line := `<p>🔴 <b>web01</b> disk "full" &amp; <a href="https://e.org/?a=1&amp;b=2">link</a> <code>x &lt; y</code></p>`
	cases := map[string]Content{
		"ascii":      {Body: strings.Repeat("a", 200_000), FormattedBody: strings.Repeat("<b>a</b>", 30_000)},
		"multibyte":  {Body: strings.Repeat("é🔴ü", 50_000), FormattedBody: strings.Repeat("<i>é🔴ü</i>", 20_000)},
		"escapes":    {Body: strings.Repeat("\"<>&\x01\\", 30_000), FormattedBody: strings.Repeat("&lt;&amp;&#34;", 30_000)},
		"html lines": {Body: PlainText(strings.Repeat(line, 2000)), FormattedBody: strings.Repeat(line, 2000)},
		"body only":  {Body: strings.Repeat("x", 100_000)},
		"html only":  {Body: "short", FormattedBody: strings.Repeat("<ul><li>item é</li></ul>", 10_000)},
		"one text":   {Body: "short", FormattedBody: "<pre>" + strings.Repeat("é<", 100_000) + "</pre>"},
		"deep open":  {Body: "b", FormattedBody: Sanitize(strings.Repeat("<blockquote>", 99) + strings.Repeat("word ", 50_000))},
		"both close": {Body: strings.Repeat("b", 40_000), FormattedBody: strings.Repeat("h", 40_000)},
		"u2028":      {Body: strings.Repeat("\u2028", 40_000), FormattedBody: strings.Repeat("\u2029", 40_000)},
	}
	for name, c := range cases {
		c.MsgType = "m.text"
		c.Mentions = &Mentions{UserIDs: []string{"@oncall:example.org"}}
		if c.FormattedBody != "" {
			c.Format = FormatHTML
		}
		for _, max := range []int{MaxContentBytes, 10_000, 1_000} {
			got := Fit(c, max)
			checkFit(t, name, c, got, max)
			if JSONSize(got) < max-200 && got.Body != c.Body {
				t.Errorf("%s/%d: only %d bytes used", name, max, JSONSize(got))
			}
		}
	}
}

func TestTruncateText(t *testing.T) {
	tests := []struct {
		in     string
		budget int
		want   string
	}{
		{"short", 100, "short"},
		{strings.Repeat("a", 100), 30, "aaaa… [truncated: 96 bytes]"},
		{strings.Repeat("🔴", 30), 30, "🔴… [truncated: 116 bytes]"},
		{strings.Repeat("<", 30), 30, "… [truncated: 30 bytes]"}, // < costs 6 as JSON
	}
	for _, tt := range tests {
		got := TruncateText(tt.in, tt.budget)
		if got != tt.want {
			t.Errorf("TruncateText(%q, %d) = %q, want %q", tt.in, tt.budget, got, tt.want)
		}
		if jsonLen(got) > tt.budget {
			t.Errorf("over budget: %d", jsonLen(got))
		}
	}
}

func TestTruncateHTML(t *testing.T) {
	tests := []struct {
		in     string
		budget int
		want   string
	}{
		{"<b>short</b>", 100, "<b>short</b>"},
		{"<p>" + strings.Repeat("a", 100) + "</p>", 60, "<p>aaaaaaa</p>… [truncated: 97 bytes]"},
		{"<b>x</b><i>" + strings.Repeat("y", 100) + "</i>", 95, "<b>x</b><i>yyyyyyyyyyyyyy</i>… [truncated: 90 bytes]"},
		{"<b>x</b><i>" + strings.Repeat("y", 100) + "</i>", 80, "<b>x</b>… [truncated: 107 bytes]"},
		{"a &amp; b &amp; c &amp; d &amp; e &amp; f" + strings.Repeat("!", 100), 60, "a &amp; b &amp; c … [truncated: 123 bytes]"},
		{`<a href="https://example.org/very/long/path">x</a>` + strings.Repeat("z", 100), 60, "… [truncated: 150 bytes]"},
		{"é🔴" + strings.Repeat("é", 100), 40, "é🔴éééé… [truncated: 192 bytes]"},
		{strings.Repeat("é", 100), 3, "… [truncated: 200 bytes]"}, // no room even for the marker
	}
	for _, tt := range tests {
		got := TruncateHTML(tt.in, tt.budget)
		if got != tt.want {
			t.Errorf("TruncateHTML(%q, %d)\n got %q\nwant %q", tt.in, tt.budget, got, tt.want)
		}
		if jsonLen(got) > max(tt.budget, jsonLen(TruncationMarker(len(tt.in)))) {
			t.Errorf("over budget: %d > %d", jsonLen(got), tt.budget)
		}
		if err := checkMatrixHTML(got); err != nil {
			t.Errorf("TruncateHTML(%q): %v", tt.in, err)
		}
	}
}
