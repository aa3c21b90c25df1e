package netdata

import (
	"cmp"
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
	return cmp.Or(getenv("NETDATA_LIB_DIR"), DefaultLibDir)
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
	f.ArgsHost = cmp.Or(a.Host, env.ShortHostname)
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

	images := cmp.Or(env.ImagesBaseURL, DefaultImagesBaseURL)
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
	registry := cmp.Or(env.RegistryURL, DefaultRegistryURL)
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
	cloud := cmp.Or(env.RegistryCloudBaseURL, DefaultCloudBaseURL1)
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
	m := make(map[string]string, len(alarmFields)+len(derivedFields))
	for _, af := range alarmFields {
		m[af.name] = *af.ptr(&f.Alarm)
	}
	// args_host is overwritten with the derived one here.
	for _, df := range derivedFields {
		m[df.name] = *df.ptr(&f)
	}
	return m
}

// derivedFields are the Fields netdata's script derives, under its names.
var derivedFields = []field[Fields]{
	{"args_host", func(f *Fields) *string { return &f.ArgsHost }},
	{"host", func(f *Fields) *string { return &f.Host }},
	{"url_host", func(f *Fields) *string { return &f.URLHost }},
	{"url_chart", func(f *Fields) *string { return &f.URLChart }},
	{"url_name", func(f *Fields) *string { return &f.URLName }},
	{"url_family", func(f *Fields) *string { return &f.URLFamily }},
	{"url_value_string", func(f *Fields) *string { return &f.URLValueString }},
	{"goto_url", func(f *Fields) *string { return &f.GotoURL }},
	{"duration_txt", func(f *Fields) *string { return &f.DurationTxt }},
	{"non_clear_duration_txt", func(f *Fields) *string { return &f.NonClearDurationTxt }},
	{"raised_for", func(f *Fields) *string { return &f.RaisedFor }},
	{"severity", func(f *Fields) *string { return &f.Severity }},
	{"status_message", func(f *Fields) *string { return &f.StatusMessage }},
	{"color", func(f *Fields) *string { return &f.Color }},
	{"image", func(f *Fields) *string { return &f.Image }},
	{"alarm", func(f *Fields) *string { return &f.AlarmText }},
	{"date", func(f *Fields) *string { return &f.Date }},
	{"date_utc", func(f *Fields) *string { return &f.DateUTC }},
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
	for _, af := range alarmFields {
		*af.ptr(&a) = getenv(af.name)
	}
	a.Host = cmp.Or(a.Host, getenv("host"))
	a.Layout = Layout2
	if a.Family != "" {
		a.Layout = Layout1
	}
	env := EnvFromOS(getenv)
	env.DateFormat = getenv("date_format")
	env.ImagesBaseURL = getenv("images_base_url")
	f := Derive(a, env)
	for _, df := range derivedFields {
		if v := getenv(df.name); v != "" {
			*df.ptr(&f) = v
		}
	}
	return a, f
}
