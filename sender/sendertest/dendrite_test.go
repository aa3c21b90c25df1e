package sendertest

import (
	"net/url"
	"testing"
)

// The Dendrite flavour answers as Dendrite v0.13.8 did to the same requests
// (curl against a dendrite started on loopback; the texts are its own).
func TestDendriteAnswers(t *testing.T) {
	const (
		local   = "!local:sendertest.localhost"
		stub    = "!stub:remote.test" // invited over federation: a stub room
		private = "!private:sendertest.localhost"
		muted   = "!muted:sendertest.localhost"
	)
	join := func(target string) string { return "/_matrix/client/v3/join/" + url.PathEscape(target) }
	tests := []struct {
		name, method, path string
		status             int
		errcode, text      string
	}{
		{"send, never in room", "PUT", sendPath("!nonexistent:sendertest.localhost", "t"), 400, "M_UNSUPPORTED_ROOM_VERSION", "QueryRoomVersionForRoom: missing room info for room !nonexistent:sendertest.localhost"},
		{"send, id without server", "PUT", sendPath("!abcdef", "t"), 400, "M_UNSUPPORTED_ROOM_VERSION", "QueryRoomVersionForRoom: missing room info for room !abcdef"},
		{"send, not an id", "PUT", sendPath("garbage", "t"), 400, "M_UNSUPPORTED_ROOM_VERSION", "QueryRoomVersionForRoom: missing room info for room garbage"},
		{"send, invited to a local room", "PUT", sendPath(local, "t"), 403, "M_FORBIDDEN", `eventauth: sender "@bot:sendertest.localhost" not in room`},
		{"send, invited to a remote room", "PUT", sendPath(stub, "t"), 404, "M_NOT_FOUND", "Room does not exist"},
		{"send, known, not invited", "PUT", sendPath(private, "t"), 403, "M_FORBIDDEN", `eventauth: sender "@bot:sendertest.localhost" not in room`},
		{"send, no power", "PUT", sendPath(muted, "t"), 403, "M_FORBIDDEN", `eventauth: sender "@bot:sendertest.localhost" is not allowed to send event. 0 < 50`},
		{"join, unknown local room", "POST", join("!nonexistent:sendertest.localhost"), 404, "M_NOT_FOUND", "room does not exist"},
		{"join, unknown remote room", "POST", join("!abc:example.org"), 500, "", ""},
		{"join, id without server", "POST", join("!abcdef"), 400, "M_UNKNOWN", `room ID "!abcdef" is invalid: at least one ':' is expected in the room id`},
		{"join, not an id", "POST", join("garbage"), 400, "M_UNKNOWN", `room ID or alias "garbage" is invalid`},
		{"join, unknown alias", "POST", join("#nope:sendertest.localhost"), 500, "", ""},
		{"join, not invited", "POST", join(private), 403, "M_FORBIDDEN", `InputRoomEventsResponse: eventauth: "@bot:sendertest.localhost" is not allowed to change their membership from "leave" to "join" as join rule "invite" forbids it`},
		{"join, invited", "POST", join(stub), 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{Software: Dendrite, Invited: []string{local, stub}, Joined: []string{muted},
				Aliases: map[string]string{"#private:sendertest.localhost": private}})
			pl := DefaultPowerLevels()
			pl.EventsDefault = 50
			s.SetPowerLevels(muted, pl)
			body := msg
			if tt.method == "POST" {
				body = `{}`
			}
			r := do(t, s, tt.method, tt.path, body, bearer)
			if r.status != tt.status || r.errcode() != tt.errcode {
				t.Fatalf("got %d %q, want %d %q (%s)", r.status, r.errcode(), tt.status, tt.errcode, r.raw)
			}
			if got, _ := r.body["error"].(string); got != tt.text {
				t.Errorf("error %q, want %q", got, tt.text)
			}
		})
	}
}
