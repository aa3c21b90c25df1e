package sendertest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// timelineFilter is the part of a /sync filter the Dendrite flavour obeys.
type timelineFilter struct {
	Room struct {
		Rooms    []string `json:"rooms"`
		Timeline struct {
			Limit int      `json:"limit"`
			Types []string `json:"types"`
		} `json:"timeline"`
	} `json:"room"`
}

// parseTimelineFilter reads /sync's filter parameter: an inline JSON
// object, or (a filter id, or none) the default of 10 events of any type
// in every room.
func parseTimelineFilter(v string) (*timelineFilter, *reply) {
	f := &timelineFilter{}
	if strings.HasPrefix(v, "{") {
		if err := json.Unmarshal([]byte(v), f); err != nil {
			rep := fail(http.StatusBadRequest, "M_INVALID_PARAM", "filter is not valid JSON")
			return nil, &rep
		}
	}
	if f.Room.Timeline.Limit <= 0 {
		f.Room.Timeline.Limit = 10
	}
	return f, nil
}

func (f *timelineFilter) allows(room string) bool {
	return f.Room.Rooms == nil || slices.Contains(f.Room.Rooms, room)
}

// syncTimeline is a joined room's timeline in an initial /sync: its last
// limit events of the filter's types, oldest first. Unlike its /messages,
// Dendrite v0.13.8 sets unsigned.transaction_id here on the events the
// requesting token sent (measured, scripts/realpeers/txnid_test.go): the
// only place a Dendrite client can find out whether a send that got no
// answer arrived. s.mu is held.
func (s *Server) syncTimeline(room, token string, f *timelineFilter) []map[string]any {
	var evs []Event
	for _, e := range s.events {
		if e.Room == room && (f.Room.Timeline.Types == nil || slices.Contains(f.Room.Timeline.Types, e.Type)) {
			evs = append(evs, e)
		}
	}
	evs = evs[max(0, len(evs)-f.Room.Timeline.Limit):]
	out := []map[string]any{}
	for _, e := range evs {
		out = append(out, clientEvent(e, token, true))
	}
	return out
}
