package kuma

import "matrix-notify/sender/format"

// SeverityOf is the severity of an Uptime Kuma heartbeat status (0 down, 1
// up, 2 pending, 3 maintenance); hasHeartbeat false (a test, certificate or
// domain expiry notification) is Info.
func SeverityOf(hasHeartbeat bool, status int) format.Severity {
	if !hasHeartbeat {
		return format.Info
	}
	switch status {
	case 0:
		return format.Critical
	case 1:
		return format.Clear
	case 2:
		return format.Warning
	}
	return format.Info
}
