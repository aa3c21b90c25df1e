package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// DefaultDiscoveryTTL is how long a discovered homeserver URL is reused from
// the cache before .well-known is asked again.
const DefaultDiscoveryTTL = 24 * time.Hour

// DiscoverOptions tune Discover. The zero value is what production uses.
type DiscoverOptions struct {
	// CacheDir holds homeserver.json, the discovered URLs; "" caches nothing.
	CacheDir string
	// TTL of a cache entry; 0 means DefaultDiscoveryTTL.
	TTL time.Duration
	// Scheme for a bare server name: "https" unless set ("http" in tests,
	// which run on loopback).
	Scheme string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Homeserver is the outcome of Discover.
type Homeserver struct {
	// BaseURL is the client-server API base URL, without a trailing slash.
	BaseURL string
	// Via says how it was found: "given" (the input, checked),
	// "well-known" (.well-known/matrix/client) or "cache".
	Via string
}

// Discover turns what a user typed as the homeserver into the base URL of
// its client-server API:
//
//   - a URL ("https://matrix.example.org/", trailing slashes dropped) is used
//     as given when it answers /_matrix/client/versions; if it does not and
//     has no path, its host's .well-known is tried, since people often give
//     https://example.org for a server delegated to matrix.example.org;
//   - a server name ("example.org", "example.org:8448", or a user id
//     "@bot:example.org") is looked up at
//     https://<name>/.well-known/matrix/client (m.homeserver.base_url); no
//     such file (404, or no answer) means https://<name> itself.
//
// The result is checked with GET /_matrix/client/versions, and cached in
// opts.CacheDir. httpc may be nil for a default client.
func Discover(ctx context.Context, httpc *http.Client, input string, opts DiscoverOptions) (Homeserver, error) {
	if httpc == nil {
		httpc = http.DefaultClient
	}
	if opts.Scheme == "" {
		opts.Scheme = "https"
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultDiscoveryTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	key := strings.TrimRight(strings.TrimSpace(input), "/")
	if key == "" {
		return Homeserver{}, errors.New("no homeserver given")
	}
	cache := fileCache{dir: opts.CacheDir, name: "homeserver.json", ttl: opts.TTL, now: opts.Now}
	if base, ok := cache.get(key); ok {
		return Homeserver{BaseURL: base, Via: "cache"}, nil
	}
	hs, err := discover(ctx, httpc, key, opts.Scheme)
	if err != nil {
		return Homeserver{}, err
	}
	cache.put(key, hs.BaseURL)
	return hs, nil
}

func discover(ctx context.Context, httpc *http.Client, key, scheme string) (Homeserver, error) {
	if strings.Contains(key, "://") {
		u, err := url.Parse(key)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return Homeserver{}, fmt.Errorf("homeserver %q: not an http(s) URL", key)
		}
		u.RawQuery, u.Fragment = "", ""
		base := strings.TrimRight(u.String(), "/")
		verr := checkVersions(ctx, httpc, base)
		if verr == nil {
			return Homeserver{BaseURL: base, Via: "given"}, nil
		}
		if strings.Trim(u.Path, "/") != "" || errors.Is(verr, context.Canceled) || errors.Is(verr, context.DeadlineExceeded) {
			return Homeserver{}, verr
		}
		wk, found, err := wellKnown(ctx, httpc, u.Scheme+"://"+u.Host)
		if err != nil || !found || wk == base {
			return Homeserver{}, verr
		}
		if err := checkVersions(ctx, httpc, wk); err != nil {
			return Homeserver{}, err
		}
		return Homeserver{BaseURL: wk, Via: "well-known"}, nil
	}
	name := key
	if strings.HasPrefix(name, "@") { // a user id: its server part
		_, after, found := strings.Cut(name, ":")
		if !found || after == "" {
			return Homeserver{}, fmt.Errorf("homeserver %q: a user id needs a server part (@user:example.org)", key)
		}
		name = after
	}
	if strings.ContainsAny(name, "/?#@ ") {
		return Homeserver{}, fmt.Errorf("homeserver %q: not a server name (example.org) or a URL (https://matrix.example.org)", key)
	}
	origin := scheme + "://" + name
	wk, found, err := wellKnown(ctx, httpc, origin)
	if err != nil {
		return Homeserver{}, err
	}
	hs := Homeserver{BaseURL: origin, Via: "given"}
	if found {
		hs = Homeserver{BaseURL: wk, Via: "well-known"}
	}
	if err := checkVersions(ctx, httpc, hs.BaseURL); err != nil {
		return Homeserver{}, err
	}
	return hs, nil
}

// wellKnown fetches origin's /.well-known/matrix/client. found is false when
// there is none (404, another 4xx or 5xx, or no answer: the spec's IGNORE);
// an error is a file that is there but wrong (the spec's FAIL_PROMPT).
func wellKnown(ctx context.Context, httpc *http.Client, origin string) (base string, found bool, err error) {
	where := origin + "/.well-known/matrix/client"
	body, status, err := get(ctx, httpc, where)
	if err != nil {
		if ctx.Err() != nil {
			return "", false, fmt.Errorf("%s: %w", where, ctx.Err())
		}
		return "", false, nil
	}
	if status != http.StatusOK {
		return "", false, nil
	}
	var doc struct {
		Homeserver *struct {
			BaseURL string `json:"base_url"`
		} `json:"m.homeserver"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", false, fmt.Errorf("%s: not JSON: %v", where, err)
	}
	if doc.Homeserver == nil || doc.Homeserver.BaseURL == "" {
		return "", false, fmt.Errorf("%s: no m.homeserver.base_url", where)
	}
	u, err := url.Parse(doc.Homeserver.BaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false, fmt.Errorf("%s: m.homeserver.base_url %q is not an http(s) URL", where, doc.Homeserver.BaseURL)
	}
	return strings.TrimRight(doc.Homeserver.BaseURL, "/"), true, nil
}

// checkVersions asks base for /_matrix/client/versions: the spec's check that
// a URL is a Matrix homeserver.
func checkVersions(ctx context.Context, httpc *http.Client, base string) error {
	where := base + "/_matrix/client/versions"
	body, status, err := get(ctx, httpc, where)
	if err != nil {
		return fmt.Errorf("homeserver %s: %w", base, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("homeserver %s: GET /_matrix/client/versions answered HTTP %d: is this the Matrix homeserver's URL?", base, status)
	}
	var doc struct {
		Versions []string `json:"versions"`
	}
	if json.Unmarshal(body, &doc) != nil || len(doc.Versions) == 0 {
		return fmt.Errorf("homeserver %s: /_matrix/client/versions is not a Matrix answer: is this the Matrix homeserver's URL?", base)
	}
	return nil
}

// get fetches a small document without credentials.
func get(ctx context.Context, httpc *http.Client, where string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", "application/json")
	res, err := httpc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, 0, err
	}
	return body, res.StatusCode, nil
}

// fileCache is a small JSON map of key to value with a time per entry, in a
// file of a cache directory shared by every run of matrix-notify. Reads that
// fail are misses and writes that fail are ignored: a cache must never stop a
// delivery. Concurrent processes may lose each other's entries (the last
// rename wins), which only costs a lookup.
type fileCache struct {
	dir, name string
	ttl       time.Duration
	now       func() time.Time
}

type cacheEntry struct {
	Value string    `json:"value"`
	Time  time.Time `json:"time"`
}

var cacheMu sync.Mutex // serializes read-modify-write within a process

func (c fileCache) path() string { return filepath.Join(c.dir, c.name) }

func (c fileCache) load() map[string]cacheEntry {
	entries := map[string]cacheEntry{}
	if c.dir == "" {
		return entries
	}
	data, err := os.ReadFile(c.path())
	if err != nil {
		return entries
	}
	if json.Unmarshal(data, &entries) != nil {
		return map[string]cacheEntry{}
	}
	return entries
}

func (c fileCache) get(key string) (string, bool) {
	if c.dir == "" {
		return "", false
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	e, ok := c.load()[key]
	if !ok || e.Value == "" {
		return "", false
	}
	if age := c.now().Sub(e.Time); age < 0 || age > c.ttl {
		return "", false
	}
	return e.Value, true
}

// put stores key (or, with value "", forgets it).
func (c fileCache) put(key, value string) {
	if c.dir == "" {
		return
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	entries := c.load()
	now := c.now()
	for k, e := range entries { // drop what has expired
		if now.Sub(e.Time) > c.ttl {
			delete(entries, k)
		}
	}
	if value == "" {
		delete(entries, key)
	} else {
		entries[key] = cacheEntry{Value: value, Time: now}
	}
	data, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(c.dir, "."+c.name+".*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(append(data, '\n'))
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), c.path()) != nil {
		os.Remove(tmp.Name())
	}
}
