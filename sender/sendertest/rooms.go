package sendertest

import (
	"net/http"
	"slices"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// stateEvent is GET /rooms/{id}/state/{type}/{key}: the content of the few
// state events a sender looks at. Like Synapse, only a member may read it.
func (s *Server) stateEvent(c *call) reply {
	room, evType, stateKey := c.args[0], c.args[1], ""
	if len(c.args) > 2 {
		stateKey = c.args[2]
	}
	if !strings.HasPrefix(room, "!") {
		return invalidRoomID(room)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.rooms[room]
	if st == nil || !st.joined {
		return fail(mautrix.MForbidden.WithMessage("User %s not in room %s", s.opts.UserID, room))
	}
	switch {
	case evType == "m.room.power_levels" && stateKey == "":
		return ok(st.powerLevels)
	case evType == "m.room.encryption" && stateKey == "" && st.encrypted:
		return ok(map[string]any{"algorithm": "m.megolm.v1.aes-sha2"})
	}
	return fail(mautrix.MNotFound.WithMessage("Event not found."))
}

func (s *Server) joinedRooms(*call) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	rooms := []id.RoomID{}
	for room, st := range s.rooms {
		if st.joined {
			rooms = append(rooms, id.RoomID(room))
		}
	}
	slices.Sort(rooms)
	return ok(mautrix.RespJoinedRooms{JoinedRooms: rooms})
}

// directory resolves an alias. The spec does not require a token here, and
// Synapse ignores one, so neither do we.
func (s *Server) directory(c *call) reply {
	alias := c.args[0]
	if !validAlias(alias) {
		return fail(mautrix.MInvalidParam.WithMessage("Room alias invalid"))
	}
	s.mu.Lock()
	room, found := s.aliases[alias]
	s.mu.Unlock()
	if !found {
		return fail(mautrix.MNotFound.WithMessage("Room alias %s not found", alias))
	}
	return ok(mautrix.RespAliasResolve{RoomID: id.RoomID(room), Servers: []string{serverPart(alias)}})
}

func validAlias(a string) bool {
	return strings.HasPrefix(a, "#") && serverPart(a) != ""
}

// join accepts a pending invite or joins a public room. The body must be a
// JSON object: Synapse accepts an empty body, Conduit-family servers do not,
// so we are strict.
func (s *Server) join(c *call) reply {
	if _, bad := c.object(); bad != nil {
		return *bad
	}
	target, room := c.args[0], c.args[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Software == Dendrite {
		if rep, refused := s.dendriteJoin(target); refused {
			return rep
		}
	}
	switch {
	case strings.HasPrefix(target, "#"):
		id, found := s.aliases[target]
		if !validAlias(target) || !found {
			return fail(mautrix.MNotFound.WithMessage("No room with alias %s", target))
		}
		room = id
	case !strings.HasPrefix(target, "!"):
		return fail(mautrix.MInvalidParam.WithMessage("%s was not legal room ID or room alias", target))
	}
	st := s.rooms[room]
	switch {
	case st == nil:
		// Synapse asks remote servers; with none known it gives up so.
		return fail(mautrix.MNotFound.WithMessage("No known servers"))
	case st.joined:
	case st.invited || st.public:
		st.joined, st.invited = true, false
	default:
		return fail(mautrix.MForbidden.WithMessage("You are not invited to this room."))
	}
	return ok(mautrix.RespJoinRoom{RoomID: id.RoomID(room)})
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
		return fail(mautrix.MUnknown.WithStatus(http.StatusBadRequest).WithMessage("room ID or alias %q is invalid", target)), true
	case serverPart(target) == "":
		return fail(mautrix.MUnknown.WithStatus(http.StatusBadRequest).WithMessage("room ID %q is invalid: at least one ':' is expected in the room id", target)), true
	}
	st := s.rooms[target]
	switch {
	case st == nil && serverPart(target) == s.serverName:
		return fail(mautrix.MNotFound.WithMessage("room does not exist")), true
	case st == nil:
		return internal(map[string]string{"message": "Internal Server Error"}) // no server to join through
	case !st.joined && !st.invited && !st.public:
		return fail(mautrix.MForbidden.WithMessage(
			"InputRoomEventsResponse: eventauth: %q is not allowed to change their membership from \"leave\" to \"join\" as join rule \"invite\" forbids it", s.opts.UserID)), true
	}
	return reply{}, false
}
