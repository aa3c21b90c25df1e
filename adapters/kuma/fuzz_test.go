package kuma

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeJSON: any bytes either fail with a *FieldError or decode to a
// payload whose context, default content (valid JSON, valid UTF-8, no NUL,
// well-formed HTML), identity and summary are all fine; and the same bytes
// posted as a request decode the same way.
func FuzzDecodeJSON(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*", "payload.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"msg":"m"}`, `{"msg":"m","heartbeat":{"status":0,"msg":"<b>\u0000\ud800"},"monitor":{"type":"port","hostname":null,"port":1}}`,
		`{"msg":"[a][b] c"}`, `{"msg":"x","heartbeat":{"status":1,"time":"2026-01-01 00:00:00.000","lastDownTime":"2025-12-31 23:00:00.000"}}`,
		`{"msg":"x","monitor":{"type":"globalping","subtype":"http","url":"https://a"},"heartbeat":{"status":1e0}}`,
		"{\"msg\":\"\xff\"}", `[]`, `{"msg":`, ``,
	} {
		f.Add([]byte(s))
	}
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := DecodeJSON(body)
		r := httptest.NewRequest(http.MethodPost, "/kuma", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		rp, rerr := DecodeRequest(r, int64(len(body))+1)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("DecodeJSON err %v, DecodeRequest err %v", err, rerr)
		}
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Problem == "" {
				t.Fatalf("error %T %q is not a FieldError", err, err)
			}
			if errors.Is(err, ErrTooLarge) {
				t.Fatal("ErrTooLarge from DecodeJSON")
			}
			return
		}
		if len(p.Context()) != len(contextKeys) {
			t.Fatalf("context keys %v", keysOf(p.Context()))
		}
		c := p.DefaultContent()
		checkContent(t, c)
		if c != rp.DefaultContent() || p.Identity(t0) != rp.Identity(t0) {
			t.Fatal("DecodeRequest and DecodeJSON disagree")
		}
		if p.Identity(t0) != p.Identity(t0.Add(time.Millisecond)) {
			t.Fatal("identity not stable within a second")
		}
		if s := p.Summary(); strings.ContainsAny(s, "\n\r\x00") {
			t.Fatalf("summary %q", s)
		}
	})
}
