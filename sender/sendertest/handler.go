package sendertest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// maxBody bounds how much of a request body is read. Real servers accept
// bodies far above the event limit (Synapse: about the media upload limit), so
// an oversized event is refused by the event check with M_TOO_LARGE, not here.
const maxBody = 8 << 20

// reply is an answer computed by an endpoint, written by ServeHTTP.
type reply struct {
	status     int
	body       any    // JSON-encoded unless html is set
	html       string // a proxy's HTML error page instead of JSON
	retryAfter string // Retry-After header value
	drop       bool   // close the connection without answering
	lag        time.Duration
}

func ok(body any) reply { return reply{status: http.StatusOK, body: body} }

// fail answers with a Matrix error, at its StatusCode. The body is a
// pointer: RespError's MarshalJSON has a pointer receiver.
func fail(e mautrix.RespError) reply { return reply{status: e.StatusCode, body: &e} }

// call is one /_matrix request on its way through an endpoint.
type call struct {
	r       *http.Request
	rec     *Request
	args    []string // the decoded wildcard segments of the route
	body    []byte
	bodyErr error  // the body was over maxBody
	token   string // the access token, on routes that authenticate
}

// object is the body as a JSON object, or the error answer.
func (c *call) object() (map[string]any, *reply) {
	if c.bodyErr != nil {
		return nil, new(fail(mautrix.MTooLarge.WithMessage("Request body too large")))
	}
	return parseObject(c.body)
}

// A route's path is matched segment by segment on the escaped path, each
// segment decoded on its own, so that a room id holding an encoded '/' stays
// one segment. "{v}" is the API version (v3, or the legacy r0), "*" any
// non-empty segment, "?" any segment (a state key may be empty: mautrix and
// Synapse use .../state/{type}/). Every other empty segment matches nothing,
// as in Synapse's [^/]+ patterns.
type route struct {
	method, path string
	auth         bool // the token is checked before serve
	serve        func(*Server, *call) reply
}

var routes = []route{
	{"GET", "/_matrix/client/versions", false, func(*Server, *call) reply { return ok(versions) }},
	{"GET", "/.well-known/matrix/client", false, (*Server).wellKnownClient},
	{"GET", "/_matrix/client/{v}/account/whoami", true, (*Server).whoami},
	{"POST", "/_matrix/client/{v}/login", false, (*Server).login},
	{"GET", "/_matrix/client/{v}/sync", true, (*Server).sync},
	{"GET", "/_matrix/client/{v}/rooms/*/state/*", true, (*Server).stateEvent},
	{"GET", "/_matrix/client/{v}/rooms/*/state/*/?", true, (*Server).stateEvent},
	{"GET", "/_matrix/client/{v}/joined_rooms", true, (*Server).joinedRooms},
	{"GET", "/_matrix/client/{v}/directory/room/*", false, (*Server).directory},
	{"POST", "/_matrix/client/{v}/join/*", true, (*Server).join},
	{"POST", "/_matrix/client/{v}/rooms/*/join", true, func(s *Server, c *call) reply {
		if !strings.HasPrefix(c.args[0], "!") {
			return invalidRoomID(c.args[0])
		}
		return s.join(c)
	}},
	{"GET", "/_matrix/client/{v}/rooms/*/messages", true, (*Server).messages},
	{"PUT", "/_matrix/client/{v}/rooms/*/send/*/*", false, (*Server).send},
	{"POST", "/_matrix/client/{v}/rooms/*/send/*", false, func(s *Server, c *call) reply {
		c.rec.Legacy = append(c.rec.Legacy, LegacyPostWithoutTxn)
		return s.send(c)
	}},
	{"GET", "/_sendertest/events", false, (*Server).adminEvents},
	{"GET", "/_sendertest/stats", false, (*Server).adminStats},
	{"GET", "/_sendertest/requests", false, func(s *Server, _ *call) reply { return ok(append([]Request{}, s.Requests()...)) }},
}

// match returns the wildcard segments of path (split at '/') if it matches.
func (rt route) match(path []string) ([]string, bool) {
	pattern := strings.Split(rt.path, "/")
	if len(pattern) != len(path) {
		return nil, false
	}
	var args []string
	for i, p := range pattern {
		seg, err := url.PathUnescape(path[i])
		switch {
		case err != nil, p == "*" && seg == "",
			p == "{v}" && seg != "v3" && seg != "r0",
			p != "{v}" && p != "*" && p != "?" && seg != p:
			return nil, false
		case p == "*" || p == "?":
			args = append(args, seg)
		}
	}
	return args, true
}

// ServeHTTP records the request, reads its body, waits the delay and
// answers through the first matching route. The admin API's requests are
// neither recorded nor delayed.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	rec := Request{Time: time.Now(), Method: r.Method, Path: redact(r.URL)}
	if r.URL.Query().Has("access_token") {
		rec.Legacy = append(rec.Legacy, LegacyQueryToken)
	}
	if strings.HasPrefix(path, "/_matrix/client/r0/") {
		rec.Legacy = append(rec.Legacy, LegacyR0)
	}
	// Read the whole body now: only then does net/http watch the connection
	// and cancel the context when the client goes away during a delay. It
	// also means a dropped connection is dropped after the client finished
	// writing, like a server that crashed mid-work.
	c := &call{r: r, rec: &rec}
	c.body, c.bodyErr = io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if strings.HasPrefix(path, "/_sendertest/") {
		write(w, s.route(c))
		return
	}

	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if !s.sleep(r.Context(), delay) {
		s.record(rec) // the client gave up (or Close): status 0
		return
	}
	rep := s.route(c)
	if rep.drop {
		s.record(rec)
		drop(w)
		return
	}
	if s.sleep(r.Context(), rep.lag) {
		rec.Status = rep.status
	} // else the client gave up on a slow answer: its event stays recorded
	s.record(rec)
	write(w, rep)
}

func write(w http.ResponseWriter, rep reply) {
	if rep.retryAfter != "" {
		w.Header().Set("Retry-After", rep.retryAfter)
	}
	if rep.html != "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(rep.status)
		io.WriteString(w, rep.html)
		return
	}
	b, err := json.Marshal(rep.body)
	if err != nil {
		rep.status, b = http.StatusInternalServerError, []byte(`{"errcode":"M_UNKNOWN","error":"encoding"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	w.Write(b)
}

// route answers with the first route that matches path and method: 405 if
// only the method differs, 404 M_UNRECOGNIZED if none matches.
func (s *Server) route(c *call) reply {
	path := strings.Split(c.r.URL.EscapedPath(), "/")
	status := http.StatusNotFound
	for _, rt := range routes {
		args, found := rt.match(path)
		if !found {
			continue
		}
		if rt.method != c.r.Method {
			status = http.StatusMethodNotAllowed
			continue
		}
		c.args = args
		if rt.auth {
			token, bad := s.authenticate(c.r)
			if bad != nil {
				return *bad
			}
			c.token = token
		}
		return rt.serve(s, c)
	}
	return fail(mautrix.MUnrecognized.WithStatus(status).WithMessage("Unrecognized request"))
}

func (s *Server) record(rec Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, rec)
}

// sleep waits d; false if the request or the server ended first.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

// drop closes the connection without answering. Hijacking closes exactly
// this connection; ErrAbortHandler is the fallback for writers that cannot be
// hijacked (HTTP/2), where it resets the stream.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// redact returns the escaped path and query with every access_token value
// replaced, keeping the order of the parameters.
func redact(u *url.URL) string {
	p := u.EscapedPath()
	if u.RawQuery == "" {
		return p
	}
	parts := strings.Split(u.RawQuery, "&")
	for i, part := range parts {
		k, _, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == "access_token" {
			parts[i] = "access_token=REDACTED"
		}
	}
	return p + "?" + strings.Join(parts, "&")
}

var versions = map[string]any{
	"versions": []string{
		"r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1",
		"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12",
	},
	"unstable_features": map[string]bool{},
}

func invalidRoomID(id string) reply {
	return fail(mautrix.MInvalidParam.WithMessage("Expected room ID; got %q", id))
}

// authenticate checks the access token the way Synapse does: the header or
// the query parameter, never both, nor either twice.
func (s *Server) authenticate(r *http.Request) (string, *reply) {
	missing := func(msg string) (string, *reply) {
		return "", new(fail(mautrix.MMissingToken.WithMessage(msg)))
	}
	headers := r.Header.Values("Authorization")
	query := r.URL.Query()["access_token"]
	var token string
	switch {
	case len(headers)+len(query) > 1:
		return missing("Give one Authorization header or one access_token query parameter, not several.")
	case len(headers) == 1:
		t, found := strings.CutPrefix(headers[0], "Bearer ")
		if !found {
			return missing("Invalid Authorization header.")
		}
		token = t
	case len(query) == 1:
		token = query[0]
	default:
		return missing("Missing access token.")
	}
	s.mu.Lock()
	_, valid := s.tokens[token]
	s.mu.Unlock()
	if !valid {
		return "", new(fail(mautrix.MUnknownToken.WithMessage("Invalid access token passed.")))
	}
	return token, nil
}

func (s *Server) whoami(c *call) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok(mautrix.RespWhoami{UserID: id.UserID(s.opts.UserID), DeviceID: id.DeviceID(s.tokens[c.token])})
}

// wellKnownClient answers /.well-known/matrix/client, or 404 when none is set.
func (s *Server) wellKnownClient(*call) reply {
	if s.opts.WellKnown == "" {
		return fail(mautrix.MNotFound.WithMessage("No .well-known file"))
	}
	return ok(map[string]any{"m.homeserver": map[string]string{"base_url": s.opts.WellKnown}})
}

// login is POST /login with m.login.password, for the bot only. A device id
// already known reuses that device (and, as Synapse does, invalidates the
// device's older tokens); a new one, or none, creates a device.
func (s *Server) login(c *call) reply {
	if _, bad := c.object(); bad != nil {
		return *bad
	}
	var req struct {
		mautrix.ReqLogin
		User string `json:"user"` // the deprecated form of the identifier
	}
	if err := json.Unmarshal(c.body, &req); err != nil {
		return fail(mautrix.MBadJSON.WithMessage(err.Error()))
	}
	if req.Type != mautrix.AuthTypePassword {
		return fail(mautrix.MUnknown.WithStatus(http.StatusBadRequest).WithMessage("Unknown login type %s", req.Type))
	}
	user := req.User
	if req.Identifier.Type != "" {
		if req.Identifier.Type != mautrix.IdentifierTypeUser {
			return fail(mautrix.MUnknown.WithStatus(http.StatusBadRequest).WithMessage("Unknown login identifier type"))
		}
		user = req.Identifier.User
	}
	if user == "" {
		return fail(mautrix.RespError{ErrCode: "M_MISSING_PARAM", Err: "Missing parameter: identifier", StatusCode: http.StatusBadRequest})
	}
	local, _, _ := strings.Cut(strings.TrimPrefix(s.opts.UserID, "@"), ":")
	userMatches := strings.EqualFold(user, local) || strings.EqualFold(user, s.opts.UserID)
	if s.opts.Password == "" || !userMatches || req.Password != s.opts.Password {
		return fail(mautrix.MForbidden.WithMessage("Invalid username or password"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	device := string(req.DeviceID)
	if device == "" {
		device = fmt.Sprintf("GEN%08d", s.seq)
	}
	if _, known := s.devices[device]; known {
		maps.DeleteFunc(s.tokens, func(_, d string) bool { return d == device })
	} else {
		s.devices[device] = req.InitialDeviceDisplayName
	}
	token := "syt_" + s.hash(device)[:32]
	s.tokens[token] = device
	return ok(mautrix.RespLogin{UserID: id.UserID(s.opts.UserID), AccessToken: token, DeviceID: id.DeviceID(device)})
}

// hash is url-safe base64 of a hash of the seed, the sequence number and
// what: deterministic for a seed and a sequence of requests. s.mu is held.
func (s *Server) hash(what string) string {
	h := sha256.New()
	binary.Write(h, binary.BigEndian, s.opts.Seed)
	binary.Write(h, binary.BigEndian, s.seq)
	h.Write([]byte(what))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// The admin API serves the records, without a token, to other processes.
func (s *Server) adminEvents(c *call) reply {
	if room := c.r.URL.Query().Get("room"); room != "" {
		return ok(append([]Event{}, s.Events(room)...))
	}
	return ok(append([]Event{}, s.AllEvents()...))
}

// adminStats is what a poller needs without the records (tens of MB under a
// benchmark's load): counts, and when the last event arrived.
func (s *Server) adminStats(*call) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Events: len(s.events), Requests: len(s.requests)}
	if n := len(s.events); n > 0 {
		st.LastEvent = s.events[n-1].Time
	}
	return ok(st)
}
