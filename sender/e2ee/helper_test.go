package e2ee

// Separate sender processes for the real-peer tests: the test binary
// re-executed with E2EE_HELPER=send runs one delivery as the delivery path
// will (Open, EncryptAll, Close, then PUT with the txn id) and prints what
// it did as JSON.

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestMain(m *testing.M) {
	switch os.Getenv("E2EE_HELPER") {
	case "send":
		os.Exit(helperSend())
	case "plain":
		os.Exit(helperPlain())
	}
	code := m.Run()
	stopHomeserver()
	os.Exit(code)
}

// sent is what one delivery did.
type sent struct {
	EventID   string   `json:"event_id"`
	Type      string   `json:"type"`
	Encrypted bool     `json:"encrypted"`
	Requests  []string `json:"requests"` // "METHOD /path" in order
	Error     string   `json:"error,omitempty"`
}

// countingTransport records each request's method and path.
type countingTransport struct {
	mu   sync.Mutex
	reqs []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if k := os.Getenv("E2EE_KILL_AT"); k != "" && strings.Contains(r.URL.Path, k) {
		// A crash at this point (kill -9: no deferred function runs).
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// deliver sends content to room as the delivery path will: the whole
// encryption under the lock, the PUT after it.
func deliver(ctx context.Context, hsURL, token string, opts Options, room id.RoomID, content any, txn string) sent {
	ct := &countingTransport{}
	cli, err := mautrix.NewClient(hsURL, "", token)
	if err != nil {
		return sent{Error: err.Error()}
	}
	cli.Client = &http.Client{Transport: ct}
	cli.Log = zerolog.Nop()
	cli.DefaultHTTPRetries = 0
	out := sent{}
	m, err := Open(ctx, cli, []id.RoomID{room}, opts)
	if err != nil {
		out.Error = "open: " + err.Error()
		out.Requests = ct.reqs
		return out
	}
	sealed, err := m.EncryptAll(ctx, []Plain{{Room: room, Content: content}})
	if cerr := m.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		out.Error = "encrypt: " + err.Error()
		out.Requests = ct.reqs
		return out
	}
	s := sealed[0]
	resp, err := cli.SendMessageEvent(ctx, room, s.Type, s.Content, mautrix.ReqSendEvent{TransactionID: txn})
	out.Requests = ct.reqs
	if err != nil {
		out.Error = "send: " + err.Error()
		return out
	}
	out.EventID, out.Type, out.Encrypted = resp.EventID.String(), s.Type.Type, s.Encrypted
	return out
}

func helperSend() int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := Options{DBPath: os.Getenv("E2EE_DB"), PickleKey: os.Getenv("E2EE_PICKLE"), AutoJoin: true}
	if os.Getenv("E2EE_DEBUG") != "" {
		l := zerolog.New(os.Stderr).Level(zerolog.TraceLevel)
		opts.Log = &l
	}
	var content any = json.RawMessage(os.Getenv("E2EE_CONTENT"))
	out := deliver(ctx, os.Getenv("E2EE_HS"), os.Getenv("E2EE_TOKEN"), opts, id.RoomID(os.Getenv("E2EE_ROOM")), content, os.Getenv("E2EE_TXN"))
	json.NewEncoder(os.Stdout).Encode(out)
	if out.Error != "" {
		return 1
	}
	return 0
}

// helperCmd prepares a separate process delivering content (JSON) to room
// as bot.
func helperCmd(t *testing.T, b *bot, room id.RoomID, content, txn string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"E2EE_HELPER=send",
		"E2EE_HS="+b.hs.URL,
		"E2EE_TOKEN="+b.cli.AccessToken,
		"E2EE_DB="+b.opts.DBPath,
		"E2EE_PICKLE="+b.opts.PickleKey,
		"E2EE_ROOM="+room.String(),
		"E2EE_CONTENT="+content,
		"E2EE_TXN="+txn,
		"E2EE_DEBUG="+os.Getenv("E2EE_DEBUG"),
		"E2EE_KILL_AT=",
	)
	return cmd
}

// parseSent reads a helper's output.
func parseSent(t *testing.T, out []byte, runErr error) sent {
	t.Helper()
	var s sent
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("helper output %q (%v): %v", out, runErr, err)
	}
	if runErr != nil || s.Error != "" {
		t.Fatalf("helper failed (%v): %s", runErr, s.Error)
	}
	return s
}

// sendProcess delivers content to room as bot in a separate process.
func sendProcess(t *testing.T, b *bot, room id.RoomID, content, txn string) sent {
	t.Helper()
	cmd := helperCmd(t, b, room, content, txn)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || os.Getenv("E2EE_DEBUG") != "" {
		t.Logf("helper stderr: %s", stderr.String())
	}
	return parseSent(t, out, err)
}

// textContent is an m.text message's JSON, as the sender would send it.
func textContent(body string) string {
	b, _ := json.Marshal(map[string]any{
		"msgtype": "m.text", "body": body,
		"format": "org.matrix.custom.html", "formatted_body": "<b>" + body + "</b>",
	})
	return string(b)
}

// helperPlain is a plain send as the project makes it today: one PUT.
func helperPlain() int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cli, err := mautrix.NewClient(os.Getenv("E2EE_HS"), "", os.Getenv("E2EE_TOKEN"))
	if err != nil {
		return 1
	}
	cli.Log = zerolog.Nop()
	cli.DefaultHTTPRetries = 0
	_, err = cli.SendMessageEvent(ctx, id.RoomID(os.Getenv("E2EE_ROOM")), event.EventMessage,
		json.RawMessage(os.Getenv("E2EE_CONTENT")), mautrix.ReqSendEvent{TransactionID: os.Getenv("E2EE_TXN")})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	return 0
}
