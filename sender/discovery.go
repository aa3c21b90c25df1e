package sender

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// Homeserver is the outcome of Discover.
type Homeserver struct {
	// BaseURL is the client-server API base URL, without a trailing slash.
	BaseURL string
	// Via says how it was found: "given" (the input, checked) or
	// "well-known" (.well-known/matrix/client).
	Via string
}

// Discover turns what a user typed as the homeserver into the base URL of
// its client-server API:
//
//   - a URL is used as given when it answers /_matrix/client/versions; if it
//     does not and has no path, its host's .well-known is tried, since people
//     often give https://example.org for a server delegated to
//     matrix.example.org;
//   - a server name ("example.org", "example.org:8448", or a user id
//     "@bot:example.org") is looked up at
//     https://<name>/.well-known/matrix/client (mautrix's discovery); a 404
//     there means https://<name> itself.
//
// The result is checked with GET /_matrix/client/versions. Nothing is cached:
// login and doctor run it once, and exec mode only when the configuration
// names a server rather than a URL. httpc may be nil.
func Discover(ctx context.Context, httpc *http.Client, input string) (Homeserver, error) {
	httpc = cmp.Or(httpc, http.DefaultClient)
	key := strings.TrimRight(strings.TrimSpace(input), "/")
	u, name, err := parseHomeserver(key)
	if err != nil {
		return Homeserver{}, err
	}
	if u != nil {
		return discoverURL(ctx, httpc, u)
	}
	hs := Homeserver{BaseURL: "https://" + name, Via: "given"}
	if wk, err := wellKnown(ctx, httpc, name); err != nil {
		return Homeserver{}, err
	} else if wk != "" {
		hs = Homeserver{BaseURL: wk, Via: "well-known"}
	}
	if err := checkVersions(ctx, httpc, hs.BaseURL); err != nil {
		return Homeserver{}, err
	}
	return hs, nil
}

// CheckHomeserver says whether input is a homeserver Discover can use (an
// http(s) URL, a server name or a user id), without asking the network:
// for configuration files, whose errors name the file and line.
func CheckHomeserver(input string) error {
	_, _, err := parseHomeserver(strings.TrimRight(strings.TrimSpace(input), "/"))
	return err
}

// parseHomeserver is key as a URL (u) or as a server name.
func parseHomeserver(key string) (u *url.URL, name string, err error) {
	switch {
	case key == "":
		return nil, "", errors.New("no homeserver given")
	case strings.Contains(key, "://"):
		u, err := url.Parse(key)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, "", fmt.Errorf("homeserver %q: not an http(s) URL", key)
		}
		return u, "", nil
	case strings.HasPrefix(key, "@"):
		if _, name, err = id.UserID(key).Parse(); err != nil {
			return nil, "", fmt.Errorf("homeserver %q: a user id needs a server part (@user:example.org)", key)
		}
	default:
		name = key
	}
	if !id.ValidateServerName(name) {
		return nil, "", fmt.Errorf("homeserver %q: not a server name (example.org) or a URL (https://matrix.example.org)", key)
	}
	return nil, name, nil
}

// discoverURL checks a URL the user gave, falling back to its host's
// .well-known when the URL has no path and is not a homeserver.
func discoverURL(ctx context.Context, httpc *http.Client, u *url.URL) (Homeserver, error) {
	u.RawQuery, u.Fragment = "", ""
	base := strings.TrimRight(u.String(), "/")
	verr := checkVersions(ctx, httpc, base)
	if verr == nil {
		return Homeserver{BaseURL: base, Via: "given"}, nil
	}
	if strings.Trim(u.Path, "/") != "" || ctx.Err() != nil {
		return Homeserver{}, verr
	}
	// The URL's own error says more than the guess's.
	wk, err := wellKnown(ctx, httpc, u.Host)
	if err != nil || wk == "" || wk == base {
		return Homeserver{}, verr
	}
	if err := checkVersions(ctx, httpc, wk); err != nil {
		return Homeserver{}, err
	}
	return Homeserver{BaseURL: wk, Via: "well-known"}, nil
}

// wellKnown asks mautrix for name's m.homeserver.base_url; "" means there is
// no .well-known (404: the spec's IGNORE). Any other failure is an error
// naming the URL (the spec's FAIL_PROMPT).
func wellKnown(ctx context.Context, httpc *http.Client, name string) (string, error) {
	where := "https://" + name + "/.well-known/matrix/client"
	wk, err := mautrix.DiscoverClientAPIWithClient(ctx, httpc, name)
	if err != nil {
		if uerr, ok := errors.AsType[*url.Error](err); ok { // it quotes the URL: say it once
			err = uerr.Err
		}
		return "", fmt.Errorf("GET %s: %w", where, err)
	}
	if wk == nil {
		return "", nil
	}
	base := wk.Homeserver.BaseURL
	if base == "" {
		return "", fmt.Errorf("%s: no m.homeserver.base_url", where)
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%s: m.homeserver.base_url %q is not an http(s) URL", where, base)
	}
	return strings.TrimRight(base, "/"), nil
}

// checkVersions asks base for /_matrix/client/versions: the spec's check that
// a URL is a Matrix homeserver.
func checkVersions(ctx context.Context, httpc *http.Client, base string) error {
	cli, err := newClient(httpc, base, "")
	if err != nil {
		return err
	}
	const hint = "is this the Matrix homeserver's URL?"
	resp, err := cli.Versions(ctx)
	herr, isHTTP := errors.AsType[mautrix.HTTPError](err)
	switch {
	case isHTTP && herr.Response != nil && herr.Response.StatusCode/100 != 2:
		return fmt.Errorf("homeserver %s: GET /_matrix/client/versions answered HTTP %d: %s", base, herr.Response.StatusCode, hint)
	case isHTTP && herr.Response != nil, err == nil && (resp == nil || len(resp.Versions) == 0):
		return fmt.Errorf("homeserver %s: /_matrix/client/versions is not a Matrix answer: %s", base, hint)
	case err != nil:
		if uerr, ok := errors.AsType[*url.Error](err); ok { // "request error: Get <url>: ..."
			err = uerr.Err
		}
		return fmt.Errorf("homeserver %s: GET /_matrix/client/versions: %w", base, err)
	}
	return nil
}
