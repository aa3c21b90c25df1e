package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTxnIDStableAndDistinct(t *testing.T) {
	a := TxnID("netdata", "h\x00u1\x00a1\x00e1", "!room:hs")
	if a != TxnID("netdata", "h\x00u1\x00a1\x00e1", "!room:hs") {
		t.Fatal("same input gave different txn ids")
	}
	others := []string{
		TxnID("netdata", "h\x00u1\x00a1\x00e2", "!room:hs"),
		TxnID("netdata", "h\x00u1\x00a1\x00e1", "!other:hs"),
		TxnID("kuma", "h\x00u1\x00a1\x00e1", "!room:hs"),
		// the separator keeps ("ab","c") apart from ("a","bc")
		TxnID("netdat", "ah\x00u1\x00a1\x00e1", "!room:hs"),
	}
	for i, o := range others {
		if o == a {
			t.Errorf("case %d: collision %s", i, o)
		}
	}
	if !strings.HasPrefix(a, "mn") || len(a) != 34 {
		t.Errorf("unexpected shape %q", a)
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			t.Errorf("txn id %q has %q, not URL-safe base32", a, r)
		}
	}
}

func TestSendPathEscapes(t *testing.T) {
	tests := []struct{ room, want string }{
		{"!abc:example.org", "/_matrix/client/v3/rooms/%21abc:example.org/send/m.room.message/t1"},
		{"!opaqueV12", "/_matrix/client/v3/rooms/%21opaqueV12/send/m.room.message/t1"},
		{"#alias:hs", "/_matrix/client/v3/rooms/%23alias:hs/send/m.room.message/t1"},
		{"!a/b?c:hs", "/_matrix/client/v3/rooms/%21a%2Fb%3Fc:hs/send/m.room.message/t1"},
	}
	for _, tt := range tests {
		if got := SendPath(tt.room, "t1"); got != tt.want {
			t.Errorf("SendPath(%q) = %q, want %q", tt.room, got, tt.want)
		}
	}
}

func TestMessagesOnePerRoom(t *testing.T) {
	n := Notification{Source: "netdata", Identity: "x", Rooms: []string{"!a:hs", "!b:hs"}, Content: Content{MsgType: "m.notice", Body: "b"}}
	msgs := Messages(n)
	if len(msgs) != 2 || msgs[0].Room != "!a:hs" || msgs[1].Room != "!b:hs" || msgs[0].TxnID == msgs[1].TxnID {
		t.Fatalf("Messages = %+v", msgs)
	}
}

func TestWriteDryRun(t *testing.T) {
	var buf bytes.Buffer
	msgs := []Message{{Room: "!a:hs", TxnID: "t1", Content: Content{MsgType: "m.notice", Body: "<b>&\"", Format: FormatHTML, FormattedBody: "<b>x</b>"}}}
	if err := WriteDryRun(&buf, msgs); err != nil {
		t.Fatal(err)
	}
	want := `{"method":"PUT","path":"/_matrix/client/v3/rooms/%21a:hs/send/m.room.message/t1","room":"!a:hs","txn_id":"t1","content":{"msgtype":"m.notice","body":"<b>&\"","format":"org.matrix.custom.html","formatted_body":"<b>x</b>"}}` + "\n"
	if buf.String() != want {
		t.Errorf("got  %s\nwant %s", buf.String(), want)
	}
}

// fakeTransport records sends and fails the rooms listed in fail.
type fakeTransport struct {
	mu       sync.Mutex
	sent     []string
	fail     map[string]error
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	delay    time.Duration
}

func (f *fakeTransport) Send(ctx context.Context, m Message) (string, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		old := f.maxSeen.Load()
		if n <= old || f.maxSeen.CompareAndSwap(old, n) {
			break
		}
	}
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return "", &SendError{Room: m.Room, Message: ctx.Err().Error(), Err: ctx.Err()}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[m.Room]; err != nil {
		return "", err
	}
	f.sent = append(f.sent, m.Room)
	return "$ev-" + m.Room, nil
}

func rooms(n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{Room: fmt.Sprintf("!r%d:hs", i), TxnID: fmt.Sprint(i)}
	}
	return msgs
}

func TestDeliverAllRoomsConcurrentlyWithLimit(t *testing.T) {
	ft := &fakeTransport{delay: 20 * time.Millisecond}
	s := &Sender{Transport: ft, Concurrency: 3}
	report := s.Deliver(context.Background(), rooms(10))
	if !report.Delivered() || len(ft.sent) != 10 {
		t.Fatalf("delivered=%v sent=%d", report.Delivered(), len(ft.sent))
	}
	if got := ft.maxSeen.Load(); got != 3 {
		t.Errorf("max concurrent sends = %d, want exactly the limit 3", got)
	}
	for i, r := range report.Results {
		if r.Message.Room != fmt.Sprintf("!r%d:hs", i) || r.EventID != "$ev-"+r.Message.Room {
			t.Errorf("result %d out of order or wrong: %+v", i, r)
		}
	}
}

func TestDeliverDefaultConcurrency(t *testing.T) {
	ft := &fakeTransport{delay: 20 * time.Millisecond}
	(&Sender{Transport: ft}).Deliver(context.Background(), rooms(2*DefaultConcurrency))
	if got := ft.maxSeen.Load(); got != DefaultConcurrency {
		t.Errorf("max concurrent sends = %d, want %d", got, DefaultConcurrency)
	}
}

func TestDeliverOneFailureDoesNotStopOthers(t *testing.T) {
	ft := &fakeTransport{fail: map[string]error{"!r1:hs": &SendError{Room: "!r1:hs", Status: 403, ErrCode: "M_FORBIDDEN", Message: "not in room"}}}
	var logBuf bytes.Buffer
	report := (&Sender{Transport: ft, Log: newTestLogger(&logBuf)}).Deliver(context.Background(), rooms(3))
	if report.Delivered() {
		t.Fatal("report says delivered despite a failure")
	}
	if len(ft.sent) != 2 || len(report.Failed()) != 1 || report.Failed()[0].Message.Room != "!r1:hs" {
		t.Fatalf("sent=%v failed=%+v", ft.sent, report.Failed())
	}
	if got := strings.Count(logBuf.String(), "\n"); got != 3 {
		t.Errorf("want one log line per room, got %d:\n%s", got, logBuf.String())
	}
	if !strings.Contains(logBuf.String(), "the bot is not in room !r1:hs") {
		t.Errorf("log lacks the actionable hint:\n%s", logBuf.String())
	}
}

func TestDeliverDeadline(t *testing.T) {
	ft := &fakeTransport{delay: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	report := (&Sender{Transport: ft}).Deliver(ctx, rooms(2))
	for _, r := range report.Failed() {
		if !errors.Is(r.Err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want deadline exceeded", r.Err)
		}
	}
	if len(report.Failed()) != 2 {
		t.Errorf("want 2 failures, got %d", len(report.Failed()))
	}
}

func TestSendErrorTemporary(t *testing.T) {
	tests := []struct {
		err  SendError
		want bool
	}{
		{SendError{Status: 429}, true},
		{SendError{Status: 500}, true},
		{SendError{Status: 502}, true},
		{SendError{Status: 0, Err: errors.New("connection reset")}, true},
		{SendError{Status: 0, Err: context.Canceled}, false},
		{SendError{Status: 401, ErrCode: "M_UNKNOWN_TOKEN"}, false},
		{SendError{Status: 403, ErrCode: "M_FORBIDDEN"}, false},
		{SendError{Status: 400, ErrCode: "M_BAD_JSON"}, false},
	}
	for _, tt := range tests {
		if got := tt.err.Temporary(); got != tt.want {
			t.Errorf("%+v.Temporary() = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"3", 3 * time.Second}, {" 10 ", 10 * time.Second}, {"0", 0}, {"-5", 0}, {"soon", 0},
		{"Mon, 23 Nov 2026 12:00:07 GMT", 7 * time.Second},
		{"Mon, 23 Nov 2026 11:00:00 GMT", 0},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestMatrixTransportErrors checks what the mautrix transport makes of each
// kind of answer, and that the token travels only in the header.
func TestMatrixTransportErrors(t *testing.T) {
	const token = "syt_secret_token_value"
	var gotPaths []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotPaths = append(gotPaths, r.URL.RawPath+"?"+r.URL.RawQuery)
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"errcode":"M_UNKNOWN_TOKEN","error":"bad token"}`)
			return
		}
		switch {
		case strings.Contains(r.URL.Path, "forbidden"):
			w.WriteHeader(403)
			fmt.Fprint(w, `{"errcode":"M_FORBIDDEN","error":"not in room"}`)
		case strings.Contains(r.URL.Path, "limited-ms"):
			w.WriteHeader(429)
			fmt.Fprint(w, `{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":1500}`)
		case strings.Contains(r.URL.Path, "limited-header"):
			w.Header().Set("Retry-After", "4")
			w.WriteHeader(429)
			fmt.Fprint(w, `{"errcode":"M_LIMIT_EXCEEDED","error":"slow down"}`)
		case strings.Contains(r.URL.Path, "broken"):
			w.WriteHeader(502)
			fmt.Fprint(w, `<html>bad gateway</html>`)
		default:
			if r.Method != http.MethodPut || !strings.HasPrefix(r.URL.Path, "/_matrix/client/v3/rooms/") {
				w.WriteHeader(400)
				return
			}
			var c Content
			if err := json.NewDecoder(r.Body).Decode(&c); err != nil || c.Body != "hello" {
				w.WriteHeader(400)
				return
			}
			fmt.Fprint(w, `{"event_id":"$ok"}`)
		}
	}))
	defer srv.Close()

	tr, err := NewMatrixTransport(srv.URL+"/", token, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msg := func(room string) Message {
		return Message{Room: room, TxnID: "t1", Content: Content{MsgType: "m.notice", Body: "hello"}}
	}
	if ev, err := tr.Send(ctx, msg("!ok:hs")); err != nil || ev != "$ok" {
		t.Fatalf("send ok: %q %v", ev, err)
	}
	tests := []struct {
		room       string
		status     int
		code       string
		retryAfter time.Duration
		temporary  bool
	}{
		{"!forbidden:hs", 403, "M_FORBIDDEN", 0, false},
		{"!limited-ms:hs", 429, "M_LIMIT_EXCEEDED", 1500 * time.Millisecond, true},
		{"!limited-header:hs", 429, "M_LIMIT_EXCEEDED", 4 * time.Second, true},
		{"!broken:hs", 502, "", 0, true},
	}
	for _, tt := range tests {
		_, err := tr.Send(ctx, msg(tt.room))
		var se *SendError
		if !errors.As(err, &se) {
			t.Fatalf("%s: err %v is not a SendError", tt.room, err)
		}
		if se.Status != tt.status || se.ErrCode != tt.code || se.RetryAfter != tt.retryAfter || se.Temporary() != tt.temporary {
			t.Errorf("%s: got %+v (temporary %v)", tt.room, se, se.Temporary())
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("%s: error quotes the token: %v", tt.room, err)
		}
	}
	bad, _ := NewMatrixTransport(srv.URL, "wrong-token", nil)
	_, err = bad.Send(ctx, msg("!ok:hs"))
	var se *SendError
	if !errors.As(err, &se) || se.ErrCode != "M_UNKNOWN_TOKEN" || se.Temporary() || !strings.Contains(err.Error(), "access token was rejected") {
		t.Errorf("bad token: %v", err)
	}
	// A homeserver that is not there: a network error, temporary.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	down, _ := NewMatrixTransport(gone.URL, token, nil)
	_, err = down.Send(ctx, msg("!ok:hs"))
	if !errors.As(err, &se) || se.Status != 0 || !se.Temporary() || strings.Contains(err.Error(), token) {
		t.Errorf("down: %+v", err)
	}
	for _, p := range gotPaths {
		if strings.Contains(p, token) || strings.Contains(p, "access_token") {
			t.Errorf("token in URL: %s", p)
		}
	}
}

func TestDryRunTransportConcurrent(t *testing.T) {
	var buf bytes.Buffer
	tr := &DryRunTransport{W: &buf}
	report := (&Sender{Transport: tr, Concurrency: 4}).Deliver(context.Background(), rooms(20))
	if !report.Delivered() {
		t.Fatal("dry run failed")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 20 {
		t.Fatalf("want 20 lines, got %d", len(lines))
	}
	for _, l := range lines {
		var req DryRunRequest
		if err := json.Unmarshal([]byte(l), &req); err != nil || req.Method != "PUT" {
			t.Errorf("bad line %q: %v", l, err)
		}
	}
}
