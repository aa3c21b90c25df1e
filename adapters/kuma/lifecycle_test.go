package kuma

import (
	"testing"

	"matrix-notify/sender"
)

func TestLifecycle(t *testing.T) {
	tests := []struct {
		payload   string
		wantKey   string
		wantPhase sender.Phase
	}{
		{`{"heartbeat":{"monitorID":3,"status":0,"time":"t"},"monitor":{"id":3},"msg":"down"}`, "monitor|3", sender.PhaseUpdate},
		{`{"heartbeat":{"monitorID":3,"status":1,"time":"t"},"monitor":{"id":3},"msg":"up"}`, "monitor|3", sender.PhaseResolve},
		{`{"heartbeat":{"status":0,"time":"t"},"monitor":{"id":9},"msg":"down"}`, "monitor|9", sender.PhaseUpdate},
		{`{"heartbeat":{"monitorID":3,"status":2,"time":"t"},"monitor":{"id":3},"msg":"pending"}`, "", ""},
		{`{"heartbeat":null,"monitor":null,"msg":"Matrix Testing"}`, "", ""},
	}
	for _, tt := range tests {
		p, err := DecodeJSON([]byte(tt.payload))
		if err != nil {
			t.Fatalf("%s: %v", tt.payload, err)
		}
		key, phase := p.Lifecycle()
		if key != tt.wantKey || phase != tt.wantPhase {
			t.Errorf("%s: got (%q, %q), want (%q, %q)", tt.payload, key, phase, tt.wantKey, tt.wantPhase)
		}
	}
}
