package sender

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"matrix-notify/sender/sendertest"
)

// hostPort is the "server name" of a loopback test server: 127.0.0.1:PORT.
func hostPort(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func paths(reqs []sendertest.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

var httpScheme = DiscoverOptions{Scheme: "http"}

func TestDiscoverServerNameWithWellKnown(t *testing.T) {
	hs := sendertest.New(sendertest.Options{})
	defer hs.Close()
	// example.org delegates to matrix.example.org: two servers.
	name := sendertest.New(sendertest.Options{WellKnown: hs.URL() + "/"})
	defer name.Close()

	got, err := Discover(context.Background(), nil, hostPort(t, name.URL()), httpScheme)
	if err != nil {
		t.Fatal(err)
	}
	if got.BaseURL != hs.URL() || got.Via != "well-known" {
		t.Errorf("got %+v, want %s via well-known (trailing slash dropped)", got, hs.URL())
	}
	if p := paths(name.Requests()); len(p) != 1 || p[0] != "GET /.well-known/matrix/client" {
		t.Errorf("name server requests: %v", p)
	}
	if p := paths(hs.Requests()); len(p) != 1 || p[0] != "GET /_matrix/client/versions" {
		t.Errorf("homeserver requests: %v (versions must be checked)", p)
	}
	// A user id names its server.
	got, err = Discover(context.Background(), nil, "@bot:"+hostPort(t, name.URL()), httpScheme)
	if err != nil || got.BaseURL != hs.URL() {
		t.Errorf("user id: %+v %v", got, err)
	}
}

func TestDiscoverServerNameWithout(t *testing.T) {
	hs := sendertest.New(sendertest.Options{}) // .well-known answers 404
	defer hs.Close()
	got, err := Discover(context.Background(), nil, " "+hostPort(t, hs.URL())+"/ ", httpScheme)
	if err != nil {
		t.Fatal(err)
	}
	if got.BaseURL != hs.URL() || got.Via != "given" {
		t.Errorf("got %+v, want %s as given", got, hs.URL())
	}
	if p := paths(hs.Requests()); len(p) != 2 || p[0] != "GET /.well-known/matrix/client" || p[1] != "GET /_matrix/client/versions" {
		t.Errorf("requests: %v", p)
	}
}

func TestDiscoverURL(t *testing.T) {
	hs := sendertest.New(sendertest.Options{WellKnown: "http://elsewhere.invalid"})
	defer hs.Close()
	for _, in := range []string{hs.URL(), hs.URL() + "/", hs.URL() + "//"} {
		got, err := Discover(context.Background(), nil, in, httpScheme)
		if err != nil || got.BaseURL != hs.URL() || got.Via != "given" {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	// A URL that answers versions is used as given: .well-known is not asked.
	for _, r := range hs.Requests() {
		if strings.Contains(r.Path, "well-known") {
			t.Errorf("asked %s for a working URL", r.Path)
		}
	}
}

func TestDiscoverURLOfDelegatingDomain(t *testing.T) {
	hs := sendertest.New(sendertest.Options{})
	defer hs.Close()
	// https://example.org given, but the homeserver is matrix.example.org.
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/matrix/client" {
			w.Write([]byte(`{"m.homeserver":{"base_url":"` + hs.URL() + `"}}`))
			return
		}
		http.NotFound(w, r)
	}))
	defer site.Close()
	got, err := Discover(context.Background(), nil, site.URL+"/", DiscoverOptions{})
	if err != nil || got.BaseURL != hs.URL() || got.Via != "well-known" {
		t.Errorf("got %+v %v", got, err)
	}
	// With a path, the URL is the user's explicit choice: no guessing.
	if _, err := Discover(context.Background(), nil, site.URL+"/matrix/", DiscoverOptions{}); err == nil ||
		!strings.Contains(err.Error(), "versions answered HTTP 404") {
		t.Errorf("URL with a path that is not a homeserver: %v", err)
	}
}

func TestDiscoverCache(t *testing.T) {
	hs := sendertest.New(sendertest.Options{})
	defer hs.Close()
	name := sendertest.New(sendertest.Options{WellKnown: hs.URL()})
	defer name.Close()
	dir := filepath.Join(t.TempDir(), "cache")
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	opts := DiscoverOptions{Scheme: "http", CacheDir: dir, Now: func() time.Time { return now }}
	in := hostPort(t, name.URL())

	first, err := Discover(context.Background(), nil, in, opts)
	if err != nil || first.Via != "well-known" {
		t.Fatalf("first: %+v %v", first, err)
	}
	before := len(name.Requests()) + len(hs.Requests())
	second, err := Discover(context.Background(), nil, in+"/", opts)
	if err != nil || second.BaseURL != hs.URL() || second.Via != "cache" {
		t.Fatalf("second: %+v %v", second, err)
	}
	if after := len(name.Requests()) + len(hs.Requests()); after != before {
		t.Errorf("cached call made %d requests", after-before)
	}
	if st, err := os.Stat(filepath.Join(dir, "homeserver.json")); err != nil || st.Size() == 0 {
		t.Errorf("cache file: %v", err)
	}
	// Past the TTL it asks again.
	now = now.Add(DefaultDiscoveryTTL + time.Minute)
	third, err := Discover(context.Background(), nil, in, opts)
	if err != nil || third.Via != "well-known" {
		t.Errorf("after TTL: %+v %v", third, err)
	}
	// A corrupt cache file is a miss, not an error.
	if err := os.WriteFile(filepath.Join(dir, "homeserver.json"), []byte("{nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Discover(context.Background(), nil, in, opts); err != nil || got.Via != "well-known" {
		t.Errorf("corrupt cache: %+v %v", got, err)
	}
	// No cache dir: nothing written anywhere, every call asks.
	n := len(hs.Requests())
	Discover(context.Background(), nil, hs.URL(), DiscoverOptions{})
	Discover(context.Background(), nil, hs.URL(), DiscoverOptions{})
	if got := len(hs.Requests()) - n; got != 2 {
		t.Errorf("without a cache: %d requests, want 2", got)
	}
}

func TestDiscoverErrors(t *testing.T) {
	notMatrix := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/matrix/client":
			w.Write([]byte(`{"m.homeserver":{"base_url":"` + "http://" + r.Host + `/sub"}}`))
		default:
			w.Write([]byte(`<html>hello</html>`))
		}
	}))
	defer notMatrix.Close()
	badJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"m.homeserver":`))
	}))
	defer badJSON.Close()
	noBase := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"m.identity_server":{"base_url":"https://vector.im"}}`))
	}))
	defer noBase.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	tests := []struct{ name, in, want string }{
		{"empty", "  ", "no homeserver"},
		{"ftp", "ftp://example.org", "not an http(s) URL"},
		{"path in a name", "example.org/matrix", "not a server name"},
		{"user id without server", "@bot", "needs a server part"},
		{"not a homeserver", hostPort(t, notMatrix.URL), "not a Matrix answer"},
		{"bad .well-known", hostPort(t, badJSON.URL), "not JSON"},
		{"no base_url", hostPort(t, noBase.URL), "no m.homeserver.base_url"},
		{"nothing there", hostPort(t, gone.URL), "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Discover(context.Background(), nil, tt.in, httpScheme)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
