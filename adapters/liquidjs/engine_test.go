package liquidjs

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 23, 15, 4, 5, 678e6, time.UTC)

func testEngine(t testing.TB, zone string) *Engine {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Location: loc, Now: func() time.Time { return testNow }})
}

func mustDecode(t testing.TB, s string) any {
	t.Helper()
	v, err := DecodeJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func kumaContext(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "templates", "contexts", "kuma-down.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := decodeContext(b)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

// decodeContext is the context of a JSON object's members, as adapters/kuma
// builds one.
func decodeContext(data []byte) (map[string]any, error) {
	v, err := DecodeJSON(data)
	if err != nil {
		return nil, err
	}
	o, ok := v.(*Object)
	if !ok {
		return nil, errors.New("a template context must be a JSON object")
	}
	ctx := map[string]any{}
	for _, k := range o.Keys() {
		ctx[k], _ = o.Get(k)
	}
	return ctx, nil
}

type renderCase struct{ src, want string }

func runCases(t *testing.T, e *Engine, ctx map[string]any, cases []renderCase) {
	t.Helper()
	for _, c := range cases {
		tpl, err := e.Parse("t", c.src)
		if err != nil {
			t.Errorf("%s: parse: %v", c.src, err)
			continue
		}
		got, err := tpl.Render(ctx)
		if err != nil {
			t.Errorf("%s: render: %v", c.src, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s\n got %q\nwant %q", c.src, got, c.want)
		}
	}
}

func TestDateFilter(t *testing.T) {
	ctx := map[string]any{"n": nil, "null": Null, "secs": 1784018415.0, "ms": 1784018415123.0}
	runCases(t, testEngine(t, "Europe/Paris"), ctx, []renderCase{
		{`{{ "now" | date: "%d/%m/%Y %H:%M" }}`, "23/11/2026 16:04"},
		{`{{ "today" | date: "%Y-%m-%d %H:%M:%S.%L" }}`, "2026-11-23 16:04:05.678"},
		{`{{ secs | date: "%Y-%m-%d %H:%M:%S %z" }}`, "2026-07-14 10:40:15 +0200"},
		{`{{ "1784018415" | date: "%H:%M" }}`, "10:40"},
		// LiquidJS has no milliseconds heuristic: this is the year 58503.
		{`{{ ms | date: "%Y" }}`, "58503"},
		{`{{ "2026-07-14T08:30:15Z" | date: "%H:%M %Z" }}`, "10:30 Europe/Paris"},
		{`{{ "2026-07-14T08:30:15-05:00" | date: "%H:%M %z" }}`, "15:30 +0200"},
		{`{{ "2026-07-14 08:30:15.123" | date: "%H:%M:%S.%L" }}`, "08:30:15.123"},
		{`{{ "2026-07-14" | date: "%d %H:%M" }}`, "14 02:00"},
		{`[{{ n | date: "%Y" }}][{{ null | date }}][{{ missing | date }}]`, "[][][]"},
		{`{{ "not a date" | date: "%Y" }}`, "not a date"},
		{`{{ "2026-07-14T08:30:15Z" | date }}`, "Tuesday, July 14, 2026 at 10:30 am +0200"},
		{`{{ "2026-07-14T08:30:15Z" | date: "%H:%M %Z", "America/New_York" }}`, "04:30 America/New_York"},
		{`{{ "2026-07-14T08:30:15Z" | date: "%H:%M %z", -330 }}`, "14:00 +0530"},
		{`{{ "2026-02-03T04:05:06.007Z" | date: "%a %A %b %B %e %-d %_m %j %k %l %I %p %P %q %u %w %y %C %s %%" }}`,
			"Tue Tuesday Feb February  3 3  2 034  5  5 05 AM am rd 2 2 26 20 1770091506 %"},
		{`{{ "2026-02-03T04:05:06Z" | date: "%^a %#B %10A %:z %v %N" }}`, "TUE FEBRUARY    Tuesday +01:00 %v 000000000"},
		{`{{ "2026-02-03T16:05:06Z" | date: "%c|%x|%X" }}`, "2/3/2026, 5:05:06 PM|2/3/2026|5:05:06 PM"},
		{`{{ "2026-07-04T08:30:15Z" | date_to_long_string: "ordinal", "US" }}|{{ "2026-07-14T08:30:15Z" | date_to_xmlschema }}`,
			"July 4th, 2026|2026-07-14T10:30:15+02:00"},
	})
	// The zone: Options.Location, else time.Local.
	runCases(t, testEngine(t, "Asia/Kolkata"), nil, []renderCase{
		{`{{ "now" | date: "%H:%M %z %Z" }}`, "20:34 +0530 Asia/Calcutta"},
	})
	if _, err := testEngine(t, "UTC").Parse("t", `{{ "now" | date: "%Y", "No/Such_Zone" }}`); err != nil {
		t.Fatal(err)
	}
	tpl, _ := testEngine(t, "UTC").Parse("t", `{{ "now" | date: "%Y", "No/Such_Zone" }}`)
	if _, err := tpl.Render(nil); err == nil {
		t.Error("an unknown zone argument must fail the render, as in LiquidJS")
	}
}

func TestJSONFilter(t *testing.T) {
	ctx := map[string]any{
		"hb":    mustDecode(t, `{"z":1,"a":"<b>&amp;</b>","m":{"y":[1,2.5,null,true],"b":{}},"e":[]}`),
		"plain": map[string]any{"b": 1, "a": "x"},
		"u":     "\u2028 \x1b \"q\" é",
		"null":  Null,
	}
	runCases(t, testEngine(t, "UTC"), ctx, []renderCase{
		{`{{ hb | json }}`, `{"z":1,"a":"<b>&amp;</b>","m":{"y":[1,2.5,null,true],"b":{}},"e":[]}`},
		{`{{ hb.m | json: 2 }}`, "{\n  \"y\": [\n    1,\n    2.5,\n    null,\n    true\n  ],\n  \"b\": {}\n}"},
		{`{{ hb.m.y | json: "\t" }}`, "[\n\t1,\n\t2.5,\n\tnull,\n\ttrue\n]"},
		{`{{ plain | json }}`, `{"a":"x","b":1}`},
		{`{{ u | json }}`, "\"\u2028 \\u001b \\\"q\\\" é\""},
		{`[{{ missing | json }}][{{ null | json }}][{{ hb.nokey | json }}]`, "[][null][]"},
		{`{{ hb | jsonify }}`, `{"z":1,"a":"<b>&amp;</b>","m":{"y":[1,2.5,null,true],"b":{}},"e":[]}`},
	})
	b, err := mustDecode(t, `{"b":1,"a":[{"d":1,"c":2}]}`).(*Object).MarshalJSON()
	if err != nil || string(b) != `{"b":1,"a":[{"d":1,"c":2}]}` {
		t.Errorf("MarshalJSON = %s, %v", b, err)
	}
}

func TestNewlineFilters(t *testing.T) {
	ctx := map[string]any{"m": "a\r\nb\nc\rd"}
	runCases(t, testEngine(t, "UTC"), ctx, []renderCase{
		{`{{ m | strip_newlines }}`, "abc\rd"},
		{`{{ m | newline_to_br }}`, "a<br />\nb<br />\nc\rd"},
		{`{{ m | normalize_whitespace }}`, "a b c d"},
	})
}

func TestStringFilters(t *testing.T) {
	ctx := map[string]any{"s": "🔴 Down ß", "n": 1.0, "o": mustDecode(t, `{"k":"v"}`), "bad": "\xffaBC"}
	runCases(t, testEngine(t, "UTC"), ctx, []renderCase{
		{`{{ s | size }}|{{ s | upcase }}|{{ s | downcase }}|{{ "hELLO wORLD" | capitalize }}`, "9|🔴 DOWN SS|🔴 down ß|Hello world"},
		{`{{ s | truncate: 6 }}|{{ "abcdefgh" | truncate: 5, "" }}|{{ "one two three four" | truncatewords: 2 }}`, "🔴 ...|abcde|one two..."},
		{`{{ "a,b,,c,," | split: "," | join: "-" }}|{{ "abc" | replace: "", "." }}|{{ "aXbXc" | replace_last: "X", "_" }}`, "a-b--c|a.b.c|aXb_c"},
		{`{{ "xxhixx" | strip: "x" }}|{{ "  a  " | lstrip }}.|{{ "  a  " | rstrip }}.`, "hi|a  .|  a."},
		{`{{ n | append: "!" }}|{{ o | prepend: ">" }}|{{ "<a href='x'>&</a>" | escape }}`, "1!|>[object Object]|&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"},
		{`{{ "a b&c" | url_encode }}|{{ "a+b%20c" | url_decode }}|{{ "it's (ok)*" | cgi_escape }}`, "a+b%26c|a b c|it%27s+%28ok%29%2A"},
		{`{{ "abcdef" | slice: -3, 2 }}|{{ "abc" | first }}|{{ "abc" | last }}|{{ "<p>hi<script>x</script></p>" | strip_html }}`, "de|a|c|hi"},
		{`{{ missing | default: "d" }}|{{ "" | default: "d" }}|{{ false | default: "d", allow_false: true }}`, "d|d|false"},
		{`{{ "x" | no_such_filter: 1 }}|{{ "x" | pluralize: "a", "b" }}`, "x|x"},
		{`{{ bad | capitalize }}|{{ "𝒶bC" | capitalize }}`, "\ufffdabc|𝒶bc"}, // a bad first byte is one character
	})
}

func TestMathFilters(t *testing.T) {
	runCases(t, testEngine(t, "UTC"), nil, []renderCase{
		{`{{ 10 | divided_by: 4 }}|{{ 10 | divided_by: 4, true }}|{{ -7 | modulo: 3 }}|{{ "3" | plus: "4" }}|{{ "x" | times: 2 }}`, "2.5|2|-1|7|0"},
		{`{{ 2.5 | round }}|{{ -2.5 | round }}|{{ 3.14159 | round: 2 }}|{{ 1.2 | ceil }}|{{ -1.2 | floor }}|{{ -3 | abs }}`, "3|-3|3.14|2|-2|3"},
		{`{{ 4 | at_least: 5 }}|{{ 4 | at_most: 3 }}|{{ 0.1 | plus: 0.2 }}|{{ "12" | to_integer | minus: 2 }}`, "5|3|0.30000000000000004|10"},
	})
}

func TestTagsAndLiterals(t *testing.T) {
	ctx := kumaContext(t)
	ctx["sp"] = "  "
	runCases(t, testEngine(t, "UTC"), ctx, []renderCase{
		{"{% liquid\n  assign x = heartbeatJSON.status | plus: 1\n  # comment\n  if x == 1\n    echo \"one\"\n  endif\n%}|{% echo name | upcase %}", "one|SITE WEB"},
		{`a{% # inline comment %}b{%- echo "c" -%} d`, "abcd"},
		{`{% if "" == blank %}1{% endif %}{% if sp == blank %}2{% endif %}{% if monitorJSON.description == blank %}3{% endif %}{% if monitorJSON.childrenIDs == empty %}4{% endif %}{% if monitorJSON.description == nil %}5{% endif %}`, "12345"},
		{`{% if heartbeatJSON.ping %}x{% else %}null-falsy{% endif %}|{% if heartbeatJSON.ping < 1 %}null-is-0{% endif %}|{% if missing < 1 %}x{% else %}undefined-is-NaN{% endif %}`, "null-falsy|null-is-0|undefined-is-NaN"},
		{`{% if true or false and false %}right-to-left{% endif %}|{% if "10" > 9 %}js-compare{% endif %}|{% if "b" > "a" %}str{% endif %}`, "right-to-left|js-compare|str"},
		{`{% for x in missing %}{% else %}empty{% endfor %}|{% for c in "ab" %}[{{ c }}]{% endfor %}|{% for p in heartbeatJSON limit: 2 %}{{ p[0] }};{% endfor %}`, "empty|[ab]|monitorID;status;"},
		{`{% increment c %}{% increment c %}{% decrement d %}|{{ monitorJSON }}|{{ monitorJSON.tags | map: "name" | join: "," }}`, "01-1|[object Object]|region,critical"},
		{`{{ monitorJSON.tags[0].name }}|{{ monitorJSON["url"] }}|{{ monitorJSON.tags.size }}|{{ monitorJSON.size }}|{{ monitorJSON.tags.last.value }}`, "region|https://example.com/health|2|26|"},
		{`{% if heartbeatJSON.status == 0 %}down{% endif %}{% if status == '1' %}never{% endif %}`, "down"},
		{`{% raw %}{% echo x %}{{ y }}{% endraw %}`, "{% echo x %}{{ y }}"},
	})
}

func TestFrenchTemplate(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "templates", "kuma-french.liquid"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := testEngine(t, "Europe/Paris").Parse("kuma-french", string(src))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render(kumaContext(t))
	if err != nil {
		t.Fatal(err)
	}
	want := "🚨 ALERTE : SERVICE HORS LIGNE\n🖥️ Service : Site web\n🌐 Cible : https://example.com/health\n" +
		"💬 Message : [Site web] [🔴 Down] connect ECONNREFUSED 203.0.113.7:443\n⏰ Heure : 23/11/2026 16:04\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	e := testEngine(t, "UTC")
	for _, c := range []struct{ src, want string }{
		{"hello\n  {% if x %}\nno end", "t:2:3: tag {% if x %} not closed"},
		// LiquidJS renders "a\nb {{ x | }}" (a trailing "|" is no filter);
		// a "|" followed by another is its error, at the second.
		{"a\nb {{ x | | }}", "t:2:10: expected filter name"},
		{"{% nosuchtag %}", "t:1:1: tag \"nosuchtag\" not found"},
		{"Hello {{ name }", "t:1:7: output \"{{ name }\" not closed"},
		{"🔴 {% if a ", "t:1:4: tag \"{% if a \" not closed"},
		{"é {% endif %}", "t:1:3: "},
	} {
		_, err := e.Parse("t", c.src)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: got %v, want prefix %q", c.src, err, c.want)
		}
	}
}

// An output spanning lines renders (osteele's scanner printed it as text),
// and what follows it keeps its line: LiquidJS reports this render error
// at line 6.
func TestMultilineOutputKeepsLines(t *testing.T) {
	tpl, err := testEngine(t, "UTC").Parse("t", "{{ x\n | append: 'a\nb' }}{{ \"c\nd\"\n}}\n{{ x | append: 1, 2 }}")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tpl.Render(map[string]any{"x": "hi"}); err == nil || !strings.Contains(err.Error(), "(line 6)") {
		t.Errorf("Render error = %v, want one at line 6", err)
	}
	tpl, err = testEngine(t, "UTC").Parse("t", "{{ x\n | append: 'a\nb' }}|{%- echo x\n | upcase -%}")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tpl.Render(map[string]any{"x": "hi"}); out != "hia\nb|HI" || err != nil {
		t.Errorf("Render = %q, %v; want %q", out, err, "hia\nb|HI")
	}
}

func TestRenderError(t *testing.T) {
	tpl, err := testEngine(t, "UTC").Parse("t", `{{ "%zz" | url_decode }}`)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tpl.Render(nil); out != "" || err == nil || !strings.HasPrefix(err.Error(), "t: ") {
		t.Errorf("Render = %q, %v; want no output and an error naming the template", out, err)
	}
}

// LiquidJS's append and prepend fail to render unless they have exactly
// one argument (LiquidJS 10.26: "append expect 2 arguments").
func TestAppendArity(t *testing.T) {
	e := testEngine(t, "UTC")
	for _, src := range []string{`{{ x | append }}`, `{{ x | append: }}`, `{{ x | prepend: , }}`, `{{ x | append: "a", "b" }}`, `{{ x | append: "a", , "b" }}`, `{{ x | prepend: "a", k: 1 }}`} {
		tpl, err := e.Parse("t", src)
		if err != nil {
			t.Errorf("%s: %v; LiquidJS parses it", src, err)
			continue
		}
		if out, err := tpl.Render(map[string]any{"x": "v"}); err == nil || !strings.Contains(err.Error(), "expect 2 arguments") {
			t.Errorf("%s: Render = %q, %v; want LiquidJS's \"expect 2 arguments\"", src, out, err)
		}
	}
	tpl, err := e.Parse("t", `{{ x | append: "a" }}{{ x | prepend: nosuch }}`)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tpl.Render(map[string]any{"x": "v"}); out != "vav" || err != nil {
		t.Errorf("Render = %q, %v; want \"vav\"", out, err)
	}
}

// A range of more than maxRange elements fails to render (LiquidJS runs out
// of memory on it) rather than take the process's memory or loop forever
// where i+1 rounds to i (past 2^53).
func TestRangeTooLarge(t *testing.T) {
	e := testEngine(t, "UTC")
	for _, src := range []string{`{{ (1..2000000) | size }}`, `{% for i in (0..n) %}{% endfor %}`, `{{ (m..p) }}`} {
		tpl, err := e.Parse("t", src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		ctx := map[string]any{"n": math.Inf(1), "m": 9007199254740992.0, "p": 9007199254740992.0 + 4}
		if out, err := tpl.Render(ctx); err == nil || !strings.Contains(err.Error(), "elements") {
			t.Errorf("%s: Render = %q, %v; want the range's error", src, quoteShort(out), err)
		}
	}
}

func TestConcurrentRender(t *testing.T) {
	e := testEngine(t, "Europe/Paris")
	tpl, err := e.Parse("t", `{% for t in monitorJSON.tags %}{{ t.name }}{% endfor %}|{% assign x = heartbeatJSON.status | plus: 1 %}{{ x }}|{{ heartbeatJSON | json }}|{{ "now" | date: "%H:%M" }}`)
	if err != nil {
		t.Fatal(err)
	}
	ctx := kumaContext(t)
	want, err := tpl.Render(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				got, err := tpl.Render(ctx)
				if err != nil || got != want {
					errs <- fmt.Errorf("got %q, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDecodeJSON(t *testing.T) {
	v := mustDecode(t, `{"b":1,"a":{"x":null},"b":2}`).(*Object)
	if got := strings.Join(v.Keys(), ","); got != "b,a" {
		t.Errorf("keys %s", got)
	}
	if b, _ := v.Get("b"); b != 2.0 {
		t.Errorf("b = %v", b)
	}
	if x, _ := mustDecode(t, `{"x":null}`).(*Object).Get("x"); x != Null {
		t.Errorf("null = %#v", x)
	}
	for _, bad := range []string{`{`, `{"a":1} x`, `[1,]`} {
		if _, err := DecodeJSON([]byte(bad)); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestLint(t *testing.T) {
	src := "{% if status == '1' %}up{% endif %}\n{% if STATUS != 0 and x %}{% endif %}{% case status %}{% when \"1\" %}{% endcase %}\n" +
		"{{ nam | no_such | upcase }}{% assign y = 1 %}{{ y }}{% for t in monitorJSON.tags %}{{ t.name | default: 'x', allow_false: true }}{{ forloop.index }}{% endfor %}\n"
	diags := Lint("t", src, KumaVariables)
	var got []string
	for _, d := range diags {
		got = append(got, d.String())
	}
	want := []string{
		"1:7: warning: in Kuma status is",
		"2:7: warning: in Kuma STATUS is",
		"2:23: warning: unknown variable \"x\"",
		"2:62: warning: in Kuma status is",
		"3:4: warning: unknown variable \"nam\"",
		"3:10: warning: unknown filter \"no_such\"",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d diagnostics:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("diagnostic %d: got %q, want prefix %q", i, got[i], want[i])
		}
	}
	if !strings.Contains(got[0], "heartbeatJSON.status == 1") || !strings.Contains(got[1], "heartbeatJSON.status != 0") {
		t.Errorf("the trap warnings must suggest heartbeatJSON.status:\n%s\n%s", got[0], got[1])
	}
	errs := Lint("t", "ok\n{% if x %}", []string{"x"})
	if len(errs) != 1 || errs[0].Severity != SeverityError || errs[0].Line != 2 || errs[0].Col != 1 {
		t.Errorf("parse error diagnostics: %v", errs)
	}
	if d := Lint("t", `{{ monitorJSON.tags | push: 1 }}`, KumaVariables); len(d) != 1 || !strings.Contains(d[0].Msg, "not implemented") {
		t.Errorf("unsupported filter: %v", d)
	}
	if d := Lint("t", `{% liquid
assign a = name
echo a | upcase
%}`, KumaVariables); len(d) != 0 {
		t.Errorf("clean liquid tag: %v", d)
	}
	// LiquidJS's strings have backslash escapes, single-quoted ones too.
	if d := Lint("t", `{{ name | append: 'a\'b c' | prepend: "d\"e f" }}`, KumaVariables); len(d) != 0 {
		t.Errorf("escaped quotes: %v", d)
	}
}

func FuzzParseRender(f *testing.F) {
	for _, s := range []string{
		`{% if status == '1' %}x{% else %}y{% endif %}`,
		`{{ "now" | date: "%-d %^a %10N %:z" }}`,
		"{% liquid\nassign x = 1\necho x\n%}",
		`{% for t in monitorJSON.tags limit: 1 %}{{ t | json: 2 }}{% else %}e{% endfor %}`,
		`{% # c %}{% echo msg | strip_newlines %}{% raw %}{{{% endraw %}`,
		`{% if a == blank and b != empty or c < 1 %}{% endif %}{% case x %}{% when 1 %}{% endcase %}`,
		`{{ heartbeatJSON.time | date: "%c", "Europe/Paris" }}{{ msg | truncate: -1 | slice: -9, 3 }}`,
		"{{ msg | }}{{ name | 1 | no_such: , 2, | upcase : }}{% assign x = msg | append :\n\"é\", %}{% echo x | %}",
		"{{ msg\n | append:\n 'a\n\\b\"' | prepend: \"c\\\nd\" -}}\n{%- echo name\n | size %}",
		"{{ name msg == | upcase }}{{ not x and }}{% if == not %}{% endif %}{{ x | f: a: 1, b: | g: \"k\": }}{% assign v = 1 2 contains %}",
		"{% for i in arr | f, limit: 1, x: 2 reversed == 3 %}{% endfor %}{% tablerow i in (1..2) y | cols: 1 %}{% endtablerow %}",
		"{{ (1..n) | join }}{{ 'a\\'b}}' | append: \"}}\", k: (\"1\"..x.1) }}{{ x.1.-1 | f: 1a: 2 }}{{ x - }}{% assign - = 1 %}{% if a.1 > \"1\" %}{% endif %}",
		`{{000""0000000000000.}}`, // the review's: our rewrite in the error
	} {
		f.Add(s)
	}
	e := New(Options{Location: time.UTC, Now: func() time.Time { return testNow }})
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "templates", "contexts", "kuma-hostile.json"))
	if err != nil {
		f.Fatal(err)
	}
	ctx, err := decodeContext(b)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		_ = Lint("f", src, KumaVariables)
		tpl, err := e.Parse("f", src)
		if err != nil {
			return
		}
		// Errors are fine; panics are not (Render recovers, but must not need to).
		if _, err := tpl.Render(ctx); errors.Is(err, ErrPanic) {
			t.Fatalf("render panicked: %v", err)
		}
	})
}

func BenchmarkRender(b *testing.B) {
	e := testEngine(b, "Europe/Paris")
	ctx := kumaContext(b)
	for _, bc := range []struct{ name, src string }{
		{"plain", "{% if heartbeatJSON.status == 1 %}✅ UP{% else %}🔴 DOWN{% endif %} {{ name }}\n🌐 {{ hostnameOrURL }}\n💬 {{ msg }}"},
		{"date", "{% if heartbeatJSON.status == 1 %}✅ UP{% else %}🔴 DOWN{% endif %} {{ name }}\n🌐 {{ hostnameOrURL }}\n💬 {{ msg }}\n⏰ {{ \"now\" | date: \"%d/%m/%Y %H:%M\" }}"},
		{"json", "{{ heartbeatJSON | json }}"},
	} {
		tpl, err := e.Parse(bc.name, bc.src)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := tpl.Render(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// JSNumber is how a template prints a number, and how Kuma's text shows one.
func TestJSNumber(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {-3, "-3"}, {5432, "5432"}, {12.5, "12.5"},
		{0.1, "0.1"}, {1e20, "100000000000000000000"}, {1e21, "1e+21"}, {1.5e-7, "1.5e-7"}, {1e-6, "0.000001"},
		{123456789.25, "123456789.25"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"}, {math.NaN(), "NaN"},
	} {
		if got := JSNumber(tc.f); got != tc.want {
			t.Errorf("JSNumber(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}
