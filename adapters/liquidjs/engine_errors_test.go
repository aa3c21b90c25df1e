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
