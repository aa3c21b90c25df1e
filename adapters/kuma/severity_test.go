package kuma

import (
	"testing"

	"matrix-notify/sender/format"
)

func TestSeverityOf(t *testing.T) {
	for _, tt := range []struct {
		hb     bool
		status int
		want   format.Severity
	}{{true, 0, format.Critical}, {true, 1, format.Clear}, {true, 2, format.Warning}, {true, 3, format.Info},
		{false, 0, format.Info}, {true, 9, format.Info}} {
		if got := SeverityOf(tt.hb, tt.status); got != tt.want {
			t.Errorf("SeverityOf(%v, %d) = %q", tt.hb, tt.status, got)
		}
	}
}
