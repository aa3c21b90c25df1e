package netdata

import "matrix-notify/sender"

// Lifecycle names the alert an alarm transition belongs to and where the
// transition stands in the alert's life, so the sender can thread an
// escalation or a recovery under the message that raised the alert.
//
// The alert is the alarm on its host (alarm_id is stable across an alarm's
// transitions; chart and name stand in when netdata passes no id). A raise is
// any move into WARNING or CRITICAL from a non-alarm state, an update a move
// between WARNING and CRITICAL, a resolve a CLEAR.
func Lifecycle(a Alarm, f Fields) (alertKey string, phase sender.Phase) {
	alertKey = f.ArgsHost + "|" + a.AlarmID
	if a.AlarmID == "" {
		alertKey = f.ArgsHost + "|" + a.Chart + "|" + a.Name
	}
	alarming := func(s string) bool { return s == StatusWarning || s == StatusCritical }
	switch {
	case a.Status == StatusClear:
		return alertKey, sender.PhaseResolve
	case alarming(a.Status) && alarming(a.OldStatus):
		return alertKey, sender.PhaseUpdate
	case alarming(a.Status):
		return alertKey, sender.PhaseRaise
	}
	return "", ""
}

// ResolvedMarker heads a resolved alert's message when the sender edits the
// raise in place (lifecycle = "edit"): send_matrix's CLEAR emoji and the word.
// The sender leaves the emoji out when the recovery text starts with it, as
// the stock one does.
const ResolvedMarker = "\u2705 RESOLVED" // Emoji(StatusClear)
