package sendertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"matrix-notify/sender"
)

const (
	room   = "!abc:hs.test"
	bearer = "Bearer " + DefaultToken
)

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r response) errcode() string { s, _ := r.body["errcode"].(string); return s }

// do sends one request. auth is the whole Authorization header; "" sends none.
func do(t *testing.T, s *Server, method, path, body, auth string) response {
	t.Helper()
	r, err := doErr(context.Background(), s, method, path, body, auth)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func doErr(ctx context.Context, s *Server, method, path, body, auth string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL()+path, rd)
	if err != nil {
		return response{}, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	json.Unmarshal(raw, &out.body) // error bodies from a "proxy" are HTML
	return out, nil
}

func sendPath(room, txn string) string {
	return "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/send/m.room.message/" + url.PathEscape(txn)
}

const msg = `{"msgtype":"m.notice","body":"disk full"}`

func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Joined == nil {
		opts.Joined = []string{room}
	}
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name, path, auth string
		status           int
		errcode          string
		legacy           []string
	}{
		{"bearer", sendPath(room, "t1"), bearer, 200, "", nil},
		{"missing", sendPath(room, "t2"), "", 401, "M_MISSING_TOKEN", nil},
		{"wrong", sendPath(room, "t3"), "Bearer nope", 401, "M_UNKNOWN_TOKEN", nil},
		{"not bearer", sendPath(room, "t4"), "Basic " + DefaultToken, 401, "M_MISSING_TOKEN", nil},
		{"query token", sendPath(room, "t5") + "?access_token=" + DefaultToken, "", 200, "", []string{LegacyQueryToken}},
		{"wrong query token", sendPath(room, "t6") + "?access_token=nope", "", 401, "M_UNKNOWN_TOKEN", []string{LegacyQueryToken}},
		{"header and query", sendPath(room, "t7") + "?access_token=" + DefaultToken, bearer, 401, "M_MISSING_TOKEN", []string{LegacyQueryToken}},
		{"whoami wrong", "/_matrix/client/v3/account/whoami", "Bearer nope", 401, "M_UNKNOWN_TOKEN", nil},
		{"join missing", "/_matrix/client/v3/join/" + url.PathEscape(room), "", 401, "M_MISSING_TOKEN", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{})
			method := http.MethodPut
			if strings.Contains(tt.path, "/join/") {
				method = http.MethodPost
			} else if strings.Contains(tt.path, "whoami") {
				method = http.MethodGet
			}
			body := msg
			if method == http.MethodGet {
				body = ""
			}
			r := do(t, s, method, tt.path, body, tt.auth)
			if r.status != tt.status || r.errcode() != tt.errcode {
				t.Fatalf("got %d %q, want %d %q (%s)", r.status, r.errcode(), tt.status, tt.errcode, r.raw)
			}
			if want := tt.status == 200 && method == http.MethodPut; (len(s.AllEvents()) == 1) != want {
				t.Errorf("events = %d, want event: %v", len(s.AllEvents()), want)
			}
			reqs := s.Requests()
			if len(reqs) != 1 || reqs[0].Status != tt.status || !slices.Equal(reqs[0].Legacy, tt.legacy) {
				t.Fatalf("requests = %+v, want status %d legacy %v", reqs, tt.status, tt.legacy)
			}
			if strings.Contains(reqs[0].Path, DefaultToken) || strings.Contains(reqs[0].Path, "nope") {
				t.Errorf("token not redacted: %s", reqs[0].Path)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	u, _ := url.Parse("/p?a=1&access_token=secret&b=2&access%5Ftoken=x")
	if got, want := redact(u), "/p?a=1&access_token=REDACTED&b=2&access_token=REDACTED"; got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
}

func TestSendErrors(t *testing.T) {
	big := `{"msgtype":"m.text","body":"` + strings.Repeat("x", MaxEventSize) + `"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		errcode                  string
	}{
		{"ok", "PUT", sendPath(room, "a"), msg, 200, ""},
		{"not json", "PUT", sendPath(room, "a"), `{"body":`, 400, "M_NOT_JSON"},
		{"empty body", "PUT", sendPath(room, "a"), "", 400, "M_NOT_JSON"},
		{"trailing garbage", "PUT", sendPath(room, "a"), `{} x`, 400, "M_NOT_JSON"},
		{"invalid utf8", "PUT", sendPath(room, "a"), "{\"body\":\"\xff\"}", 400, "M_NOT_JSON"},
		{"array", "PUT", sendPath(room, "a"), `[]`, 400, "M_BAD_JSON"},
		{"null", "PUT", sendPath(room, "a"), `null`, 400, "M_BAD_JSON"},
		{"string", "PUT", sendPath(room, "a"), `"x"`, 400, "M_BAD_JSON"},
		{"float", "PUT", sendPath(room, "a"), `{"n":1.5}`, 400, "M_BAD_JSON"},
		{"int out of range", "PUT", sendPath(room, "a"), `{"a":[{"n":9007199254740992}]}`, 400, "M_BAD_JSON"},
		{"too large", "PUT", sendPath(room, "a"), big, 413, "M_TOO_LARGE"},
		{"body over 8 MiB", "PUT", sendPath(room, "a"), `{"body":"` + strings.Repeat("x", maxBody) + `"}`, 413, "M_TOO_LARGE"},
		{"not joined", "PUT", sendPath("!other:hs.test", "a"), msg, 403, "M_FORBIDDEN"},
		{"alias not id", "PUT", sendPath("#alias:hs.test", "a"), msg, 400, "M_INVALID_PARAM"},
		{"server appended", "PUT", sendPath("!abc:hs.test:hs.test", "a"), msg, 403, "M_FORBIDDEN"},
		{"put without txn", "PUT", "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/send/m.room.message", msg, 405, "M_UNRECOGNIZED"},
		{"post with txn", "POST", sendPath(room, "a"), msg, 405, "M_UNRECOGNIZED"},
		{"empty txn", "PUT", sendPath(room, ""), msg, 404, "M_UNRECOGNIZED"},
		{"unknown endpoint", "GET", "/_matrix/client/v3/devices", "", 404, "M_UNRECOGNIZED"},
		{"unknown version", "PUT", strings.Replace(sendPath(room, "a"), "/v3/", "/v1/", 1), msg, 404, "M_UNRECOGNIZED"},
		{"double slash", "PUT", "/" + sendPath(room, "a"), msg, 404, "M_UNRECOGNIZED"},
		{"not matrix", "GET", "/.well-known/matrix/server", "", 404, "M_UNRECOGNIZED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{})
			r := do(t, s, tt.method, tt.path, tt.body, bearer)
			if r.status != tt.status || r.errcode() != tt.errcode {
				t.Fatalf("got %d %q, want %d %q (%.200s)", r.status, r.errcode(), tt.status, tt.errcode, r.raw)
			}
			if n := len(s.AllEvents()); (n == 1) != (tt.status == 200) {
				t.Errorf("%d events recorded", n)
			}
			if got := s.Requests(); len(got) != 1 || got[0].Status != tt.status {
				t.Errorf("requests = %+v", got)
			}
		})
	}
}

func TestEventSizeLimit(t *testing.T) {
	s := newServer(t, Options{})
	content := func(n int) string { return `{"msgtype":"m.text","body":"` + strings.Repeat("é", n/2) + `"}` }
	// Content alone well under the limit passes; content that fits only
	// without the event envelope fails, as on Synapse.
	if r := do(t, s, "PUT", sendPath(room, "a"), content(MaxEventSize-1000), bearer); r.status != 200 {
		t.Fatalf("content of %d bytes: %d %s", MaxEventSize-1000, r.status, r.raw)
	}
	if r := do(t, s, "PUT", sendPath(room, "b"), content(MaxEventSize-100), bearer); r.status != 413 || r.errcode() != "M_TOO_LARGE" {
		t.Fatalf("content of %d bytes: %d %s", MaxEventSize-100, r.status, r.errcode())
	}
	// \u escapes count as the raw UTF-8 they stand for, as in canonical JSON.
	escaped := `{"body":"` + strings.Repeat(`\u00e9`, (MaxEventSize-1000)/2) + `"}`
	if r := do(t, s, "PUT", sendPath(room, "c"), escaped, bearer); r.status != 200 {
		t.Fatalf("escaped content: %d %s", r.status, r.errcode())
	}
}

func TestIdempotency(t *testing.T) {
	s := newServer(t, Options{Joined: []string{room, "!two:hs.test"}})
	first := do(t, s, "PUT", sendPath(room, "txn1"), msg, bearer)
	if first.status != 200 || !strings.HasPrefix(first.body["event_id"].(string), "$") {
		t.Fatalf("first send: %d %s", first.status, first.raw)
	}
	id := first.body["event_id"]
	// The same txn id again, even with other (or broken) content, is
	// answered from the cache; an encoded room id or r0 is the same endpoint.
	for _, tc := range []struct{ path, body string }{
		{sendPath(room, "txn1"), msg},
		{sendPath(room, "txn1"), `{"body":"different"}`},
		{sendPath(room, "txn1"), `not json`},
		{"/_matrix/client/v3/rooms/%21abc%3Ahs.test/send/m.room.message/txn1", msg},
		{"/_matrix/client/r0/rooms/!abc:hs.test/send/m.room.message/txn1", msg},
	} {
		r := do(t, s, "PUT", tc.path, tc.body, bearer)
		if r.status != 200 || r.body["event_id"] != id {
			t.Errorf("repeat %s %s: %d %v, want %v", tc.path, tc.body, r.status, r.body["event_id"], id)
		}
	}
	if n := len(s.AllEvents()); n != 1 {
		t.Fatalf("%d events after repeats, want 1", n)
	}
	// Another txn id, another room or another event type is a new event.
	other := []string{
		sendPath(room, "txn2"),
		sendPath("!two:hs.test", "txn1"),
		"/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/send/m.reaction/txn1",
	}
	for _, p := range other {
		if r := do(t, s, "PUT", p, msg, bearer); r.status != 200 || r.body["event_id"] == id {
			t.Errorf("%s: %d %v", p, r.status, r.body["event_id"])
		}
	}
	events := s.AllEvents()
	if len(events) != 4 {
		t.Fatalf("%d events, want 4", len(events))
	}
	e := events[0]
	if e.Room != room || e.TxnID != "txn1" || e.Type != "m.room.message" || e.Sender != DefaultUserID ||
		string(e.Content) != msg || e.Legacy != nil || e.Time.IsZero() {
		t.Errorf("event = %+v", e)
	}
	replays := 0
	for _, r := range s.Requests() {
		if r.Replayed {
			replays++
		}
	}
	if replays != 5 {
		t.Errorf("%d replays recorded, want 5", replays)
	}
	// A failed send is not cached: the same txn id may succeed later.
	s.Leave(room)
	if r := do(t, s, "PUT", sendPath(room, "txn9"), msg, bearer); r.status != 403 {
		t.Fatalf("after leave: %d", r.status)
	}
	s.Join(room)
	if r := do(t, s, "PUT", sendPath(room, "txn9"), msg, bearer); r.status != 200 || r.body["event_id"] == nil {
		t.Fatalf("after rejoin: %d %s", r.status, r.raw)
	}
}

func TestRoomIDEncoding(t *testing.T) {
	tests := []struct {
		name, room, path string
	}{
		{"plain", "!abc:hs.test", "/_matrix/client/v3/rooms/!abc:hs.test/send/m.room.message/t"},
		{"encoded", "!abc:hs.test", "/_matrix/client/v3/rooms/%21abc%3Ahs.test/send/m.room.message/t"},
		{"sender.SendPath", "!abc:hs.test", sender.SendPath("!abc:hs.test", "t")},
		{"v12 id", "!3K9uEBOuUzq2EyOtKqHW4R5PYP4s3JRGbBCyeOsxFnE", sender.SendPath("!3K9uEBOuUzq2EyOtKqHW4R5PYP4s3JRGbBCyeOsxFnE", "t")},
		{"v12 id with slash", "!ab/cd+ef", "/_matrix/client/v3/rooms/%21ab%2Fcd%2Bef/send/m.room.message/t"},
		{"encoded txn", "!abc:hs.test", "/_matrix/client/v3/rooms/!abc:hs.test/send/m.room.message/a%2Fb%20c"},
		{"port in server", "!abc:hs.test:8448", sender.SendPath("!abc:hs.test:8448", "t")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{Joined: []string{tt.room}})
			if r := do(t, s, "PUT", tt.path, msg, bearer); r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if ev := s.Events(tt.room); len(ev) != 1 {
				t.Fatalf("events in %s: %+v (all: %+v)", tt.room, ev, s.AllEvents())
			}
			if tt.name == "encoded txn" && s.AllEvents()[0].TxnID != "a/b c" {
				t.Errorf("txn = %q", s.AllEvents()[0].TxnID)
			}
		})
	}
}

func TestSenderContent(t *testing.T) {
	s := newServer(t, Options{})
	m := sender.Messages(sender.Notification{
		Source: "netdata", Identity: "host/disk/1", Rooms: []string{room},
		Content: sender.Content{MsgType: "m.notice", Body: "disk <full>", Format: sender.FormatHTML,
			FormattedBody: "<b>disk</b>", Mentions: &sender.Mentions{}},
	})[0]
	b, _ := json.Marshal(m.Content)
	if r := do(t, s, "PUT", sender.SendPath(m.Room, m.TxnID), string(b), bearer); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	var got sender.Content
	e := s.Events(room)[0]
	if err := json.Unmarshal(e.Content, &got); err != nil || got.Body != "disk <full>" || got.Mentions == nil || e.TxnID != m.TxnID {
		t.Errorf("event %+v: %+v %v", e, got, err)
	}
}

func TestLegacy(t *testing.T) {
	s := newServer(t, Options{})
	// Netdata 1.37's alarm-notify.sh: POST r0 without txn, token in the query.
	netdata := "/_matrix/client/r0/rooms/" + url.PathEscape(room) + "/send/m.room.message?access_token=" + DefaultToken
	for range 2 {
		if r := do(t, s, "POST", netdata, msg, ""); r.status != 200 {
			t.Fatalf("netdata 1.37: %d %s", r.status, r.raw)
		}
	}
	// Netdata master: PUT r0 with a txn id and the header.
	if r := do(t, s, "PUT", "/_matrix/client/r0/rooms/"+url.PathEscape(room)+"/send/m.room.message/rnd", msg, bearer); r.status != 200 {
		t.Fatalf("netdata master: %d", r.status)
	}
	events := s.AllEvents()
	if len(events) != 3 {
		t.Fatalf("%d events, want 3 (POST has no idempotency)", len(events))
	}
	want := [][]string{
		{LegacyQueryToken, LegacyR0, LegacyPostWithoutTxn},
		{LegacyQueryToken, LegacyR0, LegacyPostWithoutTxn},
		{LegacyR0},
	}
	for i, e := range events {
		if !slices.Equal(e.Legacy, want[i]) {
			t.Errorf("event %d legacy = %v, want %v", i, e.Legacy, want[i])
		}
	}
	if events[0].EventID == events[1].EventID || events[0].TxnID != "" {
		t.Errorf("legacy POSTs: %+v", events[:2])
	}
	reqs := s.Requests()
	if p := reqs[0].Path; p != "/_matrix/client/r0/rooms/%21abc:hs.test/send/m.room.message?access_token=REDACTED" {
		t.Errorf("recorded path %q", p)
	}
	if !slices.Equal(reqs[2].Legacy, []string{LegacyR0}) {
		t.Errorf("request legacy = %v", reqs[2].Legacy)
	}
}

func TestJoin(t *testing.T) {
	const (
		invited = "!invited:hs.test"
		public  = "!public:hs.test"
		private = "!private:hs.test"
	)
	join := func(target string) string { return "/_matrix/client/v3/join/" + url.PathEscape(target) }
	tests := []struct {
		name, method, path, body string
		status                   int
		errcode, roomID          string
		canSend                  string // a room that accepts sends afterwards
	}{
		{"invited", "POST", join(invited), `{}`, 200, "", invited, invited},
		{"invited via rooms/join", "POST", "/_matrix/client/v3/rooms/" + url.PathEscape(invited) + "/join", `{}`, 200, "", invited, invited},
		{"invited with via", "POST", join(invited) + "?via=hs.test", `{"reason":"bot"}`, 200, "", invited, invited},
		{"public", "POST", join(public), `{}`, 200, "", public, public},
		{"already joined", "POST", join(room), `{}`, 200, "", room, room},
		{"alias of invited", "POST", join("#inv:hs.test"), `{}`, 200, "", invited, invited},
		{"alias of private", "POST", join("#priv:hs.test"), `{}`, 403, "M_FORBIDDEN", "", ""},
		{"private", "POST", join(private), `{}`, 403, "M_FORBIDDEN", "", ""},
		{"unknown room", "POST", join("!nope:hs.test"), `{}`, 404, "M_NOT_FOUND", "", ""},
		{"unknown alias", "POST", join("#nope:hs.test"), `{}`, 404, "M_NOT_FOUND", "", ""},
		{"not an id", "POST", join("abc"), `{}`, 400, "M_INVALID_PARAM", "", ""},
		{"rooms/join with alias", "POST", "/_matrix/client/v3/rooms/%23inv%3Ahs.test/join", `{}`, 400, "M_INVALID_PARAM", "", ""},
		{"null body", "POST", join(invited), `null`, 400, "M_BAD_JSON", "", ""},
		{"array body", "POST", join(invited), `[]`, 400, "M_BAD_JSON", "", ""},
		{"empty body", "POST", join(invited), ``, 400, "M_NOT_JSON", "", ""},
		{"GET", "GET", join(invited), ``, 405, "M_UNRECOGNIZED", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{
				Invited: []string{invited}, Public: []string{public},
				Aliases: map[string]string{"#inv:hs.test": invited, "#priv:hs.test": private},
			})
			s.AddAlias("#priv:hs.test", private)
			r := do(t, s, tt.method, tt.path, tt.body, bearer)
			if r.status != tt.status || r.errcode() != tt.errcode {
				t.Fatalf("got %d %q, want %d %q (%s)", r.status, r.errcode(), tt.status, tt.errcode, r.raw)
			}
			if tt.roomID != "" && r.body["room_id"] != tt.roomID {
				t.Errorf("room_id = %v, want %s", r.body["room_id"], tt.roomID)
			}
			for _, target := range []string{invited, public, private} {
				want := target == tt.canSend
				if got := do(t, s, "PUT", sendPath(target, "x"), msg, bearer).status == 200; got != want {
					t.Errorf("send to %s succeeds = %v, want %v", target, got, want)
				}
			}
		})
	}
}

func TestInviteLeave(t *testing.T) {
	s := newServer(t, Options{})
	s.Leave(room)
	if r := do(t, s, "PUT", sendPath(room, "a"), msg, bearer); r.status != 403 {
		t.Fatalf("send after leave: %d", r.status)
	}
	if r := do(t, s, "POST", "/_matrix/client/v3/join/"+url.PathEscape(room), `{}`, bearer); r.status != 403 {
		t.Fatalf("join after leave: %d", r.status)
	}
	s.Invite(room)
	if r := do(t, s, "POST", "/_matrix/client/v3/join/"+url.PathEscape(room), `{}`, bearer); r.status != 200 {
		t.Fatalf("join after invite: %d", r.status)
	}
	if r := do(t, s, "PUT", sendPath(room, "a"), msg, bearer); r.status != 200 {
		t.Fatalf("send after join: %d", r.status)
	}
	r := do(t, s, "GET", "/_matrix/client/v3/joined_rooms", "", bearer)
	if rooms, _ := r.body["joined_rooms"].([]any); len(rooms) != 1 || rooms[0] != room {
		t.Errorf("joined_rooms = %s", r.raw)
	}
}

func TestDirectory(t *testing.T) {
	s := newServer(t, Options{Aliases: map[string]string{"#alerts:hs.test": room}})
	tests := []struct {
		name, path string
		status     int
		errcode    string
	}{
		{"plain", "/_matrix/client/v3/directory/room/#alerts:hs.test", 200, ""}, // '#' would start a fragment: see below
		{"encoded", "/_matrix/client/v3/directory/room/%23alerts%3Ahs.test", 200, ""},
		{"r0", "/_matrix/client/r0/directory/room/%23alerts%3Ahs.test", 200, ""},
		{"unknown", "/_matrix/client/v3/directory/room/%23nope%3Ahs.test", 404, "M_NOT_FOUND"},
		{"no server", "/_matrix/client/v3/directory/room/%23alerts", 400, "M_INVALID_PARAM"},
		{"room id", "/_matrix/client/v3/directory/room/" + url.PathEscape(room), 400, "M_INVALID_PARAM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if tt.name == "plain" {
				// An unencoded '#' never reaches a server: the client cuts
				// the fragment and asks for the directory of "", which is
				// unrecognized. This is why ids must be encoded.
				r := do(t, s, "GET", path, "", "")
				if r.status != 404 || r.errcode() != "M_UNRECOGNIZED" {
					t.Fatalf("unencoded alias: %d %s", r.status, r.raw)
				}
				return
			}
			r := do(t, s, "GET", path, "", "") // no token needed
			if r.status != tt.status || r.errcode() != tt.errcode {
				t.Fatalf("got %d %q, want %d %q", r.status, r.errcode(), tt.status, tt.errcode)
			}
			if tt.status == 200 {
				servers, _ := r.body["servers"].([]any)
				if r.body["room_id"] != room || len(servers) != 1 || servers[0] != "hs.test" {
					t.Errorf("answer %s", r.raw)
				}
			}
		})
	}
}

func TestWhoamiVersions(t *testing.T) {
	s := newServer(t, Options{Token: "tok", UserID: "@notify:example.org", DeviceID: "DEV1"})
	r := do(t, s, "GET", "/_matrix/client/v3/account/whoami", "", "Bearer tok")
	if r.status != 200 || r.body["user_id"] != "@notify:example.org" || r.body["device_id"] != "DEV1" {
		t.Errorf("whoami: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "GET", "/_matrix/client/v3/account/whoami", "", bearer); r.status != 401 {
		t.Errorf("whoami with default token on a custom server: %d", r.status)
	}
	r = do(t, s, "GET", "/_matrix/client/versions", "", "")
	vs, _ := r.body["versions"].([]any)
	if r.status != 200 || !slices.Contains(vs, any("r0.6.1")) || !slices.Contains(vs, any("v1.12")) {
		t.Errorf("versions: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "POST", "/_matrix/client/versions", "{}", ""); r.status != 405 {
		t.Errorf("POST versions: %d", r.status)
	}
}

func TestInjectedFaults(t *testing.T) {
	tests := []struct {
		name       string
		fault      Fault
		status     int
		errcode    string
		retryAfter string  // header
		retryMS    float64 // body; 0 = absent
		html       bool
	}{
		{"429 header", RateLimited(1500 * time.Millisecond), 429, "M_LIMIT_EXCEEDED", "2", 0, false},
		{"429 body", RateLimitedBody(1500 * time.Millisecond), 429, "M_LIMIT_EXCEEDED", "", 1500, false},
		{"500", ServerError(500), 500, "M_UNKNOWN", "", 0, false},
		{"502", ServerError(502), 502, "", "", 0, true},
		{"503", ServerError(503), 503, "", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{})
			s.Inject(tt.fault)
			// Faults are only for sends: other endpoints do not use them up.
			do(t, s, "GET", "/_matrix/client/v3/account/whoami", "", bearer)
			r := do(t, s, "PUT", sendPath(room, "a"), msg, bearer)
			if r.status != tt.status || r.errcode() != tt.errcode {
				t.Fatalf("got %d %q, want %d %q (%s)", r.status, r.errcode(), tt.status, tt.errcode, r.raw)
			}
			if got := r.header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if got, _ := r.body["retry_after_ms"].(float64); got != tt.retryMS {
				t.Errorf("retry_after_ms = %v, want %v", got, tt.retryMS)
			}
			if isHTML := strings.HasPrefix(r.header.Get("Content-Type"), "text/html"); isHTML != tt.html {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
			if n := len(s.AllEvents()); n != 0 {
				t.Errorf("faulted send recorded %d events", n)
			}
			if reqs := s.Requests(); reqs[1].Fault != tt.fault.Kind || reqs[1].Status != tt.status || reqs[0].Fault != "" {
				t.Errorf("requests = %+v", reqs)
			}
			// The fault was one-shot: the retry with the same txn id succeeds.
			if r := do(t, s, "PUT", sendPath(room, "a"), msg, bearer); r.status != 200 || len(s.AllEvents()) != 1 {
				t.Errorf("retry: %d, %d events", r.status, len(s.AllEvents()))
			}
		})
	}
}

func TestInjectFIFO(t *testing.T) {
	s := newServer(t, Options{})
	s.Inject(ServerError(503), RateLimitedBody(0), ServerError(500))
	var got []int
	for i := range 4 {
		got = append(got, do(t, s, "PUT", sendPath(room, strconv.Itoa(i)), msg, bearer).status)
	}
	if want := []int{503, 429, 500, 200}; !slices.Equal(got, want) || s.PendingFaults() != 0 {
		t.Errorf("statuses %v, want %v; pending %d", got, want, s.PendingFaults())
	}
}

func TestSlowFault(t *testing.T) {
	s := newServer(t, Options{})
	s.Inject(Slow(100 * time.Millisecond))
	start := time.Now()
	r := do(t, s, "PUT", sendPath(room, "a"), msg, bearer)
	if el := time.Since(start); r.status != 200 || el < 100*time.Millisecond {
		t.Fatalf("slow: %d after %v", r.status, el)
	}
	if reqs := s.Requests(); len(s.AllEvents()) != 1 || reqs[0].Fault != FaultSlow || reqs[0].Status != 200 {
		t.Fatalf("events %d, requests %+v", len(s.AllEvents()), reqs)
	}

	// A client that gives up on a slow answer has still sent the event; its
	// retry with the same txn id gets the same event id and no duplicate.
	s.Inject(Slow(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := doErr(ctx, s, "PUT", sendPath(room, "b"), msg, bearer); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a timeout, got %v", err)
	}
	r = do(t, s, "PUT", sendPath(room, "b"), msg, bearer)
	events := s.AllEvents()
	if r.status != 200 || len(events) != 2 || r.body["event_id"] != events[1].EventID {
		t.Fatalf("retry after timeout: %d %s, events %+v", r.status, r.raw, events)
	}
	waitFor(t, func() bool { return len(s.Requests()) == 3 })
	// Requests are recorded as they are answered: the abandoned one may come
	// after its retry.
	reqs := s.Requests()
	abandoned := slices.IndexFunc(reqs, func(r Request) bool { return r.Status == 0 && r.Fault == FaultSlow })
	replayed := slices.IndexFunc(reqs, func(r Request) bool { return r.Status == 200 && r.Replayed })
	if abandoned < 1 || replayed < 1 {
		t.Errorf("requests = %+v", reqs)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDropFault(t *testing.T) {
	s := newServer(t, Options{})
	s.Inject(Drop())
	_, err := doErr(context.Background(), s, "PUT", sendPath(room, "a"), msg, bearer)
	if err == nil {
		t.Fatal("dropped request got an answer")
	}
	if n := len(s.AllEvents()); n != 0 {
		t.Fatalf("dropped send recorded %d events", n)
	}
	if reqs := s.Requests(); len(reqs) != 1 || reqs[0].Status != 0 || reqs[0].Fault != FaultDrop {
		t.Fatalf("requests = %+v", reqs)
	}
	if r := do(t, s, "PUT", sendPath(room, "a"), msg, bearer); r.status != 200 || len(s.AllEvents()) != 1 {
		t.Fatalf("retry after drop: %d", r.status)
	}
}

// kinds sends n sequential requests and returns the fault (or status) each met.
func kinds(t *testing.T, s *Server, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for i := range n {
		r, err := doErr(context.Background(), s, "PUT", sendPath(room, strconv.Itoa(i)), msg, bearer)
		switch {
		case err != nil:
			out = append(out, "drop")
		case r.status == 429 && r.header.Get("Retry-After") != "":
			out = append(out, "429-header")
		case r.status == 429:
			out = append(out, "429-body")
		default:
			out = append(out, strconv.Itoa(r.status))
		}
	}
	return out
}

func TestFaultRates(t *testing.T) {
	rates := FaultRates{RateLimit: 0.3, ServerError: 0.1, Drop: 0.05, RetryAfter: time.Millisecond}
	run := func() ([]string, *Server) {
		s := newServer(t, Options{Seed: 7})
		s.SetFaultRates(rates)
		return kinds(t, s, 400), s
	}
	a, s := run()
	b, _ := run()
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different faults")
	}
	count := map[string]int{}
	for _, k := range a {
		count[k]++
	}
	t.Logf("counts: %v", count)
	within := func(name string, got, want int) {
		if got < want*6/10 || got > want*14/10 {
			t.Errorf("%s: %d, want about %d", name, got, want)
		}
	}
	within("429", count["429-header"]+count["429-body"], 120)
	within("429-header", count["429-header"], 60)
	within("5xx", count["500"]+count["502"]+count["503"], 40)
	within("drop", count["drop"], 20)
	within("200", count["200"], 220)
	if len(s.AllEvents()) != count["200"] {
		t.Errorf("%d events for %d successes", len(s.AllEvents()), count["200"])
	}
	c, _ := func() ([]string, *Server) {
		s := newServer(t, Options{Seed: 8})
		s.SetFaultRates(rates)
		return kinds(t, s, 400), s
	}()
	if slices.Equal(a, c) {
		t.Error("different seeds, same faults")
	}
	s.SetFaultRates(FaultRates{})
	if k := kinds(t, s, 20); slices.ContainsFunc(k, func(k string) bool { return k != "200" }) {
		t.Errorf("faults after turning them off: %v", k)
	}
}

func TestRateLimit(t *testing.T) {
	s := newServer(t, Options{})
	s.SetRateLimit(2) // a burst of 2, then one every 500ms
	for i := range 2 {
		if r := do(t, s, "PUT", sendPath(room, strconv.Itoa(i)), msg, bearer); r.status != 200 {
			t.Fatalf("send %d within burst: %d", i, r.status)
		}
	}
	r := do(t, s, "PUT", sendPath(room, "x"), msg, bearer)
	ms, _ := r.body["retry_after_ms"].(float64)
	if r.status != 429 || r.errcode() != "M_LIMIT_EXCEEDED" || r.header.Get("Retry-After") != "1" || ms <= 0 || ms > 500 {
		t.Fatalf("over the limit: %d %s Retry-After %q", r.status, r.raw, r.header.Get("Retry-After"))
	}
	if reqs := s.Requests(); reqs[len(reqs)-1].Fault != FaultRateLimit || len(s.AllEvents()) != 2 {
		t.Errorf("last request %+v, %d events", reqs[len(reqs)-1], len(s.AllEvents()))
	}
	// A replay of an accepted txn is answered from the cache, not limited.
	if r := do(t, s, "PUT", sendPath(room, "0"), msg, bearer); r.status != 200 {
		t.Errorf("replay under the limit: %d", r.status)
	}
	time.Sleep(time.Duration(ms) * time.Millisecond)
	if r := do(t, s, "PUT", sendPath(room, "x"), msg, bearer); r.status != 200 {
		t.Errorf("after waiting retry_after_ms: %d %s", r.status, r.raw)
	}
	s.SetRateLimit(0)
	for i := range 20 {
		if r := do(t, s, "PUT", sendPath(room, "y"+strconv.Itoa(i)), msg, bearer); r.status != 200 {
			t.Fatalf("limit off: %d", r.status)
		}
	}
}

func TestDelay(t *testing.T) {
	s := newServer(t, Options{Delay: 60 * time.Millisecond})
	start := time.Now()
	if r := do(t, s, "GET", "/_matrix/client/versions", "", ""); r.status != 200 || time.Since(start) < 60*time.Millisecond {
		t.Fatalf("delayed versions: %d after %v", r.status, time.Since(start))
	}
	// A client that gives up during the delay sent nothing.
	s.SetDelay(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := doErr(ctx, s, "PUT", sendPath(room, "a"), msg, bearer); err == nil {
		t.Fatal("no timeout")
	}
	waitFor(t, func() bool { return len(s.Requests()) == 2 })
	if len(s.AllEvents()) != 0 || s.Requests()[1].Status != 0 {
		t.Errorf("events %+v requests %+v", s.AllEvents(), s.Requests())
	}
	// Admin endpoints are never delayed.
	start = time.Now()
	res, err := http.Get(s.URL() + "/_sendertest/events")
	if err != nil || res.StatusCode != 200 || time.Since(start) > 10*time.Second {
		t.Fatalf("admin: %v", err)
	}
	res.Body.Close()
}

func TestCloseEndsPendingSleeps(t *testing.T) {
	s := New(Options{Joined: []string{room}})
	s.Inject(Slow(time.Hour))
	go doErr(context.Background(), s, "PUT", sendPath(room, "a"), msg, bearer)
	waitFor(t, func() bool { return s.PendingFaults() == 0 })
	start := time.Now()
	s.Close()
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Close took %v", el)
	}
}

func TestAdminEndpoints(t *testing.T) {
	s := newServer(t, Options{Joined: []string{room, "!b:hs.test"}})
	get := func(path string, v any) {
		t.Helper()
		res, err := http.Get(s.URL() + path) // no token
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, res.StatusCode, raw)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s: %v in %s", path, err, raw)
		}
	}
	var events []Event
	get("/_sendertest/events", &events)
	if events == nil || len(events) != 0 {
		t.Errorf("empty events = %#v, want []", events)
	}
	do(t, s, "PUT", sendPath(room, "1"), msg, bearer)
	do(t, s, "PUT", sendPath("!b:hs.test", "1"), `{"body": "b" }`, bearer)
	do(t, s, "PUT", sendPath(room, "2")+"?access_token=x", msg, "")
	get("/_sendertest/events", &events)
	all := s.AllEvents()
	if len(events) != 2 || events[0].EventID != all[0].EventID || string(events[1].Content) != `{"body":"b"}` ||
		!events[0].Time.Equal(all[0].Time) {
		t.Errorf("events = %+v, want %+v", events, all)
	}
	get("/_sendertest/events?room="+url.QueryEscape("!b:hs.test"), &events)
	if len(events) != 1 || events[0].Room != "!b:hs.test" {
		t.Errorf("room filter: %+v", events)
	}
	var st Stats
	get("/_sendertest/stats", &st)
	if st.Events != 2 || st.Requests != 3 || !st.LastEvent.Equal(all[1].Time) {
		t.Errorf("stats = %+v, want 2 events, 3 requests, the last at %v", st, all[1].Time)
	}
	var reqs []Request
	get("/_sendertest/requests", &reqs)
	if len(reqs) != 3 || reqs[2].Status != 401 || !strings.HasSuffix(reqs[2].Path, "?access_token=REDACTED") {
		t.Errorf("requests = %+v", reqs)
	}
	if res, _ := http.Get(s.URL() + "/_sendertest/nope"); res.StatusCode != 404 {
		t.Errorf("unknown admin path: %d", res.StatusCode)
	}
}

func TestConcurrency(t *testing.T) {
	rooms := []string{"!r0:hs.test", "!r1:hs.test", "!r2:hs.test", "!r3"}
	s := newServer(t, Options{Joined: rooms})
	const workers, perWorker = 16, 25
	var wg sync.WaitGroup
	ids := make([][]string, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				// Every txn id is sent by two workers, racing each other.
				r := rooms[i%len(rooms)]
				txn := fmt.Sprintf("w%d-%d", w/2, i)
				res, err := doErr(context.Background(), s, "PUT", sendPath(r, txn), msg, bearer)
				if err != nil || res.status != 200 {
					t.Errorf("%v %d %s", err, res.status, res.raw)
					return
				}
				ids[w] = append(ids[w], res.body["event_id"].(string))
			}
		})
	}
	// Readers and configuration changes race with the sends.
	wg.Go(func() {
		for range 50 {
			s.AllEvents()
			s.Requests()
			s.Events(rooms[0])
			s.SetDelay(0)
			s.SetFaultRates(FaultRates{})
			s.Invite("!new:hs.test")
			s.PendingFaults()
		}
	})
	wg.Wait()
	for w := 0; w < workers; w += 2 {
		if !slices.Equal(ids[w], ids[w+1]) {
			t.Errorf("workers %d and %d got different ids for the same txns", w, w+1)
		}
	}
	events := s.AllEvents()
	if len(events) != workers/2*perWorker {
		t.Fatalf("%d events, want %d", len(events), workers/2*perWorker)
	}
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e.EventID] {
			t.Fatalf("duplicate event id %s", e.EventID)
		}
		seen[e.EventID] = true
	}
	if n := len(s.Requests()); n != workers*perWorker {
		t.Errorf("%d requests recorded", n)
	}
}

func TestConcurrentFaults(t *testing.T) {
	s := newServer(t, Options{})
	s.SetFaultRates(FaultRates{RateLimit: 0.2, ServerError: 0.2, Drop: 0.1, RetryAfter: time.Millisecond})
	s.SetRateLimit(1000)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				// Retry each txn until it succeeds, as the sender will.
				for attempt := 0; ; attempt++ {
					r, err := doErr(context.Background(), s, "PUT", sendPath(room, fmt.Sprintf("%d-%d", w, i)), msg, bearer)
					if err == nil && r.status == 200 {
						break
					}
					if attempt > 100 {
						t.Error("no success in 100 attempts")
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if n := len(s.AllEvents()); n != 160 {
		t.Errorf("%d events, want exactly 160", n)
	}
}
