package netdata

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestSeverityRaisedForAllTransitions(t *testing.T) {
	statuses := []string{"REMOVED", "UNINITIALIZED", "UNDEFINED", "CLEAR", "WARNING", "CRITICAL"}
	for _, st := range statuses {
		for _, old := range statuses {
			for _, longer := range []bool{false, true} {
				a := Alarm{Status: st, OldStatus: old, Name: "disk_full", ValueString: "99%", Duration: "60", NonClearDuration: "60"}
				if longer {
					a.NonClearDuration = "7200"
				}
				f := Derive(a, Env{Now: time.Unix(0, 0)})
				wantSev, wantRaised := st, ""
				was := "(was " + strings.ToLower(old) + " for 1 minute)"
				switch {
				case st == "CLEAR":
					wantSev = "Recovered from " + old
					wantRaised = was
					if longer {
						wantRaised = "(alarm was raised for 2 hours)"
					}
				case old == "WARNING" && st == "CRITICAL":
					wantSev = "Escalated to CRITICAL"
					wantRaised = was
					if longer {
						wantRaised = "(alarm is raised for 2 hours)"
					}
				case old == "CRITICAL" && st == "WARNING":
					wantSev = "Demoted to WARNING"
					wantRaised = was
					if longer {
						wantRaised = "(alarm is raised for 2 hours)"
					}
				}
				if f.Severity != wantSev || f.RaisedFor != wantRaised {
					t.Errorf("%s -> %s (longer %v): severity %q raised_for %q; want %q %q",
						old, st, longer, f.Severity, f.RaisedFor, wantSev, wantRaised)
				}
				wantAlarm := "disk full = 99%"
				if st == "CLEAR" {
					wantAlarm = "disk full " + wantRaised
				}
				if f.AlarmText != wantAlarm {
					t.Errorf("%s -> %s: alarm %q, want %q", old, st, f.AlarmText, wantAlarm)
				}
				msg, color := map[string][2]string{
					"CRITICAL": {"is critical", "#ca414b"},
					"WARNING":  {"needs attention", "#ffc107"},
					"CLEAR":    {"recovered", "#77ca6d"},
				}[st][0], map[string]string{"CRITICAL": "#ca414b", "WARNING": "#ffc107", "CLEAR": "#77ca6d"}[st]
				if msg == "" {
					msg, color = "status unknown", "grey"
				}
				if f.StatusMessage != msg || f.Color != color {
					t.Errorf("%s: status_message %q color %q", st, f.StatusMessage, f.Color)
				}
			}
		}
	}
}

func TestRaisedForOddDurations(t *testing.T) {
	for _, c := range []struct{ d, ncd, want string }{
		{"", "", "(alarm was raised for 0 second)"}, // [ -gt ] is true
		{"5", "", "(was warning for 5 seconds)"},
		{"", "5", "(was warning for 0 second)"},
		{"abc", "10", "(was warning for 0 second)"},
		{"10", "010", "(was warning for 10 seconds)"}, // test(1) reads 010 as 10, duration4human as 8
		{"9", "010", "(alarm was raised for 8 seconds)"},
	} {
		f := Derive(Alarm{Status: "CLEAR", OldStatus: "WARNING", Duration: c.d, NonClearDuration: c.ncd}, Env{Now: time.Unix(0, 0)})
		if f.RaisedFor != c.want {
			t.Errorf("duration %q ncd %q: raised_for %q, want %q", c.d, c.ncd, f.RaisedFor, c.want)
		}
	}
}

func TestGotoURL(t *testing.T) {
	a1, _ := ParseArgs(argv1())
	a2, _ := ParseArgs(argv2())
	params1 := "host=web1&chart=disk_space._&family=disk&alarm=disk_space_usage&alarm_unique_id=1001&alarm_id=17&alarm_event_id=3&alarm_when=1700000000&alarm_status=CRITICAL&alarm_chart=disk_space._&alarm_value=97.5%25"
	params2 := "host=web1&chart=disk_space._&alarm=disk_space_usage&alarm_unique_id=1001&alarm_id=17&alarm_event_id=3&alarm_when=1700000000&alarm_status=CRITICAL&alarm_chart=disk_space._&alarm_value=97.5%25"
	noChild := a1
	noChild.ChildMachineGUID = ""
	for _, c := range []struct {
		name string
		a    Alarm
		env  Env
		want string
	}{
		{"1.x default registry, no id", a1, Env{},
			"https://registry.my-netdata.io/goto-host-from-alarm.html?" + params1},
		{"1.x default registry, id, child", a1, Env{RegistryUniqueID: "agent-1"},
			"https://api.netdata.cloud/alarms/redirect?agentId=agent-1&childId=child-guid&" + params1},
		{"1.x default registry, id, no child", noChild, Env{RegistryUniqueID: "agent-1"},
			"https://api.netdata.cloud/alarms/redirect?agentId=agent-1&" + params1},
		{"1.x explicit default registry, custom cloud", a1, Env{RegistryURL: "https://registry.my-netdata.io", RegistryCloudBaseURL: "https://cloud.example", RegistryUniqueID: "agent-1"},
			"https://cloud.example/alarms/redirect?agentId=agent-1&childId=child-guid&" + params1},
		{"1.x own registry", a1, Env{RegistryURL: "http://reg.local:19999", RegistryUniqueID: "agent-1"},
			"http://reg.local:19999/goto-host-from-alarm.html?" + params1},
		{"2.x", a2, Env{RegistryUniqueID: "agent-1"},
			"https://registry.my-netdata.io/registry-alert-redirect.html?agent_machine_guid=agent-1&host_machine_guid=child-guid&transition_id=tr-1&" + params2},
		{"2.x own registry, no id", a2, Env{RegistryURL: "http://reg.local:19999"},
			"http://reg.local:19999/registry-alert-redirect.html?agent_machine_guid=&host_machine_guid=child-guid&transition_id=tr-1&" + params2},
	} {
		f := Derive(c.a, c.env)
		if f.GotoURL != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, f.GotoURL, c.want)
		}
	}
}

func TestDisplayName(t *testing.T) {
	a2, _ := ParseArgs(argv2())
	f := Derive(a2, Env{Now: time.Unix(0, 0)})
	if f.DisplayName != "Disk space usage high" || f.AlarmText != "Disk space usage high = 97.5%" {
		t.Errorf("2.x: %q %q", f.DisplayName, f.AlarmText)
	}
	a2.Summary = ""
	if f := Derive(a2, Env{}); f.AlarmText != "disk space usage = 97.5%" {
		t.Errorf("2.x without summary: %q", f.AlarmText)
	}
	a1, _ := ParseArgs(argv1())
	a1.Summary = "ignored in 1.x"
	if f := Derive(a1, Env{}); f.AlarmText != "disk space usage = 97.5%" {
		t.Errorf("1.x: %q", f.AlarmText)
	}
}

func TestDeriveFull(t *testing.T) {
	a1, _ := ParseArgs(argv1())
	f := Derive(a1, Env{ImagesBaseURL: "http://img", DateFormat: "+%F %T", Location: time.UTC, Now: time.Unix(0, 0)})
	m := f.Map()
	want := map[string]string{
		"host": "web1", "args_host": "web1", "url_host": "web1", "url_chart": "disk_space._",
		"url_name": "disk_space_usage", "url_family": "disk", "url_value_string": "97.5%25",
		"duration_txt": "2 minutes", "non_clear_duration_txt": "1 hour and 2 minutes",
		"raised_for": "(alarm is raised for 1 hour and 2 minutes)", "severity": "Escalated to CRITICAL",
		"status_message": "is critical", "color": "#ca414b", "image": "http://img/images/alert-128-red.png",
		"alarm": "disk space usage = 97.5%", "date": "2023-11-14 22:13:20", "date_utc": "2023-11-14 22:13:20",
		"family": "disk", "roles": "sysadmin,webmaster", "summary": "", "transition_id": "",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("Map()[%q] = %q, want %q", k, m[k], v)
		}
	}
	if len(m) != 51 {
		t.Errorf("Map has %d keys", len(m))
	}
	// default date: asctime style in the given zone
	ny, _ := time.LoadLocation("America/New_York")
	f = Derive(a1, Env{Location: ny})
	if f.Date != "Tue Nov 14 17:13:20 EST 2023" || f.DateUTC != "Tue Nov 14 22:13:20 UTC 2023" {
		t.Errorf("date %q date_utc %q", f.Date, f.DateUTC)
	}
	if f.Image != "https://registry.my-netdata.io/images/alert-128-red.png" {
		t.Errorf("image %q", f.Image)
	}
}

func TestFromEnv(t *testing.T) {
	a2, _ := ParseArgs(argv2())
	full := Derive(a2, Env{ShortHostname: "x", Now: time.Unix(0, 0)})
	env := full.Map()
	// netdata's own values are used as given, even when they differ from ours
	env["goto_url"] = "https://given.example/goto"
	env["duration_txt"] = "given duration"
	env["alarm"] = "given alarm"
	delete(env, "severity")   // recomputed
	delete(env, "url_host")   // recomputed
	delete(env, "raised_for") // recomputed
	env["NETDATA_REGISTRY_UNIQUE_ID"] = "agent-1"
	getenv := func(k string) string { return env[k] }
	a, f := FromEnv(getenv)
	if a.Layout != Layout2 || a.Name != a2.Name || a.Summary != a2.Summary || a.Host != "web1" || a.Type != "System" {
		t.Errorf("alarm from env: %+v", a)
	}
	if f.GotoURL != "https://given.example/goto" || f.DurationTxt != "given duration" || f.AlarmText != "given alarm" {
		t.Errorf("given values not kept: %q %q %q", f.GotoURL, f.DurationTxt, f.AlarmText)
	}
	if f.Severity != "Escalated to CRITICAL" || f.URLHost != "web1" || f.RaisedFor != full.RaisedFor {
		t.Errorf("missing values not computed: %q %q %q", f.Severity, f.URLHost, f.RaisedFor)
	}
	// layout 1 when family is set; host falls back to $host
	lib := t.TempDir() // no registry id here, whatever the host has
	_, f = FromEnv(func(k string) string {
		return map[string]string{"host": "h.example", "family": "fam", "status": "WARNING", "name": "a_b", "value_string": "1", "NETDATA_LIB_DIR": lib}[k]
	})
	if f.Alarm.Layout != Layout1 || f.Host != "h.example" || f.URLFamily != "fam" || f.AlarmText != "a b = 1" || f.StatusMessage != "needs attention" {
		t.Errorf("1.x env: %+v", f)
	}
}

func TestEnvFromOS(t *testing.T) {
	e := EnvFromOS(func(k string) string {
		return map[string]string{"NETDATA_REGISTRY_URL": "http://r", "NETDATA_REGISTRY_UNIQUE_ID": "id", "NETDATA_REGISTRY_CLOUD_BASE_URL": "http://c"}[k]
	})
	if e.RegistryURL != "http://r" || e.RegistryUniqueID != "id" || e.RegistryCloudBaseURL != "http://c" || e.Location == nil {
		t.Errorf("%+v", e)
	}
	if h, err := os.Hostname(); err == nil && (e.FQDN != h || strings.Contains(e.ShortHostname, ".")) {
		t.Errorf("hostnames %q %q", e.ShortHostname, e.FQDN)
	}
}

// TestEnvFromOSUniqueIDFile: without NETDATA_REGISTRY_UNIQUE_ID, the id is
// read from registry/netdata.public.unique.id under NETDATA_LIB_DIR (found
// through getenv, so no test reads the host's /var/lib/netdata), trailing
// newlines stripped as $(cat) does; no file, no id.
func TestEnvFromOSUniqueIDFile(t *testing.T) {
	lib := t.TempDir()
	getenv := func(k string) string { return map[string]string{"NETDATA_LIB_DIR": lib}[k] }
	if e := EnvFromOS(getenv); e.RegistryUniqueID != "" {
		t.Errorf("no file: unique id %q", e.RegistryUniqueID)
	}
	if err := os.MkdirAll(filepath.Join(lib, "registry"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lib, "registry", "netdata.public.unique.id"), []byte("a1b2-c3\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if e := EnvFromOS(getenv); e.RegistryUniqueID != "a1b2-c3" {
		t.Errorf("unique id %q, want a1b2-c3", e.RegistryUniqueID)
	}
	if LibDir(func(string) string { return "" }) != "/var/lib/netdata" {
		t.Errorf("default lib dir %q", LibDir(func(string) string { return "" }))
	}
}

// TestMapKeysGolden pins the variable names Map exposes.
func TestMapKeysGolden(t *testing.T) {
	var keys []string
	for k := range (Fields{}).Map() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	got := strings.Join(keys, "\n") + "\n"
	path := filepath.Join("testdata", "map_keys.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("Map keys changed:\n%s", got)
	}
}
