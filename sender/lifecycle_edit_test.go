package sender

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"matrix-notify/sender/format"
	"matrix-notify/sender/sendertest"
)

// The edits of LifecycleEdit: mentions, the event limit, the resolved marker.

// TestEditMentionsAndSize: an edit's top-level m.mentions holds only who is
// newly mentioned; an oversized edit keeps a short fallback body.
func TestEditMentionsAndSize(t *testing.T) {
	st := AlertState{Root: "$r", Latest: "$r", Content: Content{MsgType: "m.text", Body: "a", Mentions: &Mentions{UserIDs: []string{"@a:hs"}}}}
	c := edit(st, PhaseUpdate, Content{MsgType: "m.text", Body: "b", Mentions: &Mentions{UserIDs: []string{"@a:hs", "@b:hs"}, Room: true}}, lcMarkers["kuma"])
	if !slices.Equal(c.Mentions.UserIDs, []string{"@b:hs"}) || !c.Mentions.Room {
		t.Errorf("mentions %+v", c.Mentions)
	}
	if !slices.Equal(c.NewContent.Mentions.UserIDs, []string{"@a:hs", "@b:hs"}) {
		t.Errorf("new content mentions %+v", c.NewContent.Mentions)
	}
	big := strings.Repeat("x", 20000)
	c = edit(st, PhaseUpdate, Content{MsgType: "m.text", Body: big, Format: FormatHTML, FormattedBody: big}, lcMarkers["kuma"])
	if data, _ := json.Marshal(c); len(data) > format.MaxContentBytes || c.NewContent.Body != big || c.FormattedBody != "" {
		t.Errorf("oversized edit: %d bytes, formatted %d", len(data), len(c.FormattedBody))
	}
	// A resolve over a large text: the old text goes, the resolution stays.
	huge := big + big
	st.Content = Content{MsgType: "m.text", Body: huge, Format: FormatHTML, FormattedBody: huge}
	c = edit(st, PhaseResolve, Content{MsgType: "m.text", Body: "up"}, lcMarkers["kuma"])
	if data, _ := json.Marshal(c); len(data) > format.MaxContentBytes || c.NewContent.Body != lcMarker+"up" || c.RelatesTo.EventID != "$r" {
		t.Errorf("oversized resolve: %d bytes, new content body of %d bytes", len(data), len(c.NewContent.Body))
	}
	// Not too large: the old text is kept.
	st.Content = Content{MsgType: "m.text", Body: big}
	if c = edit(st, PhaseResolve, Content{MsgType: "m.text", Body: "up"}, lcMarkers["kuma"]); c.NewContent.Body != lcMarker+"up\n\n"+big {
		t.Errorf("resolve lost the old text: new content body of %d bytes", len(c.NewContent.Body))
	}
}

// TestEditFitsEventLimit: an update whose content an adapter fitted to the
// event limit still makes an edit within it (the fallback takes room too).
func TestEditFitsEventLimit(t *testing.T) {
	st := AlertState{Root: "$r", Latest: "$r", Content: Content{MsgType: "m.text", Body: "a"}}
	long := strings.Repeat("disk <full> & \"slow\"\n", 10000)
	c := format.Fit(Content{MsgType: "m.text", Body: long, Format: FormatHTML, FormattedBody: format.Text(long),
		Mentions: &Mentions{}}, format.MaxContentBytes)
	got := edit(st, PhaseUpdate, c, "")
	if n := format.JSONSize(got); n > format.MaxContentBytes {
		t.Errorf("edit of a fitted content: %d bytes, over %d", n, format.MaxContentBytes)
	}
	if got.NewContent == nil || !strings.HasPrefix(got.NewContent.Body, "disk <full>") || got.RelatesTo.EventID != "$r" {
		t.Errorf("edit lost its new content or relation: %+v", got.RelatesTo)
	}
}

// TestResolvedMarker: the marker an adapter supplies heads a resolution,
// its first word left out when the resolution already starts with it.
func TestResolvedMarker(t *testing.T) {
	shown := Content{MsgType: "m.text", Body: "🔴 web1 <down>"}
	for _, tt := range []struct {
		name, marker, res, body, html string
	}{
		{"adapter's marker", "✅ RESOLVED", "[API] [UP]", "✅ RESOLVED — [API] [UP]\n\n🔴 web1 <down>", ""},
		{"emoji already there", "✅ RESOLVED", "✅ web1 is clear", "RESOLVED — ✅ web1 is clear\n\n🔴 web1 <down>", ""},
		{"default", DefaultResolvedMarker, "✅ web1 is clear", "RESOLVED — ✅ web1 is clear\n\n🔴 web1 <down>", ""},
		{"escaped in HTML", "<ok> & done", "up", "<ok> & done — up\n\n🔴 web1 <down>",
			"<b>&lt;ok&gt; &amp; done</b> — <i>up</i><hr>🔴 web1 &lt;down&gt;"},
	} {
		res := Content{MsgType: "m.text", Body: tt.res}
		if tt.html != "" {
			res.Format, res.FormattedBody = FormatHTML, "<i>up</i>"
		}
		got := resolvedContent(shown, res, tt.marker)
		if got.Body != tt.body || got.FormattedBody != tt.html {
			t.Errorf("%s: %q, %q; want %q, %q", tt.name, got.Body, got.FormattedBody, tt.body, tt.html)
		}
	}
	// Per source: a source without a marker gets the default.
	hs := sendertest.New(sendertest.Options{Joined: []string{lcOps}, Seed: 1})
	defer hs.Close()
	lt := &LifecycleTransport{Next: lcRetry(t, hs.URL(), 1), Store: lcStore(t, t.TempDir()), Mode: LifecycleEdit,
		ResolvedMarkers: map[string]string{"kuma": "🟢 BACK"}}
	deliverAll(t, lt, append(kumaLife(lcOps), netdataLife(lcOps)...))
	var bodies []string
	for _, e := range lcEvents(t, hs, lcOps) {
		if nc := e.Content.NewContent; nc != nil && strings.Contains(nc.Body, " — ") {
			bodies = append(bodies, firstLine(nc.Body))
		}
	}
	want := []string{"🟢 BACK — [API] [UP] HTTP check", "RESOLVED — ✅ web1 disk space is clear"}
	if !slices.Equal(bodies, want) {
		t.Errorf("resolutions %q, want %q", bodies, want)
	}
}

// An edit pings on Dendrite 0.13 (no .m.rule.suppress_edits; legacy body
// rules only) exactly when it newly mentions someone, as on Synapse.
func TestEditPingsOnlyNewMentionsOnDendrite(t *testing.T) {
	const oncall = "@oncall:hs"
	warned := Content{MsgType: "m.text", Body: oncall + ": ⚠️ web01 warning", Mentions: &Mentions{UserIDs: []string{oncall}}}
	quiet := Content{MsgType: "m.text", Body: "⚠️ web01 warning\nmore", Mentions: &Mentions{}}
	critical := Content{MsgType: "m.text", Body: oncall + ": 🔴 web01 critical · more", Mentions: &Mentions{UserIDs: []string{oncall}}}
	for _, tt := range []struct {
		name  string
		shown Content
		ping  bool
	}{
		{"mentioned before: no new ping", warned, false},
		{"newly mentioned: ping", quiet, true},
	} {
		c := edit(AlertState{Root: "$r", Latest: "$r", Content: tt.shown}, PhaseUpdate, critical, lcMarkers["kuma"])
		data, _ := json.Marshal(c)
		if got := sendertest.DendriteHighlights(data, oncall, ""); got != tt.ping {
			t.Errorf("%s: Dendrite highlights = %v: %s", tt.name, got, data)
		}
		if c.NewContent.Body != critical.Body {
			t.Errorf("%s: new content %q", tt.name, c.NewContent.Body)
		}
	}
}
