package kuma

import "matrix-notify/sender"

// Lifecycle names the alert a notification belongs to (the monitor) and
// where it stands in the alert's life. Kuma sends DOWN again every
// resendInterval while a monitor stays down, and nothing in the payload
// tells the first DOWN from a resend, so DOWN is an update: the first one
// (no known root) becomes the root, the resends follow it; UP resolves.
// Test and certificate notifications have no heartbeat and no life.
func (p Payload) Lifecycle() (alertKey string, phase sender.Phase) {
	h := p.Heartbeat
	if h == nil {
		return "", ""
	}
	id := h.MonitorID
	if id == "" && p.Monitor != nil {
		id = p.Monitor.ID
	}
	if id == "" {
		return "", ""
	}
	switch h.Status {
	case Down:
		return "monitor|" + id, sender.PhaseUpdate
	case Up:
		return "monitor|" + id, sender.PhaseResolve
	}
	return "", "" // pending, maintenance: not part of an outage's life
}

// ResolvedMarker heads a resolved alert's message when the sender edits the
// raise in place (lifecycle = "edit"): the emoji of Kuma's own "✅ Up".
const ResolvedMarker = "✅ RESOLVED"
