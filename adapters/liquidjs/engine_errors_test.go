package liquidjs

import (
	"strings"
	"testing"
)

// TestParseErrorQuotesTheUsersTag: an error in a tag we rewrite internally
// must quote the template as written, not our rewrite. (A quoted key of a
// filter's argument other than the first, "f: 1, \"k\": 2", is one osteele's
// grammar lacks; LiquidJS reads it. "... and %}", "and x.1 %}" and
// "{% assign - = ... %}" were the examples: LiquidJS renders them, and so do
// we now.)
func TestParseErrorQuotesTheUsersTag(t *testing.T) {
	e := New(Options{})
	_, err := e.Parse("t", "{{ name }}\n{% if status == \"✅ Up\" and x | default: 1, \"k\": 2 %}up{% endif %}")
	if err == nil {
		t.Fatal("want a parse error")
	}
	msg := err.Error()
	if strings.Contains(msg, "__liquidjs") || !strings.Contains(msg, `{% if status == \"✅ Up\" and x | default: 1, \"k\": 2 %}`) || !strings.HasPrefix(msg, "t:2:") {
		t.Errorf("error = %q", msg)
	}
}

// TestParseErrorQuotesTheUsersOutput: an output we rewrote (an expression
// LiquidJS evaluates, a property by number, a range) that osteele still
// refuses is quoted as the user wrote it, or not at all: check-template
// showed "{{ nil | __liquidjs_expr: … }}".
func TestParseErrorQuotesTheUsersOutput(t *testing.T) {
	e := New(Options{})
	for src, quote := range map[string]string{
		"{{ x y 1. }}":            `"{{ x y 1. }}"`,
		"{{ x.1. }}":              `"{{ x.1. }}"`,
		"{{ x | f: a: 1. }}":      `"{{ x | f: a: 1. }}"`,
		"{{ (1..2.) }}":           `"{{ (1..2.) }}"`,
		"a {{ x }} {{ x == 1. }}": "",
	} {
		_, err := e.Parse("t", src)
		if err == nil {
			t.Errorf("%s: want a parse error", src)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "__liquidjs") || !strings.Contains(msg, quote) {
			t.Errorf("%s: error = %q, want it to quote %s and nothing of ours", src, msg, quote)
		}
	}
}
