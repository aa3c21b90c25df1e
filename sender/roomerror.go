package sender

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// RoomProblem is what a homeserver's refusal of a send (or of the join
// auto_join tried after it) means for the room, whichever homeserver said
// it. They word the same situation differently (observed):
//
//   - not in the room: Synapse answers a send 403 M_FORBIDDEN ("User ... not
//     in room", "Unknown room"); Dendrite 0.13 403 M_FORBIDDEN ("eventauth:
//     sender ... not in room") for a room it knows, 400
//     M_UNSUPPORTED_ROOM_VERSION ("missing room info") for one it has never
//     been in, and 404 M_NOT_FOUND for a room it knows from an invite only.
//     (A send can fail with M_UNSUPPORTED_ROOM_VERSION only when the server
//     is not in the room; from a join it means what it says.)
//   - no power: "user_level (0) < send_level (50)" (Synapse), "is not
//     allowed to send event" (Dendrite), both 403 M_FORBIDDEN;
//   - no such room: a join answers 404;
//   - not a room id: a join answers 400 M_UNKNOWN (Dendrite) or
//     M_INVALID_PARAM (Synapse) naming the room id;
//   - no such alias: resolving it answers 404 M_NOT_FOUND (both), which
//     an invite or a join cannot fix.
//
// ClassifyRoomError is the one place these are told apart: auto_join goes
// by it, and every message about a room (retries, outbox, serve, doctor)
// words its hint with RoomProblem.Hint. Every room problem is a 4xx, which
// the retry policy never retries.
type RoomProblem int

const (
	// RoomNoProblem: the error says nothing about the room (a rejected
	// token, a rate limit, an outage, refused content).
	RoomNoProblem RoomProblem = iota
	// RoomNotJoined: the bot is not in the room; joining (which accepts a
	// pending invite) may fix it: auto_join tries.
	RoomNotJoined
	RoomNotInvited         // a join was refused: invite-only, no invite
	RoomNoPower            // in the room, but below the level to send
	RoomNotFound           // a join answered not found
	RoomInvalidID          // the room id's form is refused
	RoomVersionUnsupported // a join was refused for the room's version
	RoomAliasUnknown       // no room has the alias
)

// roomProblems are the name and hint (%[1]s is the room) of each problem.
var roomProblems = [...]struct{ name, hint string }{
	RoomNoProblem:  {"none", ""},
	RoomNotJoined:  {"not joined", "the bot is not in room %[1]s: invite it"},
	RoomNotInvited: {"not invited", "the bot is not in room %[1]s: invite it"},
	RoomNoPower:    {"no power to post", "the bot may not post in room %[1]s: raise its power level"},
	RoomNotFound: {"no such room", "the bot is not in room %[1]s: invite it; the homeserver knows no such room, " +
		"so check the id too (Room settings → Advanced)"},
	RoomInvalidID: {"invalid room id", "%[1]q is not a room id the homeserver accepts: use the id from " +
		"Room settings → Advanced (!id:server) or an alias (#name:server)"},
	RoomVersionUnsupported: {"room version unsupported", "the homeserver does not support the version of room %[1]s: " +
		"upgrade the homeserver, or use a room it supports"},
	RoomAliasUnknown: {"no such alias", "no room has the alias %[1]s: check it (Room settings → General → " +
		"published or local addresses), or use the room id (Room settings → Advanced)"},
}

func (p RoomProblem) String() string {
	if p < 0 || int(p) >= len(roomProblems) {
		return "none"
	}
	return roomProblems[p].name
}

// Hint is the advice for a room with problem p, "" for RoomNoProblem.
// joinTried says auto_join already tried to join (so enabling it would not
// help).
func (p RoomProblem) Hint(room string, joinTried bool) string {
	if p <= RoomNoProblem || int(p) >= len(roomProblems) {
		return ""
	}
	h := fmt.Sprintf(roomProblems[p].hint, room)
	if p == RoomNotJoined && !joinTried {
		h += ", or enable auto_join"
	}
	return h
}

// ClassifyRoomError says what err, a failed send (with auto_join's failed
// join, if any) or a failed join (MatrixTransport.Join), means for the
// room. A join's answer, the later and more precise one, wins.
func ClassifyRoomError(err error) RoomProblem {
	se, ok := errors.AsType[*SendError](err)
	if !ok {
		return RoomNoProblem
	}
	if se.Join {
		return classifyJoin(se)
	}
	if se.Resolve {
		switch {
		case se.Status == http.StatusNotFound && se.ErrCode == "M_NOT_FOUND":
			return RoomAliasUnknown
		case se.Status == http.StatusBadRequest && invalidRoomID(se.ErrCode, strings.ToLower(se.Message)):
			return RoomInvalidID
		}
		return RoomNoProblem
	}
	if se.JoinErr != nil {
		if p := classifyJoin(se.JoinErr); p != RoomNoProblem {
			return p
		}
	}
	msg := strings.ToLower(se.Message)
	switch {
	case se.ErrCode == "M_FORBIDDEN" && containsAny(msg, "power level", "permission", "not allowed to send", "user_level", "send_level"):
		return RoomNoPower
	case se.ErrCode == "M_FORBIDDEN", se.ErrCode == "M_UNSUPPORTED_ROOM_VERSION",
		se.Status == http.StatusNotFound && se.ErrCode == "M_NOT_FOUND":
		return RoomNotJoined
	case se.Status == http.StatusBadRequest && invalidRoomID(se.ErrCode, msg):
		return RoomInvalidID
	}
	return RoomNoProblem
}

// classifyJoin reads the homeserver's answer to a join.
func classifyJoin(je *SendError) RoomProblem {
	switch {
	case je.ErrCode == "M_UNSUPPORTED_ROOM_VERSION" || je.ErrCode == "M_INCOMPATIBLE_ROOM_VERSION":
		return RoomVersionUnsupported
	case je.Status == http.StatusForbidden:
		return RoomNotInvited
	case je.Status == http.StatusNotFound:
		return RoomNotFound
	case je.Status == http.StatusBadRequest && invalidRoomID(je.ErrCode, strings.ToLower(je.Message)):
		return RoomInvalidID
	}
	return RoomNoProblem
}

// invalidRoomID reports whether a 400's errcode and lower-cased message
// refuse the form of a room id or alias.
func invalidRoomID(code, msg string) bool {
	return (code == "M_INVALID_PARAM" || code == "M_UNKNOWN" || code == "M_BAD_JSON") &&
		containsAny(msg, "room id", "room alias", "roomid")
}

func containsAny(s string, subs ...string) bool {
	return slices.ContainsFunc(subs, func(sub string) bool { return strings.Contains(s, sub) })
}
