package netdata

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// argv1 is a full 1.x command line (29 arguments).
func argv1() []string {
	return []string{
		"sysadmin,webmaster", "web1", "1001", "17", "3", "1700000000", "disk_space_usage", "disk_space._",
		"disk", "CRITICAL", "WARNING", "97.5", "85.1", "health.d/disks.conf:10", "120", "3700", "%",
		"disk / space usage", "97.5%", "85.1%", "$this > 95", "[ $this = 97.5 ]", "2", "1",
		"a=1700000000,b=1700000001", "c=1700000002", "Utilization", "edit=10=web1", "child-guid",
	}
}

// argv2 is a full 2.x command line (33 arguments).
func argv2() []string {
	return []string{
		"sysadmin", "web1", "1001", "17", "3", "1700000000", "disk_space_usage", "disk_space._",
		"CRITICAL", "WARNING", "97.5", "85.1", "health.d/disks.conf:10", "120", "3700", "%",
		"disk / space usage", "97.5%", "85.1%", "$this > 95", "[ $this = 97.5 ]", "2", "1",
		"a=1700000000", "c=1700000002", "Utilization", "edit=10=web1", "child-guid",
		"tr-1", "Disk space usage high", "disk.space", "Disk", "System",
	}
}

func TestParseArgsLayout1(t *testing.T) {
	a, err := ParseArgs(argv1())
	if err != nil {
		t.Fatal(err)
	}
	want := Alarm{
		Layout: Layout1, Roles: "sysadmin,webmaster", Host: "web1", UniqueID: "1001", AlarmID: "17",
		EventID: "3", When: "1700000000", Name: "disk_space_usage", Chart: "disk_space._", Family: "disk",
		Status: "CRITICAL", OldStatus: "WARNING", Value: "97.5", OldValue: "85.1",
		Src: "health.d/disks.conf:10", Duration: "120", NonClearDuration: "3700", Units: "%",
		Info: "disk / space usage", ValueString: "97.5%", OldValueString: "85.1%",
		CalcExpression: "$this > 95", CalcParamValues: "[ $this = 97.5 ]", TotalWarnings: "2",
		TotalCritical: "1", TotalWarnAlarms: "a=1700000000,b=1700000001", TotalCritAlarms: "c=1700000002",
		Classification: "Utilization", EditCommandLine: "edit=10=web1", ChildMachineGUID: "child-guid",
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("got  %+v\nwant %+v", a, want)
	}
	if got := a.Args(); !slices.Equal(got, argv1()) {
		t.Errorf("Args() = %q", got)
	}
}

func TestParseArgsLayout2(t *testing.T) {
	a, err := ParseArgs(argv2())
	if err != nil {
		t.Fatal(err)
	}
	want := Alarm{
		Layout: Layout2, Roles: "sysadmin", Host: "web1", UniqueID: "1001", AlarmID: "17",
		EventID: "3", When: "1700000000", Name: "disk_space_usage", Chart: "disk_space._",
		Status: "CRITICAL", OldStatus: "WARNING", Value: "97.5", OldValue: "85.1",
		Src: "health.d/disks.conf:10", Duration: "120", NonClearDuration: "3700", Units: "%",
		Info: "disk / space usage", ValueString: "97.5%", OldValueString: "85.1%",
		CalcExpression: "$this > 95", CalcParamValues: "[ $this = 97.5 ]", TotalWarnings: "2",
		TotalCritical: "1", TotalWarnAlarms: "a=1700000000", TotalCritAlarms: "c=1700000002",
		Classification: "Utilization", EditCommandLine: "edit=10=web1", ChildMachineGUID: "child-guid",
		TransitionID: "tr-1", Summary: "Disk space usage high", Context: "disk.space", Component: "Disk",
		Type: "System",
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("got  %+v\nwant %+v", a, want)
	}
	if got := a.Args(); !slices.Equal(got, argv2()) {
		t.Errorf("Args() = %q", got)
	}
}

func TestDetectLayout(t *testing.T) {
	// argv of n args with the given 1-based positions set
	mk := func(n int, set map[int]string) []string {
		args := make([]string, n)
		for i := range args {
			args[i] = "x" + strconv.Itoa(i+1)
		}
		for p, v := range set {
			args[p-1] = v
		}
		return args
	}
	for _, c := range []struct {
		name string
		args []string
		want Layout
	}{
		{"full 1.x", argv1(), Layout1},
		{"full 2.x", argv2(), Layout2},
		{"1.x 24 args (1.37 test mode)", TestArgs(Layout1, "", "h", time.Unix(1, 0), "p")[0], Layout1},
		{"2.x 30 args (master test mode)", TestArgs(Layout2, "", "h", time.Unix(1, 0), "p")[0], Layout2},
		{"2.x 29 args (no summary...)", argv2()[:29], Layout2},
		{"1.x short: 11 args", argv1()[:11], Layout1},
		{"2.x short: 10 args", argv2()[:10], Layout2},
		{"2.x short: only status", argv2()[:9], Layout2},
		{"1.x short: only status", argv1()[:10], Layout1},
		{"family named like a status, 29 args", mk(29, map[int]string{9: "CLEAR", 10: "WARNING", 11: "CLEAR"}), Layout1},
		{"status pair 9-11 all statuses, 33 args", mk(33, map[int]string{9: "CLEAR", 10: "WARNING", 11: "CLEAR"}), Layout2},
		{"status at 9 only", mk(33, map[int]string{9: "WARNING"}), Layout2},
		{"status at 10 only", mk(29, map[int]string{10: "WARNING"}), Layout1},
		{"no status, 29", mk(29, nil), Layout1},
		{"no status, 33", mk(33, nil), Layout2},
		{"no status, 5", mk(5, nil), Layout2},
		{"lower case status is no status", mk(29, map[int]string{9: "warning", 10: "clear"}), Layout1},
		{"empty", nil, Layout2},
	} {
		if got := DetectLayout(c.args); got != c.want {
			t.Errorf("%s: DetectLayout = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestParseArgsShort(t *testing.T) {
	if _, err := ParseArgs(nil); err != ErrNoArgs {
		t.Errorf("ParseArgs(nil) error = %v", err)
	}
	a, err := ParseArgs([]string{"sysadmin"})
	if err != nil || a.Roles != "sysadmin" || a.Status != "" || a.Layout != Layout2 {
		t.Errorf("one arg: %+v, %v", a, err)
	}
	a, _ = ParseArgs(argv1()[:12])
	if a.Layout != Layout1 || a.Family != "disk" || a.Value != "97.5" || a.OldValue != "" || a.ChildMachineGUID != "" {
		t.Errorf("12 args 1.x: %+v", a)
	}
	a, _ = ParseArgs(argv2()[:15])
	if a.Layout != Layout2 || a.NonClearDuration != "3700" || a.Units != "" || a.Summary != "" {
		t.Errorf("15 args 2.x: %+v", a)
	}
	// extra arguments are ignored
	a, _ = ParseArgs(append(argv2(), "future", "args"))
	if a.Type != "System" || a.Layout != Layout2 {
		t.Errorf("extra args: %+v", a)
	}
	// empty host is kept empty: Derive substitutes the short hostname
	args := argv2()
	args[1] = ""
	a, _ = ParseArgs(args)
	if a.Host != "" {
		t.Errorf("empty host: %q", a.Host)
	}
	f := Derive(a, Env{ShortHostname: "myhost", FQDN: "myhost.example.org", Now: time.Unix(0, 0)})
	if f.Host != "myhost" || f.ArgsHost != "myhost" || f.URLHost != "myhost" {
		t.Errorf("empty host derived: host=%q args_host=%q", f.Host, f.ArgsHost)
	}
	f = Derive(a, Env{ShortHostname: "myhost", FQDN: "myhost.example.org", UseFQDN: true, Now: time.Unix(0, 0)})
	if f.Host != "myhost.example.org" || f.ArgsHost != "myhost" || f.URLHost != "myhost" {
		t.Errorf("use_fqdn: host=%q args_host=%q url_host=%q", f.Host, f.ArgsHost, f.URLHost)
	}
	// use_fqdn only replaces this host's short name, never a child's
	a.Host = "child1"
	f = Derive(a, Env{ShortHostname: "myhost", FQDN: "myhost.example.org", UseFQDN: true, Now: time.Unix(0, 0)})
	if f.Host != "child1" {
		t.Errorf("use_fqdn child: host=%q", f.Host)
	}
}

func TestTestInvocation(t *testing.T) {
	for _, c := range []struct {
		args []string
		role string
		ok   bool
	}{
		{[]string{"test"}, "sysadmin", true},
		{[]string{"test", "webmaster"}, "webmaster", true},
		{[]string{"webmaster", "test"}, "webmaster", true},
		{[]string{"test", ""}, "sysadmin", true},
		{[]string{"", "test"}, "sysadmin", true},
		{[]string{"test", "test"}, "test", true},
		{[]string{"test", "a", "b"}, "", false},
		{[]string{"sysadmin"}, "", false},
		{nil, "", false},
		{[]string{"unittest", "a"}, "", false},
	} {
		role, ok := TestInvocation(c.args)
		if role != c.role || ok != c.ok {
			t.Errorf("TestInvocation(%q) = %q, %v; want %q, %v", c.args, role, ok, c.role, c.ok)
		}
	}
}

func TestTestArgsAndAlarms(t *testing.T) {
	now := time.Unix(1700000000, 0)
	// master: "${0}" "${recipient}" "$(hostname)" 1 1 "${id}" "$(date +%s)" "test_alarm" "test.chart"
	// "${x}" "${last}" 100 90 "${0}" 1 $((0 + id)) "units" "this is a test alarm to verify
	// notifications work" "new value" "old value" "evaluated expression" "expression variable
	// values" 0 0 "" "" "Test" "command to edit the alarm=0=$(hostname)" "" "" "a test alarm"
	want2 := []string{"sysadmin", "host.example.org", "1", "1", "2", "1700000000", "test_alarm", "test.chart",
		"CRITICAL", "WARNING", "100", "90", "/usr/libexec/netdata/plugins.d/alarm-notify.sh", "1", "2", "units",
		"this is a test alarm to verify notifications work", "new value", "old value", "evaluated expression",
		"expression variable values", "0", "0", "", "", "Test", "command to edit the alarm=0=host.example.org",
		"", "", "a test alarm"}
	got := TestArgs(Layout2, "", "host.example.org", now, "/usr/libexec/netdata/plugins.d/alarm-notify.sh")
	if len(got) != 3 || !slices.Equal(got[1], want2) {
		t.Errorf("master test args[1] =\n%q\nwant\n%q", got[1], want2)
	}
	// 1.37.1: ... "test_alarm" "test.chart" "test.family" "${x}" "${last}" ... 0 0
	want1 := []string{"ops", "h", "1", "1", "1", "1700000000", "test_alarm", "test.chart", "test.family",
		"WARNING", "CLEAR", "100", "90", "prog", "1", "1", "units",
		"this is a test alarm to verify notifications work", "new value", "old value", "evaluated expression",
		"expression variable values", "0", "0"}
	got = TestArgs(Layout1, "ops", "h", now, "prog")
	if !slices.Equal(got[0], want1) {
		t.Errorf("1.37 test args[0] =\n%q\nwant\n%q", got[0], want1)
	}

	alarms := TestAlarms(Layout2, "", "h", now, "prog")
	if len(alarms) != 3 {
		t.Fatalf("%d alarms", len(alarms))
	}
	for i, w := range []struct{ status, old, event, ncd string }{
		{"WARNING", "CLEAR", "1", "1"}, {"CRITICAL", "WARNING", "2", "2"}, {"CLEAR", "CRITICAL", "3", "3"},
	} {
		a := alarms[i]
		if a.Layout != Layout2 || a.Status != w.status || a.OldStatus != w.old || a.EventID != w.event ||
			a.NonClearDuration != w.ncd || a.Roles != "sysadmin" || a.Summary != "a test alarm" ||
			a.Classification != "Test" || a.Duration != "1" || a.UniqueID != "1" || a.AlarmID != "1" {
			t.Errorf("test alarm %d: %+v", i, a)
		}
		if send, reason := Screen(a, false); !send {
			t.Errorf("test alarm %d screened out: %s", i, reason)
		}
	}
	// the CLEAR one: ncd 3 > duration 1
	f := Derive(alarms[2], Env{Now: now})
	if f.RaisedFor != "(alarm was raised for 3 seconds)" || f.AlarmText != "a test alarm (alarm was raised for 3 seconds)" {
		t.Errorf("test CLEAR: raised_for %q alarm %q", f.RaisedFor, f.AlarmText)
	}
}

func TestScreen(t *testing.T) {
	statuses := []string{"REMOVED", "UNINITIALIZED", "UNDEFINED", "CLEAR", "WARNING", "CRITICAL", "", "warning", "garbage"}
	for _, st := range statuses {
		for _, old := range statuses {
			for _, always := range []bool{false, true} {
				want := false
				switch st {
				case "WARNING", "CRITICAL":
					want = true
				case "CLEAR":
					want = always || old == "WARNING" || old == "CRITICAL"
				}
				a := Alarm{Status: st, OldStatus: old, Host: "h", Chart: "c", Name: "n"}
				send, reason := Screen(a, always)
				if send != want {
					t.Errorf("Screen(%q <- %q, always=%v) = %v, want %v", st, old, always, send, want)
				}
				if send != (reason == "") {
					t.Errorf("Screen(%q <- %q): send %v with reason %q", st, old, send, reason)
				}
			}
		}
	}
	_, reason := Screen(Alarm{Status: "REMOVED", Host: "h", Chart: "c.d", Name: "n"}, false)
	if reason != "not sending notification for REMOVED of 'h.c.d.n'" {
		t.Errorf("reason %q", reason)
	}
	_, reason = Screen(Alarm{Status: "CLEAR", OldStatus: "UNDEFINED", Host: "h", Chart: "c.d", Name: "n"}, false)
	if reason != "not sending notification for CLEAR of 'h.c.d.n' (last status was UNDEFINED)" {
		t.Errorf("reason %q", reason)
	}
}

func TestClearAlarmAlways(t *testing.T) {
	for v, want := range map[string]bool{"YES": true, "yes": false, "": false, "NO": false, "1": false} {
		got := ClearAlarmAlways(func(k string) string {
			if k == "clear_alarm_always" {
				return v
			}
			return ""
		})
		if got != want {
			t.Errorf("clear_alarm_always=%q: %v", v, got)
		}
	}
}

func FuzzParseArgs(f *testing.F) {
	f.Add(strings.Join(argv1(), "\x00"))
	f.Add(strings.Join(argv2(), "\x00"))
	f.Add("")
	f.Add("test")
	f.Add("a\x00\x00\x00\x00\x00\x00\x00\x00CLEAR\x00WARNING\x00CRITICAL")
	f.Fuzz(func(t *testing.T, joined string) {
		var args []string
		if joined != "" {
			args = strings.Split(joined, "\x00")
		}
		a, err := ParseArgs(args)
		if len(args) == 0 {
			if err == nil {
				t.Fatal("no error for empty argv")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if a.Roles != args[0] {
			t.Fatalf("roles %q != %q", a.Roles, args[0])
		}
		// the parsed alarm renders back to a prefix-compatible argv
		back := a.Args()
		for i := 0; i < len(args) && i < len(back); i++ {
			if back[i] != args[i] {
				t.Fatalf("arg %d: %q != %q (layout %v)", i+1, back[i], args[i], a.Layout)
			}
		}
		send, reason := Screen(a, false)
		if send != (reason == "") {
			t.Fatalf("Screen inconsistent")
		}
		if send && !IsStatus(a.Status) {
			t.Fatalf("sent a non-status %q", a.Status)
		}
		fl := Derive(a, Env{ShortHostname: "h", Now: time.Unix(0, 0), Location: time.UTC})
		c := Content(fl)
		checkContent(t, c)
	})
}

func TestScriptLayout(t *testing.T) {
	tests := []struct {
		name, script string
		want         Layout
	}{
		{"1.37", "status=\"${10}\"\nfamily=\"${9}\"              # the family of the chart\n", Layout1},
		{"master", "status=\"${9}\"\ntransition_id=\"${25}\"\n", Layout2},
		{"none", "", Layout2},
	}
	for _, tt := range tests {
		if got := ScriptLayout([]byte(tt.script)); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
