package sender

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

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

// tlsServer serves h over HTTPS on loopback: a server name is looked up at
// https://NAME/.well-known only. Every httptest TLS server has the same
// certificate, so the client returned trusts them all.
func tlsServer(t *testing.T, h http.Handler) (baseURL string, c *http.Client) {
	t.Helper()
	ts := httptest.NewTLSServer(h)
	t.Cleanup(ts.Close)
	return ts.URL, ts.Client()
}

// tlsHomeserver is a sendertest homeserver over HTTPS.
func tlsHomeserver(t *testing.T, opts sendertest.Options) (*sendertest.Server, string, *http.Client) {
	t.Helper()
	s := sendertest.NewHandler(opts)
	t.Cleanup(s.Close)
	base, c := tlsServer(t, s)
	return s, base, c
}

func TestDiscoverServerNameWithWellKnown(t *testing.T) {
	hs := sendertest.New(sendertest.Options{})
	defer hs.Close()
	// example.org delegates to matrix.example.org: two servers.
	name, nameURL, c := tlsHomeserver(t, sendertest.Options{WellKnown: hs.URL() + "/"})

	got, err := Discover(context.Background(), c, hostPort(t, nameURL))
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
	got, err = Discover(context.Background(), c, "@bot:"+hostPort(t, nameURL))
	if err != nil || got.BaseURL != hs.URL() {
		t.Errorf("user id: %+v %v", got, err)
	}
}

func TestDiscoverServerNameWithout(t *testing.T) {
	hs, base, c := tlsHomeserver(t, sendertest.Options{}) // .well-known answers 404
	got, err := Discover(context.Background(), c, " "+hostPort(t, base)+"/ ")
	if err != nil {
		t.Fatal(err)
	}
	if got.BaseURL != base || got.Via != "given" {
		t.Errorf("got %+v, want %s as given", got, base)
	}
	if p := paths(hs.Requests()); len(p) != 2 || p[0] != "GET /.well-known/matrix/client" || p[1] != "GET /_matrix/client/versions" {
		t.Errorf("requests: %v", p)
	}
	// Nothing is kept between calls: each one asks again.
	if _, err := Discover(context.Background(), c, hostPort(t, base)); err != nil || len(hs.Requests()) != 4 {
		t.Errorf("second call: %v, %d requests in all, want 4", err, len(hs.Requests()))
	}
}

func TestDiscoverURL(t *testing.T) {
	hs := sendertest.New(sendertest.Options{WellKnown: "http://elsewhere.invalid"})
	defer hs.Close()
	for _, in := range []string{hs.URL(), hs.URL() + "/", hs.URL() + "//"} {
		got, err := Discover(context.Background(), nil, in)
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
	site, c := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/matrix/client" {
			w.Write([]byte(`{"m.homeserver":{"base_url":"` + hs.URL() + `"}}`))
			return
		}
		http.NotFound(w, r)
	}))
	got, err := Discover(context.Background(), c, site+"/")
	if err != nil || got.BaseURL != hs.URL() || got.Via != "well-known" {
		t.Errorf("got %+v %v", got, err)
	}
	// With a path, the URL is the user's explicit choice: no guessing.
	if _, err := Discover(context.Background(), c, site+"/matrix/"); err == nil ||
		!strings.Contains(err.Error(), "versions answered HTTP 404") {
		t.Errorf("URL with a path that is not a homeserver: %v", err)
	}
}

func TestDiscoverErrors(t *testing.T) {
	notMatrix, c := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/matrix/client":
			w.Write([]byte(`{"m.homeserver":{"base_url":"` + "https://" + r.Host + `/sub"}}`))
		default:
			w.Write([]byte(`<html>hello</html>`))
		}
	}))
	badJSON, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"m.homeserver":`))
	}))
	noBase, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"m.identity_server":{"base_url":"https://vector.im"}}`))
	}))
	badBase, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"m.homeserver":{"base_url":"matrix.example.org"}}`))
	}))
	broken, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>oops</html>", http.StatusInternalServerError)
	}))
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	tests := []struct{ name, in, want string }{
		{"empty", "  ", "no homeserver"},
		{"ftp", "ftp://example.org", "not an http(s) URL"},
		{"path in a name", "example.org/matrix", "not a server name"},
		{"user id without server", "@bot", "needs a server part"},
		{"not a homeserver", hostPort(t, notMatrix), "/sub: /_matrix/client/versions is not a Matrix answer"},
		{"bad .well-known", hostPort(t, badJSON), "/.well-known/matrix/client: .well-known response not JSON"},
		{"no base_url", hostPort(t, noBase), "no m.homeserver.base_url"},
		{"base_url without scheme", hostPort(t, badBase), `"matrix.example.org" is not an http(s) URL`},
		// Only a 404 means "no .well-known": a broken one is not guessed past.
		{".well-known fails", hostPort(t, broken), "/.well-known/matrix/client: .well-known response not JSON"},
		{"nothing there", hostPort(t, gone.URL), "GET https://" + hostPort(t, gone.URL) + "/.well-known/matrix/client: dial tcp"},
		{"URL with nothing there", gone.URL, "/_matrix/client/versions: dial tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Discover(context.Background(), c, tt.in)
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if err != nil && strings.Count(err.Error(), "://") > 1 {
				t.Errorf("err = %v: says a URL twice", err)
			}
		})
	}
}
