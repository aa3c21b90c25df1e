package format

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"matrix-notify/sender/sendertest"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Severity{
		"critical": Critical, "DOWN": Critical, " Warning ": Warning, "pending": Warning,
		"clear": Clear, "UP": Clear, "info": Info, "test": Info, "maintenance": Info, "bad": "", "": "",
	} {
		got, ok := ParseSeverity(in)
		if got != want || ok != (want != "") {
			t.Errorf("ParseSeverity(%q) = %q, %v", in, got, ok)
		}
	}
}

func TestDefaultMsgType(t *testing.T) {
	for s, want := range map[Severity]string{Critical: "m.text", Warning: "m.text", Clear: "m.notice", Info: "m.notice"} {
		if got := (SeverityPolicy{}).MsgTypeFor(s); got != want {
			t.Errorf("MsgTypeFor(%s) without configuration = %q", s, got)
		}
	}
}

func base() Content {
	return Content{MsgType: "m.notice", Body: "🔴 web1 is critical", Format: FormatHTML,
		FormattedBody: "🔴 <b>web1</b> is critical"}
}

func TestApply(t *testing.T) {
	oncall := SeverityPolicy{
		MentionUsers: map[Severity][]string{Critical: {"@oncall:example.org", "@oncall:example.org", "bad id", "@b:hs"}},
		MentionRoom:  map[Severity]bool{Critical: true},
	}
	tests := []struct {
		name     string
		c        Content
		sev      Severity
		p        SeverityPolicy
		want     Content
		wantJSON string // the m.mentions part
	}{
		{"no policy critical", base(), Critical, SeverityPolicy{},
			Content{MsgType: "m.text", Body: "🔴 web1 is critical", Format: FormatHTML,
				FormattedBody: "🔴 <b>web1</b> is critical", Mentions: &Mentions{}},
			`"m.mentions":{}`},
		{"no policy clear", base(), Clear, SeverityPolicy{},
			Content{MsgType: "m.notice", Body: "🔴 web1 is critical", Format: FormatHTML,
				FormattedBody: "🔴 <b>web1</b> is critical", Mentions: &Mentions{}},
			`"m.mentions":{}`},
		{"msgtype override", base(), Info, SeverityPolicy{MsgType: map[Severity]string{Info: "m.text"}},
			Content{MsgType: "m.text", Body: "🔴 web1 is critical", Format: FormatHTML,
				FormattedBody: "🔴 <b>web1</b> is critical", Mentions: &Mentions{}},
			`"m.mentions":{}`},
		{"oncall and room", base(), Critical, oncall,
			Content{MsgType: "m.text",
				Body:   "@room @oncall:example.org @b:hs: 🔴 web1 is critical",
				Format: FormatHTML,
				FormattedBody: `@room <a href="https://matrix.to/#/@oncall:example.org">@oncall:example.org</a> ` +
					`<a href="https://matrix.to/#/@b:hs">@b:hs</a>: 🔴 <b>web1</b> is critical`,
				Mentions: &Mentions{UserIDs: []string{"@oncall:example.org", "@b:hs"}, Room: true}},
			`"m.mentions":{"user_ids":["@oncall:example.org","@b:hs"],"room":true}`},
		{"other severity not mentioned", base(), Warning, oncall,
			Content{MsgType: "m.text", Body: "🔴 web1 is critical", Format: FormatHTML,
				FormattedBody: "🔴 <b>web1</b> is critical", Mentions: &Mentions{}},
			`"m.mentions":{}`},
		{"room only", base(), Warning, SeverityPolicy{MentionRoom: map[Severity]bool{Warning: true}},
			Content{MsgType: "m.text", Body: "@room: 🔴 web1 is critical", Format: FormatHTML,
				FormattedBody: "@room: 🔴 <b>web1</b> is critical", Mentions: &Mentions{Room: true}},
			`"m.mentions":{"room":true}`},
		{"plain content gets HTML for the pill",
			Content{MsgType: "m.text", Body: "a <b>\nline"}, Critical,
			SeverityPolicy{MentionUsers: map[Severity][]string{Critical: {"@o:hs"}}},
			Content{MsgType: "m.text", Body: "@o:hs: a <b> · line", Format: FormatHTML,
				FormattedBody: `<a href="https://matrix.to/#/@o:hs">@o:hs</a>: a &lt;b&gt;<br>line`,
				Mentions:      &Mentions{UserIDs: []string{"@o:hs"}}},
			`"m.mentions":{"user_ids":["@o:hs"]}`},
		{"merges existing mentions",
			Content{MsgType: "m.text", Body: "x", Mentions: &Mentions{UserIDs: []string{"@o:hs", "@a:hs"}}},
			Clear, SeverityPolicy{MentionUsers: map[Severity][]string{Clear: {"@o:hs"}}},
			Content{MsgType: "m.notice", Body: "@o:hs: x", Format: FormatHTML,
				FormattedBody: `<a href="https://matrix.to/#/@o:hs">@o:hs</a>: x`,
				Mentions:      &Mentions{UserIDs: []string{"@o:hs", "@a:hs"}}},
			`"m.mentions":{"user_ids":["@o:hs","@a:hs"]}`},
	}
	for _, tt := range tests {
		in := tt.c
		var before []string
		if in.Mentions != nil {
			before = append(before, in.Mentions.UserIDs...)
		}
		got := ApplySeverity(tt.c, tt.sev, tt.p)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v %+v\nwant %+v %+v", tt.name, got, got.Mentions, tt.want, tt.want.Mentions)
		}
		if Sanitize(got.FormattedBody) != got.FormattedBody {
			t.Errorf("%s: pill is not Matrix HTML: %q", tt.name, got.FormattedBody)
		}
		b, _ := json.Marshal(got)
		if !strings.Contains(string(b), tt.wantJSON) {
			t.Errorf("%s: JSON %s lacks %s", tt.name, b, tt.wantJSON)
		}
		if in.Mentions != nil && !reflect.DeepEqual(in.Mentions.UserIDs, before) {
			t.Errorf("%s: ApplySeverity modified its input", tt.name)
		}
	}
}

// A mention reaches its user on a homeserver without the m.mentions push
// rules (Dendrite 0.13: legacy body rules only, which never match a body
// with a line break): the body is one line, the formatted body keeps its
// lines, m.mentions stays.
func TestApplyMentionOnDendrite(t *testing.T) {
	const oncall = "@oncall:example.org"
	multi := Content{MsgType: "m.text",
		Body:          "🔴 web01 is critical - disk space usage\r\n  disk_space._\n\nweb01: 1 warning, 0 critical\n",
		Format:        FormatHTML,
		FormattedBody: "🔴 web01 is critical - <b>disk space usage</b><br>disk_space._<br>web01: 1 warning, 0 critical"}
	p := SeverityPolicy{MentionUsers: map[Severity][]string{Critical: {oncall}}, MentionRoom: map[Severity]bool{Warning: true}}
	tests := []struct {
		sev       Severity
		body      string
		highlight bool
	}{
		{Critical, oncall + ": 🔴 web01 is critical - disk space usage · disk_space._ · web01: 1 warning, 0 critical", true},
		{Warning, "@room: 🔴 web01 is critical - disk space usage · disk_space._ · web01: 1 warning, 0 critical", true},
		{Clear, multi.Body, false}, // nobody mentioned: the body keeps its lines
	}
	for _, tt := range tests {
		got := ApplySeverity(multi, tt.sev, p)
		if got.Body != tt.body {
			t.Errorf("%s: body %q, want %q", tt.sev, got.Body, tt.body)
		}
		if !strings.HasSuffix(got.FormattedBody, multi.FormattedBody) {
			t.Errorf("%s: formatted body lost its lines: %q", tt.sev, got.FormattedBody)
		}
		data, _ := json.Marshal(got)
		if h := sendertest.DendriteHighlights(data, oncall, "oncall"); h != tt.highlight {
			t.Errorf("%s: Dendrite highlights = %v, want %v: %s", tt.sev, h, tt.highlight, data)
		}
	}
	if got := ApplySeverity(multi, Critical, p); got.Mentions == nil || len(got.Mentions.UserIDs) != 1 || got.Mentions.UserIDs[0] != oncall {
		t.Errorf("m.mentions: %+v", got.Mentions)
	}
}

func TestValidate(t *testing.T) {
	if w := (SeverityPolicy{}).Validate(); len(w) != 0 {
		t.Errorf("zero policy: %q", w)
	}
	good := SeverityPolicy{MentionUsers: map[Severity][]string{Critical: {"@oncall:example.org"}}, MentionRoom: map[Severity]bool{Warning: true}}
	if w := good.Validate(); len(w) != 0 {
		t.Errorf("good policy: %q", w)
	}
	tests := []struct {
		name string
		p    SeverityPolicy
		want []string // substrings, one per warning
	}{
		{"mention on notice severity", SeverityPolicy{MentionUsers: map[Severity][]string{Clear: {"@a:hs"}}},
			[]string{"mentions on clear are sent as m.notice, which never notifies"}},
		{"room on notice override", SeverityPolicy{MsgType: map[Severity]string{Critical: "m.notice"}, MentionRoom: map[Severity]bool{Critical: true}},
			[]string{"mentions on critical are sent as m.notice"}},
		{"mention on info made m.text", SeverityPolicy{MsgType: map[Severity]string{Info: "m.text"}, MentionUsers: map[Severity][]string{Info: {"@a:hs"}}},
			nil},
	}
	for _, tt := range tests {
		w := tt.p.Validate()
		if len(w) != len(tt.want) {
			t.Errorf("%s: %q", tt.name, w)
			continue
		}
		for i := range w {
			if !strings.Contains(w[i], tt.want[i]) {
				t.Errorf("%s: warning %q lacks %q", tt.name, w[i], tt.want[i])
			}
		}
	}
}

func TestValidUserID(t *testing.T) {
	for id, want := range map[string]bool{
		"@oncall:example.org": true, "@a:hs:8448": true, "@a:[::1]": true, "@a.b_c=d-e/f:hs": true,
		"oncall": false, "@:hs": false, "@a": false, "@a b:hs": false, "@a:": false, "#room:hs": false,
		"@" + strings.Repeat("a", 300) + ":hs": false,
	} {
		if got := ValidUserID(id); got != want {
			t.Errorf("ValidUserID(%q) = %v", id, got)
		}
	}
}

func TestPermalink(t *testing.T) {
	for id, want := range map[string]string{
		"@oncall:example.org": "https://matrix.to/#/@oncall:example.org",
		"@we\"ird#:hs":        "https://matrix.to/#/@we%22ird%23:hs",
	} {
		if got := Permalink(id); got != want {
			t.Errorf("Permalink(%q) = %q", id, got)
		}
	}
}
