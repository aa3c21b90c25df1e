package netdata

import (
	"strings"
	"testing"

	"matrix-notify/sender"
)

func TestLifecycle(t *testing.T) {
	tests := []struct {
		status, old, alarmID string
		wantKey              string
		wantPhase            sender.Phase
	}{
		{"WARNING", "CLEAR", "42", "web01|42", sender.PhaseRaise},
		{"CRITICAL", "UNDEFINED", "42", "web01|42", sender.PhaseRaise},
		{"CRITICAL", "WARNING", "42", "web01|42", sender.PhaseUpdate},
		{"WARNING", "CRITICAL", "42", "web01|42", sender.PhaseUpdate},
		{"WARNING", "WARNING", "42", "web01|42", sender.PhaseUpdate},
		{"CLEAR", "CRITICAL", "42", "web01|42", sender.PhaseResolve},
		{"CLEAR", "WARNING", "", "web01|disk.sda|util", sender.PhaseResolve},
		{"REMOVED", "WARNING", "42", "", ""},
	}
	for _, tt := range tests {
		a := Alarm{Status: tt.status, OldStatus: tt.old, AlarmID: tt.alarmID, Chart: "disk.sda", Name: "util"}
		key, phase := Lifecycle(a, Fields{ArgsHost: "web01"})
		if key != tt.wantKey || phase != tt.wantPhase {
			t.Errorf("%s<-%s id %q: got (%q, %q), want (%q, %q)", tt.status, tt.old, tt.alarmID, key, phase, tt.wantKey, tt.wantPhase)
		}
	}
}

// The marker starts with the CLEAR emoji, so the sender drops it before the
// stock recovery text (which has its own) and keeps it before a template's.
func TestResolvedMarker(t *testing.T) {
	if !strings.HasPrefix(ResolvedMarker, Emoji(StatusClear)+" ") {
		t.Errorf("ResolvedMarker %q does not start with %q", ResolvedMarker, Emoji(StatusClear))
	}
}
