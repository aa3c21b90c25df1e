package kuma

import (
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"matrix-notify/adapters/liquidjs"
)

var contextKeys = []string{"HOSTNAME_OR_URL", "NAME", "STATUS", "heartbeatJSON", "hostnameOrURL", "monitorJSON", "msg", "name", "status"}

func keysOf(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestContextZeroPayload(t *testing.T) {
	ctx := Payload{}.Context()
	if got := keysOf(ctx); !reflect.DeepEqual(got, contextKeys) {
		t.Errorf("keys = %v, want %v", got, contextKeys)
	}
	want := map[string]any{
		"STATUS": "⚠️ Test", "NAME": "Monitor Name not available", "HOSTNAME_OR_URL": "testing.hostname",
		"status": "⚠️ Test", "name": "Monitor Name not available", "hostnameOrURL": "testing.hostname",
		"msg": "", "monitorJSON": liquidjs.Null, "heartbeatJSON": liquidjs.Null,
	}
	if !reflect.DeepEqual(ctx, want) {
		t.Errorf("context = %#v", ctx)
	}
}

func TestContextStatus(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		{`{"msg":"m","heartbeat":{"status":0}}`, "🔴 Down"},
		{`{"msg":"m","heartbeat":{"status":1}}`, "✅ Up"},
		{`{"msg":"m","heartbeat":{"status":2}}`, "✅ Up"}, // Kuma: anything not DOWN
		{`{"msg":"m","heartbeat":{"status":3}}`, "✅ Up"},
		{`{"msg":"m","heartbeat":null}`, "⚠️ Test"},
		{`{"msg":"m"}`, "⚠️ Test"},
		{`{"msg":"m","heartbeat":null,"monitor":{"name":"web","type":"http"}}`, "⚠️ Test"},
	} {
		ctx := mustDecode(t, tc.body).Context()
		if ctx["status"] != tc.want || ctx["STATUS"] != tc.want {
			t.Errorf("%s: status %q STATUS %q, want %q", tc.body, ctx["status"], ctx["STATUS"], tc.want)
		}
	}
	if s := "⚠️ Test"; s != "\u26a0\ufe0f Test" {
		t.Errorf("test label bytes %q", s)
	}
}

func TestContextHostnameOrURL(t *testing.T) {
	for _, tc := range []struct {
		name    string
		monitor string
		want    any
	}{
		{"http", obj("type", "http", "url", "https://shop.example.com/", "hostname", nil, "port", nil), "https://shop.example.com/"},
		{"keyword", obj("type", "keyword", "url", "http://a.example/x?y=1"), "http://a.example/x?y=1"},
		{"json-query", obj("type", "json-query", "url", "https://api.example/v1"), "https://api.example/v1"},
		{"real-browser", obj("type", "real-browser", "url", "https://b.example"), "https://b.example"},
		{"http bare https://", obj("type", "http", "url", "https://"), ""},
		{"http bare http://", obj("type", "http", "url", "http://"), ""},
		{"http empty url", obj("type", "http", "url", ""), ""},
		{"http null url", obj("type", "http", "url", nil), liquidjs.Null},
		{"http no url", obj("type", "http"), nil}, // undefined in Kuma,
		{"docker", obj("type", "docker", "url", "https://", "docker_container", "app"), ""},
		{"mqtt", obj("type", "mqtt", "url", "https://", "hostname", "broker", "port", 1883), ""},
		{"no type", obj("url", "https://c.example"), "https://c.example"},
		{"type not a string", obj("type", nil, "url", "https://d.example"), "https://d.example"},
		{"push", obj("type", "push", "url", "https://", "hostname", "h"), "Heartbeat"},
		{"ping", obj("type", "ping", "hostname", "198.51.100.1", "port", 7), "198.51.100.1"},
		{"ping null hostname", obj("type", "ping", "hostname", nil), liquidjs.Null},
		{"port", obj("type", "port", "hostname", "db", "port", 5432), "db:5432"},
		{"port null", obj("type", "port", "hostname", "db", "port", nil), "db"},
		{"port 0", obj("type", "port", "hostname", "db", "port", 0), "db"},
		{"port as string", obj("type", "port", "hostname", "db", "port", "5432"), "db:5432"},
		{"port, hostname null", obj("type", "port", "hostname", nil, "port", 5432), "null:5432"},
		{"dns (Kuma >= 2.5: the resolver's port is left out)", obj("type", "dns", "hostname", "example.org", "port", 53), "example.org"},
		{"dns null hostname", obj("type", "dns", "hostname", nil, "port", 53), liquidjs.Null},
		{"gamedig", obj("type", "gamedig", "hostname", "mc.example", "port", 25565), "mc.example:25565"},
		{"steam", obj("type", "steam", "hostname", "cs.example", "port", 27015), "cs.example:27015"},
		{"steam no port", obj("type", "steam", "hostname", "cs.example"), "cs.example"},
		{"globalping ping", obj("type", "globalping", "subtype", "ping", "hostname", "g.example", "url", "https://u"), "g.example"},
		{"globalping dns", obj("type", "globalping", "subtype", "dns", "hostname", "g.example"), "g.example"},
		{"globalping http", obj("type", "globalping", "subtype", "http", "hostname", "g.example", "url", "https://g.example/"), "https://g.example/"},
		{"globalping other", obj("type", "globalping", "subtype", "traceroute", "hostname", "g.example"), ""},
		{"globalping none", obj("type", "globalping", "hostname", "g.example"), ""},
		{"uppercase type is not push", obj("type", "PUSH", "url", "https://e.example"), "https://e.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustDecode(t, `{"msg":"m","heartbeat":{"status":0},"monitor":`+tc.monitor+`}`)
			ctx := p.Context()
			if !reflect.DeepEqual(ctx["hostnameOrURL"], tc.want) || !reflect.DeepEqual(ctx["HOSTNAME_OR_URL"], tc.want) {
				t.Errorf("hostnameOrURL = %#v, HOSTNAME_OR_URL = %#v, want %#v", ctx["hostnameOrURL"], ctx["HOSTNAME_OR_URL"], tc.want)
			}
			wantText, _ := tc.want.(string)
			if got := p.HostnameOrURL(); got != wantText {
				t.Errorf("HostnameOrURL() = %q, want %q", got, wantText)
			}
		})
	}
}

func TestContextNames(t *testing.T) {
	for _, tc := range []struct {
		body string
		want any
	}{
		{`{"msg":"m","monitor":{"name":"web"}}`, "web"},
		{`{"msg":"m","monitor":{"name":null}}`, liquidjs.Null}, // Kuma passes monitorJSON.name as is
		{`{"msg":"m","monitor":{}}`, nil},                      // undefined in Kuma
		{`{"msg":"m","monitor":null}`, "Monitor Name not available"},
		{`{"msg":"m"}`, "Monitor Name not available"},
	} {
		ctx := mustDecode(t, tc.body).Context()
		if !reflect.DeepEqual(ctx["name"], tc.want) || !reflect.DeepEqual(ctx["NAME"], tc.want) {
			t.Errorf("%s: name %#v NAME %#v, want %#v", tc.body, ctx["name"], ctx["NAME"], tc.want)
		}
	}
	ctx := mustDecode(t, `{"msg":"m","monitor":null}`).Context()
	if ctx["hostnameOrURL"] != "testing.hostname" {
		t.Errorf("no monitor: hostnameOrURL %#v", ctx["hostnameOrURL"])
	}
}

// TestContextObjects checks that templates get the members as
// liquidjs.DecodeJSON makes them of their bytes (key order kept), and msg.
func TestContextObjects(t *testing.T) {
	hb := `{"monitorID":1,"status":0,"time":"t","a":{"z":1,"b":[null]},"a":2}`
	mon := `{"id":1,"name":"web","zzz":1,"aaa":2}`
	ctx := mustDecode(t, `{"heartbeat":`+hb+`,"monitor":`+mon+`,"msg":"hello"}`).Context()
	wantHB, _ := liquidjs.DecodeJSON([]byte(hb))
	wantMon, _ := liquidjs.DecodeJSON([]byte(mon))
	if !reflect.DeepEqual(ctx["heartbeatJSON"], wantHB) || !reflect.DeepEqual(ctx["monitorJSON"], wantMon) || ctx["msg"] != "hello" {
		t.Errorf("context = %#v", ctx)
	}
	if keys := ctx["monitorJSON"].(*liquidjs.Object).Keys(); !slices.Equal(keys, []string{"id", "name", "zzz", "aaa"}) {
		t.Errorf("monitorJSON keys %v", keys)
	}
	ctx = mustDecode(t, `{"heartbeat":null,"msg":"x"}`).Context()
	// JSON null, not a missing variable: LiquidJS tells the two apart.
	if ctx["heartbeatJSON"] != liquidjs.Null || ctx["monitorJSON"] != liquidjs.Null {
		t.Errorf("null members: %#v", ctx)
	}
	for k, v := range ctx {
		if v == nil {
			continue
		}
		if reflect.ValueOf(v).Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil() {
			t.Errorf("%s is a typed nil", k)
		}
	}
}

// TestContextFixtures pins the context of every fixture.
func TestContextFixtures(t *testing.T) {
	for _, tc := range []struct {
		kase, status, name string
		addr               any
	}{
		{"http-down", "🔴 Down", "Example Shop", "https://shop.example.com/health"},
		{"http-up", "✅ Up", "Example Shop", "https://shop.example.com/health"},
		{"keyword-down", "🔴 Down", "Status page keyword", "https://status.example.net/"},
		{"port-down", "🔴 Down", "Postgres primary", "db1.internal.example.org:5432"},
		{"ping-down", "🔴 Down", "Edge router", "198.51.100.1"},
		{"dns-up", "✅ Up", "example.org A record", "example.org"},
		{"push-down", "🔴 Down", "Nightly backup", "Heartbeat"},
		{"docker-down", "🔴 Down", "nextcloud container", ""},
		{"test-notification", "⚠️ Test", "Monitor Name not available", "testing.hostname"},
		{"cert-expiry", "⚠️ Test", "Monitor Name not available", "testing.hostname"},
	} {
		ctx := mustDecode(t, readFixture(t, tc.kase, "payload.json")).Context()
		if ctx["status"] != tc.status || ctx["name"] != tc.name || ctx["hostnameOrURL"] != tc.addr {
			t.Errorf("%s: status %q name %q hostnameOrURL %#v", tc.kase, ctx["status"], ctx["name"], ctx["hostnameOrURL"])
		}
	}
}

// TestContextWithLiquid renders Kuma-style templates over fixture contexts
// with the liquidjs engine: the json filter gives back the members exactly
// as Kuma sent them (JSON.stringify of the same objects), key order kept.
func TestContextWithLiquid(t *testing.T) {
	e := liquidjs.New(liquidjs.Options{Location: time.UTC})
	tpl, err := e.Parse("t", `{{ status }}|{{ name }}|{{ hostnameOrURL }}|{{ heartbeatJSON.status }}|{{ monitorJSON.tags[0].name }}|{{ heartbeatJSON | json }}|{{ monitorJSON | json }}|{{ msg }}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, kase := range []string{"http-down", "http-up", "port-down", "push-down", "test-notification", "cert-expiry"} {
		t.Run(kase, func(t *testing.T) {
			body := readFixture(t, kase, "payload.json")
			p := mustDecode(t, body)
			if hb := p.Context()["heartbeatJSON"]; p.Heartbeat != nil {
				if _, ok := hb.(*liquidjs.Object); !ok {
					t.Errorf("heartbeatJSON is %T", hb)
				}
			}
			got, err := tpl.Render(p.Context())
			if err != nil {
				t.Fatal(err)
			}
			hb, mon := splitMembers(t, body)
			tag := ""
			if kase == "http-down" || kase == "http-up" {
				tag = "prod"
			}
			ctx := p.Context()
			hbStatus := ""
			if p.Heartbeat != nil {
				hbStatus = p.Heartbeat.Status.String()
				hbStatus = map[string]string{"DOWN": "0", "UP": "1"}[hbStatus]
			}
			want := strings.Join([]string{ctx["status"].(string), ctx["name"].(string), ctx["hostnameOrURL"].(string),
				hbStatus, tag, hb, mon, p.Msg}, "|")
			if got != want {
				t.Errorf("render\n got %s\nwant %s", got, want)
			}
		})
	}
}

// The README says which Kuma release the context follows.
func TestReadmeNamesKumaVersion(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Uptime Kuma " + KumaVersion; !strings.Contains(string(data), want) {
		t.Errorf("README.md does not say %q", want)
	}
}
