package liquidjs

import (
	"strings"
	"testing"
)

// TestParseErrorQuotesTheUsersTag: an error in a tag we rewrite internally
// must quote the template as written, not our rewrite. (x.1, a property
// named "1", is one osteele's grammar lacks; LiquidJS reads it. "... and %}"
// was the example: LiquidJS renders it, and so do we now.)
func TestParseErrorQuotesTheUsersTag(t *testing.T) {
	e := New(Options{})
	_, err := e.Parse("t", "{{ name }}\n{% if status == \"✅ Up\" and x.1 %}up{% endif %}")
	if err == nil {
		t.Fatal("want a parse error")
	}
	msg := err.Error()
	if strings.Contains(msg, "__liquidjs") || !strings.Contains(msg, `{% if status == \"✅ Up\" and x.1 %}`) || !strings.HasPrefix(msg, "t:2:") {
		t.Errorf("error = %q", msg)
	}
}
