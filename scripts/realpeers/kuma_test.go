package realpeers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"matrix-notify/internal/child"
	"matrix-notify/internal/realpeer"
)

func kumaPayload(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.repo, "testdata/kuma", name, "payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func kumaTOML(s *site, rooms []id.RoomID, extra string) string {
	return kumaTOMLToken(s, env.botToken, rooms, extra)
}

// kumaTOMLToken is kumaTOML with another access token.
func kumaTOMLToken(s *site, token string, rooms []id.RoomID, extra string) string {
	quoted := make([]string, len(rooms))
	for i, r := range rooms {
		quoted[i] = fmt.Sprintf("%q", r)
	}
	path := filepath.Join(s.dir, "kuma.toml")
	content := fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token = %q\nrooms = [%s]\n%s", env.hs.URL, token, strings.Join(quoted, ", "), extra)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// TestKumaStdin: one payload on stdin per run; the UP follows the DOWN in
// its thread.
func TestKumaStdin(t *testing.T) {
	need(t)
	r := newReader(t)
	room := r.room(roomOpts{botJoined: true})
	s := newSite(t)
	cfg := kumaTOML(s, []id.RoomID{room}, "")
	s.must(0, kumaPayload(t, "http-down"), "kuma", "--config", cfg)
	s.must(0, kumaPayload(t, "http-up"), "kuma", "--config", cfg)
	msgs := r.expectMessages(room, 2)
	if len(msgs) != 2 {
		return
	}
	if !strings.Contains(msgs[0].Body, "Example Shop") || !strings.Contains(msgs[1].Body, "Example Shop") {
		t.Errorf("messages do not name the monitor:%s", bodies(msgs))
	}
	if rel := msgs[1].RelatesTo; rel == nil || rel.RelType != "m.thread" || rel.EventID != string(msgs[0].ID) {
		t.Errorf("the UP is not in the DOWN's thread: %s", msgs[1].Raw)
	}
	checkMatrixHTML(t, msgs[0].FormattedBody)

	// A monitor whose name and message hold markup, quotes, NUL and a lone
	// surrogate: delivered, valid HTML, the markup shown as text.
	hostile := r.room(roomOpts{botJoined: true})
	cfg = kumaTOML(s, []id.RoomID{hostile}, "")
	s.must(0, kumaPayload(t, "hostile"), "kuma", "--config", cfg)
	if msgs := r.expectMessages(hostile, 1); len(msgs) == 1 {
		m := msgs[0]
		checkMatrixHTML(t, m.FormattedBody)
		if text := htmlText(t, m.FormattedBody); !strings.Contains(text, "<script>alert(1)</script>") {
			t.Errorf("the monitor's name is not shown literally in the HTML body: %q", text)
		}
		if !strings.Contains(m.Body, `<b>bold</b> & "quoted"`) {
			t.Errorf("the message is not in the plain body literally: %q", m.Body)
		}
	}
}

// serveProc is a running `matrix-notify serve`.
type serveProc struct {
	url    string
	stderr *child.Output
}

func startServe(t *testing.T, s *site, cfg string) *serveProc {
	t.Helper()
	port, err := realpeer.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := &serveProc{url: "http://" + addr, stderr: &child.Output{}}
	cmd := exec.Command(env.bin, "serve", "--listen", addr, "--config", cfg)
	cmd.Env = s.env
	cmd.Stderr = p.stderr
	proc, err := child.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !proc.Stop(10 * time.Second) {
			t.Errorf("serve did not stop within 10 s of SIGTERM")
		}
		if strings.Contains(p.stderr.String(), env.botToken) {
			t.Errorf("serve logged the access token")
		}
	})
	if err := proc.WaitHTTP(p.url+"/healthz", 10*time.Second); err != nil {
		t.Fatalf("serve: %v\n%s", err, p.stderr)
	}
	return p
}

func (p *serveProc) post(t *testing.T, path, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestKumaServe: Kuma's webhook through `serve`: the secret is required, a
// resent webhook is posted once, Kuma's Test button reaches the room, and
// Kuma is told the truth (issue 13 item 7): a room the bot may not post in,
// a room that does not exist, an alias that does not exist, a bogus token and
// a token revoked by logging out are answered non-2xx with a one-line
// reason (nothing is posted, nothing stays queued for ever), while a
// homeserver that is down is a transient failure: 202, queued, and the
// message arrives once it is back.
func TestKumaServe(t *testing.T) {
	need(t)
	r := newReader(t)
	room := r.room(roomOpts{botJoined: true})
	uninvited := r.room(roomOpts{})
	const unknownRoom = "!doesnotexist:" + serverName
	unknownAlias := "#doesnotexist-" + strings.ToLower(t.Name()) + ":" + serverName
	s := newSite(t)
	const secret = "realpeers-kuma-secret"
	cfg := kumaTOML(s, []id.RoomID{room}, fmt.Sprintf("\n[kuma.routes]\nforbidden = [%q]\nunknown = [%q]\nnoalias = [%q]\n\n[serve]\nsecret = %q\n",
		uninvited, unknownRoom, unknownAlias, secret))
	p := startServe(t, s, cfg)
	bearer := "Bearer " + secret

	if code, body := p.post(t, "/kuma", "", kumaPayload(t, "http-down")); code != http.StatusUnauthorized {
		t.Errorf("no secret: status %d %q, want 401", code, body)
	}
	if code, body := p.post(t, "/kuma", "Bearer wrong", kumaPayload(t, "http-down")); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: status %d %q, want 401", code, body)
	}
	for i := 0; i < 2; i++ { // Kuma resends; the room sees it once
		if code, body := p.post(t, "/kuma", bearer, kumaPayload(t, "http-down")); code/100 != 2 {
			t.Fatalf("DOWN #%d: status %d %q\n%s", i+1, code, body, p.stderr)
		}
	}
	if code, body := p.post(t, "/kuma", bearer, kumaPayload(t, "test-notification")); code/100 != 2 {
		t.Fatalf("Test: status %d %q", code, body)
	}
	msgs := r.expectMessages(room, 2)
	if len(msgs) == 2 && !strings.Contains(msgs[1].Body, "Testing") {
		t.Errorf("Kuma's test message: %q", msgs[1].Body)
	}

	for _, tc := range []struct{ route, what, room, hint string }{
		{"forbidden", "a room the bot may not post in", string(uninvited), "invite it"},
		{"unknown", "a room that does not exist", unknownRoom, "the homeserver knows no such room"},
		{"noalias", "an alias that does not exist", unknownAlias, "no room has the alias " + unknownAlias},
	} {
		code, body := p.post(t, "/kuma/"+tc.route, bearer, kumaPayload(t, "http-down"))
		wantRefused(t, tc.what, code, body, tc.room)
		if !strings.Contains(body, tc.hint) {
			t.Errorf("%s: the reason lacks the hint %q: %s", tc.what, tc.hint, body)
		}
	}
	if msgs := r.messages(uninvited); len(msgs) != 0 {
		t.Errorf("the bot posted in the room it was never invited to:%s", bodies(msgs))
	}

	// A rejected token: made up, or revoked by logging its device out.
	revoked, err := loginClient(context.Background(), env.hs.URL, botName, "REALPEERS_KUMA_REVOKED")
	if err != nil {
		t.Fatal(err)
	}
	revokedToken := revoked.AccessToken
	if _, err := revoked.Logout(context.Background()); err != nil {
		t.Fatalf("logging the revoked device out: %v", err)
	}
	for _, tc := range []struct{ what, token string }{
		{"a bogus token", "syt_Ym9n_bogusbogusbogusbogus_000000"},
		{"a token revoked by logging out", revokedToken},
	} {
		ts := newSite(t)
		tcfg := kumaTOMLToken(ts, tc.token, []id.RoomID{room}, fmt.Sprintf("\n[serve]\nsecret = %q\n", secret))
		tp := startServe(t, ts, tcfg)
		code, body := tp.post(t, "/kuma", bearer, kumaPayload(t, "http-up"))
		wantRefused(t, tc.what, code, body, "M_UNKNOWN_TOKEN")
		if strings.Contains(body+tp.stderr.String(), tc.token) {
			t.Errorf("%s: serve showed the token in its answer or log", tc.what)
		}
	}
	if msgs := r.messages(room); len(msgs) != 2 {
		t.Errorf("with a rejected token something was posted after all:%s", bodies(msgs))
	}

	// The homeserver is down: transient, so 202 and queued; the message
	// arrives, once, when it is back.
	downRoom := r.room(roomOpts{botJoined: true})
	ds := newSite(t)
	dp := startServe(t, ds, kumaTOML(ds, []id.RoomID{downRoom}, fmt.Sprintf("\n[serve]\nsecret = %q\n", secret)))
	env.hs.Stop()
	defer hsUp(t) // when the test ends early
	code, body := dp.post(t, "/kuma", bearer, kumaPayload(t, "http-down"))
	hsUp(t)
	t.Logf("homeserver down: %d %s", code, body)
	var a serveAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Errorf("homeserver down: body %q: %v", body, err)
	}
	if code != http.StatusAccepted || a.Queued != 1 || !strings.Contains(a.Reason, "queued") || strings.Contains(a.Reason, "\n") {
		t.Errorf("homeserver down: status %d %q, want 202 queued with a one-line reason", code, body)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(r.messages(downRoom)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("what serve queued while the homeserver was down did not arrive within 2 minutes of its return:\n%s", dp.stderr)
		}
		time.Sleep(time.Second)
	}
	r.expectMessages(downRoom, 1)
}

// serveAnswer is the JSON body of serve's answer.
type serveAnswer struct {
	Delivered int    `json:"delivered"`
	Queued    int    `json:"queued"`
	Error     string `json:"error"`
	Reason    string `json:"reason"`
}

// wantRefused checks serve's answer to a webhook the homeserver refused for
// good: not 2xx (Kuma would report success), nothing delivered or queued, and
// an error of one line that holds want (the room, or the error code).
func wantRefused(t *testing.T, what string, code int, body, want string) {
	t.Helper()
	if code/100 == 2 {
		t.Errorf("%s: status %d %q, want a non-2xx with the reason", what, code, body)
		return
	}
	var a serveAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Errorf("%s: status %d, body %q: %v", what, code, body, err)
		return
	}
	t.Logf("%s: %d %s", what, code, a.Error)
	if e := strings.TrimSpace(a.Error); e == "" || strings.Contains(e, "\n") || !strings.Contains(e, want) {
		t.Errorf("%s: status %d, error %q: want one line naming %s", what, code, a.Error, want)
	}
	if a.Delivered != 0 || a.Queued != 0 {
		t.Errorf("%s: status %d, delivered %d, queued %d: want neither", what, code, a.Delivered, a.Queued)
	}
}

// TestKumaTemplateTrap: a template comparing status == '1' (never true in
// Kuma: status is "✅ Up") is named, with its file and line, when serve
// starts and by doctor (issue 13 item 8); the comparison that works
// (heartbeatJSON.status == 1, on the line before) is not; the alert is still
// delivered.
func TestKumaTemplateTrap(t *testing.T) {
	need(t)
	r := newReader(t)
	room := r.room(roomOpts{botJoined: true})
	s := newSite(t)
	tmpl := filepath.Join(s.dir, "trap.liquid")
	must(t, os.WriteFile(tmpl, []byte("{{ name }}\n"+
		"{% if heartbeatJSON.status == 1 %}fine{% endif %}\n"+
		"{% if status == '1' %}UP{% else %}DOWN{% endif %}\n"), 0o600))
	const trapLine = 3
	cfg := kumaTOML(s, []id.RoomID{room}, fmt.Sprintf("\n[kuma]\ntemplate_file = %q\n", tmpl))
	p := startServe(t, s, cfg)
	if code, body := p.post(t, "/kuma", "", kumaPayload(t, "http-up")); code/100 != 2 {
		t.Fatalf("status %d %q", code, body)
	}
	r.expectMessages(room, 1)
	doc := s.run("", "doctor", "--config", cfg)
	startup := p.stderr.String()
	// kumaTemplateTraps' form: FILE:LINE:COL: message.
	at := fmt.Sprintf("%s:%d:", tmpl, trapLine)
	if !strings.Contains(startup, at) || !strings.Contains(startup, "heartbeatJSON.status") {
		t.Errorf("serve's start-up does not name %s (the trap's file and line) and the fix (heartbeatJSON.status):\n%s", at, startup)
	}
	if !strings.Contains(doc.stdout+doc.stderr, at) {
		t.Errorf("doctor does not list the trap at %s: %s", at, doc)
	}
	for _, out := range []string{startup, doc.stdout + doc.stderr} {
		for line := 1; line <= 4; line++ {
			if other := fmt.Sprintf("%s:%d:", tmpl, line); line != trapLine && strings.Contains(out, other) {
				t.Errorf("a trap reported at %s, where there is none:\n%s", other, out)
			}
		}
	}
}
