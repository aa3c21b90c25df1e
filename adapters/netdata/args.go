// Package netdata is the netdata adapter of matrix-notify: it understands the
// command line netdata gives alarm-notify.sh, screens and enriches the alarm
// exactly as alarm-notify.sh does (derived fields, recipients with severity
// modifiers and their tracking files) and turns it into a sender.Notification.
//
// Two versions of alarm-notify.sh were used as the reference: Debian's
// 1.37.1 (argv "layout 1", with family) and netdata master
// (src/health/notifications/alarm-notify.sh.in, argv "layout 2", without
// family but with transition_id, summary, context, component and type).
package netdata

import (
	"bytes"
	"cmp"
	"errors"
	"slices"
	"strconv"
	"time"
)

// Layout is the argv layout netdata used to call the notifier.
type Layout int

const (
	// Layout2 is netdata 2.x / master: 33 arguments, status pair at 9/10,
	// no family. It is the zero value: the default when nothing tells the
	// layouts apart.
	Layout2 Layout = iota
	// Layout1 is netdata ≤ 1.x: 29 arguments, family at 9, status pair at
	// 10/11.
	Layout1
)

func (l Layout) String() string {
	switch l {
	case Layout1:
		return "1.x"
	case Layout2:
		return "2.x"
	}
	return "Layout(" + strconv.Itoa(int(l)) + ")"
}

// Alarm is one alarm transition as netdata passes it on the command line, all
// values verbatim. Fields a layout does not have stay empty (Family in
// Layout2; TransitionID, Summary, Context, Component, Type in Layout1).
type Alarm struct {
	Layout Layout

	Roles            string // roles to notify, comma or space separated
	Host             string // args_host: the host of the alarm, "" = this host
	UniqueID         string // unique id of this event
	AlarmID          string // id of the alarm that generated this event
	EventID          string // incremental id of the event, per alarm id
	When             string // unix time of the event
	Name             string // alarm name, as in health.d
	Chart            string // chart (type.id)
	Family           string // chart family (Layout1 only)
	Status           string // REMOVED, UNINITIALIZED, UNDEFINED, CLEAR, WARNING, CRITICAL
	OldStatus        string
	Value            string
	OldValue         string
	Src              string // file and line the alarm is configured in
	Duration         string // seconds in the previous state
	NonClearDuration string // seconds this is/was non-clear
	Units            string
	Info             string
	ValueString      string // value with units
	OldValueString   string
	CalcExpression   string
	CalcParamValues  string
	TotalWarnings    string
	TotalCritical    string
	TotalWarnAlarms  string
	TotalCritAlarms  string
	Classification   string
	EditCommandLine  string
	ChildMachineGUID string
	TransitionID     string // Layout2
	Summary          string // Layout2
	Context          string // Layout2
	Component        string // Layout2
	Type             string // Layout2
}

// Statuses netdata passes.
const (
	StatusRemoved       = "REMOVED"
	StatusUninitialized = "UNINITIALIZED"
	StatusUndefined     = "UNDEFINED"
	StatusClear         = "CLEAR"
	StatusWarning       = "WARNING"
	StatusCritical      = "CRITICAL"
)

// IsStatus reports whether s is one of the six status words netdata uses
// (exact, upper case, as the script compares them).
func IsStatus(s string) bool {
	switch s {
	case StatusRemoved, StatusUninitialized, StatusUndefined, StatusClear, StatusWarning, StatusCritical:
		return true
	}
	return false
}

// ErrNoArgs is returned by ParseArgs for an empty command line.
var ErrNoArgs = errors.New("netdata: no arguments (expected alarm-notify.sh's argv)")

// DetectLayout tells the two argv layouts apart by where the status pair
// sits (args excludes the program name; positions below are 1-based):
//
//  1. Status words at 9 and 10 but not at 10 and 11: Layout2; at 10 and 11
//     but not at 9 and 10: Layout1.
//  2. Both pairs fit (9, 10 and 11 are all status words, i.e. a Layout1
//     family literally named like a status): the argument count decides,
//     more than 29 is Layout2, otherwise Layout1.
//  3. No pair: a status word alone at 9 means Layout2, alone at 10 means
//     Layout1 (old_status may be anything).
//  4. No status word at 9 or 10 (short or garbled argv): exactly 29
//     arguments is Layout1, anything else Layout2. Such an alarm is not sent
//     anyway: Screen rejects it under either layout.
//
// A status word is one of IsStatus's six, exactly as written by netdata.
func DetectLayout(args []string) Layout {
	at := func(pos int) bool { return pos <= len(args) && IsStatus(args[pos-1]) }
	pair2 := at(9) && at(10)
	pair1 := at(10) && at(11)
	switch {
	case pair2 && !pair1:
		return Layout2
	case pair1 && !pair2:
		return Layout1
	case pair1 && pair2:
		if len(args) > 29 {
			return Layout2
		}
		return Layout1
	case at(9):
		return Layout2
	case at(10):
		return Layout1
	case len(args) == 29:
		return Layout1
	}
	return Layout2
}

// ParseArgs parses alarm-notify.sh's command line (without the program
// name). The layout is detected with DetectLayout. Fewer arguments than the
// layout has are fine: the missing fields stay empty, as "${N}" is empty in
// bash. Arguments beyond the layout's last are ignored. The special first
// words (test, unittest, dump_methods) are not recognised here: see
// TestInvocation. The only error is an empty command line.
func ParseArgs(args []string) (Alarm, error) {
	if len(args) == 0 {
		return Alarm{}, ErrNoArgs
	}
	a := Alarm{Layout: DetectLayout(args)}
	for i, f := range layoutFields(a.Layout) {
		if i < len(args) {
			*f.ptr(&a) = args[i]
		}
	}
	return a, nil
}

// Args renders a back into a command line of its layout (the inverse of
// ParseArgs for a full argv).
func (a Alarm) Args() []string {
	var args []string
	for _, f := range layoutFields(a.Layout) {
		args = append(args, *f.ptr(&a))
	}
	return args
}

// field is one of alarm-notify.sh's variables and where a T keeps it.
type field[T any] struct {
	name string
	ptr  func(*T) *string
}

// alarmFields are the alarm's values under the script's variable names, in
// Layout1's argv order (family 9th, 29 in all) followed by the five only
// Layout2 has. args_host is the argument; Fields has the derived one.
var alarmFields = []field[Alarm]{
	{"roles", func(a *Alarm) *string { return &a.Roles }},
	{"args_host", func(a *Alarm) *string { return &a.Host }},
	{"unique_id", func(a *Alarm) *string { return &a.UniqueID }},
	{"alarm_id", func(a *Alarm) *string { return &a.AlarmID }},
	{"event_id", func(a *Alarm) *string { return &a.EventID }},
	{"when", func(a *Alarm) *string { return &a.When }},
	{"name", func(a *Alarm) *string { return &a.Name }},
	{"chart", func(a *Alarm) *string { return &a.Chart }},
	{"family", func(a *Alarm) *string { return &a.Family }},
	{"status", func(a *Alarm) *string { return &a.Status }},
	{"old_status", func(a *Alarm) *string { return &a.OldStatus }},
	{"value", func(a *Alarm) *string { return &a.Value }},
	{"old_value", func(a *Alarm) *string { return &a.OldValue }},
	{"src", func(a *Alarm) *string { return &a.Src }},
	{"duration", func(a *Alarm) *string { return &a.Duration }},
	{"non_clear_duration", func(a *Alarm) *string { return &a.NonClearDuration }},
	{"units", func(a *Alarm) *string { return &a.Units }},
	{"info", func(a *Alarm) *string { return &a.Info }},
	{"value_string", func(a *Alarm) *string { return &a.ValueString }},
	{"old_value_string", func(a *Alarm) *string { return &a.OldValueString }},
	{"calc_expression", func(a *Alarm) *string { return &a.CalcExpression }},
	{"calc_param_values", func(a *Alarm) *string { return &a.CalcParamValues }},
	{"total_warnings", func(a *Alarm) *string { return &a.TotalWarnings }},
	{"total_critical", func(a *Alarm) *string { return &a.TotalCritical }},
	{"total_warn_alarms", func(a *Alarm) *string { return &a.TotalWarnAlarms }},
	{"total_crit_alarms", func(a *Alarm) *string { return &a.TotalCritAlarms }},
	{"classification", func(a *Alarm) *string { return &a.Classification }},
	{"edit_command_line", func(a *Alarm) *string { return &a.EditCommandLine }},
	{"child_machine_guid", func(a *Alarm) *string { return &a.ChildMachineGUID }},
	{"transition_id", func(a *Alarm) *string { return &a.TransitionID }},
	{"summary", func(a *Alarm) *string { return &a.Summary }},
	{"context", func(a *Alarm) *string { return &a.Context }},
	{"component", func(a *Alarm) *string { return &a.Component }},
	{"type", func(a *Alarm) *string { return &a.Type }},
}

// layoutFields are the alarmFields of l's argv, in order: Layout1's 29,
// or Layout2's 33 (no family, five more at the end).
func layoutFields(l Layout) []field[Alarm] {
	if l == Layout1 {
		return alarmFields[:29]
	}
	return slices.Concat(alarmFields[:8], alarmFields[9:])
}

// TestInvocation reports whether args is alarm-notify.sh's test mode, with
// the script's rule: `{ [ "$1" = test ] || [ "$2" = test ]; } && [ $# -le 2 ]`.
// The role is the other argument ("test test" gives role "test"), "sysadmin"
// when empty.
func TestInvocation(args []string) (role string, ok bool) {
	if len(args) > 2 {
		return "", false
	}
	arg := slices.Concat(args, []string{"", ""}) // "$1" and "$2", maybe empty
	switch {
	case arg[1] == "test":
		role = arg[0]
	case arg[0] == "test":
		role = arg[1]
	default:
		return "", false
	}
	return cmp.Or(role, "sysadmin"), true
}

// TestArgs returns the three command lines alarm-notify.sh's test mode runs
// itself with, for the given layout: Layout1 as 1.37.1 builds them (24
// arguments, family "test.family"), Layout2 as master does (30 arguments,
// classification "Test", edit command line, summary "a test alarm"). host
// stands for "$(hostname)" (the full hostname, not -s), now for
// "$(date +%s)", program for "$0" (the alarm's src). An empty role is
// "sysadmin".
func TestArgs(layout Layout, role, host string, now time.Time, program string) [][]string {
	role = cmp.Or(role, "sysadmin")
	when := strconv.FormatInt(now.Unix(), 10)
	var out [][]string
	last := StatusClear
	for i, x := range []string{StatusWarning, StatusCritical, StatusClear} {
		id := strconv.Itoa(i + 1)
		args := []string{role, host, "1", "1", id, when, "test_alarm", "test.chart"}
		if layout == Layout1 {
			args = append(args, "test.family")
		}
		args = append(args, x, last, "100", "90", program, "1", id, "units",
			"this is a test alarm to verify notifications work", "new value", "old value",
			"evaluated expression", "expression variable values", "0", "0")
		if layout == Layout2 {
			args = append(args, "", "", "Test", "command to edit the alarm=0="+host, "", "", "a test alarm")
		}
		out = append(out, args)
		last = x
	}
	return out
}

// TestAlarms returns the WARNING, CRITICAL and CLEAR alarms of
// alarm-notify.sh's test mode as the netdata of layout builds them (TestArgs,
// parsed): pass ScriptLayout of the installed alarm-notify.sh, so that the
// test messages and their links read as that version's. Each runs through
// screening and recipients like a real alarm, as the script re-executes
// itself for each.
func TestAlarms(layout Layout, role, host string, now time.Time, program string) []Alarm {
	var out []Alarm
	for _, args := range TestArgs(layout, role, host, now, program) {
		a, _ := ParseArgs(args)
		out = append(out, a)
	}
	return out
}

// ScriptLayout is the argv layout the alarm-notify.sh whose text is script
// reads: Layout1 when it takes family from the 9th argument (netdata 1.x:
// `family="${9}"`), Layout2 otherwise (master, or no script at all).
func ScriptLayout(script []byte) Layout {
	if bytes.Contains(script, []byte(`family="${9}"`)) {
		return Layout1
	}
	return Layout2
}

// Screen decides, like alarm-notify.sh before it loads any configuration,
// whether a is notified at all: statuses other than WARNING, CRITICAL and
// CLEAR are not; CLEAR is not when old_status is neither WARNING nor
// CRITICAL, unless clearAlarmAlways. When not sent, the script logs reason
// and exits 1.
//
// clear_alarm_always: both 1.37.1 and master test "${clear_alarm_always}"
// in this screening, which runs BEFORE health_alarm_notify.conf is sourced.
// Setting clear_alarm_always='YES' in the conf (as the stock file's comment
// suggests) therefore has no effect; only a clear_alarm_always=YES in the
// environment netdata runs the script with does. Callers reproduce that
// with ClearAlarmAlways(os.Getenv), not with the conf value.
func Screen(a Alarm, clearAlarmAlways bool) (send bool, reason string) {
	reason = "not sending notification for " + a.Status + " of '" + a.Host + "." + a.Chart + "." + a.Name + "'"
	switch {
	case a.Status != StatusWarning && a.Status != StatusCritical && a.Status != StatusClear:
		return false, reason
	case a.Status == StatusClear && !clearAlarmAlways && a.OldStatus != StatusWarning && a.OldStatus != StatusCritical:
		return false, reason + " (last status was " + a.OldStatus + ")"
	}
	return true, ""
}

// ClearAlarmAlways returns the clear_alarm_always Screen must use: the
// environment variable clear_alarm_always equal to "YES" (see Screen).
func ClearAlarmAlways(getenv func(string) string) bool {
	return getenv("clear_alarm_always") == "YES"
}
