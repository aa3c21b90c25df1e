package realpeers

import (
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
	quoted := make([]string, len(rooms))
	for i, r := range rooms {
		quoted[i] = fmt.Sprintf("%q", r)
	}
	path := filepath.Join(s.dir, "kuma.toml")
	content := fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token = %q\nrooms = [%s]\n%s", env.hs.URL, env.botToken, strings.Join(quoted, ", "), extra)
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
// resent webhook is posted once, Kuma's Test button reaches the room, and a
// room the bot may not post in is reported to Kuma as a failure (issue 13
// item 7).
func TestKumaServe(t *testing.T) {
	need(t)
	r := newReader(t)
	room := r.room(roomOpts{botJoined: true})
	uninvited := r.room(roomOpts{})
	s := newSite(t)
	const secret = "realpeers-kuma-secret"
	cfg := kumaTOML(s, []id.RoomID{room}, fmt.Sprintf("\n[kuma.routes]\nforbidden = [%q]\n\n[serve]\nsecret = %q\n", uninvited, secret))
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

	code, body := p.post(t, "/kuma/forbidden", bearer, kumaPayload(t, "http-down"))
	if code/100 == 2 {
		t.Errorf("a room the bot may not post in: status %d %q, want a non-2xx with the reason", code, body)
	} else if strings.TrimSpace(body) == "" || strings.Count(strings.TrimSpace(body), "\n") > 0 {
		t.Errorf("status %d: want a one-line reason, got %q", code, body)
	}
}

// TestKumaTemplateTrap: a template comparing status == '1' (never true in
// Kuma: status is "✅ Up") is named, with its line, when serve starts and by
// doctor (issue 13 item 8); the alert is still delivered.
func TestKumaTemplateTrap(t *testing.T) {
	need(t)
	r := newReader(t)
	room := r.room(roomOpts{botJoined: true})
	s := newSite(t)
	tmpl := filepath.Join(s.dir, "trap.liquid")
	must(t, os.WriteFile(tmpl, []byte("{{ name }}\n{% if status == '1' %}UP{% else %}DOWN{% endif %}\n"), 0o600))
	cfg := kumaTOML(s, []id.RoomID{room}, fmt.Sprintf("\n[kuma]\ntemplate_file = %q\n", tmpl))
	p := startServe(t, s, cfg)
	if code, body := p.post(t, "/kuma", "", kumaPayload(t, "http-up")); code/100 != 2 {
		t.Fatalf("status %d %q", code, body)
	}
	r.expectMessages(room, 1)
	doc := s.run("", "doctor", "--config", cfg)
	startup := p.stderr.String()
	if !strings.Contains(startup, "trap.liquid") || !strings.Contains(startup, "heartbeatJSON.status") {
		t.Errorf("serve's start-up does not name trap.liquid and the fix (heartbeatJSON.status):\n%s", startup)
	}
	if !strings.Contains(doc.stdout+doc.stderr, "trap.liquid") {
		t.Errorf("doctor does not list trap.liquid: %s", doc)
	}
}
