package sender

import (
	"context"
	"errors"
	"strings"
	"testing"

	"matrix-notify/sender/sendertest"
)

// The answers below are what the homeservers really say (Dendrite v0.13.8
// observed with curl; Synapse's from its source and our sendertest).
func TestClassifyRoomError(t *testing.T) {
	const room = "!r:hs"
	send := func(status int, code, msg string) *SendError {
		return &SendError{Room: room, Status: status, ErrCode: code, Message: msg}
	}
	joined := func(se, je *SendError) *SendError { se.JoinErr = je; return se }
	tests := []struct {
		name string
		err  error
		want RoomProblem
		hint string
	}{
		{"synapse not in room", send(403, "M_FORBIDDEN", "User @bot:hs not in room !r:hs"), RoomNotJoined, "the bot is not in room !r:hs: invite it, or enable auto_join"},
		{"synapse unknown room", send(403, "M_FORBIDDEN", "Unknown room"), RoomNotJoined, "invite it, or enable auto_join"},
		{"synapse power", send(403, "M_FORBIDDEN", "You don't have permission to post that to the room. user_level (0) < send_level (50)"), RoomNoPower, "raise its power level"},
		{"synapse invalid id", send(400, "M_INVALID_PARAM", `Expected room ID; got "garbage"`), RoomInvalidID, "is not a room id the homeserver accepts"},
		{"dendrite never in room", send(400, "M_UNSUPPORTED_ROOM_VERSION", "QueryRoomVersionForRoom: missing room info for room !r:hs"), RoomNotJoined, "the bot is not in room !r:hs: invite it, or enable auto_join"},
		{"dendrite known room", send(403, "M_FORBIDDEN", `eventauth: sender "@bot:hs" not in room`), RoomNotJoined, "invite it, or enable auto_join"},
		{"dendrite stub room", send(404, "M_NOT_FOUND", "Room does not exist"), RoomNotJoined, "invite it, or enable auto_join"},
		{"dendrite power", send(403, "M_FORBIDDEN", `eventauth: sender "@bot:hs" is not allowed to send event. 0 < 50`), RoomNoPower, "raise its power level"},
		{"join not found", joined(send(400, "M_UNSUPPORTED_ROOM_VERSION", "missing room info"), send(404, "M_NOT_FOUND", "room does not exist")), RoomNotFound, "the homeserver knows no such room, so check the id too"},
		{"join invalid id (dendrite)", joined(send(400, "M_UNSUPPORTED_ROOM_VERSION", "missing room info"), send(400, "M_UNKNOWN", `room ID "!abc" is invalid: at least one ':' is expected in the room id`)), RoomInvalidID, "not a room id the homeserver accepts"},
		{"join not invited", joined(send(403, "M_FORBIDDEN", "not in room"), send(403, "M_FORBIDDEN", "You are not invited to this room.")), RoomNotInvited, "the bot is not in room !r:hs: invite it)"},
		{"join 500 (dendrite, remote room)", joined(send(400, "M_UNSUPPORTED_ROOM_VERSION", "missing room info"), send(500, "", "Internal Server Error")), RoomNotJoined, "the bot is not in room !r:hs: invite it)"},
		{"join unsupported version", joined(send(403, "M_FORBIDDEN", "not in room"), send(400, "M_UNSUPPORTED_ROOM_VERSION", "Room version 12 is not supported")), RoomVersionUnsupported, "does not support the version of room"},
		{"no such alias", &SendError{Room: "#gone:hs", Status: 404, ErrCode: "M_NOT_FOUND", Message: "Room alias #gone:hs not found", Resolve: true}, RoomAliasUnknown, "no room has the alias #gone:hs: check it"},
		{"alias refused", &SendError{Room: "#x", Status: 400, ErrCode: "M_INVALID_PARAM", Message: "Room alias must start with '#'; invalid room alias", Resolve: true}, RoomInvalidID, "is not a room id the homeserver accepts"},
		{"alias lookup 500", &SendError{Room: "#x:hs", Status: 500, Message: "Internal Server Error", Resolve: true}, RoomNoProblem, ""},
		{"rejected token", send(401, "M_UNKNOWN_TOKEN", "Unknown token"), RoomNoProblem, "run `matrix-notify login`"},
		{"too large", send(413, "M_TOO_LARGE", "event too large"), RoomNoProblem, ""},
		{"bad json", send(400, "M_BAD_JSON", "bad JSON value"), RoomNoProblem, ""},
		{"outage", send(502, "", "Bad Gateway"), RoomNoProblem, ""},
		{"not a SendError", errors.New("boom"), RoomNoProblem, ""},
		{"wrapped", &RetryError{Attempts: 2, Err: send(404, "M_NOT_FOUND", "Room does not exist")}, RoomNotJoined, "invite it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassifyRoomError(tt.err); got != tt.want {
				t.Errorf("ClassifyRoomError = %v, want %v", got, tt.want)
			}
			if msg := tt.err.Error(); tt.hint != "" && !strings.Contains(msg, tt.hint) {
				t.Errorf("%q lacks %q", msg, tt.hint)
			}
			var se *SendError
			if errors.As(tt.err, &se) && tt.want != RoomNoProblem && se.Temporary() {
				t.Errorf("a room problem is temporary: %v", tt.err)
			}
		})
	}
}

// auto_join and the hint go by what the refusal means, on Synapse and on
// Dendrite alike: Dendrite refuses a send to a room it has never been in
// with 400 M_UNSUPPORTED_ROOM_VERSION, and to a room on another server that
// it knows from an invite only with 404 M_NOT_FOUND; both are "not joined".
func TestAutoJoinByMeaning(t *testing.T) {
	local := "!room:" + "sendertest.localhost" // on the bot's own server
	remote := alertsRoom                       // on another server
	tests := []struct {
		name     string
		software sendertest.Software
		setup    func(hs *sendertest.Server)
		room     string
		autoJoin bool
		joins    int    // join requests expected
		hint     string // "" when delivered
		want     RoomProblem
	}{
		{"synapse invited", sendertest.Synapse, func(hs *sendertest.Server) { hs.Invite(local) }, local, true, 1, "", 0},
		{"dendrite invited, local room", sendertest.Dendrite, func(hs *sendertest.Server) { hs.Invite(local) }, local, true, 1, "", 0},
		{"dendrite invited, remote room (stub)", sendertest.Dendrite, func(hs *sendertest.Server) { hs.Invite(remote) }, remote, true, 1, "", 0},
		{"synapse unknown room", sendertest.Synapse, nil, local, true, 1, "the bot is not in room " + local + ": invite it; the homeserver knows no such room", RoomNotFound},
		{"dendrite unknown room", sendertest.Dendrite, nil, local, true, 1, "the bot is not in room " + local + ": invite it; the homeserver knows no such room", RoomNotFound},
		{"dendrite unknown remote room", sendertest.Dendrite, nil, remote, true, 1, "the bot is not in room " + remote + ": invite it)", RoomNotJoined},
		{"dendrite id without server", sendertest.Dendrite, nil, "!abcdef", true, 1, `"!abcdef" is not a room id the homeserver accepts`, RoomInvalidID},
		{"dendrite not invited", sendertest.Dendrite, func(hs *sendertest.Server) { hs.AddAlias("#private:sendertest.localhost", local) }, local, true, 1, "the bot is not in room " + local + ": invite it)", RoomNotInvited},
		{"synapse auto_join off", sendertest.Synapse, func(hs *sendertest.Server) { hs.Invite(local) }, local, false, 0, "invite it, or enable auto_join", RoomNotJoined},
		{"dendrite auto_join off", sendertest.Dendrite, nil, local, false, 0, "invite it, or enable auto_join", RoomNotJoined},
		{"synapse power", sendertest.Synapse, func(hs *sendertest.Server) { hs.Join(local); denyMessages(hs, local) }, local, true, 0, "raise its power level", RoomNoPower},
		{"dendrite power", sendertest.Dendrite, func(hs *sendertest.Server) { hs.Join(local); denyMessages(hs, local) }, local, true, 0, "raise its power level", RoomNoPower},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := sendertest.New(sendertest.Options{Software: tt.software})
			defer hs.Close()
			if tt.setup != nil {
				tt.setup(hs)
			}
			_, err := newTransport(t, hs, Options{AutoJoin: tt.autoJoin}).Send(context.Background(), message(tt.room, "t1"))
			if got := count(hs, "POST", "/_matrix/client/v3/join/"); got != tt.joins {
				t.Errorf("%d joins, want %d: %v", got, tt.joins, paths(hs.Requests()))
			}
			if tt.hint == "" {
				if err != nil || len(hs.Events(tt.room)) != 1 {
					t.Fatalf("not delivered: %v; requests %v", err, paths(hs.Requests()))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.hint) {
				t.Fatalf("err = %v, want the hint %q", err, tt.hint)
			}
			if got := ClassifyRoomError(err); got != tt.want {
				t.Errorf("ClassifyRoomError = %v, want %v", got, tt.want)
			}
		})
	}
}

func denyMessages(hs *sendertest.Server, room string) {
	pl := sendertest.DefaultPowerLevels()
	pl.EventsDefault = 50
	hs.SetPowerLevels(room, pl)
}

// A join's own refusal (MatrixTransport.Join, doctor --join) is read as a
// join's, hint included.
func TestClassifyJoinRefusal(t *testing.T) {
	join := func(status int, code, msg string) *SendError {
		return &SendError{Room: "!r:hs", Status: status, ErrCode: code, Message: msg, Join: true}
	}
	tests := []struct {
		err  *SendError
		want RoomProblem
		hint string
	}{
		{join(403, "M_FORBIDDEN", "You are not invited to this room."), RoomNotInvited, "(the bot is not in room !r:hs: invite it)"},
		{join(404, "M_NOT_FOUND", "room does not exist"), RoomNotFound, "the homeserver knows no such room"},
		{join(400, "M_UNKNOWN", `room ID or alias "garbage" is invalid`), RoomInvalidID, "not a room id the homeserver accepts"},
		{join(400, "M_UNSUPPORTED_ROOM_VERSION", "unsupported"), RoomVersionUnsupported, "does not support the version of room"},
		{join(500, "", "Internal Server Error"), RoomNoProblem, ""},
	}
	for _, tt := range tests {
		if got := ClassifyRoomError(tt.err); got != tt.want {
			t.Errorf("ClassifyRoomError(%v) = %v, want %v", tt.err, got, tt.want)
		}
		if msg := tt.err.Error(); tt.hint != "" && !strings.Contains(msg, tt.hint) || tt.hint == "" && strings.Contains(msg, "(") {
			t.Errorf("%q: want the hint %q", msg, tt.hint)
		}
	}
	// Through the transport, as doctor --join calls it.
	hs := sendertest.New(sendertest.Options{Software: sendertest.Dendrite})
	defer hs.Close()
	_, err := newTransport(t, hs, Options{}).Join(context.Background(), "!nonexistent:sendertest.localhost")
	if got := ClassifyRoomError(err); got != RoomNotFound || !strings.Contains(err.Error(), "the homeserver knows no such room") {
		t.Errorf("Join: %v (%v)", err, got)
	}
}
