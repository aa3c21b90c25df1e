package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// kumaGoldenConfig is the TOML every Kuma golden case runs with, unless the
// case has its own config.toml.
const kumaGoldenConfig = `[matrix]
homeserver = "https://matrix.example.org"
access_token = "syt_kuma_golden_secret"
rooms = ["!kuma:example.org", "!second:example.org"]
`

// TestGoldenKuma runs every testdata/kuma/<case>: payload.json through
// `matrix-notify kuma --dry-run` (stdin), payload.multipart (with its
// content-type file) and query (a GET) through the serve receiver in dry-run
// mode. want-error cases must fail with that text.
func TestGoldenKuma(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "testdata", "kuma", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no kuma golden cases: %v", err)
	}
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) { runKumaGolden(t, dir) })
	}
}

func readOptional(t *testing.T, path string) (string, bool) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func newGoldenApp(stdin string, env map[string]string) (*app, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	a := &app{
		getenv:   func(k string) string { return env[k] },
		environ:  func() []string { return environList(env) },
		stdin:    strings.NewReader(stdin),
		stdout:   &stdout,
		stderr:   &stderr,
		now:      func() time.Time { return fixedNow },
		hostname: func() (string, error) { return "testhost.example.org", nil },
		location: time.UTC,
	}
	return a, &stdout, &stderr
}

// environList is env as os.Environ lists it.
func environList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func runKumaGolden(t *testing.T, dir string) {
	conf, ok := readOptional(t, filepath.Join(dir, "config.toml"))
	if !ok {
		conf = kumaGoldenConfig
	}
	cfgPath := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MATRIX_NOTIFY_CONFIG": cfgPath}
	wantErr, expectErr := readOptional(t, filepath.Join(dir, "want-error"))
	wantErr = strings.TrimSpace(wantErr)

	var out strings.Builder
	if payload, ok := readOptional(t, filepath.Join(dir, "payload.json")); ok {
		a, stdout, stderr := newGoldenApp(payload, env)
		code := a.run(context.Background(), []string{"kuma", "--dry-run"})
		fmt.Fprintf(&out, "### matrix-notify kuma --dry-run < payload.json\nexit %d\n--- stdout\n%s--- stderr\n%s", code, stdout, stderr)
		checkKumaOutcome(t, code == 0, stderr.String(), expectErr, wantErr)
	}
	ct, hasCT := readOptional(t, filepath.Join(dir, "content-type"))
	if body, ok := readOptional(t, filepath.Join(dir, "payload.multipart")); ok {
		if !hasCT {
			t.Fatal("payload.multipart needs a content-type file")
		}
		req := httptest.NewRequest(http.MethodPost, "/kuma", strings.NewReader(body))
		req.Header.Set("Content-Type", strings.TrimSpace(ct))
		out.WriteString(serveGolden(t, env, req, "POST /kuma (multipart)", expectErr, wantErr))
	}
	if query, ok := readOptional(t, filepath.Join(dir, "query")); ok {
		req := httptest.NewRequest(http.MethodGet, "/kuma?"+strings.TrimSpace(query), nil)
		out.WriteString(serveGolden(t, env, req, "GET /kuma?query", expectErr, wantErr))
	}
	if out.Len() == 0 {
		t.Fatal("case has no payload.json, payload.multipart or query")
	}
	checkGolden(t, filepath.Join(dir, "want.txt"), out.String())
}

func checkKumaOutcome(t *testing.T, ok bool, stderr string, expectErr bool, wantErr string) {
	t.Helper()
	switch {
	case expectErr && ok:
		t.Errorf("want an error containing %q, got success", wantErr)
	case expectErr && !strings.Contains(stderr, wantErr):
		t.Errorf("error %q does not contain %q", stderr, wantErr)
	case !expectErr && !ok:
		t.Errorf("unexpected failure: %s", stderr)
	}
}

// serveGolden sends req to the serve receiver in dry-run mode.
func serveGolden(t *testing.T, env map[string]string, req *http.Request, what string, expectErr bool, wantErr string) string {
	a, stdout, stderr := newGoldenApp("", env)
	a.log, a.logh = newLogger(stderr, false)
	a.logh.now = a.now
	c, err := a.loadConfig("serve", commonFlags{dryRun: true}, standaloneMode)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := a.newReceiver(c.s, c.fc, "")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	rc.routes().ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	lines := strings.SplitAfter(stdout.String(), "\n")
	sort.Strings(lines) // rooms are sent to concurrently
	checkKumaOutcome(t, rec.Code == http.StatusOK, string(body), expectErr, wantErr)
	logLines := strings.SplitAfter(stderr.String(), "\n")
	sort.Strings(logLines)
	return fmt.Sprintf("### %s\nstatus %d\n%s--- stdout\n%s--- stderr\n%s", what, rec.Code, body, strings.Join(lines, ""), strings.Join(logLines, ""))
}
