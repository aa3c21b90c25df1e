package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"matrix-notify/internal/child"
	"matrix-notify/sender/sendertest"
)

// serveProc is `matrix-notify serve` running as a process.
type serveProc struct {
	*child.Process
	base   string
	stderr *child.Output
}

var listeningRE = regexp.MustCompile(`listening url=(http://127\.0\.0\.1:\d+)`)

func startServe(t *testing.T, config string, extraArgs ...string) *serveProc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--config", cfg}, extraArgs...)
	cmd := exec.Command(binPath, args...)
	home := t.TempDir() // state and config defaults: never the host's
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TZ=UTC", "HOME=" + home, "XDG_STATE_HOME=" + filepath.Join(home, "state"), "XDG_CONFIG_HOME=" + filepath.Join(home, "config")}
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProc{stderr: &child.Output{}}
	if p.Process, p.base, err = child.StartAnnounced(cmd, stderrPipe, listeningRE, 20*time.Second, p.stderr.Line); err != nil {
		t.Fatalf("serve: %v\n%s", err, p.stderr.String())
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.Done()
	})
	return p
}

func serveConfig(hs *sendertest.Server, secret string) string {
	return fmt.Sprintf(`[matrix]
homeserver = %q
access_token = %q
rooms = ["!kuma:hs.test"]

[kuma.routes]
db = ["!db:hs.test", "!kuma:hs.test"]

[serve]
secret = %q
`, hs.URL(), hs.Token(), secret)
}

const kumaDown = `{"heartbeat":{"monitorID":3,"status":0,"time":"2026-11-23 10:00:00.000","msg":"connect ECONNREFUSED","ping":null,"important":true,"duration":60},"monitor":{"id":3,"name":"Shop \"API\"","url":"https://shop.example.org/health","type":"http"},"msg":"[Shop \"API\"] [🔴 Down] connect ECONNREFUSED"}`

func post(t *testing.T, url, contentType string, body io.Reader, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
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

func TestE2EServe(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!kuma:hs.test", "!db:hs.test"}})
	defer hs.Close()
	const secret = "kuma-webhook-secret-1234"
	p := startServe(t, serveConfig(hs, secret))
	bearer := "Bearer " + secret

	resp, err := http.Get(p.base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	tests := []struct {
		name        string
		path, ctype string
		body        func() io.Reader
		auth        string
		wantStatus  int
		wantInBody  string
	}{
		{"no auth", "/kuma", "application/json", func() io.Reader { return strings.NewReader(kumaDown) }, "", 401, "secret"},
		{"wrong secret", "/kuma", "application/json", func() io.Reader { return strings.NewReader(kumaDown) }, "Bearer nope", 401, "secret"},
		{"malformed", "/kuma", "application/json", func() io.Reader { return strings.NewReader(`{"heartbeat": 5, "msg": "x"}`) }, bearer, 400, "heartbeat"},
		{"oversized", "/kuma", "application/json", func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte(" "), 2<<20)) }, bearer, 413, ""},
		{"unknown route", "/kuma/nope", "application/json", func() io.Reader { return strings.NewReader(kumaDown) }, bearer, 404, "nope"},
		{"unsupported media type", "/kuma", "application/xml", func() io.Reader { return strings.NewReader("<x/>") }, bearer, 415, "content type"},
		{"json", "/kuma", "application/json", func() io.Reader { return strings.NewReader(kumaDown) }, bearer, 200, `"delivered":1`},
	}
	for _, tt := range tests {
		status, body := post(t, p.base+tt.path, tt.ctype, tt.body(), tt.auth)
		if status != tt.wantStatus || !strings.Contains(body, tt.wantInBody) {
			t.Errorf("%s: %d %s, want %d containing %q", tt.name, status, body, tt.wantStatus, tt.wantInBody)
		}
	}

	// form-data, basic auth, a route with two rooms
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("data", strings.Replace(kumaDown, `"monitorID":3`, `"monitorID":4`, 1))
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, p.base+"/kuma/db", &mp)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.SetBasicAuth("kuma", secret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("form-data: %v %v", resp, err)
	}
	resp.Body.Close()

	// GET with query parameters, as Kuma's "GET" method sends
	q := url.Values{"msg": {"[Shop] [✅ Up] 200 - OK"}, "heartbeat": {`{"monitorID":3,"status":1,"time":"2026-11-23 10:05:00.000","msg":"200 - OK","ping":42}`},
		"monitor": {`{"id":3,"name":"Shop","url":"https://shop.example.org/health","type":"http"}`}}
	req, _ = http.NewRequest(http.MethodGet, p.base+"/kuma?"+q.Encode(), nil)
	req.Header.Set("Authorization", bearer)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", resp, err)
	}
	resp.Body.Close()

	// 50 concurrent webhooks, each a different beat.
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := strings.Replace(kumaDown, `"time":"2026-11-23 10:00:00.000"`, fmt.Sprintf(`"time":"2026-11-23 11:%02d:00.000"`, i), 1)
			if status, b := post(t, p.base+"/kuma", "application/json", strings.NewReader(body), bearer); status != 200 {
				errs <- fmt.Sprintf("request %d: %d %s", i, status, b)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}

	// 200 means delivered: the rooms have it already.
	// json once + 50 concurrent + GET + form-data (its route posts here too)
	if got := len(hs.Events("!kuma:hs.test")); got != 53 {
		t.Errorf("!kuma:hs.test has %d events after 53 answers of 200", got)
	}
	if got := len(hs.Events("!db:hs.test")); got != 1 {
		t.Errorf("!db:hs.test has %d events after the answer 200", got)
	}
	// The same webhook again is the same beat: no duplicate.
	if status, _ := post(t, p.base+"/kuma", "application/json", strings.NewReader(kumaDown), bearer); status != 200 {
		t.Fatalf("repeat: %d", status)
	}
	// Answered once delivered or queued: by now it would have arrived.
	if got := len(hs.Events("!kuma:hs.test")); got != 53 {
		t.Errorf("a repeated webhook posted again: %d events", got)
	}
	var c struct{ MsgType, Body string }
	json.Unmarshal(hs.Events("!kuma:hs.test")[0].Content, &c)
	if c.Body != `[Shop "API"] [🔴 Down] connect ECONNREFUSED` {
		t.Errorf("default body = %q, want Kuma's msg", c.Body)
	}
	if strings.Contains(p.stderr.String(), secret) || strings.Contains(p.stderr.String(), hs.Token()) {
		t.Errorf("a secret reached the log:\n%s", p.stderr.String())
	}
}

// waitEvents polls until room has want events (or fails after 15 s): the
// drain is asynchronous, the count is what is asserted, not the time.
func waitEvents(t *testing.T, hs *sendertest.Server, room string, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for len(hs.Events(room)) < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(hs.Events(room)); got != want {
		t.Errorf("%s got %d events, want %d", room, got, want)
	}
}

func TestE2EServeShutdownFinishesInFlight(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!kuma:hs.test"}})
	defer hs.Close()
	// A slow answer: the event is recorded at once, the answer comes later,
	// so the request is provably in flight when SIGTERM arrives.
	hs.Inject(sendertest.Slow(time.Second))
	state := t.TempDir()
	p := startServe(t, strings.Replace(serveConfig(hs, "s3cret-value"), "[kuma.routes]", fmt.Sprintf("state_dir = %q\n\n[kuma.routes]", state), 1))
	result := make(chan int, 1)
	go func() {
		status, _ := post(t, p.base+"/kuma", "application/json", strings.NewReader(kumaDown), "Bearer s3cret-value")
		result <- status
	}()
	for deadline := time.Now().Add(10 * time.Second); len(hs.Events("!kuma:hs.test")) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the webhook never reached the homeserver")
		}
		time.Sleep(10 * time.Millisecond) // polling for a state change
	}
	// The delivery is in flight (the homeserver holds its answer): SIGTERM
	// must let it finish, and the webhook is answered from its outcome.
	p.Cmd.Process.Signal(syscall.SIGTERM)
	if status := <-result; status != 200 {
		t.Errorf("webhook got %d, want 200 (delivered)", status)
	}
	if <-p.Done(); p.Err() != nil {
		t.Errorf("serve exit after SIGTERM: %v\n%s", p.Err(), p.stderr.String())
	}
	if len(hs.Events("!kuma:hs.test")) != 1 {
		t.Error("the in-flight notification was not delivered")
	}
	// Nothing is left queued.
	if left := queuedBy(state, p.Cmd.Process.Pid); left != 0 {
		t.Errorf("%d left queued after a clean stop", left)
	}
}

// TestE2EServeStopsWhileHomeserverDown: SIGTERM while the homeserver
// refuses connections and the drain retries with a 10-minute deadline:
// serve stops (within stopGrace; the test only bounds it generously) and
// the notification stays queued for the next start.
func TestE2EServeStopsWhileHomeserverDown(t *testing.T) {
	state := t.TempDir()
	p := startServe(t, fmt.Sprintf("[matrix]\nhomeserver = %q\naccess_token = \"syt_x\"\nrooms = [\"!kuma:hs.test\"]\ntimeout = \"10m\"\nstate_dir = %q\n", "http://"+freeLoopbackAddr(t), state))
	if status, body := post(t, p.base+"/kuma", "application/json", strings.NewReader(kumaDown), ""); status != 202 {
		t.Fatalf("webhook: %d %s", status, body)
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Done():
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop a minute after SIGTERM\n%s", p.stderr.String())
	}
	if p.Err() != nil {
		t.Errorf("serve exit after SIGTERM: %v\n%s", p.Err(), p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "notifications left queued count=1 ") {
		t.Errorf("the notification should be left queued:\n%s", p.stderr.String())
	}
}

func TestE2EServeRefusesOpenListenWithoutSecret(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(cfg, []byte("[matrix]\nhomeserver = \"http://127.0.0.1:1\"\naccess_token = \"x\"\n"), 0o600)
	cmd := exec.Command(binPath, "serve", "--listen", "0.0.0.0:0", "--config", cfg)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "refusing to listen on 0.0.0.0:0 without a secret") {
		t.Fatalf("%v: %s", err, out)
	}
}

// Kuma's Test button tells the truth: a webhook is answered 2xx only when it
// is delivered (200) or queued for a reason that passes (202); a homeserver
// that refuses for good answers 502 with the reason on one line.
func TestE2EServeAnswersTheTruth(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!kuma:hs.test"}})
	defer hs.Close()
	const secret = "kuma-webhook-secret-1234"
	bearer := "Bearer " + secret
	withRooms := func(cfg, rooms string) string {
		return strings.Replace(cfg, `rooms = ["!kuma:hs.test"]`, "rooms = "+rooms, 1)
	}
	type answer struct {
		Delivered int    `json:"delivered"`
		Queued    int    `json:"queued"`
		Error     string `json:"error"`
		Reason    string `json:"reason"`
	}
	check := func(name string, p *serveProc, wantStatus int, wantText string) answer {
		t.Helper()
		status, body := post(t, p.base+"/kuma", "application/json", strings.NewReader(kumaDown), bearer)
		var a answer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Errorf("%s: body %q: %v", name, body, err)
		}
		if status != wantStatus || !strings.Contains(a.Error+a.Reason, wantText) {
			t.Errorf("%s: %d %s, want %d with %q", name, status, body, wantStatus, wantText)
		}
		if strings.Contains(a.Error+a.Reason, "\n") {
			t.Errorf("%s: the reason is not one line: %q", name, a.Error+a.Reason)
		}
		return a
	}

	t.Run("room the bot is not in", func(t *testing.T) {
		p := startServe(t, withRooms(serveConfig(hs, secret), `["!elsewhere:hs.test"]`))
		check("forbidden", p, 502, "not delivered to !elsewhere:hs.test: HTTP 403 M_FORBIDDEN")
	})
	t.Run("one room of two refused", func(t *testing.T) {
		p := startServe(t, withRooms(serveConfig(hs, secret), `["!kuma:hs.test", "!elsewhere:hs.test"]`))
		a := check("partial", p, 502, "(delivered to 1 of 2 rooms)")
		if a.Delivered != 1 {
			t.Errorf("delivered = %d, want 1", a.Delivered)
		}
	})
	t.Run("rejected token", func(t *testing.T) {
		p := startServe(t, strings.Replace(serveConfig(hs, secret), hs.Token(), "syt_revoked_token_0000", 1))
		check("token", p, 502, "M_UNKNOWN_TOKEN")
	})
	t.Run("homeserver down", func(t *testing.T) {
		down := sendertest.New(sendertest.Options{Joined: []string{"!kuma:hs.test"}})
		down.Close()
		p := startServe(t, serveConfig(down, secret), "--timeout", "1s")
		a := check("down", p, 202, "queued, the outbox retries it")
		if a.Queued != 1 {
			t.Errorf("queued = %d, want 1", a.Queued)
		}
	})
}
