package sendertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// send handles PUT .../send/{type}/{txn} and the legacy POST without txn.
// The order of checks follows Synapse: faults (a proxy or the network) first,
// then the token, then the transaction cache (a replay is answered before the
// body is even looked at), then the body, the rate limit, the event size and
// the membership.
func (s *Server) send(c *call) reply {
	var lag time.Duration
	if f, found := s.nextFault(); found {
		c.rec.Fault = f.Kind
		switch f.Kind {
		case Fault429Header, Fault429Body:
			return limitExceeded(f.Wait, f.Kind == Fault429Header, f.Kind == Fault429Body)
		case FaultStatus:
			return serverError(f.Status)
		case FaultDrop:
			return reply{drop: true}
		case FaultSlow:
			lag = f.Wait
		}
	}
	rep := s.sendEvent(c)
	rep.lag = lag
	return rep
}

func (s *Server) sendEvent(c *call) reply {
	token, bad := s.authenticate(c.r)
	if bad != nil {
		return *bad
	}
	room, evType, txn := c.args[0], c.args[1], ""
	if len(c.args) > 2 {
		txn = c.args[2]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.rooms[room]
	if s.opts.Software == Dendrite && st == nil {
		// Dendrite looks the room's version up first, before the txn
		// cache and the body, and whatever the form of the id.
		return fail(mautrix.MUnsupportedRoomVersion.WithStatus(http.StatusBadRequest).WithMessage("QueryRoomVersionForRoom: missing room info for room " + room))
	}
	if !strings.HasPrefix(room, "!") {
		return invalidRoomID(room)
	}
	if c.bodyErr != nil {
		return fail(mautrix.MTooLarge.WithMessage("Request body too large"))
	}
	key := txnKey{token, room, evType, txn}
	if eventID, seen := s.txns[key]; seen && txn != "" {
		c.rec.Replayed = true
		return ok(mautrix.RespSendEvent{EventID: id.EventID(eventID)})
	}
	content, badBody := parseObject(c.body)
	if badBody != nil {
		return *badBody
	}
	if err := checkCanonical(content); err != nil {
		return fail(mautrix.MBadJSON.WithMessage(err.Error()))
	}
	now := time.Now()
	if allowed, wait := s.limit.take(now); !allowed {
		c.rec.Fault = FaultRateLimit
		return limitExceeded(wait, true, true)
	}
	if size := pduSize(s.opts.UserID, room, evType, content, now); size > MaxEventSize {
		return fail(mautrix.MTooLarge.WithMessage("event too large: %d bytes > %d", size, MaxEventSize))
	}
	if st == nil || !st.joined {
		switch {
		case s.opts.Software != Dendrite:
			return fail(mautrix.MForbidden.WithMessage("User %s not in room %s", s.opts.UserID, room))
		case st != nil && st.invited && serverPart(room) != s.serverName:
			return fail(mautrix.MNotFound.WithMessage("Room does not exist")) // a stub: known from the invite only
		}
		return fail(mautrix.MForbidden.WithMessage("eventauth: sender %q not in room", s.opts.UserID))
	}
	if have, need := st.powerLevels.levels(s.opts.UserID, evType); have < need {
		if s.opts.Software == Dendrite {
			return fail(mautrix.MForbidden.WithMessage(
				"eventauth: sender %q is not allowed to send event. %d < %d", s.opts.UserID, have, need))
		}
		return fail(mautrix.MForbidden.WithMessage(
			"You don't have permission to post that to the room. user_level (%d) < send_level (%d)", have, need))
	}

	s.seq++
	eventID := id.EventID("$" + s.hash(room+"\x00"+txn)) // a room version 4 style id
	var compact bytes.Buffer
	json.Compact(&compact, c.body) // cannot fail: body parsed above
	s.events = append(s.events, Event{
		Room: room, EventID: eventID.String(), TxnID: txn, Type: evType, Sender: s.opts.UserID,
		Content: compact.Bytes(), Time: now, Legacy: slices.Clone(c.rec.Legacy), token: token,
	})
	if txn != "" {
		s.txns[key] = eventID.String()
	}
	return ok(mautrix.RespSendEvent{EventID: eventID})
}

// parseObject decodes a request body that must be a JSON object, with
// Synapse's error codes: M_NOT_JSON for anything that is not JSON (including
// an empty body and invalid UTF-8), M_BAD_JSON for JSON that is not an object.
func parseObject(body []byte) (map[string]any, *reply) {
	if !utf8.Valid(body) || !json.Valid(body) {
		return nil, new(fail(mautrix.MNotJSON.WithMessage("Content not JSON.")))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, new(fail(mautrix.MBadJSON.WithMessage("Content must be a JSON object.")))
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

// limitExceeded is a 429 M_LIMIT_EXCEEDED giving wait in a Retry-After
// header, in retry_after_ms, or both (current Synapse sends both).
func limitExceeded(wait time.Duration, header, body bool) reply {
	e := mautrix.MLimitExceeded.WithMessage("Too Many Requests")
	if body {
		e = e.WithExtraData(map[string]any{"retry_after_ms": int64(math.Ceil(float64(wait) / float64(time.Millisecond)))})
	}
	rep := fail(e)
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
	return fail(mautrix.MUnknown.WithStatus(status).WithMessage("Internal server error"))
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
