package kuma

import "matrix-notify/sender/format"

// SeverityOf is the severity of an Uptime Kuma heartbeat status (0 down, 1
// up, 2 pending, 3 maintenance), by format's one table of status words;
// hasHeartbeat false (a test, certificate or domain expiry notification)
// is Info.
func SeverityOf(hasHeartbeat bool, status int) format.Severity {
	if sev, ok := format.ParseSeverity(Status(status).String()); hasHeartbeat && ok {
		return sev
	}
	return format.Info
}
