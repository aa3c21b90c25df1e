package netdata

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults alarm-notify.sh applies when the environment leaves them empty.
const (
	DefaultRegistryURL = "https://registry.my-netdata.io"
	// DefaultCloudBaseURL1 is 1.37.1's NETDATA_REGISTRY_CLOUD_BASE_URL
	// default, used by its cloud goto_url. Master defaults to
	// DefaultCloudBaseURL2 but no longer uses it for goto_url.
	DefaultCloudBaseURL1 = "https://api.netdata.cloud"
	DefaultCloudBaseURL2 = "https://app.netdata.cloud"
	DefaultImagesBaseURL = "https://registry.my-netdata.io"
	DefaultCacheDir      = "/var/cache/netdata"
	// DefaultLibDir is NETDATA_LIB_DIR when netdata does not say.
	DefaultLibDir = "/var/lib/netdata"
	// UniqueIDFile is where, under NETDATA_LIB_DIR, both versions read the
	// agent's public unique id when NETDATA_REGISTRY_UNIQUE_ID is empty
	// (1.37.1 names /var/lib/netdata/registry/netdata.public.unique.id,
	// master @registrydir_POST@: the same on packages).
	UniqueIDFile = "registry/netdata.public.unique.id"
)

// LibDir is netdata's NETDATA_LIB_DIR as getenv tells it, or DefaultLibDir.
func LibDir(getenv func(string) string) string {
	if d := getenv("NETDATA_LIB_DIR"); d != "" {
		return d
	}
	return DefaultLibDir
}

// Env is what, besides the alarm, the derived fields depend on: netdata's
// environment, a few health_alarm_notify.conf settings, the host names and
// the clock. Empty fields take alarm-notify.sh's defaults in Derive.
type Env struct {
	RegistryURL          string // NETDATA_REGISTRY_URL, default DefaultRegistryURL
	RegistryCloudBaseURL string // NETDATA_REGISTRY_CLOUD_BASE_URL, default per layout
	RegistryUniqueID     string // NETDATA_REGISTRY_UNIQUE_ID (or UniqueIDFile's content)

	ShortHostname string // `hostname -s`: host when netdata passes none
	FQDN          string // `hostname -f`: host when UseFQDN and host is ShortHostname
	UseFQDN       bool   // use_fqdn='YES' in the conf

	DateFormat    string         // date_format in the conf ('+...', '' = asctime style)
	ImagesBaseURL string         // images_base_url, default DefaultImagesBaseURL
	Location      *time.Location // time zone of ${date}; nil = time.Local (TZ)
	Now           time.Time      // the clock for date fallbacks; zero = time.Now()
}

// EnvFromOS fills Env from the process environment as alarm-notify.sh
// sees it: the NETDATA_REGISTRY_* variables (the unique id falls back to
// UniqueIDFile under LibDir(getenv), trailing newlines stripped like
// $(cat): the file is found through getenv, so a caller, a test among
// them, decides what is read), the host name from
// os.Hostname (short = up to the first dot, FQDN = as returned; `hostname
// -f` may consult DNS, we do not), time.Local. The conf settings
// (DateFormat, UseFQDN, ImagesBaseURL) are the caller's.
func EnvFromOS(getenv func(string) string) Env {
	e := Env{
		RegistryURL:          getenv("NETDATA_REGISTRY_URL"),
		RegistryCloudBaseURL: getenv("NETDATA_REGISTRY_CLOUD_BASE_URL"),
		RegistryUniqueID:     getenv("NETDATA_REGISTRY_UNIQUE_ID"),
		Location:             time.Local,
	}
	if e.RegistryUniqueID == "" {
		if b, err := os.ReadFile(filepath.Join(LibDir(getenv), UniqueIDFile)); err == nil {
			e.RegistryUniqueID = strings.TrimRight(string(b), "\n")
		}
	}
	if h, err := os.Hostname(); err == nil {
		e.FQDN = h
		e.ShortHostname, _, _ = strings.Cut(h, ".")
	}
	return e
}

// Fields are the values alarm-notify.sh derives from the alarm, under the
// script's variable names in Map. They are what the Matrix message and a
// custom_sender see.
type Fields struct {
	Alarm Alarm

	ArgsHost string // args_host: the alarm's host, or `hostname -s` when empty
	Host     string // host: ArgsHost, or the FQDN with use_fqdn

	URLHost        string // url_host: urlencode(args_host)
	URLChart       string // url_chart
	URLName        string // url_name
	URLFamily      string // url_family (1.37 only; empty family gives "")
	URLValueString string // url_value_string
	GotoURL        string // goto_url

	DurationTxt         string // duration_txt: duration4human(duration)
	NonClearDurationTxt string // non_clear_duration_txt
	RaisedFor           string // raised_for
	Severity            string // severity
	StatusMessage       string // status_message
	Color               string // color
	Image               string // image
	// DisplayName is what ${alarm} starts with: summary in Layout2 (master
	// uses ${summary} there), name in Layout1; an empty summary falls back
	// to name (master would print " = value").
	DisplayName string
	AlarmText   string // alarm: "<DisplayName with _ as space> = value_string", or with raised_for on CLEAR
	Date        string // date, in Env.Location
	DateUTC     string // date_utc
}

// Derive computes the fields as alarm-notify.sh does, 1.37.1's way for a
// Layout1 alarm and master's for Layout2. The differences:
//
//   - goto_url: Layout1 is ${NETDATA_REGISTRY_URL}/goto-host-from-alarm.html
//     ?host=..&chart=..&family=..&alarm=..&alarm_unique_id=..&alarm_id=..
//     &alarm_event_id=..&alarm_when=..&alarm_status=..&alarm_chart=..
//     &alarm_value=.., except when the registry is the default public one and
//     a unique id is known: ${NETDATA_REGISTRY_CLOUD_BASE_URL}/alarms/redirect
//     ?agentId=ID[&childId=child_machine_guid]&<same params>. Layout2 is
//     always ${NETDATA_REGISTRY_URL}/registry-alert-redirect.html
//     ?agent_machine_guid=ID&host_machine_guid=child_machine_guid
//     &transition_id=..&<same params without family>.
//   - alarm: name (Layout1) or summary (Layout2), see DisplayName.
//
// Values are not encoded beyond urlencode where the script uses it:
// alarm_unique_id, alarm_id, alarm_event_id, alarm_when, alarm_status and
// alarm_chart go into goto_url raw, as in the script.
//
// Durations: duration4human of a non-numeric duration is 0 ("0 second").
// (bash errors out of the function there and the script then reuses the
// stale $REPLY, i.e. url_value_string; that bug is not reproduced.)
func Derive(a Alarm, env Env) Fields {
	f := Fields{Alarm: a}
	f.ArgsHost = a.Host
	if f.ArgsHost == "" {
		f.ArgsHost = env.ShortHostname
	}
	f.Host = f.ArgsHost
	if env.UseFQDN && f.Host == env.ShortHostname && env.FQDN != "" {
		f.Host = env.FQDN
	}

	f.URLHost = URLEncode(f.ArgsHost)
	f.URLChart = URLEncode(a.Chart)
	f.URLFamily = URLEncode(a.Family)
	f.URLName = URLEncode(a.Name)
	f.URLValueString = URLEncode(a.ValueString)
	f.GotoURL = gotoURL(a, f, env)

	f.DurationTxt = Duration4Human(a.Duration)
	f.NonClearDurationTxt = Duration4Human(a.NonClearDuration)
	f.Severity, f.RaisedFor = severityRaisedFor(a, f.DurationTxt, f.NonClearDurationTxt)

	images := env.ImagesBaseURL
	if images == "" {
		images = DefaultImagesBaseURL
	}
	f.StatusMessage, f.Color, f.Image = "status unknown", "grey", images+"/images/banner-icon-144x144.png"
	switch a.Status {
	case StatusCritical:
		f.StatusMessage, f.Color, f.Image = "is critical", "#ca414b", images+"/images/alert-128-red.png"
	case StatusWarning:
		f.StatusMessage, f.Color, f.Image = "needs attention", "#ffc107", images+"/images/alert-128-orange.png"
	case StatusClear:
		f.StatusMessage, f.Color, f.Image = "recovered", "#77ca6d", images+"/images/check-mark-2-128-green.png"
	}

	f.DisplayName = a.Name
	if a.Layout == Layout2 && a.Summary != "" {
		f.DisplayName = a.Summary
	}
	spaced := strings.ReplaceAll(f.DisplayName, "_", " ")
	if a.Status == StatusClear {
		f.AlarmText = spaced + " " + f.RaisedFor
	} else {
		f.AlarmText = spaced + " = " + a.ValueString
	}

	now := env.Now
	if now.IsZero() {
		now = time.Now()
	}
	f.Date = AlarmDate(a.When, env.DateFormat, env.Location, now)
	f.DateUTC = AlarmDate(a.When, env.DateFormat, time.UTC, now)
	return f
}

func gotoURL(a Alarm, f Fields, env Env) string {
	registry := env.RegistryURL
	if registry == "" {
		registry = DefaultRegistryURL
	}
	params := "host=" + f.URLHost + "&chart=" + f.URLChart
	if a.Layout == Layout1 {
		params += "&family=" + f.URLFamily
	}
	params += "&alarm=" + f.URLName + "&alarm_unique_id=" + a.UniqueID + "&alarm_id=" + a.AlarmID +
		"&alarm_event_id=" + a.EventID + "&alarm_when=" + a.When + "&alarm_status=" + a.Status +
		"&alarm_chart=" + a.Chart + "&alarm_value=" + f.URLValueString
	if a.Layout == Layout2 {
		return registry + "/registry-alert-redirect.html?agent_machine_guid=" + env.RegistryUniqueID +
			"&host_machine_guid=" + a.ChildMachineGUID + "&transition_id=" + a.TransitionID + "&" + params
	}
	if registry != DefaultRegistryURL || env.RegistryUniqueID == "" {
		return registry + "/goto-host-from-alarm.html?" + params
	}
	cloud := env.RegistryCloudBaseURL
	if cloud == "" {
		cloud = DefaultCloudBaseURL1
	}
	if a.ChildMachineGUID == "" {
		return cloud + "/alarms/redirect?agentId=" + env.RegistryUniqueID + "&" + params
	}
	return cloud + "/alarms/redirect?agentId=" + env.RegistryUniqueID + "&childId=" + a.ChildMachineGUID + "&" + params
}

// severityRaisedFor is the script's severity / raised_for logic.
func severityRaisedFor(a Alarm, durationTxt, nonClearTxt string) (severity, raisedFor string) {
	severity = a.Status
	raisedFor = "(was " + lowerASCII(a.OldStatus) + " for " + durationTxt + ")"
	longer := testGT(a.NonClearDuration, a.Duration)
	switch {
	case a.Status == StatusClear:
		severity = "Recovered from " + a.OldStatus
		if longer {
			raisedFor = "(alarm was raised for " + nonClearTxt + ")"
		}
	case a.OldStatus == StatusWarning && a.Status == StatusCritical:
		severity = "Escalated to " + a.Status
		if longer {
			raisedFor = "(alarm is raised for " + nonClearTxt + ")"
		}
	case a.OldStatus == StatusCritical && a.Status == StatusWarning:
		severity = "Demoted to " + a.Status
		if longer {
			raisedFor = "(alarm is raised for " + nonClearTxt + ")"
		}
	default:
		raisedFor = ""
	}
	return severity, raisedFor
}

// Map returns the alarm and the derived fields under alarm-notify.sh's
// variable names (roles, args_host, host, unique_id, ..., goto_url, alarm,
// ...), for templates. Layout-specific names are present, possibly empty.
func (f Fields) Map() map[string]string {
	a := f.Alarm
	return map[string]string{
		"roles":                  a.Roles,
		"args_host":              f.ArgsHost,
		"host":                   f.Host,
		"unique_id":              a.UniqueID,
		"alarm_id":               a.AlarmID,
		"event_id":               a.EventID,
		"when":                   a.When,
		"name":                   a.Name,
		"chart":                  a.Chart,
		"family":                 a.Family,
		"status":                 a.Status,
		"old_status":             a.OldStatus,
		"value":                  a.Value,
		"old_value":              a.OldValue,
		"src":                    a.Src,
		"duration":               a.Duration,
		"non_clear_duration":     a.NonClearDuration,
		"units":                  a.Units,
		"info":                   a.Info,
		"value_string":           a.ValueString,
		"old_value_string":       a.OldValueString,
		"calc_expression":        a.CalcExpression,
		"calc_param_values":      a.CalcParamValues,
		"total_warnings":         a.TotalWarnings,
		"total_critical":         a.TotalCritical,
		"total_warn_alarms":      a.TotalWarnAlarms,
		"total_crit_alarms":      a.TotalCritAlarms,
		"classification":         a.Classification,
		"edit_command_line":      a.EditCommandLine,
		"child_machine_guid":     a.ChildMachineGUID,
		"transition_id":          a.TransitionID,
		"summary":                a.Summary,
		"context":                a.Context,
		"component":              a.Component,
		"type":                   a.Type,
		"url_host":               f.URLHost,
		"url_chart":              f.URLChart,
		"url_name":               f.URLName,
		"url_family":             f.URLFamily,
		"url_value_string":       f.URLValueString,
		"goto_url":               f.GotoURL,
		"duration_txt":           f.DurationTxt,
		"non_clear_duration_txt": f.NonClearDurationTxt,
		"raised_for":             f.RaisedFor,
		"severity":               f.Severity,
		"status_message":         f.StatusMessage,
		"color":                  f.Color,
		"image":                  f.Image,
		"alarm":                  f.AlarmText,
		"date":                   f.Date,
		"date_utc":               f.DateUTC,
	}
}

// alarmVars maps the script's variable names to Alarm fields, for FromEnv.
var alarmVars = []struct {
	name string
	ptr  func(*Alarm) *string
}{
	{"roles", func(a *Alarm) *string { return &a.Roles }},
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

// FromEnv is the custom-sender mode: a custom_sender() that exports the
// script's variables and runs matrix-notify. The alarm is read from the
// variables under the script's names (roles, args_host or else host,
// unique_id, ..., type); the layout is Layout1 when family is set, else
// Layout2. The derived fields netdata already computed (args_host, host,
// url_host, url_chart, url_name, url_family, url_value_string, goto_url,
// duration_txt, non_clear_duration_txt, raised_for, severity,
// status_message, color, image, alarm, date, date_utc) are used as given;
// those empty or unset are computed by Derive with EnvFromOS(getenv) plus
// date_format and images_base_url from the environment. (An empty value
// cannot be told from an unset one: an empty raised_for is recomputed,
// which gives the same result for the same alarm.)
func FromEnv(getenv func(string) string) (Alarm, Fields) {
	var a Alarm
	for _, v := range alarmVars {
		*v.ptr(&a) = getenv(v.name)
	}
	a.Host = getenv("args_host")
	if a.Host == "" {
		a.Host = getenv("host")
	}
	a.Layout = Layout2
	if a.Family != "" {
		a.Layout = Layout1
	}
	env := EnvFromOS(getenv)
	env.DateFormat = getenv("date_format")
	env.ImagesBaseURL = getenv("images_base_url")
	f := Derive(a, env)
	given := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	given(&f.ArgsHost, "args_host")
	given(&f.Host, "host")
	given(&f.URLHost, "url_host")
	given(&f.URLChart, "url_chart")
	given(&f.URLName, "url_name")
	given(&f.URLFamily, "url_family")
	given(&f.URLValueString, "url_value_string")
	given(&f.GotoURL, "goto_url")
	given(&f.DurationTxt, "duration_txt")
	given(&f.NonClearDurationTxt, "non_clear_duration_txt")
	given(&f.RaisedFor, "raised_for")
	given(&f.Severity, "severity")
	given(&f.StatusMessage, "status_message")
	given(&f.Color, "color")
	given(&f.Image, "image")
	given(&f.AlarmText, "alarm")
	given(&f.Date, "date")
	given(&f.DateUTC, "date_utc")
	return a, f
}
