package sender

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// RoomProblem is what a homeserver's refusal of a send (or of the join
// auto_join tried after it) means for the room, whichever homeserver said
// it. Homeservers word the same situation differently:
//
//   - the bot is not in the room: Synapse answers a send with 403
//     M_FORBIDDEN ("User @bot:hs not in room !r:hs", or "Unknown room" for a
//     room it has never seen); Dendrite 0.13 with 403 M_FORBIDDEN
//     (`eventauth: sender "@bot:hs" not in room`) for a room it knows, 400
//     M_UNSUPPORTED_ROOM_VERSION ("QueryRoomVersionForRoom: missing room
//     info for room !r:hs") for one it has never been in, whatever the form
//     of the id, and 404 M_NOT_FOUND ("Room does not exist") for a room on
//     another server that it only knows from an invite (a stub);
//   - the bot may not post: Synapse's 403 says "You don't have permission
//     to post that to the room. user_level (0) < send_level (50)",
//     Dendrite's `eventauth: sender "@bot:hs" is not allowed to send event.
//     0 < 50`;
//   - the room does not exist: a join answers 404 M_NOT_FOUND (Synapse:
//     "No known servers", Dendrite: "room does not exist");
//   - the id is not one: a join answers 400 (Dendrite: M_UNKNOWN `room ID
//     "!abc" is invalid: at least one ':' is expected in the room id`,
//     Synapse: M_INVALID_PARAM or M_UNKNOWN "... was not legal room ID").
//
// A send can only fail with M_UNSUPPORTED_ROOM_VERSION when the server is
// not in the room (a server never joins a room whose version it does not
// support), so that answer means "not joined" there; from a join it means
// what it says.
//
// ClassifyRoomError is the one place these are told apart: auto_join goes
// by it, and SendError.Error words its hint with RoomProblem.Hint, so the
// retry's, the outbox's, serve's and doctor --join's messages say the same
// for every homeserver.
// Every room problem is a 4xx, which the retry policy never retries.
type RoomProblem int

const (
	// RoomNoProblem: the error says nothing about the room (a rejected
	// token, a rate limit, an outage, refused content).
	RoomNoProblem RoomProblem = iota
	// RoomNotJoined: the bot is not in the room. Joining (which accepts a
	// pending invite) may fix it: auto_join tries.
	RoomNotJoined
	// RoomNotInvited: a join was refused: the room is invite-only and the
	// bot has no invite.
	RoomNotInvited
	// RoomNoPower: the bot is in the room but its power level is below what
	// sending messages needs.
	RoomNoPower
	// RoomNotFound: the homeserver knows no such room and could not find
	// one (a join answered not found).
	RoomNotFound
	// RoomInvalidID: the homeserver does not accept the room id's form.
	RoomInvalidID
	// RoomVersionUnsupported: a join was refused because the homeserver
	// does not support the room's version.
	RoomVersionUnsupported
)

func (p RoomProblem) String() string {
	switch p {
	case RoomNotJoined:
		return "not joined"
	case RoomNotInvited:
		return "not invited"
	case RoomNoPower:
		return "no power to post"
	case RoomNotFound:
		return "no such room"
	case RoomInvalidID:
		return "invalid room id"
	case RoomVersionUnsupported:
		return "room version unsupported"
	}
	return "none"
}

// ClassifyRoomError says what err, a failed send (with auto_join's failed
// join, if any) or a failed join (MatrixTransport.Join), means for the
// room. A join's answer, being the later and more precise one, wins over
// the send's.
func ClassifyRoomError(err error) RoomProblem {
	var se *SendError
	if !errors.As(err, &se) {
		return RoomNoProblem
	}
	if se.Join {
		return classifyJoin(se)
	}
	if se.JoinErr != nil {
		if p := classifyJoin(se.JoinErr); p != RoomNoProblem {
			return p
		}
	}
	return classifySend(se)
}

// classifySend reads the homeserver's answer to a send.
func classifySend(se *SendError) RoomProblem {
	msg := strings.ToLower(se.Message)
	switch {
	case se.ErrCode == "M_FORBIDDEN":
		if noPower(msg) {
			return RoomNoPower
		}
		return RoomNotJoined
	case se.ErrCode == "M_UNSUPPORTED_ROOM_VERSION":
		return RoomNotJoined // Dendrite: the server has never been in the room
	case se.Status == http.StatusNotFound && se.ErrCode == "M_NOT_FOUND":
		return RoomNotJoined // Dendrite: a room known from an invite only
	case se.Status == http.StatusBadRequest && invalidRoomID(se.ErrCode, msg):
		return RoomInvalidID
	}
	return RoomNoProblem
}

// classifyJoin reads the homeserver's answer to a join.
func classifyJoin(je *SendError) RoomProblem {
	msg := strings.ToLower(je.Message)
	switch {
	case je.ErrCode == "M_UNSUPPORTED_ROOM_VERSION" || je.ErrCode == "M_INCOMPATIBLE_ROOM_VERSION":
		return RoomVersionUnsupported
	case je.Status == http.StatusForbidden:
		return RoomNotInvited
	case je.Status == http.StatusNotFound:
		return RoomNotFound
	case je.Status == http.StatusBadRequest && invalidRoomID(je.ErrCode, msg):
		return RoomInvalidID
	}
	return RoomNoProblem
}

// noPower reports whether a lower-cased M_FORBIDDEN message is about power
// levels rather than membership.
func noPower(msg string) bool {
	for _, s := range []string{"power level", "permission", "not allowed to send", "user_level", "send_level"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// invalidRoomID reports whether a 400's errcode and lower-cased message
// refuse the form of a room id or alias.
func invalidRoomID(code, msg string) bool {
	switch code {
	case "M_INVALID_PARAM", "M_UNKNOWN", "M_BAD_JSON":
	default:
		return false
	}
	return strings.Contains(msg, "room id") || strings.Contains(msg, "room alias") || strings.Contains(msg, "roomid")
}

// Hint is the advice for a room with problem p, the same whichever
// homeserver answered: "" for RoomNoProblem. joinTried says auto_join
// already tried to join (so enabling it would not help).
func (p RoomProblem) Hint(room string, joinTried bool) string {
	switch p {
	case RoomNotJoined:
		if joinTried {
			return fmt.Sprintf("the bot is not in room %s: invite it", room)
		}
		return fmt.Sprintf("the bot is not in room %s: invite it, or enable auto_join", room)
	case RoomNotInvited:
		return fmt.Sprintf("the bot is not in room %s: invite it", room)
	case RoomNoPower:
		return fmt.Sprintf("the bot may not post in room %s: raise its power level", room)
	case RoomNotFound:
		return fmt.Sprintf("the bot is not in room %s: invite it; the homeserver knows no such room, so check the id too (Room settings → Advanced)", room)
	case RoomInvalidID:
		return fmt.Sprintf("%q is not a room id the homeserver accepts: use the id from Room settings → Advanced (!id:server) or an alias (#name:server)", room)
	case RoomVersionUnsupported:
		return fmt.Sprintf("the homeserver does not support the version of room %s: upgrade the homeserver, or use a room it supports", room)
	}
	return ""
}
