package netdata

import "matrix-notify/sender/format"

// SeverityOf is the severity of a netdata status: CRITICAL, WARNING, CLEAR,
// and Info for the rest (REMOVED, UNDEFINED, UNINITIALIZED).
func SeverityOf(status string) format.Severity {
	switch status {
	case StatusCritical:
		return format.Critical
	case StatusWarning:
		return format.Warning
	case StatusClear:
		return format.Clear
	}
	return format.Info
}
