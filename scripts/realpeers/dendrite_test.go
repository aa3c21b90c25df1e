package realpeers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// TestLogin: `login` with the password on stdin writes a working token into
// the TOML file, on a stable device; logging in again reuses the device, and
// Dendrite v0.13.8 revokes the device's old token (the test fails if it does
// not: it would no longer test anything), login says so, and the copy of the
// old token left in health_alarm_notify.conf is updated or named (issue 13
// item 9).
func TestLogin(t *testing.T) {
	need(t)
	s := newSite(t)
	cfg := filepath.Join(s.user, "matrix-notify.toml")
	login := func() (token, device string) {
		t.Helper()
		r := s.must(0, password+"\n", "login", "--homeserver", env.hs.URL, "--user", botName, "--config", cfg)
		if strings.Contains(r.stdout+r.stderr, password) {
			t.Errorf("login echoed the password:\n%s", r)
		}
		var fc struct {
			Matrix struct {
				Homeserver  string `toml:"homeserver"`
				AccessToken string `toml:"access_token"`
			} `toml:"matrix"`
		}
		if _, err := toml.DecodeFile(cfg, &fc); err != nil {
			t.Fatal(err)
		}
		if fc.Matrix.AccessToken == "" || fc.Matrix.Homeserver == "" {
			t.Fatalf("login wrote no homeserver or token in %s:\n%s", cfg, r)
		}
		if st, err := os.Stat(cfg); err != nil || st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, want no access for others", cfg, st.Mode().Perm())
		}
		c, err := mautrix.NewClient(fc.Matrix.Homeserver, "", fc.Matrix.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		who, err := c.Whoami(context.Background())
		if err != nil {
			t.Fatalf("whoami with the saved token: %v", err)
		}
		if who.UserID != id.UserID(userID(botName)) {
			t.Errorf("logged in as %s, want %s", who.UserID, userID(botName))
		}
		return fc.Matrix.AccessToken, string(who.DeviceID)
	}
	token1, dev1 := login()
	if dev1 == "" {
		t.Fatal("no device id")
	}
	// The admin copies the token into netdata's conf, as tutorials do.
	conf := s.healthConf(token1, "")
	r := s.must(0, password+"\n", "login", "--homeserver", env.hs.URL, "--user", botName, "--config", cfg)
	token2, dev2 := tokenAndDevice(t, cfg)
	if dev2 != dev1 {
		t.Errorf("second login made device %s, want the same device %s", dev2, dev1)
	}
	c, _ := mautrix.NewClient(env.hs.URL, "", env.botToken)
	devs, err := c.GetDevicesInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range devs.Devices {
		if string(d.DeviceID) == dev1 {
			n++
		}
	}
	if n != 1 {
		t.Errorf("device %s listed %d times", dev1, n)
	}

	if token2 == token1 {
		t.Fatalf("the second login kept the same token")
	}
	// Dendrite v0.13.8 (the pinned version) deletes the device's old
	// access token when the device logs in again: that is why login must
	// see to the copies. Were the first token still accepted, this test
	// would no longer exercise item 9, so it fails rather than pass.
	old, _ := mautrix.NewClient(env.hs.URL, "", token1)
	if _, err := old.Whoami(context.Background()); err == nil {
		t.Fatalf("Dendrite still accepts the first token after the same device logged in again; v0.13.8 revokes it")
	} else if !errors.Is(err, mautrix.MUnknownToken) {
		t.Errorf("whoami with the first token: %v, want M_UNKNOWN_TOKEN", err)
	}
	if !strings.Contains(r.stderr+r.stdout, "revoke") {
		t.Errorf("login does not say that the homeserver revoked the old token:\n%s", r)
	}
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case strings.Contains(string(data), token2):
		// Updated: the copy holds the new token (whoami above accepts it).
		if strings.Contains(string(data), token1) {
			t.Errorf("%s holds the new token and still the revoked one", conf)
		}
	case strings.Contains(r.stderr+r.stdout, conf):
		// Named: the admin is told which file holds the revoked token.
	default:
		t.Errorf("the old token in %s no longer works, and login neither updated it nor named it:\n%s", conf, r)
	}
}

// tokenAndDevice is the token in cfg and its device.
func tokenAndDevice(t *testing.T, cfg string) (string, string) {
	t.Helper()
	dev, cli := whoamiDevice(t, cfg)
	return cli.AccessToken, string(dev)
}

// TestExecRooms: doctor, then one alarm from netdata's exec to a joined room,
// an alias and an invite-only room the bot was only invited to (auto_join);
// a re-run posts nothing; the CLEAR follows in the alert's thread as an
// m.notice while the CRITICAL is an m.text.
func TestExecRooms(t *testing.T) {
	need(t)
	r := newReader(t)
	joined := r.room(roomOpts{botJoined: true})
	aliased := r.room(roomOpts{alias: "ops-" + strings.ToLower(t.Name()), botJoined: true})
	invited := r.room(roomOpts{botInvite: true})
	alias := "#ops-" + strings.ToLower(t.Name()) + ":" + serverName
	s := newSite(t)
	s.healthConf(env.botToken, strings.Join([]string{string(joined), alias, string(invited)}, " "))

	doc := s.run("", "doctor")
	if doc.code != 0 {
		t.Errorf("doctor: want exit 0 for rooms that can all receive (one by auto_join), got %s", doc)
	}
	for _, room := range []string{string(joined), alias, string(invited)} {
		if !strings.Contains(doc.stdout+doc.stderr, room) {
			t.Errorf("doctor does not mention %s:\n%s", room, doc)
		}
	}

	a := newAlarm(101, "disk_space_usage")
	s.must(0, "", a.args()...)
	s.must(0, "", a.args()...) // netdata ran it twice: nothing more is posted
	clear := a.transition("CLEAR")
	s.must(0, "", clear.args()...)

	for _, room := range []id.RoomID{joined, aliased, invited} {
		msgs := r.expectMessages(room, 2)
		if len(msgs) != 2 {
			continue
		}
		raise, cleared := msgs[0], msgs[1]
		if !strings.Contains(raise.Body, "disk space usage") || !strings.Contains(raise.Body, "web01") {
			t.Errorf("%s: raise body %q lacks the alarm or the host", room, raise.Body)
		}
		if raise.MsgType != "m.text" || cleared.MsgType != "m.notice" {
			t.Errorf("%s: msgtypes %s, %s; want m.text for CRITICAL, m.notice for CLEAR", room, raise.MsgType, cleared.MsgType)
		}
		if cleared.RelatesTo == nil || cleared.RelatesTo.RelType != "m.thread" || cleared.RelatesTo.EventID != string(raise.ID) {
			t.Errorf("%s: the CLEAR is not in the CRITICAL's thread: %s", room, cleared.Raw)
		}
	}
	members, err := r.c.JoinedMembers(context.Background(), invited)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := members.Joined[id.UserID(userID(botName))]; !ok {
		t.Errorf("the bot did not join the room it was invited to")
	}
}

// TestTestCommand: `matrix-notify test` sends the three test alarms of the
// alarm-notify.sh installed next to it to the role's rooms, and what the
// reader gets is word for word that script's test mode (as the README and
// testdata/netdata/test-mode say): netdata 1.37's when 1.37's alarm-notify.sh
// is next to the binary, master's when there is none. The contents must also
// be what `test --dry-run` prints: nothing is changed on the way.
func TestTestCommand(t *testing.T) {
	need(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		script string // alarm-notify.sh next to the binary, "" for none
		v137   bool
	}{
		// ScriptLayout reads 1.37's family line; the script is never run.
		{"next to alarm-notify.sh 1.37", "#!/usr/bin/env bash\nfamily=\"${9}\"              # the family of the chart\n", true},
		{"no alarm-notify.sh (master's test alarms)", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, room, s := roomSite(t, roomOpts{botJoined: true})
			bin := installedNextTo(t, s, tc.script)
			want := testAlarmContents(host, "https://netdata.example.org:19999", tc.v137)
			res := s.runBin(bin, nil, "", "test")
			if res.code != 0 {
				t.Fatalf("test: %s", res)
			}
			for _, status := range []string{"WARNING", "CRITICAL", "CLEAR"} {
				if !strings.Contains(res.stderr, "sending test alarm status="+status+" role=sysadmin") {
					t.Errorf("test does not log its %s test alarm:\n%s", status, res)
				}
			}
			dry := s.runBin(bin, nil, "", "test", "--dry-run")
			if dry.code != 0 {
				t.Fatalf("test --dry-run: %s", dry)
			}
			var printed []testContent
			for _, line := range strings.Split(strings.TrimSpace(dry.stdout), "\n") {
				var req struct {
					Room    string      `json:"room"`
					Content testContent `json:"content"`
				}
				if err := json.Unmarshal([]byte(line), &req); err != nil {
					t.Fatalf("test --dry-run printed %q: %v", line, err)
				}
				if req.Room != string(room) {
					t.Errorf("test --dry-run would send to %s, want %s", req.Room, room)
				}
				printed = append(printed, req.Content.normalised())
			}

			msgs := r.expectMessages(room, 3)
			if len(msgs) != 3 {
				return
			}
			for i, status := range []string{"WARNING", "CRITICAL", "CLEAR"} {
				got := testContent{MsgType: msgs[i].MsgType, Body: msgs[i].Body, Format: msgs[i].Format, FormattedBody: msgs[i].FormattedBody}.normalised()
				if got != want[i] {
					t.Errorf("%s test alarm as read back differs from alarm-notify.sh's test mode:\n got %+v\nwant %+v", status, got, want[i])
				}
				if len(printed) == 3 && got != printed[i] {
					t.Errorf("%s test alarm as read back differs from what test --dry-run prints:\n got %+v\n dry %+v", status, got, printed[i])
				}
			}
			if len(printed) != 3 {
				t.Errorf("test --dry-run printed %d requests, want 3:\n%s", len(printed), dry)
			}
		})
	}
}

// testContent is what a test alarm's message says, its alarm_when (each
// run's $(date +%s)) replaced by WHEN.
type testContent struct {
	MsgType       string `json:"msgtype"`
	Body          string `json:"body"`
	Format        string `json:"format"`
	FormattedBody string `json:"formatted_body"`
}

var alarmWhen = regexp.MustCompile(`alarm_when=[0-9]+`)

func (c testContent) normalised() testContent {
	c.Body = alarmWhen.ReplaceAllString(c.Body, "alarm_when=WHEN")
	c.FormattedBody = alarmWhen.ReplaceAllString(c.FormattedBody, "alarm_when=WHEN")
	return c
}

// testAlarmContents is the WARNING, CRITICAL and CLEAR messages of
// alarm-notify.sh's test mode, written out from the scripts' send_matrix
// (netdata 1.37.1's, or master's), with matrix-notify's documented
// differences: the HTML escapes the link's &, CRITICAL and WARNING are
// m.text.
func testAlarmContents(host, registry string, v137 bool) []testContent {
	var out []testContent
	for i, st := range []struct{ status, head, msgtype string }{
		{"WARNING", "⚠️ " + host + " needs attention", "m.text"},
		{"CRITICAL", "🔴 " + host + " is critical", "m.text"},
		{"CLEAR", "✅ " + host + " recovered", "m.notice"},
	} {
		query := "host=" + host + "&chart=test.chart&family=test.family&alarm=test_alarm&alarm_unique_id=1&alarm_id=1&alarm_event_id=" +
			fmt.Sprint(i+1) + "&alarm_when=WHEN&alarm_status=" + st.status + "&alarm_chart=test.chart&alarm_value=new%20value"
		link, chart, summary := registry+"/goto-host-from-alarm.html?"+query, "test.chart (test.family)", "test alarm"
		if !v137 {
			query = strings.Replace(query, "&family=test.family", "", 1)
			link = registry + "/registry-alert-redirect.html?agent_machine_guid=&host_machine_guid=&transition_id=&" + query
			chart, summary = "test.chart", "a test alarm"
		}
		linkText := summary + " = new value"
		if st.status == "CLEAR" {
			linkText = summary + " (alarm was raised for 3 seconds)"
		}
		const info = "this is a test alarm to verify notifications work"
		out = append(out, testContent{
			MsgType:       st.msgtype,
			Body:          st.head + " - test alarm " + chart + " " + link + " " + linkText + " " + info,
			Format:        "org.matrix.custom.html",
			FormattedBody: st.head + " - <b>test alarm</b><br>" + chart + "<br><a href=\"" + html.EscapeString(link) + "\">" + linkText + "</a><br><i>" + info + "</i>",
		})
	}
	return out
}

// TestHostileText: what netdata passes is shown literally: the plain body
// holds it as given, the HTML body is valid, uses only tags Matrix allows, and
// shows the same text.
func TestHostileText(t *testing.T) {
	need(t)
	r, room, s := roomSite(t, roomOpts{botJoined: true})
	hostile := `<script>alert("x")</script> <img src=x onerror=alert(1)> </b></i> & "quoted" \ $(id) %s {{ x }} ünï 🔥`
	a := newAlarm(201, "hostile_alarm")
	a.info = hostile
	a.host = `web<01>&"`
	s.must(0, "", a.args()...)
	msgs := r.expectMessages(room, 1)
	if len(msgs) != 1 {
		return
	}
	m := msgs[0]
	if !strings.Contains(m.Body, hostile) {
		t.Errorf("plain body does not hold the info literally:\n got %q\nwant it to contain %q", m.Body, hostile)
	}
	if m.Format != "org.matrix.custom.html" {
		t.Fatalf("format %q", m.Format)
	}
	checkMatrixHTML(t, m.FormattedBody)
	if text := htmlText(t, m.FormattedBody); !strings.Contains(text, hostile) {
		t.Errorf("HTML body does not show the info literally:\n got text %q\nwant it to contain %q", text, hostile)
	}
}

// TestMsgtypesAndMentions: per-severity msgtype and mentions from the TOML
// file; the mentioned user is notified with a highlight on Dendrite
// (issue 13 item 5: Dendrite has no m.mentions push rules).
func TestMsgtypesAndMentions(t *testing.T) {
	need(t)
	r, room, s := roomSite(t, roomOpts{botJoined: true, oncall: true})
	s.toml(`[matrix]
msgtype = { warning = "m.notice" }
mention_on_critical = ["` + userID(oncallName) + `"]
`)
	warn := newAlarm(301, "load_average")
	warn.status, warn.oldStatus = "WARNING", "CLEAR"
	s.must(0, "", warn.args()...)
	crit := newAlarm(302, "ram_in_use")
	s.must(0, "", crit.args()...)
	msgs := r.expectMessages(room, 2)
	if len(msgs) != 2 {
		return
	}
	w, c := msgs[0], msgs[1]
	if w.MsgType != "m.notice" {
		t.Errorf("WARNING with msgtype.warning = m.notice: got %s", w.MsgType)
	}
	if c.MsgType != "m.text" {
		t.Errorf("CRITICAL: msgtype %s, want m.text", c.MsgType)
	}
	if c.Mentions == nil || !slices.Contains(c.Mentions.UserIDs, userID(oncallName)) {
		t.Errorf("CRITICAL: m.mentions lacks %s: %s", userID(oncallName), c.Raw)
	}
	if w.Mentions != nil && len(w.Mentions.UserIDs) > 0 {
		t.Errorf("WARNING mentions %v; only critical was configured", w.Mentions.UserIDs)
	}
	notified, highlight := highlighted(t, r.oncall, c.ID)
	if !highlight {
		t.Errorf("the mentioned user got no highlight for the CRITICAL (notified: %v)", notified)
	}
}

// TestRoomErrors: a room the bot may not post in (never invited) and a room
// that does not exist give the same actionable hint on Dendrite as on
// Synapse (issue 13 item 3), and exit 3.
func TestRoomErrors(t *testing.T) {
	need(t)
	r := newReader(t)
	uninvited := r.room(roomOpts{})
	s := newSite(t)
	for _, tc := range []struct{ name, room string }{
		{"not invited", string(uninvited)},
		{"no such room", "!doesnotexist:" + serverName},
	} {
		room := tc.room
		t.Run(tc.name, func(t *testing.T) {
			s.healthConf(env.botToken, room)
			a := newAlarm(401, "room_error")
			res := s.run("", a.args()...)
			if res.code != 3 {
				t.Errorf("want exit 3, got %s", res)
			}
			doc := s.run("", "doctor")
			if doc.code != 3 || !strings.Contains(doc.stdout+doc.stderr, room) {
				t.Errorf("doctor: want exit 3 naming %s, got %s", room, doc)
			}
			if !strings.Contains(res.stderr, "invite") {
				t.Errorf("no actionable hint (invite the bot) for %s:\n%s", room, res)
			}
		})
	}
}
