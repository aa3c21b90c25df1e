package netdata

import (
	"bytes"
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"matrix-notify/sender"
	"matrix-notify/sender/format"
)

var testEnv = Env{RegistryUniqueID: "agent-1", ShortHostname: "self", Location: time.UTC, Now: time.Unix(0, 0)}

// allowedTag matches the markup Content itself emits.
var allowedTag = regexp.MustCompile(`<b>|</b>|<br>|<i>|</i>|</a>|<a href="[^"<>]*">`)

// checkContent asserts the invariants every message has: valid JSON and
// UTF-8, and a formatted_body whose only markup is ours.
func checkContent(t testing.TB, c sender.Content) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil || !json.Valid(b) {
		t.Fatalf("invalid JSON: %v %s", err, b)
	}
	var back sender.Content
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Fatalf("JSON does not round-trip: %v", err)
	}
	if !utf8.ValidString(c.Body) || !utf8.ValidString(c.FormattedBody) {
		t.Fatalf("invalid UTF-8")
	}
	if c.MsgType != "m.notice" || c.Format != sender.FormatHTML {
		t.Fatalf("msgtype/format %q %q", c.MsgType, c.Format)
	}
	// only markup Matrix allows: the sanitizer has nothing to change
	if got := format.Sanitize(c.FormattedBody); got != c.FormattedBody {
		t.Fatalf("Sanitize changes formatted_body:\n%q\n%q", c.FormattedBody, got)
	}
	text := allowedTag.ReplaceAllString(c.FormattedBody, "")
	if strings.ContainsAny(text, "<>\"") {
		t.Fatalf("unescaped markup in formatted_body: %q", c.FormattedBody)
	}
	for _, m := range regexp.MustCompile(`&[^;]*;?`).FindAllString(text, -1) {
		switch m {
		case "&amp;", "&lt;", "&gt;", "&#34;", "&#39;":
		default:
			t.Fatalf("stray & in formatted_body: %q in %q", m, c.FormattedBody)
		}
	}
}

func TestContentMasterStructure(t *testing.T) {
	a, _ := ParseArgs(argv2())
	f := Derive(a, testEnv)
	c := Content(f)
	checkContent(t, c)
	wantBody := "🔴 web1 is critical - disk space usage disk_space._ " + f.GotoURL + " Disk space usage high = 97.5% disk / space usage" +
		"\nweb1: 2 warnings, 1 critical"
	if c.Body != wantBody {
		t.Errorf("body\n got %q\nwant %q", c.Body, wantBody)
	}
	wantHTML := `🔴 web1 is critical - <b>disk space usage</b><br>disk_space._<br><a href="` + html.EscapeString(f.GotoURL) +
		`">Disk space usage high = 97.5%</a><br><i>disk / space usage</i><br>web1: 2 warnings, 1 critical`
	if c.FormattedBody != wantHTML {
		t.Errorf("formatted_body\n got %q\nwant %q", c.FormattedBody, wantHTML)
	}
	if !strings.Contains(c.FormattedBody, "&amp;chart=disk_space._") {
		t.Errorf("href not escaped: %q", c.FormattedBody)
	}
}

func TestTotals(t *testing.T) {
	tests := []struct{ w, c, want string }{
		{"2", "1", "web01: 2 warnings, 1 critical"},
		{"1", "0", "web01: 1 warning, 0 critical"},
		{"0", "3", "web01: 0 warnings, 3 critical"},
		{"0", "0", ""},
		{"", "", ""},
		{"", "0", ""},
		{"", "2", "web01: 2 critical"},
		{"5", "", "web01: 5 warnings"},
		{" 07 ", "1", "web01: 7 warnings, 1 critical"},
		{"x", "y", ""},
		{"-1", "2", "web01: 2 critical"},
		{"1.5", "0", ""},
		{"<b>", "1", "web01: 1 critical"},
	}
	for _, tt := range tests {
		if got := Totals("web01", tt.w, tt.c); got != tt.want {
			t.Errorf("Totals(%q, %q) = %q, want %q", tt.w, tt.c, got, tt.want)
		}
	}
}

// TestContentTotals: the totals line is the last line of both bodies, only
// when there is something to say, and the host in it is escaped.
func TestContentTotals(t *testing.T) {
	a, _ := ParseArgs(argv2())
	for _, tt := range []struct {
		host, w, c string
		body, html string // wanted suffix; "" = no totals line
	}{
		{"web1", "2", "1", "\nweb1: 2 warnings, 1 critical", "<br>web1: 2 warnings, 1 critical"},
		{"web1", "0", "0", "", ""},
		{"web1", "", "", "", ""},
		{"<h&st>", "1", "0", "\n<h&st>: 1 warning, 0 critical", "<br>&lt;h&amp;st&gt;: 1 warning, 0 critical"},
	} {
		a.Host, a.TotalWarnings, a.TotalCritical = tt.host, tt.w, tt.c
		c := Content(Derive(a, testEnv))
		checkContent(t, c)
		if tt.body == "" {
			if strings.Contains(c.Body, "\n") || strings.Contains(c.Body, "critical,") || strings.Contains(c.FormattedBody, "warning") {
				t.Errorf("%+v: unexpected totals: %q / %q", tt, c.Body, c.FormattedBody)
			}
			continue
		}
		if !strings.HasSuffix(c.Body, tt.body) || !strings.HasSuffix(c.FormattedBody, tt.html) {
			t.Errorf("%+v: got %q / %q", tt, c.Body, c.FormattedBody)
		}
	}
}

func TestEmoji(t *testing.T) {
	for st, want := range map[string]string{"WARNING": "⚠️", "CRITICAL": "🔴", "CLEAR": "✅", "REMOVED": "⚪️", "": "⚪️"} {
		if got := Emoji(st); got != want {
			t.Errorf("Emoji(%q) = %q, want %q", st, got, want)
		}
	}
}

func TestContentLinkOnlyHTTP(t *testing.T) {
	for url, link := range map[string]bool{
		"https://x.example/a?b=1&c=2": true, "http://x.example": true, "HTTPS://X.EXAMPLE/": true,
		"javascript:alert(1)": false, "": false, "/relative": false, "ftp://x.example": false,
		"https://": false, "data:text/html,<script>": false,
	} {
		f := Derive(Alarm{Status: "WARNING", Name: "n", ValueString: "1"}, testEnv)
		f.GotoURL = url
		c := Content(f)
		checkContent(t, c)
		if got := strings.Contains(c.FormattedBody, "<a href="); got != link {
			t.Errorf("goto_url %q: link=%v, want %v (%q)", url, got, link, c.FormattedBody)
		}
		if !strings.Contains(c.FormattedBody, "n = 1") {
			t.Errorf("alarm text lost for %q", url)
		}
	}
}

const hostile = "<script>alert(\"x\")</script> & 'q' \\ \" \x00\x01\x1b[31m \xff\xfe \xc3( é 🔴 \u2028 line1\nline2\r\nline3\r<b>&amp;"

func TestContentHostileEveryField(t *testing.T) {
	base, _ := ParseArgs(argv2())
	for i := 0; i < 33; i++ {
		args := base.Args()
		args[i] = hostile + args[i]
		a, _ := ParseArgs(args)
		f := Derive(a, Env{ShortHostname: hostile, Location: time.UTC, Now: time.Unix(0, 0)})
		c := Content(f)
		checkContent(t, c)
	}
	// each displayed field shows the text literally
	a := base
	a.Host, a.Name, a.Chart, a.Info, a.ValueString, a.Summary = hostile, hostile, hostile, hostile, hostile, hostile
	f := Derive(a, testEnv)
	c := Content(f)
	checkContent(t, c)
	lit := strings.ReplaceAll(strings.ToValidUTF8(hostile, "\ufffd"), "\x00", "\ufffd")
	if !strings.Contains(c.Body, lit) {
		t.Errorf("body does not carry the text literally: %q", c.Body)
	}
	// formatted_body: unescaping the text between our tags gives back the input
	// (newlines as <br>)
	// (control characters but tab and the newlines as U+FFFD: HTML calls
	// them parse errors)
	want := html.EscapeString(strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return '\ufffd'
		}
		return r
	}, lit))
	want = strings.NewReplacer("\r\n", "<br>", "\r", "<br>", "\n", "<br>").Replace(want)
	if !strings.Contains(c.FormattedBody, "<i>"+want+"</i>") {
		t.Errorf("info not escaped literally:\n%q", c.FormattedBody)
	}
	if strings.Contains(c.FormattedBody, "<script>") || strings.Contains(c.FormattedBody, "\n") {
		t.Errorf("raw markup or newline in formatted_body")
	}
	if !strings.Contains(c.FormattedBody, "- <b>"+strings.ReplaceAll(want, "_", " ")) {
		t.Errorf("name not escaped literally")
	}
}

// TestContentGolden pins complete messages (body, formatted_body and the
// JSON the homeserver gets) for representative alarms.
func TestContentGolden(t *testing.T) {
	a1, _ := ParseArgs(argv1())
	a2, _ := ParseArgs(argv2())
	tests := TestAlarms(Layout2, "", "host.example.org", time.Unix(1700000000, 0), "/usr/libexec/netdata/plugins.d/alarm-notify.sh")
	hostileArgs := argv2()
	hostileArgs[16] = `Usage > 95% on "/" <i>really</i>` + "\nsecond line \xff"
	hostileArgs[6] = `bad_"name"_<x>`
	ah, _ := ParseArgs(hostileArgs)
	cases := map[string]Alarm{
		"layout1_escalated": a1,
		"layout2_escalated": a2,
		"test_warning":      tests[0],
		"test_critical":     tests[1],
		"test_clear":        tests[2],
		"hostile":           ah,
	}
	for name, a := range cases {
		f := Derive(a, testEnv)
		n := Notification(a, f, []string{"!room:example.org", "#alias:example.org"})
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(n); err != nil {
			t.Fatal(err)
		}
		checkContent(t, n.Content)
		path := filepath.Join("testdata", "message_"+name+".golden.json")
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs from %s:\n%s", name, path, buf.String())
		}
	}
}

func TestNotification(t *testing.T) {
	a, _ := ParseArgs(argv2())
	f := Derive(a, testEnv)
	n := Notification(a, f, []string{"!r:hs"})
	if n.Source != "netdata" || n.Identity != "web1|1001|17|3|1700000000|CRITICAL|WARNING" ||
		n.Summary != "web1 disk_space._.disk_space_usage is CRITICAL" || len(n.Rooms) != 1 {
		t.Errorf("%+v", n)
	}
	// identity is stable across runs and distinct per transition
	n2 := Notification(a, Derive(a, testEnv), []string{"!r:hs"})
	if n2.Identity != n.Identity {
		t.Error("identity not stable")
	}
	a.EventID = "4"
	if Notification(a, f, nil).Identity == n.Identity {
		t.Error("identity ignores event_id")
	}
	// test runs at different times do not collide
	t1 := TestAlarms(Layout2, "", "h", time.Unix(100, 0), "p")[0]
	t2 := TestAlarms(Layout2, "", "h", time.Unix(200, 0), "p")[0]
	if Notification(t1, Derive(t1, testEnv), nil).Identity == Notification(t2, Derive(t2, testEnv), nil).Identity {
		t.Error("test runs collide")
	}
	// empty host: the short hostname
	a.Host = ""
	if n := Notification(a, Derive(a, testEnv), nil); !strings.HasPrefix(n.Identity, "self|") || !strings.HasPrefix(n.Summary, "self ") {
		t.Errorf("empty host: %q %q", n.Identity, n.Summary)
	}
}
