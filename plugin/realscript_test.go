package main

// Tests that run Debian's real netdata 1.37.1 alarm-notify.sh (extracted by
// scripts/fetch-netdata.sh into testdata/.cache/netdata) against sendertest,
// in the three ways the README wires matrix-notify in:
//
//   - as alarm-notify.sh's custom_sender() (scripts/custom_sender.conf);
//   - instead of the stock Matrix sender, compared with what that sender sends;
//   - side by side through scripts/alarm-notify-with-matrix.sh.

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"matrix-notify/adapters/netdata"
	"matrix-notify/sender/sendertest"
)

// realScriptPath is where scripts/fetch-netdata.sh puts Debian's script.
var realScriptPath = filepath.Join("..", "testdata", ".cache", "netdata", "usr", "lib", "netdata", "plugins.d", "alarm-notify.sh")

// realScript returns the real alarm-notify.sh, or skips the test when it, or
// the bash and curl it needs, is missing.
func realScript(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: it is needed to run netdata's real alarm-notify.sh", tool)
		}
	}
	p, err := filepath.Abs(realScriptPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("Debian's alarm-notify.sh is not here (%v): run scripts/fetch-netdata.sh (make test does)", err)
	}
	return p
}

// newDebianHome is a netdataHome whose stock directory holds Debian's real
// health_alarm_notify.conf, with the environment alarm-notify.sh needs:
// /usr/bin and /bin on PATH (bash, curl, date, hostname), and a HOME of its
// own so that no ~/.curlrc of whoever runs the tests changes curl.
func newDebianHome(t *testing.T, conf string) *netdataHome {
	t.Helper()
	h := newNetdataHome(t, conf)
	copyFile(t, debianStockConf(t), filepath.Join(h.stock, "health_alarm_notify.conf"))
	root := filepath.Dir(h.user)
	for i, kv := range h.env {
		if strings.HasPrefix(kv, "PATH=") {
			h.env[i] = kv + ":/usr/bin:/bin"
		}
	}
	h.env = append(h.env, "HOME="+root, "CURL_HOME="+root)
	return h
}

// realHome is a Debian netdata home with a plugins.d directory holding a
// copy of the real alarm-notify.sh and, next to it, matrix-notify.
type realHome struct {
	*netdataHome
	plugins string
}

func newRealHome(t *testing.T, conf string) *realHome {
	t.Helper()
	script := realScript(t)
	h := newDebianHome(t, conf)
	plugins := filepath.Join(filepath.Dir(h.user), "plugins.d")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	installExecutable(t, script, filepath.Join(plugins, "alarm-notify.sh"))
	installExecutable(t, binPath, filepath.Join(plugins, "matrix-notify"))
	return &realHome{netdataHome: h, plugins: plugins}
}

// installExecutable copies from to to with mode 0755. (Tests here do not run
// in parallel: no fork can inherit the file open for writing, ETXTBSY.)
func installExecutable(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// exec runs one of the plugins as netdata does: its environment, argv as is.
func (h *realHome) exec(t *testing.T, plugin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(h.plugins, plugin), args...)
	cmd.Env = h.env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok && ctx.Err() == nil {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v\n%s", plugin, err, r.stderr)
	}
	return r
}

// envValue is name's value in env, a list of NAME=value.
func envValue(env []string, name string) string {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v
		}
	}
	return ""
}

// alarm1 is one alarm transition as netdata 1.x passes it to alarm-notify.sh.
type alarm1 struct {
	roles, host, uniqueID, alarmID, eventID, when, name, chart, family, status, oldStatus      string
	value, oldValue, src, duration, nonClearDuration, units, info, valueString, oldValueString string
}

// args is the 29-argument argv of netdata 1.x (family 9th, no summary).
func (a alarm1) args() []string {
	return []string{a.roles, a.host, a.uniqueID, a.alarmID, a.eventID, a.when, a.name, a.chart, a.family,
		a.status, a.oldStatus, a.value, a.oldValue, a.src, a.duration, a.nonClearDuration, a.units, a.info,
		a.valueString, a.oldValueString, "$this > 90", "${this} = " + a.value, "1", "0", "", "",
		"Utilization", "netdata edit-config health.d/disks.conf=12", ""}
}

// args2 is the same transition as netdata 2.x passes it (33 arguments: no
// family; transition id, summary, context, component and type at the end).
func (a alarm1) args2(summary string) []string {
	return []string{a.roles, a.host, a.uniqueID, a.alarmID, a.eventID, a.when, a.name, a.chart,
		a.status, a.oldStatus, a.value, a.oldValue, a.src, a.duration, a.nonClearDuration, a.units, a.info,
		a.valueString, a.oldValueString, "$this > 90", "${this} = " + a.value, "1", "0", "", "",
		"Utilization", "netdata edit-config health.d/disks.conf=12", "", "t-" + a.uniqueID, summary,
		"disk.space", "Disk", "System"}
}

// diskTransitions is one alarm going WARNING, CRITICAL, CLEAR. The CLEAR
// reports non_clear_duration > duration: "(alarm was raised for 1 hour and 2
// minutes)".
func diskTransitions(alarmID string) []alarm1 {
	base := alarm1{roles: "sysadmin", host: "web01", alarmID: alarmID, when: "1763899200",
		name: "disk_space_usage", chart: "disk_space._", family: "/", src: "health.d/disks.conf:12",
		units: "%", info: "disk / space utilization"}
	warn, crit, clear := base, base, base
	warn.uniqueID, warn.eventID, warn.status, warn.oldStatus = alarmID+"01", "1", "WARNING", "CLEAR"
	warn.value, warn.oldValue, warn.valueString, warn.oldValueString = "91.3", "42", "91.3%", "42%"
	warn.duration, warn.nonClearDuration = "3600", "0"
	crit.uniqueID, crit.eventID, crit.status, crit.oldStatus = alarmID+"02", "2", "CRITICAL", "WARNING"
	crit.value, crit.oldValue, crit.valueString, crit.oldValueString = "98.7", "91.3", "98.7%", "91.3%"
	crit.duration, crit.nonClearDuration = "300", "900"
	clear.uniqueID, clear.eventID, clear.status, clear.oldStatus = alarmID+"03", "3", "CLEAR", "CRITICAL"
	clear.value, clear.oldValue, clear.valueString, clear.oldValueString = "61.2", "98.7", "61.2%", "98.7%"
	clear.duration, clear.nonClearDuration = "125", "3725"
	return []alarm1{warn, crit, clear}
}

// hostileAlarm is a CRITICAL whose info holds what breaks the stock sender's
// JSON ('"', '\') and HTML ('<script>'), with a non-ASCII value for goto_url.
func hostileAlarm(alarmID, info string) alarm1 {
	return alarm1{roles: "sysadmin", host: "db01", uniqueID: alarmID + "01", alarmID: alarmID, eventID: "1",
		when: "1763902800", name: "cpu_temperature_high", chart: "sensors.coretemp_isa_0000", family: "temperature",
		status: "CRITICAL", oldStatus: "CLEAR", value: "97", oldValue: "60", src: "health.d/sensors.conf:3",
		duration: "60", nonClearDuration: "60", units: "°C", info: info, valueString: "97 °C", oldValueString: "60 °C"}
}

// gotoURL1 is 1.37.1's goto_url for a non-default registry.
func gotoURL1(registry string, a alarm1) string {
	enc := netdata.URLEncode
	return registry + "/goto-host-from-alarm.html?host=" + enc(a.host) + "&chart=" + enc(a.chart) +
		"&family=" + enc(a.family) + "&alarm=" + enc(a.name) + "&alarm_unique_id=" + a.uniqueID +
		"&alarm_id=" + a.alarmID + "&alarm_event_id=" + a.eventID + "&alarm_when=" + a.when +
		"&alarm_status=" + a.status + "&alarm_chart=" + a.chart + "&alarm_value=" + enc(a.valueString)
}

// newEvents returns the events of room after the first skip.
func newEvents(hs *sendertest.Server, room string, skip int) []sendertest.Event {
	evs := hs.Events(room)
	if len(evs) < skip {
		return nil
	}
	return evs[skip:]
}

func decodeContent(t *testing.T, ev sendertest.Event) content {
	t.Helper()
	var c content
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// assertModernRequests fails on any request that is not a v3 PUT with a txn
// id and the token in the header.
func assertModernRequests(t *testing.T, reqs []sendertest.Request) {
	t.Helper()
	for _, rq := range reqs {
		if rq.Method != "PUT" || !strings.HasPrefix(rq.Path, "/_matrix/client/v3/rooms/") ||
			strings.Contains(rq.Path, "access_token") || len(rq.Legacy) > 0 {
			t.Errorf("request not sent the v3 way: %s %s legacy=%v", rq.Method, rq.Path, rq.Legacy)
		}
	}
}

// customLogRE is custom_sender.conf's success line; its list is what the real
// script passed to matrix-notify, after the recipient modifiers.
var customLogRE = regexp.MustCompile(`alarm-notify\.sh: INFO: sent Matrix notification via matrix-notify for: .* to '([^']*)'`)

func TestRealScriptCustomSender(t *testing.T) {
	const plain, critOnly, execRoom = "!custom1:hs.test", "!custom2:hs.test", "!exec:hs.test"
	hs := sendertest.New(sendertest.Options{Joined: []string{plain, critOnly, execRoom}})
	defer hs.Close()

	snippet, err := os.ReadFile(filepath.Join("..", "scripts", "custom_sender.conf"))
	if err != nil {
		t.Fatal(err)
	}
	recipientLine := regexp.MustCompile(`(?m)^DEFAULT_RECIPIENT_CUSTOM=.*$`)
	if n := len(recipientLine.FindAllIndex(snippet, -1)); n != 1 {
		t.Fatalf("scripts/custom_sender.conf has %d DEFAULT_RECIPIENT_CUSTOM= lines, want 1", n)
	}
	conf := recipientLine.ReplaceAllLiteralString(string(snippet), fmt.Sprintf("DEFAULT_RECIPIENT_CUSTOM=%q", plain+" "+critOnly+"|critical")) +
		"\n# the stock Matrix sender must not post too\nSEND_MATRIX=\"NO\"\n"
	h := newRealHome(t, conf)
	h.writeTOML(t, fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token = %q\n", hs.URL(), hs.Token()))
	// Our binary in exec mode on the same argv, for the expected text.
	ex := newDebianHome(t, confFor(hs, execRoom))

	hostileInfo := `free space on "/" is <script>alert('x')</script> C:\data\ \"low\"`
	tracking := filepath.Join(h.cache, "alarm-notify", "custom", critOnly)
	trans := diskTransitions("42")
	steps := []struct {
		desc    string
		alarm   alarm1
		rooms   []string // custom recipients the script hands to matrix-notify
		tracked bool     // the |critical room's tracking file exists afterwards
	}{
		{"WARNING: the script filters out the |critical room", trans[0], []string{plain}, false},
		{"CRITICAL: both rooms, the script starts tracking the |critical room", trans[1], []string{plain, critOnly}, true},
		{"CLEAR: both rooms, the tracking file goes", trans[2], []string{plain, critOnly}, false},
		{"hostile info arrives intact", hostileAlarm("43", hostileInfo), []string{plain, critOnly}, true},
	}
	for _, st := range steps {
		t.Run(st.alarm.status+"/"+st.desc, func(t *testing.T) {
			a := st.alarm
			if len(a.args()) != 29 {
				t.Fatalf("argv has %d arguments, netdata 1.x passes 29", len(a.args()))
			}
			before := map[string]int{plain: len(hs.Events(plain)), critOnly: len(hs.Events(critOnly)), execRoom: len(hs.Events(execRoom))}

			r := h.exec(t, "alarm-notify.sh", a.args()...)
			if r.code != 0 {
				t.Fatalf("alarm-notify.sh exit %d, want 0 (custom sender sent)\n%s", r.code, r.stderr)
			}
			assertNoToken(t, hs.Token(), r.stdout, r.stderr)
			m := customLogRE.FindStringSubmatch(r.stderr)
			if m == nil {
				t.Fatalf("no custom_sender success line in the script's log:\n%s", r.stderr)
			}
			passed := strings.Fields(m[1])
			sort.Strings(passed)
			if want := slices.Sorted(slices.Values(st.rooms)); !slices.Equal(passed, want) {
				t.Errorf("the script passed %q to matrix-notify, want %q", passed, want)
			}
			_, err := os.Stat(filepath.Join(tracking, a.alarmID))
			if tracked := err == nil; tracked != st.tracked {
				t.Errorf("tracking file %s exists: %v, want %v", filepath.Join(tracking, a.alarmID), tracked, st.tracked)
			}

			e := ex.run(t, nil, a.args()...)
			if e.code != 0 {
				t.Fatalf("matrix-notify exec mode: exit %d\n%s", e.code, e.stderr)
			}
			execEvs := newEvents(hs, execRoom, before[execRoom])
			if len(execEvs) != 1 {
				t.Fatalf("exec mode: %d new events, want 1", len(execEvs))
			}
			want := decodeContent(t, execEvs[0])

			for _, room := range []string{plain, critOnly} {
				evs := newEvents(hs, room, before[room])
				if !slices.Contains(st.rooms, room) {
					if len(evs) != 0 {
						t.Errorf("%s got %d events, want none: the script's |critical filter let it through", room, len(evs))
					}
					continue
				}
				if len(evs) != 1 {
					t.Fatalf("%s got %d events, want 1", room, len(evs))
				}
				if len(evs[0].Legacy) > 0 || evs[0].TxnID == "" {
					t.Errorf("%s: sent the legacy way: %v, txn %q", room, evs[0].Legacy, evs[0].TxnID)
				}
				got := decodeContent(t, evs[0])
				// custom_sender hands over alarm-notify.sh's own goto_url,
				// alarm, status_message...; exec mode derives them: equal.
				if got != want {
					t.Errorf("%s: custom_sender text differs from exec mode's\n custom: %+v\n   exec: %+v", room, got, want)
				}
				if a.info == hostileInfo {
					if !strings.Contains(got.Body, hostileInfo) || !strings.Contains(got.FormattedBody, "<i>"+html.EscapeString(hostileInfo)+"</i>") ||
						strings.Contains(got.FormattedBody, "<script>") {
						t.Errorf("%s: info not carried literally: %+v", room, got)
					}
				}
			}
		})
	}
	assertModernRequests(t, hs.Requests())

	t.Run("not delivered: the script logs that matrix-notify queued it and exits 1", func(t *testing.T) {
		const notJoined = "!notjoined:hs.test"
		conf := recipientLine.ReplaceAllLiteralString(string(snippet), fmt.Sprintf("DEFAULT_RECIPIENT_CUSTOM=%q", notJoined))
		h := newRealHome(t, conf+"\nSEND_MATRIX=\"NO\"\n")
		h.writeTOML(t, fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token = %q\n", hs.URL(), hs.Token()))
		r := h.exec(t, "alarm-notify.sh", diskTransitions("44")[1].args()...)
		if r.code != 1 || !strings.Contains(r.stderr, "alarm-notify.sh: WARNING: Matrix notification not delivered (exit code 3): queued by matrix-notify, unless its log says lost") {
			t.Fatalf("exit %d, want 1 with the snippet's warning\n%s", r.code, r.stderr)
		}
	})
}

// stockDiff is one documented difference between what 1.37.1's send_matrix
// posts and what matrix-notify posts for the same alarm: theirs occurs once
// in the stock field, ours once in ours, and replacing the one by the other
// must make the fields equal. Anything else is a new difference.
type stockDiff struct {
	field        string // "body" or "formatted_body"
	theirs, ours string
	why          string
}

// stockDiffs lists them for an alarm whose fields hold no HTML-special
// characters (those are compared separately). Not a difference for a 1.x
// argv: NAME, CHART and ALARM. Master prints ${summary} where 1.37 printed
// ${name} in ALARM, and the chart without "(${family})", and matrix-notify
// does for a 2.x argv (see TestMasterSendMatrixSideBySide); a 1.x argv has a
// family and no summary, so both print "${chart} (${family})" and the name.
func stockDiffs(a alarm1, gotoURL string) []stockDiff {
	const totals = "we add the host's alarm totals (total_warnings, total_critical) as a last line"
	totalsLine := netdata.Totals(a.host, "1", "0") // alarm1.args passes 1 and 0
	return []stockDiff{
		{"body", " " + a.info, " " + a.info + "\n" + totalsLine, totals},
		{"formatted_body", "<i>" + a.info + "</i>", "<i>" + a.info + "</i><br>" + totalsLine, totals},
		{"formatted_body", `href="` + gotoURL + `"`, `href="` + html.EscapeString(gotoURL) + `"`,
			"we HTML-escape every value, the href too: goto_url's '&' becomes '&amp;' (the same URL once parsed); the script inserts it raw"},
	}
}

func TestRealScriptStockSenderSideBySide(t *testing.T) {
	const stockRoom, ourRoom = "!stock:hs.test", "!ours:hs.test"
	hs := sendertest.New(sendertest.Options{Joined: []string{stockRoom, ourRoom}})
	defer hs.Close()
	// One configuration for both: the stock sender posts to
	// DEFAULT_RECIPIENT_MATRIX, ours to the TOML's rooms, which replace it.
	// Ours posts each transition on its own (lifecycle none), as the stock
	// sender does: this compares the messages, threading has its own tests.
	h := newRealHome(t, confFor(hs, stockRoom))
	h.writeTOML(t, fmt.Sprintf("[matrix]\nrooms = [%q]\nlifecycle = \"none\"\n", ourRoom))
	registry := envValue(h.env, "NETDATA_REGISTRY_URL")

	// run sends a with both and returns the new requests and events of each.
	run := func(t *testing.T, a alarm1) (theirs, ours result, theirEvs, ourEvs []sendertest.Event, theirReqs, ourReqs []sendertest.Request) {
		t.Helper()
		nStock, nOurs, nReqs := len(hs.Events(stockRoom)), len(hs.Events(ourRoom)), len(hs.Requests())
		theirs = h.exec(t, "alarm-notify.sh", a.args()...)
		mid := len(hs.Requests())
		ours = h.exec(t, "matrix-notify", a.args()...)
		reqs := hs.Requests()
		return theirs, ours, newEvents(hs, stockRoom, nStock), newEvents(hs, ourRoom, nOurs), reqs[nReqs:mid], reqs[mid:]
	}

	for _, a := range diskTransitions("52") {
		t.Run(a.status, func(t *testing.T) {
			theirs, ours, theirEvs, ourEvs, theirReqs, ourReqs := run(t, a)
			if theirs.code != 0 || ours.code != 0 {
				t.Fatalf("exit codes: alarm-notify.sh %d, matrix-notify %d, want 0 and 0\n%s\n%s", theirs.code, ours.code, theirs.stderr, ours.stderr)
			}
			if len(theirEvs) != 1 || len(ourEvs) != 1 || len(theirReqs) != 1 || len(ourReqs) != 1 {
				t.Fatalf("events %d and %d, requests %d and %d: want one of each", len(theirEvs), len(ourEvs), len(theirReqs), len(ourReqs))
			}

			// Theirs, the legacy way: r0, POST without txn id, token in the query.
			te, tr := theirEvs[0], theirReqs[0]
			for _, flag := range []string{sendertest.LegacyR0, sendertest.LegacyPostWithoutTxn, sendertest.LegacyQueryToken} {
				if !slices.Contains(te.Legacy, flag) || !slices.Contains(tr.Legacy, flag) {
					t.Errorf("stock sender: legacy flag %q not recorded (event %v, request %v)", flag, te.Legacy, tr.Legacy)
				}
			}
			if tr.Method != "POST" || !strings.HasPrefix(tr.Path, "/_matrix/client/r0/rooms/") || !strings.Contains(tr.Path, "access_token=REDACTED") || te.TxnID != "" {
				t.Errorf("stock sender request: %s %s, txn %q", tr.Method, tr.Path, te.TxnID)
			}
			// Ours: v3, PUT with a txn id, token in the header.
			if oe := ourEvs[0]; len(oe.Legacy) > 0 || oe.TxnID == "" {
				t.Errorf("matrix-notify event: legacy %v, txn %q", oe.Legacy, oe.TxnID)
			}
			assertModernRequests(t, ourReqs)
			if p, _ := url.PathUnescape(tr.Path); !strings.Contains(p, stockRoom) {
				t.Errorf("stock request went to %s", tr.Path)
			}

			// Fields only ours sets differently, with the reason.
			msgtype := "m.text" // a WARNING or CRITICAL notifies the room; the stock sender's m.notice never does
			if a.status == "CLEAR" {
				msgtype = "m.notice"
			}
			oursOnly := map[string]any{
				"msgtype":    msgtype,
				"m.mentions": map[string]any{}, // always present: body-text mention rules are gone since Matrix v1.17
			}
			compareWithStock(t, te.Content, ourEvs[0].Content, stockDiffs(a, gotoURL1(registry, a)), oursOnly)
		})
	}

	// The 2.x layout, against the same real 1.37 script given the 1.x argv of
	// the same transition: what differs is exactly what master's send_matrix
	// changed (src/health/notifications/alarm-notify.sh.in): the chart
	// without "(family)", ${alarm} from the summary, master's goto_url.
	t.Run("2.x argv: master's text", func(t *testing.T) {
		const summary = "Disk space of / is running out"
		a := diskTransitions("54")[1]
		nStock, nOurs := len(hs.Events(stockRoom)), len(hs.Events(ourRoom))
		theirs := h.exec(t, "alarm-notify.sh", a.args()...)
		ours := h.exec(t, "matrix-notify", a.args2(summary)...)
		theirEvs, ourEvs := newEvents(hs, stockRoom, nStock), newEvents(hs, ourRoom, nOurs)
		if theirs.code != 0 || ours.code != 0 || len(theirEvs) != 1 || len(ourEvs) != 1 {
			t.Fatalf("exit %d and %d, %d and %d events\n%s\n%s", theirs.code, ours.code, len(theirEvs), len(ourEvs), theirs.stderr, ours.stderr)
		}
		ourURL := regexp.MustCompile(`https?://\S+`).FindString(decodeContent(t, ourEvs[0]).Body)
		if !strings.Contains(ourURL, "transition_id=t-"+a.uniqueID) {
			t.Errorf("want master's goto_url (with the transition id), got %q", ourURL)
		}
		stockURL := gotoURL1(registry, a)
		const master = "master's send_matrix prints the chart alone (2.x has no family), ${alarm} from the summary, and its own goto_url"
		alarm1Text, alarm2Text := strings.ReplaceAll(a.name, "_", " ")+" = "+a.valueString, summary+" = "+a.valueString
		diffs := []stockDiff{
			{"body", " " + a.chart + " (" + a.family + ") " + stockURL + " " + alarm1Text + " ",
				" " + a.chart + " " + ourURL + " " + alarm2Text + " ", master},
			{"formatted_body", "<br>" + a.chart + " (" + a.family + ")<br>", "<br>" + a.chart + "<br>", master},
			{"formatted_body", `href="` + stockURL + `">` + alarm1Text + "<", `href="` + html.EscapeString(ourURL) + `">` + alarm2Text + "<",
				master + "; and we HTML-escape the href"},
		}
		diffs = append(diffs, stockDiffs(a, stockURL)[:2]...) // the totals line
		compareWithStock(t, theirEvs[0].Content, ourEvs[0].Content, diffs,
			map[string]any{"msgtype": "m.text", "m.mentions": map[string]any{}})
	})

	t.Run("info with quote and backslash: stock refused and lost, ours delivered", func(t *testing.T) {
		info := `the "/" filesystem is full, see C:\data\logs`
		theirs, ours, theirEvs, ourEvs, theirReqs, _ := run(t, hostileAlarm("53", info))
		if theirs.code != 1 || !strings.Contains(theirs.stderr, "failed to send Matrix notification") ||
			!strings.Contains(theirs.stderr, "with HTTP response status code 400") {
			t.Errorf("alarm-notify.sh: exit %d, want 1 (nothing sent) after an HTTP 400\n%s", theirs.code, theirs.stderr)
		}
		if len(theirReqs) != 1 || theirReqs[0].Status != 400 || theirReqs[0].Method != "POST" {
			t.Errorf("stock requests: %+v, want one POST answered 400", theirReqs)
		}
		if len(theirEvs) != 0 {
			t.Errorf("stock room got %d events, want none: the alert is lost", len(theirEvs))
		}
		if ours.code != 0 || len(ourEvs) != 1 {
			t.Fatalf("matrix-notify: exit %d, %d events, want 0 and 1\n%s", ours.code, len(ourEvs), ours.stderr)
		}
		c := decodeContent(t, ourEvs[0])
		if !strings.Contains(c.Body, " "+info) || !strings.Contains(c.FormattedBody, "<i>"+html.EscapeString(info)+"</i>") {
			t.Errorf("info not carried intact: %+v", c)
		}
	})
}

// compareWithStock compares the stock sender's content with ours field by
// field, after the documented differences.
// oursOnly names fields whose value is ours by design (not the stock one):
// they must equal the given value.
func compareWithStock(t *testing.T, theirRaw, ourRaw json.RawMessage, diffs []stockDiff, oursOnly map[string]any) {
	t.Helper()
	var theirs, ours map[string]any
	if err := json.Unmarshal(theirRaw, &theirs); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ourRaw, &ours); err != nil {
		t.Fatal(err)
	}
	normalised := map[string]string{}
	for _, d := range diffs {
		tv, _ := theirs[d.field].(string)
		ov, _ := ours[d.field].(string)
		if cur, ok := normalised[d.field]; ok {
			tv = cur
		}
		if strings.Count(tv, d.theirs) != 1 || strings.Count(ov, d.ours) != 1 {
			t.Errorf("documented difference in %s no longer holds (%s):\n want stock to hold %q once: %q\n want ours to hold %q once: %q",
				d.field, d.why, d.theirs, tv, d.ours, ov)
			continue
		}
		normalised[d.field] = strings.Replace(tv, d.theirs, d.ours, 1)
	}
	var keys []string
	for k := range theirs {
		keys = append(keys, k)
	}
	for k := range ours {
		if _, ok := theirs[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		tv, ov := theirs[k], ours[k]
		if want, ok := oursOnly[k]; ok {
			if !reflect.DeepEqual(ov, want) {
				t.Errorf("%q: ours %#v, want %#v", k, ov, want)
			}
			continue
		}
		if s, ok := normalised[k]; ok {
			tv = s
		}
		if tv != ov {
			t.Errorf("new difference in %q:\n stock (after the documented differences): %#v\n                                    ours: %#v", k, tv, ov)
		}
	}
}

// TestRealScriptTestModeSideBySide: installed next to netdata 1.37's
// alarm-notify.sh, `matrix-notify test` sends what `alarm-notify.sh test`
// sends: 1.37's test alarms (family "test.family", shown as
// "test.chart (test.family)"), with 1.37's links (the registry's
// goto-host-from-alarm.html), differing only as documented.
func TestRealScriptTestModeSideBySide(t *testing.T) {
	const stockRoom, ourRoom = "!stock:hs.test", "!ours:hs.test"
	hs := sendertest.New(sendertest.Options{Joined: []string{stockRoom, ourRoom}})
	defer hs.Close()
	h := newRealHome(t, confFor(hs, stockRoom))
	h.writeTOML(t, fmt.Sprintf("[matrix]\nrooms = [%q]\nlifecycle = \"none\"\n", ourRoom))

	theirs := h.exec(t, "alarm-notify.sh", "test")
	ours := h.exec(t, "matrix-notify", "test")
	if theirs.code != 0 || ours.code != 0 {
		t.Fatalf("exit codes: alarm-notify.sh test %d, matrix-notify test %d\n%s\n%s", theirs.code, ours.code, theirs.stderr, ours.stderr)
	}
	theirEvs, ourEvs := hs.Events(stockRoom), hs.Events(ourRoom)
	if len(theirEvs) != 3 || len(ourEvs) != 3 {
		t.Fatalf("%d and %d events, want 3 and 3", len(theirEvs), len(ourEvs))
	}
	// Each run of the test alarm takes its own $(date +%s).
	when := regexp.MustCompile(`alarm_when=[0-9]+`)
	norm := func(raw json.RawMessage) json.RawMessage {
		return json.RawMessage(when.ReplaceAll(raw, []byte("alarm_when=WHEN")))
	}
	for i, status := range []string{"WARNING", "CRITICAL", "CLEAR"} {
		t.Run(status, func(t *testing.T) {
			tc, oc := decodeContent(t, theirEvs[i]), decodeContent(t, ourEvs[i])
			if !strings.Contains(tc.Body, "test.chart (test.family)") || !strings.Contains(oc.Body, "test.chart (test.family)") {
				t.Errorf("want 1.37's \"test.chart (test.family)\" in both:\n stock %q\n ours  %q", tc.Body, oc.Body)
			}
			if !strings.Contains(oc.Body, "/goto-host-from-alarm.html?") {
				t.Errorf("want 1.37's registry link, got %q", oc.Body)
			}
			gotoURL := when.ReplaceAllString(strings.Fields(tc.Body[strings.Index(tc.Body, "http"):])[0], "alarm_when=WHEN")
			diffs := []stockDiff{{"formatted_body", `href="` + gotoURL + `"`, `href="` + html.EscapeString(gotoURL) + `"`,
				"we HTML-escape every value, the href too"}}
			msgtype := "m.text"
			if status == "CLEAR" {
				msgtype = "m.notice"
			}
			compareWithStock(t, norm(theirEvs[i].Content), norm(ourEvs[i].Content), diffs,
				map[string]any{"msgtype": msgtype, "m.mentions": map[string]any{}})
		})
	}
}

func TestRealScriptWrapper(t *testing.T) {
	const room = "!wrapped:hs.test"
	hs := sendertest.New(sendertest.Options{Joined: []string{room}})
	defer hs.Close()
	// Recipients in health_alarm_notify.conf, homeserver and token only in
	// matrix-notify.toml: the stock Matrix sender stays off.
	h := newRealHome(t, fmt.Sprintf("DEFAULT_RECIPIENT_MATRIX=%q\n", room))
	h.writeTOML(t, fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token = %q\n", hs.URL(), hs.Token()))
	installExecutable(t, filepath.Join("..", "scripts", "alarm-notify-with-matrix.sh"), filepath.Join(h.plugins, "alarm-notify-with-matrix.sh"))
	args := diskTransitions("62")[1].args()

	r := h.exec(t, "alarm-notify-with-matrix.sh", args...)
	if r.code != 0 {
		t.Fatalf("wrapper exit %d, want 0\n%s", r.code, r.stderr)
	}
	if cs := eventContents(t, hs, room); len(cs) != 1 || !strings.HasPrefix(cs[0].Body, "🔴 web01 is critical") {
		t.Fatalf("want our one message, got %+v", cs)
	}
	// Every request is ours (v3, PUT): the stock script sent nothing to
	// Matrix. Without a token it has no method left at all, and says so.
	if reqs := hs.Requests(); len(reqs) != 1 {
		t.Errorf("%d requests, want 1", len(reqs))
	}
	assertModernRequests(t, hs.Requests())
	if !strings.Contains(r.stderr, "alarm-notify.sh: FATAL: All notification methods are disabled") ||
		!strings.Contains(r.stderr, "matrix-notify: INFO: sent Matrix notification alarm=\"web01 disk_space._.disk_space_usage is CRITICAL\" room="+room) {
		t.Errorf("want the stock script's and our log lines:\n%s", r.stderr)
	}
	assertNoToken(t, hs.Token(), r.stdout, r.stderr)

	t.Run("configuration error in matrix-notify.toml: kept, exit 3", func(t *testing.T) {
		h.writeTOML(t, "[matrix]\nhomeserver = \n")
		before := len(hs.Requests())
		r := h.exec(t, "alarm-notify-with-matrix.sh", args...)
		if r.code != 3 || !strings.Contains(r.stderr, "matrix-notify.toml:2") || !strings.Contains(r.stderr, "notifications kept, not sent") {
			t.Fatalf("wrapper exit %d, want 3 (kept) with the file and line\n%s", r.code, r.stderr)
		}
		if n := len(hs.Requests()) - before; n != 0 {
			t.Errorf("%d requests sent", n)
		}
	})
}
