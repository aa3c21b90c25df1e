package sendertest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// messages serves GET /rooms/{id}/messages, backwards (dir=b) or forwards
// (dir=f) through the events this server accepted in the room, limit at a
// time (10 by default), "from" being a token from an earlier answer's
// "end". As the spec says, unsigned.transaction_id is set only on the
// events sent with the requesting access token: how a client finds out
// whether a send that got no answer arrived. Dendrite sets it only in
// /sync (see syncTimeline).
func (s *Server) messages(r *http.Request, room string) reply {
	token, bad := s.authenticate(r)
	if bad != nil {
		return *bad
	}
	q := r.URL.Query()
	dir := q.Get("dir")
	if dir != "b" && dir != "f" {
		return fail(http.StatusBadRequest, "M_INVALID_PARAM", "dir must be b or f")
	}
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fail(http.StatusBadRequest, "M_INVALID_PARAM", "limit must be a non-negative integer")
		}
		limit = min(n, 1000)
	}
	var filter struct {
		Types []string `json:"types"`
	}
	if v := q.Get("filter"); v != "" {
		if err := json.Unmarshal([]byte(v), &filter); err != nil {
			return fail(http.StatusBadRequest, "M_INVALID_PARAM", "filter is not JSON")
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.rooms[room]; st == nil || !st.joined {
		return fail(http.StatusForbidden, "M_FORBIDDEN", "User "+s.userID+" not in room "+room)
	}
	var evs []Event // oldest first
	for _, e := range s.events {
		if e.Room == room && (len(filter.Types) == 0 || slices.Contains(filter.Types, e.Type)) {
			evs = append(evs, e)
		}
	}
	// A token is the number of events already passed in its direction.
	pos := 0
	if v := q.Get("from"); v != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v, "t"))
		if err != nil || n < 0 {
			return fail(http.StatusBadRequest, "M_INVALID_PARAM", "bad from token")
		}
		pos = n
	}
	chunk := []map[string]any{}
	for i := pos; i < len(evs) && len(chunk) < limit; i++ {
		e := evs[i]
		if dir == "b" {
			e = evs[len(evs)-1-i]
		}
		// Dendrite v0.13.8 sets no unsigned on /messages events at all,
		// not even for the sender (measured, scripts/realpeers).
		chunk = append(chunk, clientEvent(e, token, s.software != Dendrite))
	}
	resp := map[string]any{"start": "t" + strconv.Itoa(pos), "chunk": chunk}
	if end := pos + len(chunk); end < len(evs) {
		resp["end"] = "t" + strconv.Itoa(end)
	}
	return ok(resp)
}

// clientEvent is e as a client sees it; unsigned.transaction_id is set on
// the events token sent when withTxnID.
func clientEvent(e Event, token string, withTxnID bool) map[string]any {
	ev := map[string]any{
		"type": e.Type, "event_id": e.EventID, "sender": e.Sender, "room_id": e.Room,
		"origin_server_ts": e.Time.UnixMilli(), "content": e.Content,
	}
	if withTxnID && e.TxnID != "" && e.token == token {
		ev["unsigned"] = map[string]any{"transaction_id": e.TxnID}
	}
	return ev
}
