package severity

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"matrix-notify/adapters/matrixhtml"
	"matrix-notify/sender"
	"matrix-notify/sender/sendertest"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Severity{
		"critical": Critical, "DOWN": Critical, " Warning ": Warning, "pending": Warning,
		"clear": Clear, "UP": Clear, "info": Info, "test": Info, "maintenance": Info, "bad": "", "": "",
	} {
		got, ok := Parse(in)
		if got != want || ok != (want != "") {
			t.Errorf("Parse(%q) = %q, %v", in, got, ok)
		}
	}
}

func TestFrom(t *testing.T) {
	for in, want := range map[string]Severity{"CRITICAL": Critical, "WARNING": Warning, "CLEAR": Clear,
		"REMOVED": Info, "UNDEFINED": Info, "": Info} {
		if got := FromNetdata(in); got != want {
			t.Errorf("FromNetdata(%q) = %q", in, got)
		}
	}
	for _, tt := range []struct {
		hb     bool
		status int
		want   Severity
	}{{true, 0, Critical}, {true, 1, Clear}, {true, 2, Warning}, {true, 3, Info}, {false, 0, Info}, {true, 9, Info}} {
		if got := FromKuma(tt.hb, tt.status); got != tt.want {
			t.Errorf("FromKuma(%v, %d) = %q", tt.hb, tt.status, got)
		}
	}
}

func TestDefaultMsgType(t *testing.T) {
	for s, want := range map[Severity]string{Critical: "m.text", Warning: "m.text", Clear: "m.notice", Info: "m.notice"} {
		if got := DefaultMsgType(s); got != want {
			t.Errorf("DefaultMsgType(%s) = %q", s, got)
		}
	}
}

func base() sender.Content {
	return sender.Content{MsgType: "m.notice", Body: "🔴 web1 is critical", Format: sender.FormatHTML,
		FormattedBody: "🔴 <b>web1</b> is critical"}
}

func TestApply(t *testing.T) {
	oncall := Policy{
		MentionUsers: map[Severity][]string{Critical: {"@oncall:example.org", "@oncall:example.org", "bad id", "@b:hs"}},
		MentionRoom:  map[Severity]bool{Critical: true},
	}
	tests := []struct {
		name     string
		c        sender.Content
		sev      Severity
		p        Policy
		want     sender.Content
		wantJSON string // the m.mentions part
	}{
		{"no policy critical", base(), Critical, Policy{},
			sender.Content{MsgType: "m.text", Body: "🔴 web1 is critical", Format: sender.FormatHTML,
				FormattedBody: "🔴 <b>web1</b> is critical", Mentions: &sender.Mentions{}},
			`"m.mentions":{}`},
		{"no policy clear", base(), Clear, Policy{},
			sender.Content{MsgType: "m.notice", Body: "🔴 web1 is critical", Format: sender.FormatHTML,
				FormattedBody: "🔴 <b>web1</b> is critical", Mentions: &sender.Mentions{}},
			`"m.mentions":{}`},
		{"msgtype override", base(), Info, Policy{MsgType: map[Severity]string{Info: "m.text"}},
			sender.Content{MsgType: "m.text", Body: "🔴 web1 is critical", Format: sender.FormatHTML,
				FormattedBody: "🔴 <b>web1</b> is critical", Mentions: &sender.Mentions{}},
			`"m.mentions":{}`},
		{"oncall and room", base(), Critical, oncall,
			sender.Content{MsgType: "m.text",
				Body:   "@room @oncall:example.org @b:hs: 🔴 web1 is critical",
				Format: sender.FormatHTML,
				FormattedBody: `@room <a href="https://matrix.to/#/@oncall:example.org">@oncall:example.org</a> ` +
					`<a href="https://matrix.to/#/@b:hs">@b:hs</a>: 🔴 <b>web1</b> is critical`,
				Mentions: &sender.Mentions{UserIDs: []string{"@oncall:example.org", "@b:hs"}, Room: true}},
			`"m.mentions":{"user_ids":["@oncall:example.org","@b:hs"],"room":true}`},
		{"other severity not mentioned", base(), Warning, oncall,
			sender.Content{MsgType: "m.text", Body: "🔴 web1 is critical", Format: sender.FormatHTML,
				FormattedBody: "🔴 <b>web1</b> is critical", Mentions: &sender.Mentions{}},
			`"m.mentions":{}`},
		{"room only", base(), Warning, Policy{MentionRoom: map[Severity]bool{Warning: true}},
			sender.Content{MsgType: "m.text", Body: "@room: 🔴 web1 is critical", Format: sender.FormatHTML,
				FormattedBody: "@room: 🔴 <b>web1</b> is critical", Mentions: &sender.Mentions{Room: true}},
			`"m.mentions":{"room":true}`},
		{"plain content gets HTML for the pill",
			sender.Content{MsgType: "m.text", Body: "a <b>\nline"}, Critical,
			Policy{MentionUsers: map[Severity][]string{Critical: {"@o:hs"}}},
			sender.Content{MsgType: "m.text", Body: "@o:hs: a <b> · line", Format: sender.FormatHTML,
				FormattedBody: `<a href="https://matrix.to/#/@o:hs">@o:hs</a>: a &lt;b&gt;<br>line`,
				Mentions:      &sender.Mentions{UserIDs: []string{"@o:hs"}}},
			`"m.mentions":{"user_ids":["@o:hs"]}`},
		{"merges existing mentions",
			sender.Content{MsgType: "m.text", Body: "x", Mentions: &sender.Mentions{UserIDs: []string{"@o:hs", "@a:hs"}}},
			Clear, Policy{MentionUsers: map[Severity][]string{Clear: {"@o:hs"}}},
			sender.Content{MsgType: "m.notice", Body: "@o:hs: x", Format: sender.FormatHTML,
				FormattedBody: `<a href="https://matrix.to/#/@o:hs">@o:hs</a>: x`,
				Mentions:      &sender.Mentions{UserIDs: []string{"@o:hs", "@a:hs"}}},
			`"m.mentions":{"user_ids":["@o:hs","@a:hs"]}`},
	}
	for _, tt := range tests {
		in := tt.c
		var before []string
		if in.Mentions != nil {
			before = append(before, in.Mentions.UserIDs...)
		}
		got := Apply(tt.c, tt.sev, tt.p)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v %+v\nwant %+v %+v", tt.name, got, got.Mentions, tt.want, tt.want.Mentions)
		}
		if matrixhtml.Sanitize(got.FormattedBody) != got.FormattedBody {
			t.Errorf("%s: pill is not Matrix HTML: %q", tt.name, got.FormattedBody)
		}
		b, _ := json.Marshal(got)
		if !strings.Contains(string(b), tt.wantJSON) {
			t.Errorf("%s: JSON %s lacks %s", tt.name, b, tt.wantJSON)
		}
		if in.Mentions != nil && !reflect.DeepEqual(in.Mentions.UserIDs, before) {
			t.Errorf("%s: Apply modified its input", tt.name)
		}
	}
}

// A mention reaches its user on a homeserver without the m.mentions push
// rules (Dendrite 0.13: legacy body rules only, which never match a body
// with a line break): the body is one line, the formatted body keeps its
// lines, m.mentions stays.
func TestApplyMentionOnDendrite(t *testing.T) {
	const oncall = "@oncall:example.org"
	multi := sender.Content{MsgType: "m.text",
		Body:          "🔴 web01 is critical - disk space usage\r\n  disk_space._\n\nweb01: 1 warning, 0 critical\n",
		Format:        sender.FormatHTML,
		FormattedBody: "🔴 web01 is critical - <b>disk space usage</b><br>disk_space._<br>web01: 1 warning, 0 critical"}
	p := Policy{MentionUsers: map[Severity][]string{Critical: {oncall}}, MentionRoom: map[Severity]bool{Warning: true}}
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
		got := Apply(multi, tt.sev, p)
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
	if got := Apply(multi, Critical, p); got.Mentions == nil || len(got.Mentions.UserIDs) != 1 || got.Mentions.UserIDs[0] != oncall {
		t.Errorf("m.mentions: %+v", got.Mentions)
	}
}

func TestValidate(t *testing.T) {
	if w := (Policy{}).Validate(); len(w) != 0 {
		t.Errorf("zero policy: %q", w)
	}
	good := Policy{MentionUsers: map[Severity][]string{Critical: {"@oncall:example.org"}}, MentionRoom: map[Severity]bool{Warning: true}}
	if w := good.Validate(); len(w) != 0 {
		t.Errorf("good policy: %q", w)
	}
	tests := []struct {
		name string
		p    Policy
		want []string // substrings, one per warning
	}{
		{"mention on notice severity", Policy{MentionUsers: map[Severity][]string{Clear: {"@a:hs"}}},
			[]string{"mentions on clear are sent as m.notice, which never notifies"}},
		{"room on notice override", Policy{MsgType: map[Severity]string{Critical: "m.notice"}, MentionRoom: map[Severity]bool{Critical: true}},
			[]string{"mentions on critical are sent as m.notice"}},
		{"mention on info made m.text", Policy{MsgType: map[Severity]string{Info: "m.text"}, MentionUsers: map[Severity][]string{Info: {"@a:hs"}}},
			nil},
		{"bad msgtype", Policy{MsgType: map[Severity]string{Warning: "m.emote"}}, []string{`msgtype "m.emote" for warning`}},
		{"bad user id", Policy{MentionUsers: map[Severity][]string{Critical: {"oncall", "@x"}}},
			[]string{`"oncall" is not a Matrix user id`, `"@x" is not a Matrix user id`}},
		{"unknown severity", Policy{MsgType: map[Severity]string{"urgent": "m.text"}}, []string{`unknown severity "urgent"`}},
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
