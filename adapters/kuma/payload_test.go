package kuma

import (
	"errors"
	"strings"
	"testing"

	"matrix-notify/adapters/liquidjs"
)

func TestDecodeJSONShapes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		body       string
		msg        string
		status     Status
		hasHB      bool
		monitor    string // monitor name, "" for no monitor
		monitorID  string
		monitorSet bool
	}{
		{name: "up/down beat", body: obj("heartbeat", map[string]any{"monitorID": 3, "status": 0, "time": "2026-01-02 03:04:05.678", "msg": "boom", "ping": nil},
			"monitor", map[string]any{"id": 3, "name": "web", "type": "http", "url": "https://x.example"}, "msg", "[web] [🔴 Down] boom"),
			msg: "[web] [🔴 Down] boom", status: Down, hasHB: true, monitor: "web", monitorID: "3", monitorSet: true},
		{name: "test: nulls", body: `{"heartbeat":null,"monitor":null,"msg":"Matrix Testing"}`, msg: "Matrix Testing"},
		{name: "test: absent", body: `{"msg":"Matrix Testing"}`, msg: "Matrix Testing"},
		{name: "key order and whitespace", body: " \n\t{\"msg\":\"m\",\n \"monitor\":null, \"heartbeat\":{\"status\":3}}\n", msg: "m", status: Maintenance, hasHB: true},
		{name: "pending", body: `{"heartbeat":{"status":2},"monitor":{},"msg":""}`, status: Pending, hasHB: true, monitorSet: true},
		{name: "status as 1.0", body: `{"heartbeat":{"status":1.0},"msg":"x"}`, msg: "x", status: Up, hasHB: true},
		{name: "unknown members ignored", body: `{"msg":"x","extra":[1,2,{"a":null}],"heartbeat":null}`, msg: "x"},
		{name: "duplicate key: last wins", body: `{"msg":"a","msg":"b"}`, msg: "b"},
		{name: "invalid UTF-8 becomes U+FFFD", body: "{\"msg\":\"a\xffb\"}", msg: "a\ufffdb"},
		{name: "lone surrogate becomes U+FFFD", body: `{"msg":"a\ud800b"}`, msg: "a\ufffdb"},
		{name: "NUL kept in msg", body: `{"msg":"a\u0000b"}`, msg: "a\x00b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustDecode(t, tc.body)
			if p.Msg != tc.msg {
				t.Errorf("Msg = %q, want %q", p.Msg, tc.msg)
			}
			if (p.Heartbeat != nil) != tc.hasHB {
				t.Fatalf("Heartbeat = %+v, want present=%v", p.Heartbeat, tc.hasHB)
			}
			if tc.hasHB && p.Heartbeat.Status != tc.status {
				t.Errorf("status = %v, want %v", p.Heartbeat.Status, tc.status)
			}
			if (p.Monitor != nil) != tc.monitorSet {
				t.Fatalf("Monitor = %+v, want present=%v", p.Monitor, tc.monitorSet)
			}
			if tc.monitorSet && (p.Monitor.Name != tc.monitor || p.Monitor.ID != tc.monitorID) {
				t.Errorf("monitor = %q #%q, want %q #%q", p.Monitor.Name, p.Monitor.ID, tc.monitor, tc.monitorID)
			}
			if (p.heartbeatJSON != nil) != tc.hasHB || (p.monitorJSON != nil) != tc.monitorSet {
				t.Errorf("template objects: heartbeat %v monitor %v", p.heartbeatJSON, p.monitorJSON)
			}
		})
	}
}

func TestDecodeJSONTypedFields(t *testing.T) {
	p := mustDecode(t, readFixture(t, "http-up", "payload.json"))
	h, m := p.Heartbeat, p.Monitor
	if h.MonitorID != "12" || h.Status != Up || h.Time != "2026-03-14 09:47:33.402" || h.Msg != "200 - OK" ||
		h.Ping == nil || *h.Ping != 187 || h.Timezone != "Europe/Berlin" || h.TimezoneOffset != "+01:00" ||
		h.LocalDateTime != "2026-03-14 10:47:33" || h.LastDownTime != "2026-03-14 09:12:03.118" {
		t.Errorf("heartbeat = %+v", h)
	}
	if m.ID != "12" || m.Name != "Example Shop" || m.Type != "http" || m.URL != "https://shop.example.com/health" ||
		m.Hostname != "" || m.Port != "" || m.Subtype != "" {
		t.Errorf("monitor = %+v", m)
	}
	pg := mustDecode(t, readFixture(t, "port-down", "payload.json")).Monitor
	if pg.Port != "5432" || pg.Hostname != "db1.internal.example.org" {
		t.Errorf("port monitor = %+v", pg)
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	hb := func(kv ...any) string {
		return obj("heartbeat", raw(obj(append([]any{"status", 0}, kv...)...)), "monitor", nil, "msg", "m")
	}
	mon := func(kv ...any) string { return obj("heartbeat", nil, "monitor", raw(obj(kv...)), "msg", "m") }
	for _, tc := range []struct{ name, body, want string }{
		// the document
		{"empty", "", `body: empty (expected a JSON object: {"heartbeat":…,"monitor":…,"msg":…})`},
		{"blank", " \n\t ", `body: empty (expected a JSON object: {"heartbeat":…,"monitor":…,"msg":…})`},
		{"array", "[]", "body: expected a JSON object, got an array"},
		{"string", `"hi"`, "body: expected a JSON object, got a string"},
		{"null", "null", "body: expected a JSON object, got null"},
		{"number", "12", "body: expected a JSON object, got a number"},
		{"truncated", `{"msg":"ab`, "body: invalid JSON at offset 10: unexpected end of JSON input"},
		{"bad char", `{"msg":"x", "heartbeat": nul}`, "body: invalid JSON at offset 28: invalid character '}' in literal null (expecting 'l')"},
		{"trailing comma", `{"msg":"x",}`, "body: invalid JSON at offset 11: invalid character '}' looking for beginning of object key string"},
		{"trailing data", `{"msg":"x"} {}`, "body: invalid JSON at offset 12: invalid character '{' after top-level value"},
		{"single quotes", `{'msg':'x'}`, "body: invalid JSON at offset 1: invalid character '\\'' looking for beginning of object key string"},
		// msg
		{"msg missing", `{"heartbeat":null,"monitor":null}`, "msg: missing (expected a string)"},
		{"msg null", `{"msg":null}`, "msg: expected a string, got null"},
		{"msg number", `{"msg":1}`, "msg: expected a string, got a number"},
		{"msg object", `{"msg":{}}`, "msg: expected a string, got an object"},
		{"msg bool", `{"msg":true}`, "msg: expected a string, got a boolean"},
		// heartbeat
		{"heartbeat number", `{"msg":"m","heartbeat":42}`, "heartbeat: expected an object or null, got a number"},
		{"heartbeat string", `{"msg":"m","heartbeat":"{\"status\":0}"}`, "heartbeat: expected an object or null, got a string"},
		{"heartbeat array", `{"msg":"m","heartbeat":[]}`, "heartbeat: expected an object or null, got an array"},
		{"heartbeat bool", `{"msg":"m","heartbeat":false}`, "heartbeat: expected an object or null, got a boolean"},
		{"status missing", `{"msg":"m","heartbeat":{}}`, "heartbeat.status: missing (expected a number 0-3)"},
		{"status string", `{"msg":"m","heartbeat":{"status":"0"}}`, "heartbeat.status: expected a number 0-3, got a string"},
		{"status null", `{"msg":"m","heartbeat":{"status":null}}`, "heartbeat.status: expected a number 0-3, got null"},
		{"status bool", `{"msg":"m","heartbeat":{"status":true}}`, "heartbeat.status: expected a number 0-3, got a boolean"},
		{"status 4", `{"msg":"m","heartbeat":{"status":4}}`, "heartbeat.status: expected a number 0-3, got 4"},
		{"status -1", `{"msg":"m","heartbeat":{"status":-1}}`, "heartbeat.status: expected a number 0-3, got -1"},
		{"status 0.5", `{"msg":"m","heartbeat":{"status":0.5}}`, "heartbeat.status: expected a number 0-3, got 0.5"},
		{"status 1e300", `{"msg":"m","heartbeat":{"status":1e300}}`, "heartbeat.status: expected a number 0-3, got 1e+300"},
		{"monitorID string", hb("monitorID", "12"), "heartbeat.monitorID: expected a number or null, got a string"},
		{"time number", hb("time", 1700000000), "heartbeat.time: expected a string or null, got a number"},
		{"hb msg number", hb("msg", 5), "heartbeat.msg: expected a string or null, got a number"},
		{"ping string", hb("ping", "12 ms"), "heartbeat.ping: expected a number or null, got a string"},
		{"timezone bool", hb("timezone", true), "heartbeat.timezone: expected a string or null, got a boolean"},
		{"timezoneOffset number", hb("timezoneOffset", 2), "heartbeat.timezoneOffset: expected a string or null, got a number"},
		{"localDateTime array", hb("localDateTime", []int{}), "heartbeat.localDateTime: expected a string or null, got an array"},
		{"lastDownTime object", hb("lastDownTime", map[string]int{}), "heartbeat.lastDownTime: expected a string or null, got an object"},
		// monitor
		{"monitor number", `{"msg":"m","monitor":7}`, "monitor: expected an object or null, got a number"},
		{"monitor array", `{"msg":"m","monitor":[{}]}`, "monitor: expected an object or null, got an array"},
		{"monitor string", `{"msg":"m","monitor":"web"}`, "monitor: expected an object or null, got a string"},
		{"id string", mon("id", "12"), "monitor.id: expected a number or null, got a string"},
		{"name array", mon("name", []string{"a"}), "monitor.name: expected a string or null, got an array"},
		{"type number", mon("type", 1), "monitor.type: expected a string or null, got a number"},
		{"subtype bool", mon("subtype", false), "monitor.subtype: expected a string or null, got a boolean"},
		{"url object", mon("url", map[string]string{}), "monitor.url: expected a string or null, got an object"},
		{"hostname number", mon("hostname", 10), "monitor.hostname: expected a string or null, got a number"},
		{"port bool", mon("port", true), "monitor.port: expected a number or null, got a boolean"},
		{"port array", mon("port", []int{80}), "monitor.port: expected a number or null, got an array"},
		// nested syntax errors are reported against the whole body
		{"nested truncated", `{"msg":"m","heartbeat":{"status":0`, "body: invalid JSON at offset 34: unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodeJSON([]byte(tc.body))
			if err == nil {
				t.Fatalf("no error, payload %+v", p)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got %q\nwant %q", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FieldError", err)
			}
			if errors.Is(err, ErrTooLarge) {
				t.Error("a malformed payload must not be ErrTooLarge")
			}
		})
	}
}

func TestDeeplyNested(t *testing.T) {
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	_, err := DecodeJSON([]byte(`{"msg":"m","monitor":{"x":` + deep + `}}`))
	if err == nil || !strings.HasPrefix(err.Error(), "body: invalid JSON") {
		t.Errorf("err = %v", err)
	}
}

func TestJSString(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{nil, "null"}, {"s", "s"}, {true, "true"}, {[]any{1.0, nil, "a"}, "1,,a"}, {map[string]any{}, "[object Object]"},
		{liquidjs.Null, "null"}, {[]any{liquidjs.Null, 2.0}, ",2"}, {liquidjs.NewObject(), "[object Object]"},
	} {
		if got := jsString(tc.v); got != tc.want {
			t.Errorf("jsString(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{Down: "DOWN", Up: "UP", Pending: "PENDING", Maintenance: "MAINTENANCE", 9: "STATUS(9)"} {
		if s.String() != want {
			t.Errorf("%d: %q", int(s), s.String())
		}
	}
}
