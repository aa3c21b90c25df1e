package sendertest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"maunium.net/go/mautrix"
)

// eventFilter is the part of a RoomEventFilter this server obeys.
type eventFilter struct {
	Limit int      `json:"limit"`
	Types []string `json:"types"`
}

// roomEvents returns the events of room of f's types (any when none), oldest
// first. s.mu is held.
func (s *Server) roomEvents(room string, f eventFilter) []Event {
	var evs []Event
	for _, e := range s.events {
		if e.Room == room && (len(f.Types) == 0 || slices.Contains(f.Types, e.Type)) {
			evs = append(evs, e)
		}
	}
	return evs
}

// sync is a minimal GET /sync: the rooms the bot is joined to or invited to,
// with no events. Filters, since and timeout are accepted and ignored, but
// by the Dendrite flavour: its initial /sync has the last events of each
// joined room (limit, of the filter's types), and unlike its /messages,
// Dendrite v0.13.8 sets unsigned.transaction_id here on the events the
// requesting token sent (measured, scripts/realpeers/txnid_test.go): the
// only place a Dendrite client can find out whether a send that got no
// answer arrived.
func (s *Server) sync(c *call) reply {
	var filter struct {
		Room struct {
			Rooms    []string    `json:"rooms"`
			Timeline eventFilter `json:"timeline"`
		} `json:"room"`
	}
	if v := c.r.URL.Query().Get("filter"); s.opts.Software == Dendrite && strings.HasPrefix(v, "{") {
		if err := json.Unmarshal([]byte(v), &filter); err != nil {
			return fail(mautrix.MInvalidParam.WithMessage("filter is not valid JSON"))
		}
	}
	tl := filter.Room.Timeline
	if tl.Limit <= 0 {
		tl.Limit = 10
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	join, invite := map[string]any{}, map[string]any{}
	for room, st := range s.rooms {
		switch {
		case st.joined && s.opts.Software == Dendrite && (filter.Room.Rooms == nil || slices.Contains(filter.Room.Rooms, room)):
			evs := s.roomEvents(room, tl)
			events := []map[string]any{}
			for _, e := range evs[max(0, len(evs)-tl.Limit):] {
				events = append(events, clientEvent(e, c.token, true))
			}
			join[room] = map[string]any{"timeline": map[string]any{"events": events}}
		case st.joined:
			join[room] = map[string]any{}
		case st.invited:
			invite[room] = map[string]any{"invite_state": map[string]any{"events": []any{}}}
		}
	}
	return ok(map[string]any{"next_batch": fmt.Sprintf("s%d", s.seq), "rooms": map[string]any{"join": join, "invite": invite}})
}

// messages serves GET /rooms/{id}/messages, backwards (dir=b) or forwards
// (dir=f) through the events this server accepted in the room, limit at a
// time (10 by default), "from" being a token from an earlier answer's
// "end". As the spec says, unsigned.transaction_id is set only on the
// events sent with the requesting access token: how a client finds out
// whether a send that got no answer arrived. Dendrite v0.13.8 sets no
// unsigned on /messages events at all, not even for the sender (measured,
// scripts/realpeers).
func (s *Server) messages(c *call) reply {
	room, q := c.args[0], c.r.URL.Query()
	dir := q.Get("dir")
	if dir != "b" && dir != "f" {
		return fail(mautrix.MInvalidParam.WithMessage("dir must be b or f"))
	}
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fail(mautrix.MInvalidParam.WithMessage("limit must be a non-negative integer"))
		}
		limit = min(n, 1000)
	}
	var filter eventFilter
	if v := q.Get("filter"); v != "" {
		if err := json.Unmarshal([]byte(v), &filter); err != nil {
			return fail(mautrix.MInvalidParam.WithMessage("filter is not JSON"))
		}
	}
	// A token is the number of events already passed in its direction.
	pos := 0
	if v := q.Get("from"); v != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v, "t"))
		if err != nil || n < 0 {
			return fail(mautrix.MInvalidParam.WithMessage("bad from token"))
		}
		pos = n
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.rooms[room]; st == nil || !st.joined {
		return fail(mautrix.MForbidden.WithMessage("User " + s.opts.UserID + " not in room " + room))
	}
	evs := s.roomEvents(room, filter)
	chunk := []map[string]any{}
	for i := pos; i < len(evs) && len(chunk) < limit; i++ {
		e := evs[i]
		if dir == "b" {
			e = evs[len(evs)-1-i]
		}
		chunk = append(chunk, clientEvent(e, c.token, s.opts.Software != Dendrite))
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
