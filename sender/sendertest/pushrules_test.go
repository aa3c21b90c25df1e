package sendertest

import (
	"encoding/json"
	"testing"
)

// What Dendrite v0.13.8 highlighted for @oncall:localhost (its
// /notifications, actions with set_tweak highlight) for the same bodies.
func TestDendriteHighlights(t *testing.T) {
	tests := []struct {
		content string
		want    bool
	}{
		{`{"msgtype":"m.text","body":"@oncall:localhost: 🔴 web01 cpu 95% single line","m.mentions":{"user_ids":["@oncall:localhost"]}}`, true},
		{`{"msgtype":"m.text","body":"@oncall:localhost: 🔴 web01 cpu 95%\nsecond line","m.mentions":{"user_ids":["@oncall:localhost"]}}`, false},
		{`{"msgtype":"m.text","body":"plain no mention","m.mentions":{}}`, false},
		{`{"msgtype":"m.text","body":"🔴 web01","m.mentions":{"user_ids":["@oncall:localhost"]}}`, false},
		{`{"msgtype":"m.notice","body":"@oncall:localhost: 🔴 web01"}`, false},
		{`{"msgtype":"m.text","body":"@room: 🔴 web01"}`, true},
		{`{"msgtype":"m.text","body":"@room: 🔴 web01\nmore"}`, false},
		{`{"msgtype":"m.text","body":"ONCALL: web01"}`, false}, // case-sensitive
		{`{"msgtype":"m.text","body":"On Call Team, web01 is down"}`, true},
		{`{"msgtype":"m.text"}`, false},
	}
	for _, tt := range tests {
		if got := DendriteHighlights(json.RawMessage(tt.content), "@oncall:localhost", "On Call Team"); got != tt.want {
			t.Errorf("%s: highlights = %v, want %v", tt.content, got, tt.want)
		}
	}
}
