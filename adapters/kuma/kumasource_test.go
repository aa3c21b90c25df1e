package kuma

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"matrix-notify/adapters/liquidjs"
)

// The real peer for the template context: Uptime Kuma's own
// NotificationProvider.renderTemplate (and so its extractAddress and context
// building), from Kuma's source at KumaVersion, run by node with npm's
// liquidjs at Kuma's pinned version (scripts/liquidjs/kuma-render.js), against
// DecodeJSON + Context + adapters/liquidjs on the same template and the same
// monitor and heartbeat JSON. Any difference fails the test.
//
// Needs KUMA_SRC, a directory with Kuma's files (scripts/kuma-source.sh
// extracts them from a clone of louislam/uptime-kuma), node and
// `npm ci --prefix scripts/liquidjs`; skipped, saying how, without them.

// kumaSourceStubs are the modules Kuma's notification-provider.js and
// src/util.js require at load that renderTemplate never uses: the proxy
// agents (getAxiosConfigWithProxy), dayjs (util's date helpers) and jsonata
// (evaluateJsonQuery). Each is an empty module; a call into one would throw.
var kumaSourceStubs = []string{"dayjs", "http-proxy-agent", "https-proxy-agent", "jsonata", "socks-proxy-agent"}

// kumaSourceTemplate prints every context variable, how hostnameOrURL
// compares (null, "" or set), and monitorJSON and heartbeatJSON fields.
const kumaSourceTemplate = `name={{ name }} NAME={{ NAME }} json={{ name | json }}
status={{ status }} STATUS={{ STATUS }}
hostnameOrURL={{ hostnameOrURL }} HOSTNAME_OR_URL={{ HOSTNAME_OR_URL }} json={{ hostnameOrURL | json }} is={% if hostnameOrURL == nil %}nil{% elsif hostnameOrURL == "" %}empty{% else %}set{% endif %}
msg={{ msg }}
monitor: {% if monitorJSON %}id={{ monitorJSON.id }} type={{ monitorJSON.type }} subtype={{ monitorJSON["subtype"] }} hostname={{ monitorJSON.hostname }} port={{ monitorJSON.port }} url={{ monitorJSON.url }} path={{ monitorJSON.path | join: " / " }} tags={{ monitorJSON.tags | map: "name" | join: "," }}{% else %}none ({{ monitorJSON | json }}){% endif %}
heartbeat: {% if heartbeatJSON == nil %}nil{% else %}status={{ heartbeatJSON.status }} down={% if heartbeatJSON.status == 0 %}yes{% else %}no{% endif %} time={{ heartbeatJSON.time }} ping={{ heartbeatJSON.ping }} msg={{ heartbeatJSON.msg }} local={{ heartbeatJSON.localDateTime }} {{ heartbeatJSON.timezone }} {{ heartbeatJSON.timezoneOffset }}{% endif %}
heartbeatJSON={{ heartbeatJSON | json }}
monitorJSON={{ monitorJSON | json }}
`

// kumaSourceKnown are the cases where ours differs from Kuma by design,
// why, and Kuma's output as ours has it. Each must still differ (the entry
// is needed) and match once Kuma's output is so changed.
var kumaSourceKnown = map[string]struct {
	why  string
	kuma func(string) string
}{
	"fixture/hostile": {
		"a lone UTF-16 surrogate in the webhook's JSON (\\ud800) is U+FFFD in ours (Go strings are UTF-8; see payload_test's " +
			"\"lone surrogate becomes U+FFFD\"), while Kuma keeps it and LiquidJS's json filter prints it as the escape \\ud800",
		func(s string) string { return loneSurrogateEscape.ReplaceAllString(s, "\ufffd") },
	},
}

// loneSurrogateEscape is how JSON.stringify writes a lone surrogate (a
// pair it writes as the character).
var loneSurrogateEscape = regexp.MustCompile(`\\u[dD][89a-fA-F][0-9a-fA-F]{2}`)

type kumaSourceCase struct {
	Name      string          `json:"name"`
	Template  string          `json:"template"`
	Msg       string          `json:"msg"`
	Monitor   json.RawMessage `json:"monitor"`
	Heartbeat json.RawMessage `json:"heartbeat"`
}

// absent, as a value for withMembers, removes the member.
type absent struct{}

// withMembers is the JSON object base with the members kv (alternating
// names and values) set: in place when base has them, appended otherwise;
// absent{} removes one.
func withMembers(t *testing.T, base json.RawMessage, kv ...any) json.RawMessage {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(base))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("withMembers: base is not an object: %v", err)
	}
	var keys []string
	vals := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		vals[tok.(string)] = v
	}
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if _, ok := kv[i+1].(absent); ok {
			keys = slices.DeleteFunc(keys, func(s string) bool { return s == k })
			delete(vals, k)
			continue
		}
		v, err := json.Marshal(kv[i+1])
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := vals[k]; !ok {
			keys = append(keys, k)
		}
		vals[k] = v
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vals[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}

// payloadMembers is a webhook body's heartbeat, monitor (null when absent)
// and msg.
func payloadMembers(t *testing.T, body []byte) (hb, mon json.RawMessage, msg string) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(top["msg"], &msg); err != nil {
		t.Fatal(err)
	}
	hb, mon = top["heartbeat"], top["monitor"]
	if hb == nil {
		hb = json.RawMessage("null")
	}
	if mon == nil {
		mon = json.RawMessage("null")
	}
	return hb, mon, msg
}

// kumaSourceCases: each monitor type extractAddress tells apart, DOWN and
// UP, the Test notification, and every JSON fixture Kuma could have sent.
func kumaSourceCases(t *testing.T) []kumaSourceCase {
	t.Helper()
	downHB, baseMon, _ := payloadMembers(t, []byte(readFixture(t, "http-down", "payload.json")))
	upHB, _, _ := payloadMembers(t, []byte(readFixture(t, "http-up", "payload.json")))
	monitors := []struct {
		name string
		kv   []any
	}{
		{"push", []any{"type", "push", "url", "https://", "pushToken", "Xy12"}},
		{"ping", []any{"type", "ping", "url", "https://", "hostname", "192.0.2.7"}},
		{"ping-null-hostname", []any{"type", "ping", "url", "https://", "hostname", nil}},
		{"dns", []any{"type", "dns", "url", "https://", "hostname", "example.org", "port", 53, "dns_resolve_server", "9.9.9.9"}},
		{"port", []any{"type", "port", "url", "https://", "hostname", "db.example.net", "port", 5432}},
		{"port-null-port", []any{"type", "port", "url", "https://", "hostname", "db.example.net", "port", nil}},
		{"port-zero", []any{"type", "port", "url", "https://", "hostname", "db.example.net", "port", 0}},
		{"port-null-hostname", []any{"type", "port", "url", "https://", "hostname", nil, "port", 8080}},
		{"gamedig", []any{"type", "gamedig", "url", "https://", "hostname", "mc.example.net", "port", 25565, "game", "minecraft"}},
		{"gamedig-null-port", []any{"type", "gamedig", "url", "https://", "hostname", "mc.example.net", "port", nil, "game", "minecraft"}},
		{"steam", []any{"type", "steam", "url", "https://", "hostname", "steam.example.net", "port", 27015}},
		{"globalping-ping", []any{"type", "globalping", "subtype", "ping", "url", "https://", "hostname", "example.com", "location", "Europe"}},
		{"globalping-dns", []any{"type", "globalping", "subtype", "dns", "url", "https://", "hostname", "example.com", "port", 53}},
		{"globalping-http", []any{"type", "globalping", "subtype", "http", "url", "https://www.example.com/", "hostname", "www.example.com"}},
		{"globalping-other", []any{"type", "globalping", "subtype", "mtr", "url", "https://www.example.com/", "hostname", "example.com"}},
		{"globalping-null-subtype", []any{"type", "globalping", "subtype", nil, "url", "https://www.example.com/", "hostname", "example.com"}},
		{"http", nil}, // the fixture's own: url https://shop.example.com/health
		{"keyword", []any{"type", "keyword", "url", "http://a.example/x?y=1&z=2", "keyword", "OK"}},
		{"json-query", []any{"type", "json-query", "url", "https://api.example/v1", "jsonPath", "$.ok"}},
		{"http-empty-url", []any{"type", "http", "url", ""}},
		{"http-bare-https", []any{"type", "http", "url", "https://"}},
		{"http-bare-http", []any{"type", "http", "url", "http://"}},
		{"http-null-url", []any{"type", "http", "url", nil}},
		{"http-no-url", []any{"type", "http", "url", absent{}}},
		{"ping-no-hostname", []any{"type", "ping", "url", "https://", "hostname", absent{}}},
		{"null-name", []any{"name", nil, "type", "ping", "url", "https://", "hostname", "192.0.2.8"}},
		{"no-name", []any{"name", absent{}, "type", "ping", "url", "https://", "hostname", "192.0.2.9"}},
		{"docker", []any{"type", "docker", "url", "https://", "docker_container", "app", "docker_host", 1}},
		{"mqtt", []any{"type", "mqtt", "url", "", "hostname", "broker.example", "port", 1883}},
	}
	var cases []kumaSourceCase
	for _, m := range monitors {
		mon := withMembers(t, baseMon, append([]any{"name", "Mon " + m.name}, m.kv...)...) // m.kv may set name again
		for _, beat := range []struct {
			name string
			hb   json.RawMessage
		}{{"down", downHB}, {"up", upHB}} {
			cases = append(cases, kumaSourceCase{
				Name: m.name + "/" + beat.name, Template: kumaSourceTemplate,
				Msg:     "[Mon " + m.name + "] [" + beat.name + "] <b>a & \"b\"</b>\nline 2",
				Monitor: mon, Heartbeat: beat.hb,
			})
		}
	}
	cases = append(cases, kumaSourceCase{
		Name: "test-notification", Template: kumaSourceTemplate,
		Msg: "Matrix webhook Testing", Monitor: json.RawMessage("null"), Heartbeat: json.RawMessage("null"),
	})
	// The fixtures: every payload.json DecodeJSON accepts.
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*", "payload.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("fixtures: %v (%d)", err, len(files))
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeJSON(body); err != nil {
			continue // malformed-*: ours refuses it, Kuma never sends it
		}
		hb, mon, msg := payloadMembers(t, body)
		cases = append(cases, kumaSourceCase{
			Name: "fixture/" + filepath.Base(filepath.Dir(f)), Template: kumaSourceTemplate,
			Msg: msg, Monitor: mon, Heartbeat: hb,
		})
	}
	return cases
}

// kumaSource is KUMA_SRC, checked; the test is skipped without it.
func kumaSource(t *testing.T) (src, node, root string) {
	t.Helper()
	src = os.Getenv("KUMA_SRC")
	if src == "" {
		t.Skip("KUMA_SRC unset: run with KUMA_SRC=$(scripts/kuma-source.sh PATH-TO-A-CLONE-OF-louislam/uptime-kuma) " +
			"(git clone --bare https://github.com/louislam/uptime-kuma), node and `npm ci --prefix scripts/liquidjs`")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if node, err = exec.LookPath("node"); err != nil {
		t.Skip("node not installed: Kuma's renderTemplate runs under node")
	}
	if _, err := os.Stat(filepath.Join(root, "scripts", "liquidjs", "node_modules", "liquidjs")); err != nil {
		t.Skip("scripts/liquidjs/node_modules missing: run `npm ci --prefix scripts/liquidjs`")
	}
	for _, f := range []string{"server/notification-providers/notification-provider.js", "src/util.js", "package.json"} {
		if _, err := os.Stat(filepath.Join(src, f)); err != nil {
			t.Fatalf("KUMA_SRC=%s: %v (scripts/kuma-source.sh extracts it)", src, err)
		}
	}
	// Kuma's version and liquidjs pin are what this package and the
	// oracle's package.json follow.
	var kumaPkg, ourPkg struct {
		Version      string            `json:"version"`
		Dependencies map[string]string `json:"dependencies"`
	}
	for _, p := range []struct {
		file string
		v    any
	}{{filepath.Join(src, "package.json"), &kumaPkg}, {filepath.Join(root, "scripts", "liquidjs", "package.json"), &ourPkg}} {
		b, err := os.ReadFile(p.file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, p.v); err != nil {
			t.Fatalf("%s: %v", p.file, err)
		}
	}
	if kumaPkg.Version != KumaVersion {
		t.Fatalf("KUMA_SRC is Kuma %s, this package follows %s", kumaPkg.Version, KumaVersion)
	}
	if k, o := kumaPkg.Dependencies["liquidjs"], ourPkg.Dependencies["liquidjs"]; k == "" || k != o {
		t.Fatalf("Kuma pins liquidjs %q, scripts/liquidjs/package.json %q", k, o)
	}
	return src, node, root
}

func TestKumaSourceRenderTemplate(t *testing.T) {
	src, node, root := kumaSource(t)
	stubs := t.TempDir()
	for _, m := range kumaSourceStubs {
		if err := os.WriteFile(filepath.Join(stubs, m+".js"), []byte("// empty stub: Kuma requires it at load; renderTemplate never uses it\nmodule.exports = {}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := kumaSourceCases(t)
	input, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(root, "scripts", "liquidjs", "kuma-render.js"), src, stubs)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kuma-render.js: %v\n%s", err, stderr.String())
	}
	var res struct {
		LiquidJS string   `json:"liquidjs"`
		Stubbed  []string `json:"stubbed"`
		Results  []struct {
			Name   string  `json:"name"`
			Output *string `json:"output"`
			Error  *string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("kuma-render.js output: %v", err)
	}
	if len(res.Results) != len(cases) {
		t.Fatalf("kuma-render.js: %d results for %d cases", len(res.Results), len(cases))
	}
	t.Logf("Kuma %s renderTemplate from %s, liquidjs %s, stubbed modules %v; %d cases", KumaVersion, src, res.LiquidJS, res.Stubbed, len(cases))

	engine := liquidjs.New(liquidjs.Options{Location: time.UTC})
	tpl, err := engine.Parse("kuma-source", kumaSourceTemplate)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r := res.Results[i]
			if r.Name != c.Name {
				t.Fatalf("result %d is %q", i, r.Name)
			}
			if r.Error != nil {
				t.Fatalf("Kuma's renderTemplate failed: %s", *r.Error)
			}
			msg, _ := json.Marshal(c.Msg)
			body := `{"heartbeat":` + string(c.Heartbeat) + `,"monitor":` + string(c.Monitor) + `,"msg":` + string(msg) + `}`
			p, err := DecodeJSON([]byte(body))
			if err != nil {
				t.Fatalf("DecodeJSON: %v", err)
			}
			got, err := tpl.Render(p.Context())
			if err != nil {
				t.Fatalf("ours: %v", err)
			}
			want := *r.Output
			if known, ok := kumaSourceKnown[c.Name]; ok {
				if got == want {
					t.Fatalf("kumaSourceKnown lists a difference that is gone: %s", known.why)
				}
				t.Logf("known difference: %s", known.why)
				want = known.kuma(want)
			}
			if got != want {
				t.Errorf("ours differs from Kuma %s's renderTemplate:\n%s", KumaVersion, lineDiff(want, got))
			}
		})
	}
}

// lineDiff shows the lines that differ, Kuma's (-) and ours (+).
func lineDiff(kuma, ours string) string {
	k, o := strings.Split(kuma, "\n"), strings.Split(ours, "\n")
	var b strings.Builder
	for i := 0; i < max(len(k), len(o)); i++ {
		var kl, ol string
		if i < len(k) {
			kl = k[i]
		}
		if i < len(o) {
			ol = o[i]
		}
		if kl != ol {
			fmt.Fprintf(&b, "line %d:\n- %q\n+ %q\n", i+1, kl, ol)
		}
	}
	return b.String()
}
