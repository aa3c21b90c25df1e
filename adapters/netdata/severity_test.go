package netdata

import (
	"testing"

	"matrix-notify/sender/format"
)

func TestSeverityOf(t *testing.T) {
	for in, want := range map[string]format.Severity{"CRITICAL": format.Critical, "WARNING": format.Warning,
		"CLEAR": format.Clear, "REMOVED": format.Info, "UNDEFINED": format.Info, "": format.Info} {
		if got := SeverityOf(in); got != want {
			t.Errorf("SeverityOf(%q) = %q", in, got)
		}
	}
}
