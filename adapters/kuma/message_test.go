package kuma

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"matrix-notify/sender"
	"matrix-notify/sender/format"
)

// checkContent checks what every content must be: valid JSON with valid
// UTF-8 and no NUL, m.text, HTML format, a well-formed formatted_body.
func checkContent(t testing.TB, c sender.Content) (text string, elems []string) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil || !json.Valid(b) {
		t.Fatalf("content does not marshal to valid JSON: %v", err)
	}
	var back sender.Content
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Fatalf("content does not round-trip: %v\n%+v\n%+v", err, back, c)
	}
	for _, s := range []string{c.Body, c.FormattedBody} {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			t.Errorf("invalid UTF-8 or NUL in %q", s)
		}
	}
	if c.MsgType != "m.text" || c.Format != sender.FormatHTML || c.Body == "" || c.FormattedBody == "" {
		t.Errorf("content = %+v", c)
	}
	// only markup Matrix allows: the sanitizer has nothing to change
	if got := format.Sanitize(c.FormattedBody); got != c.FormattedBody {
		t.Errorf("Sanitize changes formatted_body:\n%q\n%q", c.FormattedBody, got)
	}
	return parseFormatted(t, c.FormattedBody)
}

func TestDefaultContentFixtures(t *testing.T) {
	for _, tc := range []struct {
		kase, formatted string
	}{
		{"http-down", `<span data-mx-color="#dc3545"><b>🔴 Down</b></span> <b>Example Shop</b><br>` +
			`<a href="https://shop.example.com/health">https://shop.example.com/health</a><br>` +
			`Request failed with status code 503<br><i>Time (Europe/Berlin): 2026-03-14 10:12:03</i>`},
		{"http-up", `<span data-mx-color="#5cdd8b"><b>✅ Up</b></span> <b>Example Shop</b><br>` +
			`<a href="https://shop.example.com/health">https://shop.example.com/health</a><br>200 - OK<br>` +
			`<i>Response time: 187 ms · Time (Europe/Berlin): 2026-03-14 10:47:33 · Downtime: 35m 30s</i>`},
		{"keyword-down", `<span data-mx-color="#dc3545"><b>🔴 Down</b></span> <b>Status page keyword</b><br>` +
			`<a href="https://status.example.net/">https://status.example.net/</a><br>` +
			`200 - OK, but keyword is not in [Down for maintenance      We&amp;rsquo;ll be back soon]<br>` +
			`<i>Time (Europe/Berlin): 2026-03-14 12:02:40</i>`},
		{"port-down", `<span data-mx-color="#dc3545"><b>🔴 Down</b></span> <b>Postgres primary</b><br>` +
			`<code>db1.internal.example.org:5432</code><br>connect ECONNREFUSED 10.20.0.11:5432<br>` +
			`<i>Time (Europe/Berlin): 2026-03-14 03:31:17</i>`},
		{"ping-down", `<span data-mx-color="#dc3545"><b>🔴 Down</b></span> <b>Edge router</b><br><code>198.51.100.1</code><br>` +
			`PING 198.51.100.1 (198.51.100.1) 56(84) bytes of data.<br><br>--- 198.51.100.1 ping statistics ---<br>` +
			`1 packets transmitted, 0 received, 100% packet loss, time 0ms<br><i>Time (Europe/Berlin): 2026-03-14 06:45:09</i>`},
		{"dns-up", `<span data-mx-color="#5cdd8b"><b>✅ Up</b></span> <b>example.org A record</b><br><code>example.org</code><br>` +
			`Records: 93.184.215.14<br><i>Response time: 24 ms · Time (Europe/Berlin): 2026-03-14 08:20:00 · Downtime: 1h 10m</i>`},
		{"push-down", `<span data-mx-color="#dc3545"><b>🔴 Down</b></span> <b>Nightly backup</b><br>` +
			`No heartbeat in the time window<br><i>Time (Europe/Berlin): 2026-03-15 04:00:01</i>`},
		{"docker-down", `<span data-mx-color="#dc3545"><b>🔴 Down</b></span> <b>nextcloud container</b><br>` +
			`Container State is exited<br><i>Time (Europe/Berlin): 2026-03-14 14:05:42</i>`},
		{"test-notification", `<span data-mx-color="#f8a306"><b>⚠️</b></span> Matrix webhook Testing`},
		{"cert-expiry", `<span data-mx-color="#f8a306"><b>⚠️</b></span> <b>Example Shop</b> ` +
			`<a href="https://shop.example.com/health">https://shop.example.com/health</a><br>` +
			`server certificate shop.example.com will expire in 7 days`},
	} {
		t.Run(tc.kase, func(t *testing.T) {
			p := mustDecode(t, readFixture(t, tc.kase, "payload.json"))
			c := p.DefaultContent()
			checkContent(t, c)
			if c.Body != p.Msg {
				t.Errorf("body = %q, want Kuma's msg %q", c.Body, p.Msg)
			}
			if c.FormattedBody != tc.formatted {
				t.Errorf("formatted_body\n got %s\nwant %s", c.FormattedBody, tc.formatted)
			}
		})
	}
}

func TestDefaultContentHostile(t *testing.T) {
	p := mustDecode(t, readFixture(t, "hostile", "payload.json"))
	c := p.DefaultContent()
	text, elems := checkContent(t, c)
	for _, e := range elems {
		switch e {
		case "span", "b", "br", "a", "i", "code":
		default:
			t.Errorf("unexpected element <%s> in %s", e, c.FormattedBody)
		}
	}
	// The hostile strings come out as literal text.
	for _, want := range []string{
		`Shop "prod" \ <script>alert(1)</script> & 'q' 🔴` + "\nsecond line\ufffdx\ufffdy",
		`Error: <b>bold</b> & "quoted" \ back` + "\nline2\tTab \u2028 \ufffd\ufffd 💥",
		`https://example.com/a?q="><script>alert(1)</script>&x=1\`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text does not contain %q:\n%s", want, text)
		}
	}
	if strings.Contains(c.FormattedBody, "<script") || strings.Contains(c.FormattedBody, "<b>bold") {
		t.Errorf("unescaped markup: %s", c.FormattedBody)
	}
	if !strings.Contains(c.Body, "<script>alert(1)</script>") || !strings.Contains(c.Body, "\ufffdx\ufffdy") {
		t.Errorf("body should be Kuma's msg with NUL and the lone surrogate as U+FFFD: %q", c.Body)
	}
}

func TestDefaultContentEdges(t *testing.T) {
	for _, tc := range []struct {
		name, body    string
		plain         string
		contains      []string
		notContaining []string
	}{
		{name: "javascript: URL is not a link",
			body:          obj("heartbeat", map[string]any{"status": 0, "msg": "x"}, "monitor", map[string]any{"name": "n", "type": "http", "url": "javascript:alert(1)"}, "msg", "m"),
			contains:      []string{"<code>javascript:alert(1)</code>"},
			notContaining: []string{"<a "}},
		{name: "ftp URL is not a link",
			body:     obj("heartbeat", map[string]any{"status": 0}, "monitor", map[string]any{"name": "n", "url": "ftp://f.example/"}, "msg", "m"),
			contains: []string{"<code>ftp://f.example/</code>"}},
		{name: "globalping http is a link",
			body:     obj("heartbeat", map[string]any{"status": 1}, "monitor", map[string]any{"name": "n", "type": "globalping", "subtype": "http", "url": "https://g.example/"}, "msg", "m"),
			contains: []string{`<a href="https://g.example/">https://g.example/</a>`}},
		{name: "pending and maintenance colours",
			body:     obj("heartbeat", map[string]any{"status": 2}, "msg", "m"),
			contains: []string{`<span data-mx-color="#f8a306"><b>⏳ Pending</b></span> <b>Monitor Name not available</b>`}},
		{name: "maintenance",
			body:     obj("heartbeat", map[string]any{"status": 3, "msg": "Monitor under maintenance"}, "monitor", map[string]any{"name": "n"}, "msg", "m"),
			contains: []string{`<span data-mx-color="#1747f5"><b>🔧 Maintenance</b></span> <b>n</b><br>Monitor under maintenance`}},
		{name: "fractional ping, UTC time only",
			body:     obj("heartbeat", map[string]any{"status": 1, "ping": 12.5, "time": "2026-01-01 00:00:00.000"}, "msg", "m"),
			contains: []string{"<i>Response time: 12.5 ms · Time (UTC): 2026-01-01 00:00:00.000</i>"}},
		{name: "local time without zone",
			body:     obj("heartbeat", map[string]any{"status": 1, "localDateTime": "2026-01-01 01:00:00"}, "msg", "m"),
			contains: []string{"<i>Time: 2026-01-01 01:00:00</i>"}},
		{name: "unparseable lastDownTime is left out",
			body:          obj("heartbeat", map[string]any{"status": 1, "time": "2026-01-01 00:00:00.000", "lastDownTime": "yesterday"}, "msg", "m"),
			notContaining: []string{"Downtime"}},
		{name: "downtime 0s",
			body:     obj("heartbeat", map[string]any{"status": 1, "time": "2026-01-01 00:00:00.900", "lastDownTime": "2026-01-01 00:00:00.100"}, "msg", "m"),
			contains: []string{"Downtime: 0s"}},
		{name: "lastDownTime on a DOWN beat is ignored",
			body:          obj("heartbeat", map[string]any{"status": 0, "time": "2026-01-01 00:00:00.900", "lastDownTime": "2025-01-01 00:00:00.100"}, "msg", "m"),
			notContaining: []string{"Downtime"}},
		{name: "empty msg gets Kuma's wording",
			body:  obj("heartbeat", map[string]any{"status": 2, "msg": "N/A"}, "monitor", map[string]any{"name": "web"}, "msg", ""),
			plain: "[web] [🔴 Down] N/A"},
		{name: "empty msg without heartbeat",
			body:  `{"msg":""}`,
			plain: "Uptime Kuma notification"},
		{name: "test msg with markup",
			body:     `{"msg":"<b>x</b> & y\nz Testing"}`,
			contains: []string{"</span> &lt;b&gt;x&lt;/b&gt; &amp; y<br>z Testing"}},
		{name: "expiry with markup in name",
			body:     `{"msg":"[<i>n</i>][https://a.example/?a=1&b=2] domain example.com will expire in 3 days"}`,
			contains: []string{`<b>&lt;i&gt;n&lt;/i&gt;</b> <a href="https://a.example/?a=1&amp;b=2">https://a.example/?a=1&amp;b=2</a><br>domain example.com will expire in 3 days`}},
		{name: "expiry with a non-URL",
			body:     `{"msg":"[n][db:5432] certificate will expire in 3 days"}`,
			contains: []string{`<b>n</b> <code>db:5432</code><br>certificate`}},
		{name: "CR and CRLF become <br>",
			body:     obj("heartbeat", map[string]any{"status": 0, "msg": "a\rb\r\nc\nd"}, "msg", "m"),
			contains: []string{"a<br>b<br>c<br>d"}},
		{name: "invalid UTF-8 in msg",
			body:     "{\"msg\":\"a\xff\xfeb\"}",
			plain:    "a\ufffd\ufffdb",
			contains: []string{"a\ufffd\ufffdb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustDecode(t, tc.body).DefaultContent()
			checkContent(t, c)
			if tc.plain != "" && c.Body != tc.plain {
				t.Errorf("body = %q, want %q", c.Body, tc.plain)
			}
			for _, s := range tc.contains {
				if !strings.Contains(c.FormattedBody, s) {
					t.Errorf("formatted_body does not contain %q:\n%s", s, c.FormattedBody)
				}
			}
			for _, s := range tc.notContaining {
				if strings.Contains(c.FormattedBody, s) {
					t.Errorf("formatted_body contains %q:\n%s", s, c.FormattedBody)
				}
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	for secs, want := range map[int64]string{0: "0s", 1: "1s", 59: "59s", 60: "1m", 61: "1m 1s", 2130: "35m 30s",
		3600: "1h", 3661: "1h 1m", 4200: "1h 10m", 90061: "25h 1m"} {
		if got := formatDuration(secs); got != want {
			t.Errorf("formatDuration(%d) = %q, want %q", secs, got, want)
		}
	}
}

func TestIdentity(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 9, 12, 4, 100, time.UTC)
	down := mustDecode(t, readFixture(t, "http-down", "payload.json"))
	up := mustDecode(t, readFixture(t, "http-up", "payload.json"))
	test := mustDecode(t, readFixture(t, "test-notification", "payload.json"))
	cert := mustDecode(t, readFixture(t, "cert-expiry", "payload.json"))

	// One beat, one identity, whenever it arrives.
	if down.Identity(t0) != mustDecode(t, readFixture(t, "http-down", "payload.json")).Identity(t0.Add(time.Hour)) {
		t.Error("the same beat posted twice has two identities")
	}
	if want := "beat|12|2026-03-14 09:12:03.118|DOWN|Request failed with status code 503"; down.Identity(t0) != want {
		t.Errorf("identity = %q, want %q", down.Identity(t0), want)
	}
	// Different beats differ.
	ids := map[string]string{}
	add := func(name, id string) {
		t.Helper()
		if prev, dup := ids[id]; dup {
			t.Errorf("%s and %s share identity %q", name, prev, id)
		}
		ids[id] = name
	}
	add("down", down.Identity(t0))
	add("up", up.Identity(t0))
	add("test", test.Identity(t0))
	add("test a second later", test.Identity(t0.Add(time.Second)))
	add("cert", cert.Identity(t0))
	for _, k := range []string{"keyword-down", "port-down", "ping-down", "dns-up", "push-down", "docker-down", "hostile"} {
		add(k, mustDecode(t, readFixture(t, k, "payload.json")).Identity(t0))
	}
	add("same time, other status", mustDecode(t, `{"msg":"m","heartbeat":{"monitorID":12,"status":1,"time":"2026-03-14 09:12:03.118","msg":"Request failed with status code 503"}}`).Identity(t0))
	add("same time, other monitor", mustDecode(t, `{"msg":"m","heartbeat":{"monitorID":13,"status":0,"time":"2026-03-14 09:12:03.118","msg":"Request failed with status code 503"}}`).Identity(t0))

	// A test repeated within the same second is one message; the time
	// zone of received does not matter.
	berlin := time.FixedZone("CET", 3600)
	if test.Identity(t0) != test.Identity(t0.Add(500*time.Millisecond).In(berlin)) {
		t.Error("test notification: same second, different identity")
	}
	// The monitor id comes from the heartbeat, else the monitor.
	a := mustDecode(t, `{"msg":"m","heartbeat":{"status":0,"time":"t"},"monitor":{"id":7}}`)
	b := mustDecode(t, `{"msg":"m","heartbeat":{"monitorID":7,"status":0,"time":"t"}}`)
	if a.Identity(t0) != b.Identity(t0) {
		t.Errorf("%q != %q", a.Identity(t0), b.Identity(t0))
	}
	// Without a time the receive second is part of it.
	noTime := mustDecode(t, `{"msg":"m","heartbeat":{"monitorID":7,"status":0}}`)
	if noTime.Identity(t0) == noTime.Identity(t0.Add(time.Second)) {
		t.Error("heartbeat without time: identity ignores receive time")
	}
	if noTime.Identity(t0) != noTime.Identity(t0.Add(time.Millisecond)) {
		t.Error("heartbeat without time: identity not truncated to the second")
	}
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{readFixture(t, "http-down", "payload.json"), "monitor Example Shop is DOWN"},
		{readFixture(t, "http-up", "payload.json"), "monitor Example Shop is UP"},
		{readFixture(t, "test-notification", "payload.json"), "notification: Matrix webhook Testing"},
		{`{"msg":"m","heartbeat":{"status":3},"monitor":{"name":"a\nb\u001b[31m\u2028c"}}`, "monitor a b [31m c is MAINTENANCE"},
		{`{"msg":"m","heartbeat":{"status":2},"monitor":{"id":5}}`, "monitor #5 is PENDING"},
		{`{"msg":"m","heartbeat":{"status":0}}`, "monitor Monitor Name not available is DOWN"},
		{`{"msg":"` + strings.Repeat("é", 200) + `"}`, "notification: " + strings.Repeat("é", 119) + "…"},
	} {
		if got := mustDecode(t, tc.body).Summary(); got != tc.want {
			t.Errorf("Summary() = %q, want %q", got, tc.want)
		}
	}
}
