package sendertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxBody bounds how much of a request body is read. Real servers accept
// bodies far above the event limit (Synapse: about the media upload limit), so
// an oversized event is refused by the event check with M_TOO_LARGE, not here.
const maxBody = 8 << 20

// tooLarge stands in for a body over maxBody, so endpoints see the error.
type tooLarge struct{}

func (tooLarge) Read([]byte) (int, error) { return 0, errors.New("request body too large") }
func (tooLarge) Close() error             { return nil }

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

// matrixError is the standard error body.
type matrixError struct {
	ErrCode      string `json:"errcode"`
	Error        string `json:"error"`
	RetryAfterMS *int64 `json:"retry_after_ms,omitempty"`
}

func fail(status int, code, msg string) reply {
	return reply{status: status, body: matrixError{ErrCode: code, Error: msg}}
}

func unrecognized() reply {
	return fail(http.StatusNotFound, "M_UNRECOGNIZED", "Unrecognized request")
}

func badMethod() reply {
	return fail(http.StatusMethodNotAllowed, "M_UNRECOGNIZED", "Unrecognized request")
}

// ServeHTTP routes on the escaped path, split before decoding, so that a room
// id holding an encoded '/' stays one segment.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if strings.HasPrefix(path, "/_sendertest/") {
		s.serveAdmin(w, r, path)
		return
	}
	rec := Request{Time: time.Now(), Method: r.Method, Path: redact(r.URL)}
	if r.URL.Query().Has("access_token") {
		rec.Legacy = append(rec.Legacy, LegacyQueryToken)
	}

	// Read the whole body now: only then does net/http watch the connection
	// and cancel the context when the client goes away during a delay. It
	// also means a dropped connection is dropped after the client finished
	// writing, like a server that crashed mid-work.
	body, readErr := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if readErr != nil {
		r.Body = tooLarge{}
	}

	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if !s.sleep(r.Context(), delay) {
		s.record(rec) // the client gave up (or Close): status 0
		return
	}

	rep := s.route(r, &rec)
	if rep.drop {
		s.record(rec)
		drop(w)
		return
	}
	if s.sleep(r.Context(), rep.lag) {
		rec.Status = rep.status
	} // else the client gave up on a slow answer: its event stays recorded
	s.record(rec)
	writeReply(w, rep)
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

func writeReply(w http.ResponseWriter, rep reply) {
	if rep.retryAfter != "" {
		w.Header().Set("Retry-After", rep.retryAfter)
	}
	if rep.html != "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(rep.status)
		io.WriteString(w, rep.html)
		return
	}
	writeJSON(w, rep.status, rep.body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errcode":"M_UNKNOWN","error":"encoding"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
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

// route dispatches a /_matrix request.
func (s *Server) route(r *http.Request, rec *Request) reply {
	path := r.URL.EscapedPath()
	if path == "/_matrix/client/versions" {
		if r.Method != http.MethodGet {
			return badMethod()
		}
		return ok(versions)
	}
	if path == "/.well-known/matrix/client" {
		if r.Method != http.MethodGet {
			return badMethod()
		}
		return s.serveWellKnown()
	}
	rest, found := strings.CutPrefix(path, "/_matrix/client/")
	if !found {
		return unrecognized()
	}
	raw := strings.Split(rest, "/")
	// GET .../state/{type}/ is the state event with an empty state key
	// (mautrix and Synapse both use the trailing slash): the one place an
	// empty segment is a route.
	stateEmptyKey := len(raw) == 6 && raw[1] == "rooms" && raw[3] == "state" && raw[5] == ""
	if stateEmptyKey {
		raw = raw[:5]
	}
	switch raw[0] {
	case "v3":
	case "r0":
		rec.Legacy = append(rec.Legacy, LegacyR0)
	default:
		return unrecognized()
	}
	seg := make([]string, len(raw)-1)
	for i, e := range raw[1:] {
		d, err := url.PathUnescape(e)
		if err != nil || d == "" {
			return unrecognized() // an empty segment matches no route, as in Synapse's [^/]+ patterns
		}
		seg[i] = d
	}

	// method wants the method of a matched route, else 405.
	method := func(m string) bool { return r.Method == m }
	switch {
	case len(seg) == 2 && seg[0] == "account" && seg[1] == "whoami":
		if !method(http.MethodGet) {
			return badMethod()
		}
		return s.whoami(r, rec)
	case len(seg) == 1 && seg[0] == "login":
		switch r.Method {
		case http.MethodGet:
			return ok(map[string]any{"flows": []map[string]string{{"type": "m.login.password"}}})
		case http.MethodPost:
			return s.login(r)
		}
		return badMethod()
	case len(seg) == 1 && seg[0] == "sync":
		if !method(http.MethodGet) {
			return badMethod()
		}
		return s.sync(r)
	case len(seg) == 4 && seg[0] == "rooms" && seg[2] == "state",
		len(seg) == 5 && seg[0] == "rooms" && seg[2] == "state":
		if !method(http.MethodGet) {
			return badMethod()
		}
		stateKey := ""
		if len(seg) == 5 {
			stateKey = seg[4]
		}
		return s.stateEvent(r, seg[1], seg[3], stateKey)
	case len(seg) == 1 && seg[0] == "joined_rooms":
		if !method(http.MethodGet) {
			return badMethod()
		}
		return s.joinedRooms(r, rec)
	case len(seg) == 3 && seg[0] == "directory" && seg[1] == "room":
		if !method(http.MethodGet) {
			return badMethod()
		}
		return s.directory(seg[2])
	case len(seg) == 2 && seg[0] == "join",
		len(seg) == 3 && seg[0] == "rooms" && seg[2] == "join":
		if !method(http.MethodPost) {
			return badMethod()
		}
		target := seg[1]
		if seg[0] == "rooms" && !strings.HasPrefix(target, "!") {
			return invalidRoomID(target)
		}
		return s.join(r, rec, target)
	case len(seg) == 3 && seg[0] == "rooms" && seg[2] == "messages":
		if !method(http.MethodGet) {
			return badMethod()
		}
		return s.messages(r, seg[1])
	case len(seg) == 5 && seg[0] == "rooms" && seg[2] == "send":
		if !method(http.MethodPut) {
			return badMethod()
		}
		return s.send(r, rec, seg[1], seg[3], seg[4])
	case len(seg) == 4 && seg[0] == "rooms" && seg[2] == "send":
		if !method(http.MethodPost) {
			return badMethod()
		}
		rec.Legacy = append(rec.Legacy, LegacyPostWithoutTxn)
		return s.send(r, rec, seg[1], seg[3], "")
	}
	return unrecognized()
}

var versions = map[string]any{
	"versions": []string{
		"r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1",
		"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12",
	},
	"unstable_features": map[string]bool{},
}

func invalidRoomID(id string) reply {
	return fail(http.StatusBadRequest, "M_INVALID_PARAM", fmt.Sprintf("Expected room ID; got %q", id))
}

// authenticate checks the access token the way Synapse does: the header or
// the query parameter, never both.
func (s *Server) authenticate(r *http.Request) (string, *reply) {
	missing := func(msg string) (string, *reply) {
		rep := fail(http.StatusUnauthorized, "M_MISSING_TOKEN", msg)
		return "", &rep
	}
	headers := r.Header.Values("Authorization")
	query := r.URL.Query()["access_token"]
	var token string
	switch {
	case len(headers) > 0 && len(query) > 0:
		return missing("Mixing Authorization headers and access_token query parameters.")
	case len(headers) > 1:
		return missing("Too many Authorization headers.")
	case len(query) > 1:
		return missing("Too many access_token query parameters.")
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
	if _, valid := s.deviceOf(token); !valid {
		rep := fail(http.StatusUnauthorized, "M_UNKNOWN_TOKEN", "Invalid access token passed.")
		return "", &rep
	}
	return token, nil
}

// deviceOf returns the device a valid token is bound to.
func (s *Server) deviceOf(token string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	found, device := false, ""
	for t, d := range s.tokens {
		if subtle.ConstantTimeCompare([]byte(token), []byte(t)) == 1 {
			found, device = true, d
		}
	}
	return device, found
}

func (s *Server) whoami(r *http.Request, _ *Request) reply {
	token, bad := s.authenticate(r)
	if bad != nil {
		return *bad
	}
	device, _ := s.deviceOf(token)
	return ok(map[string]any{"user_id": s.userID, "device_id": device, "is_guest": false})
}

// serveWellKnown answers /.well-known/matrix/client, or 404 when none is set.
func (s *Server) serveWellKnown() reply {
	s.mu.Lock()
	base := s.wellKnown
	s.mu.Unlock()
	if base == "" {
		return fail(http.StatusNotFound, "M_NOT_FOUND", "No .well-known file")
	}
	return ok(map[string]any{"m.homeserver": map[string]string{"base_url": base}})
}

// login is POST /login with m.login.password, for the bot only. A device id
// already known reuses that device (and, as Synapse does, invalidates the
// device's older tokens); a new one, or none, creates a device.
func (s *Server) login(r *http.Request) reply {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return fail(http.StatusRequestEntityTooLarge, "M_TOO_LARGE", "Request body too large")
	}
	obj, bad := parseObject(body)
	if bad != nil {
		return *bad
	}
	str := func(m map[string]any, k string) string { v, _ := m[k].(string); return v }
	if typ := str(obj, "type"); typ != "m.login.password" {
		return fail(http.StatusBadRequest, "M_UNKNOWN", fmt.Sprintf("Unknown login type %s", typ))
	}
	user := str(obj, "user") // deprecated form
	if ident, isObj := obj["identifier"].(map[string]any); isObj {
		if str(ident, "type") != "m.id.user" {
			return fail(http.StatusBadRequest, "M_UNKNOWN", "Unknown login identifier type")
		}
		user = str(ident, "user")
	}
	if user == "" {
		return fail(http.StatusBadRequest, "M_MISSING_PARAM", "Missing parameter: identifier")
	}
	local, _, _ := strings.Cut(strings.TrimPrefix(s.userID, "@"), ":")
	userMatches := strings.EqualFold(user, local) || strings.EqualFold(user, s.userID)
	password := str(obj, "password")
	if s.password == "" || !userMatches || subtle.ConstantTimeCompare([]byte(password), []byte(s.password)) != 1 {
		return fail(http.StatusForbidden, "M_FORBIDDEN", "Invalid username or password")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	device := str(obj, "device_id")
	if device == "" {
		device = fmt.Sprintf("GEN%08d", s.seq)
	}
	if _, known := s.devices[device]; known {
		for t, d := range s.tokens {
			if d == device {
				delete(s.tokens, t)
			}
		}
	} else {
		s.devices[device] = str(obj, "initial_device_display_name")
	}
	h := sha256.New()
	binary.Write(h, binary.BigEndian, s.seed)
	binary.Write(h, binary.BigEndian, s.seq)
	h.Write([]byte(device))
	token := "syt_" + base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:32]
	s.tokens[token] = device
	return ok(map[string]any{"user_id": s.userID, "access_token": token, "device_id": device})
}

// sync is a minimal GET /sync: the rooms the bot is joined to or invited to,
// with no events. Filters, since and timeout are accepted and ignored, but
// for the Dendrite flavour's timelines (see syncTimeline).
func (s *Server) sync(r *http.Request) reply {
	token, bad := s.authenticate(r)
	if bad != nil {
		return *bad
	}
	var tl *timelineFilter
	if s.software == Dendrite {
		var rep *reply
		if tl, rep = parseTimelineFilter(r.URL.Query().Get("filter")); rep != nil {
			return *rep
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	join, invite := map[string]any{}, map[string]any{}
	for id, st := range s.rooms {
		switch {
		case st.joined && tl != nil && tl.allows(id):
			join[id] = map[string]any{"timeline": map[string]any{"events": s.syncTimeline(id, token, tl)}}
		case st.joined:
			join[id] = map[string]any{}
		case st.invited:
			invite[id] = map[string]any{"invite_state": map[string]any{"events": []any{}}}
		}
	}
	return ok(map[string]any{"next_batch": fmt.Sprintf("s%d", s.seq), "rooms": map[string]any{"join": join, "invite": invite}})
}

// stateEvent is GET /rooms/{id}/state/{type}/{key}: the content of the few
// state events a sender looks at. Like Synapse, only a member may read it.
func (s *Server) stateEvent(r *http.Request, room, evType, stateKey string) reply {
	if _, bad := s.authenticate(r); bad != nil {
		return *bad
	}
	if !strings.HasPrefix(room, "!") {
		return invalidRoomID(room)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.rooms[room]
	if st == nil || !st.joined {
		return fail(http.StatusForbidden, "M_FORBIDDEN", fmt.Sprintf("User %s not in room %s", s.userID, room))
	}
	notFound := fail(http.StatusNotFound, "M_NOT_FOUND", "Event not found.")
	switch {
	case evType == "m.room.power_levels" && stateKey == "":
		return ok(st.levels())
	case evType == "m.room.encryption" && stateKey == "":
		if !st.encrypted {
			return notFound
		}
		return ok(map[string]any{"algorithm": "m.megolm.v1.aes-sha2"})
	case evType == "m.room.create" && stateKey == "":
		version := "10"
		if serverPart(room) == "" {
			version = "12"
		}
		return ok(map[string]any{"room_version": version})
	case evType == "m.room.member" && stateKey == s.userID:
		return ok(map[string]any{"membership": "join"})
	}
	return notFound
}

func (s *Server) joinedRooms(r *http.Request, _ *Request) reply {
	if _, bad := s.authenticate(r); bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rooms := []string{}
	for id, st := range s.rooms {
		if st.joined {
			rooms = append(rooms, id)
		}
	}
	slices.Sort(rooms)
	return ok(map[string]any{"joined_rooms": rooms})
}

// directory resolves an alias. The spec does not require a token here, and
// Synapse ignores one, so neither do we.
func (s *Server) directory(alias string) reply {
	if !validAlias(alias) {
		return fail(http.StatusBadRequest, "M_INVALID_PARAM", "Room alias invalid")
	}
	s.mu.Lock()
	room, found := s.aliases[alias]
	s.mu.Unlock()
	if !found {
		return fail(http.StatusNotFound, "M_NOT_FOUND", fmt.Sprintf("Room alias %s not found", alias))
	}
	return ok(map[string]any{"room_id": room, "servers": []string{serverPart(alias)}})
}

func validAlias(a string) bool {
	return strings.HasPrefix(a, "#") && serverPart(a) != ""
}

// join accepts a pending invite or joins a public room. The body must be a
// JSON object: Synapse accepts an empty body, Conduit-family servers do not,
// so we are strict.
func (s *Server) join(r *http.Request, _ *Request, target string) reply {
	if _, bad := s.authenticate(r); bad != nil {
		return *bad
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return fail(http.StatusRequestEntityTooLarge, "M_TOO_LARGE", "Request body too large")
	}
	if _, bad := parseObject(body); bad != nil {
		return *bad
	}
	room := target
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.software == Dendrite {
		if rep, refused := s.dendriteJoin(target); refused {
			return rep
		}
	}
	switch {
	case strings.HasPrefix(target, "#"):
		id, found := s.aliases[target]
		if !validAlias(target) || !found {
			return fail(http.StatusNotFound, "M_NOT_FOUND", fmt.Sprintf("No room with alias %s", target))
		}
		room = id
	case !strings.HasPrefix(target, "!"):
		return fail(http.StatusBadRequest, "M_INVALID_PARAM", fmt.Sprintf("%s was not legal room ID or room alias", target))
	}
	st := s.rooms[room]
	switch {
	case st == nil:
		// Synapse asks remote servers; with none known it gives up so.
		return fail(http.StatusNotFound, "M_NOT_FOUND", "No known servers")
	case st.joined:
	case st.invited || st.public:
		st.joined, st.invited = true, false
	default:
		return fail(http.StatusForbidden, "M_FORBIDDEN", "You are not invited to this room.")
	}
	return ok(map[string]string{"room_id": room})
}

// dendriteJoin answers a join Dendrite refuses, with Dendrite's answer.
// Callers hold mu.
func (s *Server) dendriteJoin(target string) (reply, bool) {
	internal := func(body any) (reply, bool) {
		return reply{status: http.StatusInternalServerError, body: body}, true
	}
	switch {
	case strings.HasPrefix(target, "#"):
		if _, found := s.aliases[target]; !found {
			return internal(map[string]string{"Err": ""})
		}
		return reply{}, false
	case !strings.HasPrefix(target, "!"):
		return fail(http.StatusBadRequest, "M_UNKNOWN", fmt.Sprintf("room ID or alias %q is invalid", target)), true
	case serverPart(target) == "":
		return fail(http.StatusBadRequest, "M_UNKNOWN", fmt.Sprintf("room ID %q is invalid: at least one ':' is expected in the room id", target)), true
	}
	st := s.rooms[target]
	switch {
	case st == nil && serverPart(target) == s.serverName:
		return fail(http.StatusNotFound, "M_NOT_FOUND", "room does not exist"), true
	case st == nil:
		return internal(map[string]string{"message": "Internal Server Error"}) // no server to join through
	case !st.joined && !st.invited && !st.public:
		return fail(http.StatusForbidden, "M_FORBIDDEN", fmt.Sprintf(
			"InputRoomEventsResponse: eventauth: %q is not allowed to change their membership from \"leave\" to \"join\" as join rule \"invite\" forbids it", s.userID)), true
	}
	return reply{}, false
}

// knows reports whether the server has a record of room (joined, invited,
// public, or reached through an alias).
func (s *Server) knows(room string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, known := s.rooms[room]
	return known
}

// parseObject decodes a request body that must be a JSON object, with
// Synapse's error codes: M_NOT_JSON for anything that is not JSON (including
// an empty body and invalid UTF-8), M_BAD_JSON for JSON that is not an object.
func parseObject(body []byte) (map[string]any, *reply) {
	notJSON := func() (map[string]any, *reply) {
		rep := fail(http.StatusBadRequest, "M_NOT_JSON", "Content not JSON.")
		return nil, &rep
	}
	if !utf8.Valid(body) || !json.Valid(body) {
		return notJSON()
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return notJSON()
	}
	obj, isObj := v.(map[string]any)
	if !isObj {
		rep := fail(http.StatusBadRequest, "M_BAD_JSON", "Content must be a JSON object.")
		return nil, &rep
	}
	return obj, nil
}

// checkCanonical applies the canonical-JSON rules events must meet since room
// version 6: integers only, within ±(2^53-1). Synapse answers M_BAD_JSON.
func checkCanonical(v any) error {
	switch v := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("bad JSON value: %s is not an integer", v)
		}
		if n > 1<<53-1 || n < -(1<<53-1) {
			return fmt.Errorf("JSON integer out of range: %s", v)
		}
	case map[string]any:
		for _, e := range v {
			if err := checkCanonical(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := checkCanonical(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// send handles PUT .../send/{type}/{txn} and the legacy POST without txn.
// The order of checks follows Synapse: faults (a proxy or the network) first,
// then the token, then the transaction cache (a replay is answered before the
// body is even looked at), then the body, the rate limit, the event size and
// the membership.
func (s *Server) send(r *http.Request, rec *Request, room, evType, txn string) reply {
	body, readErr := io.ReadAll(r.Body)

	var lag time.Duration
	if f, found := s.nextFault(); found {
		rec.Fault = f.Kind
		switch f.Kind {
		case Fault429Header:
			rep := fail(http.StatusTooManyRequests, "M_LIMIT_EXCEEDED", "Too Many Requests")
			rep.retryAfter = strconv.FormatInt(int64(math.Ceil(f.Wait.Seconds())), 10)
			return rep
		case Fault429Body:
			return limitExceeded(f.Wait, false)
		case FaultStatus:
			return serverError(f.Status)
		case FaultDrop:
			return reply{drop: true}
		case FaultSlow:
			lag = f.Wait
		}
	}
	rep := s.sendEvent(r, rec, room, evType, txn, body, readErr)
	rep.lag = lag
	return rep
}

func (s *Server) sendEvent(r *http.Request, rec *Request, room, evType, txn string, body []byte, readErr error) reply {
	token, bad := s.authenticate(r)
	if bad != nil {
		return *bad
	}
	if s.software == Dendrite && !s.knows(room) {
		// Dendrite looks the room's version up first, before the txn
		// cache and the body, and whatever the form of the id.
		return fail(http.StatusBadRequest, "M_UNSUPPORTED_ROOM_VERSION", "QueryRoomVersionForRoom: missing room info for room "+room)
	}
	if !strings.HasPrefix(room, "!") {
		return invalidRoomID(room)
	}
	if readErr != nil {
		return fail(http.StatusRequestEntityTooLarge, "M_TOO_LARGE", "Request body too large")
	}
	content, badBody := parseObject(body)

	s.mu.Lock()
	defer s.mu.Unlock()
	key := txnKey{token, room, evType, txn}
	if txn != "" {
		if id, seen := s.txns[key]; seen {
			rec.Replayed = true
			return ok(map[string]string{"event_id": id})
		}
	}
	if badBody != nil {
		return *badBody
	}
	if err := checkCanonical(content); err != nil {
		return fail(http.StatusBadRequest, "M_BAD_JSON", err.Error())
	}
	now := time.Now()
	if allowed, wait := s.limit.take(now); !allowed {
		rec.Fault = FaultRateLimit
		return limitExceeded(wait, true)
	}
	if size := pduSize(s.userID, room, evType, content, now); size > MaxEventSize {
		return fail(http.StatusRequestEntityTooLarge, "M_TOO_LARGE",
			fmt.Sprintf("event too large: %d bytes > %d", size, MaxEventSize))
	}
	st := s.rooms[room]
	if st == nil || !st.joined {
		switch {
		case s.software != Dendrite:
			return fail(http.StatusForbidden, "M_FORBIDDEN", fmt.Sprintf("User %s not in room %s", s.userID, room))
		case st != nil && st.invited && serverPart(room) != s.serverName:
			return fail(http.StatusNotFound, "M_NOT_FOUND", "Room does not exist") // a stub: known from the invite only
		}
		return fail(http.StatusForbidden, "M_FORBIDDEN", fmt.Sprintf("eventauth: sender %q not in room", s.userID))
	}
	if pl := st.levels(); pl.level(s.userID) < pl.required(evType) {
		if s.software == Dendrite {
			return fail(http.StatusForbidden, "M_FORBIDDEN", fmt.Sprintf(
				"eventauth: sender %q is not allowed to send event. %d < %d", s.userID, pl.level(s.userID), pl.required(evType)))
		}
		return fail(http.StatusForbidden, "M_FORBIDDEN", fmt.Sprintf(
			"You don't have permission to post that to the room. user_level (%d) < send_level (%d)",
			pl.level(s.userID), pl.required(evType)))
	}

	s.seq++
	id := s.eventID(room, txn)
	var compact bytes.Buffer
	json.Compact(&compact, body) // cannot fail: body parsed above
	s.events = append(s.events, Event{
		Room:    room,
		EventID: id,
		TxnID:   txn,
		Type:    evType,
		Sender:  s.userID,
		Content: json.RawMessage(compact.Bytes()),
		Time:    now,
		Legacy:  slices.Clone(rec.Legacy),
		token:   token,
	})
	if txn != "" {
		s.txns[key] = id
	}
	return ok(map[string]string{"event_id": id})
}

// eventID makes a room-version-4-style id ("$" and 43 url-safe base64
// characters of a hash), deterministic for a seed and a sequence of sends.
func (s *Server) eventID(room, txn string) string {
	h := sha256.New()
	binary.Write(h, binary.BigEndian, s.seed)
	binary.Write(h, binary.BigEndian, s.seq)
	h.Write([]byte(room + "\x00" + txn))
	return "$" + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// limitExceeded is a 429 M_LIMIT_EXCEEDED with retry_after_ms, and with the
// Retry-After header too when header is set (current Synapse sends both).
func limitExceeded(wait time.Duration, header bool) reply {
	ms := int64(math.Ceil(float64(wait) / float64(time.Millisecond)))
	rep := reply{status: http.StatusTooManyRequests, body: matrixError{
		ErrCode: "M_LIMIT_EXCEEDED", Error: "Too Many Requests", RetryAfterMS: &ms,
	}}
	if header {
		rep.retryAfter = strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10)
	}
	return rep
}

// serverError answers like Synapse (500, JSON) or like the reverse proxy in
// front of it (502/503/504, HTML).
func serverError(status int) reply {
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		text := fmt.Sprintf("%d %s", status, http.StatusText(status))
		return reply{status: status, html: "<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" +
			text + "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"}
	}
	return fail(status, "M_UNKNOWN", "Internal server error")
}

// pduSize estimates the size of the event as the server stores and checks
// it: canonical JSON of the PDU with the envelope a real server adds (auth and
// prev events, hashes, signatures). So a sender that leaves no margin for the
// envelope fails here as it would on Synapse.
func pduSize(sender, room, evType string, content map[string]any, now time.Time) int {
	fakeID := "$" + strings.Repeat("A", 43)
	pdu := map[string]any{
		"auth_events":      []string{fakeID, fakeID, fakeID},
		"prev_events":      []string{fakeID},
		"content":          content,
		"depth":            int64(1) << 20,
		"hashes":           map[string]string{"sha256": strings.Repeat("A", 43)},
		"origin_server_ts": now.UnixMilli(),
		"room_id":          room,
		"sender":           sender,
		"signatures": map[string]map[string]string{
			serverPart(sender): {"ed25519:a_AbCd": strings.Repeat("A", 86)},
		},
		"type": evType,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // canonical JSON leaves <, > and & alone
	if err := enc.Encode(pdu); err != nil {
		return math.MaxInt
	}
	return buf.Len() - 1 // Encode's newline
}

// serveAdmin serves the records, without a token, to other processes.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request, path string) {
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, matrixError{ErrCode: "M_UNRECOGNIZED", Error: "Unrecognized request"})
		return
	}
	switch path {
	case "/_sendertest/events":
		events := s.AllEvents()
		if room := r.URL.Query().Get("room"); room != "" {
			events = s.Events(room)
		}
		if events == nil {
			events = []Event{}
		}
		writeJSON(w, http.StatusOK, events)
	case "/_sendertest/stats":
		// What a poller needs without the records (tens of MB under a
		// benchmark's load): counts, and when the last event arrived.
		writeJSON(w, http.StatusOK, s.Stats())
	case "/_sendertest/requests":
		reqs := s.Requests()
		if reqs == nil {
			reqs = []Request{}
		}
		writeJSON(w, http.StatusOK, reqs)
	default:
		writeJSON(w, http.StatusNotFound, matrixError{ErrCode: "M_UNRECOGNIZED", Error: "Unrecognized request"})
	}
}
