package sendertest

import (
	"context"
	"net/url"
	"slices"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestLogin(t *testing.T) {
	s := newServer(t, Options{Password: "pw"})
	const path = "/_matrix/client/v3/login"
	login := func(body string) response { return do(t, s, "POST", path, body, "") }

	r := login(`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"bot"},"password":"pw","device_id":"DEV1","initial_device_display_name":"notify"}`)
	if r.status != 200 || r.body["device_id"] != "DEV1" || r.body["user_id"] != DefaultUserID {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	tok1, _ := r.body["access_token"].(string)
	if w := do(t, s, "GET", "/_matrix/client/v3/account/whoami", "", "Bearer "+tok1); w.body["device_id"] != "DEV1" {
		t.Errorf("whoami with the new token: %s", w.raw)
	}
	if w := do(t, s, "GET", "/_matrix/client/v3/account/whoami", "", bearer); w.body["device_id"] != DefaultDeviceID {
		t.Errorf("whoami with the initial token: %s", w.raw)
	}
	// Same device again (full user id, deprecated "user" field): the device is
	// reused and its old token stops working.
	r = login(`{"type":"m.login.password","user":"@bot:sendertest.localhost","password":"pw","device_id":"DEV1"}`)
	tok2, _ := r.body["access_token"].(string)
	if r.status != 200 || tok2 == "" || tok2 == tok1 {
		t.Fatalf("second login: %d %s", r.status, r.raw)
	}
	if w := do(t, s, "GET", "/_matrix/client/v3/account/whoami", "", "Bearer "+tok1); w.status != 401 || w.errcode() != "M_UNKNOWN_TOKEN" {
		t.Errorf("replaced token still valid: %d %s", w.status, w.raw)
	}
	// No device id: a new device each time.
	login(`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"bot"},"password":"pw"}`)
	login(`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"bot"},"password":"pw"}`)
	if devs := s.Devices(); len(devs) != 4 || !slices.Contains(devs, "DEV1") || !slices.Contains(devs, DefaultDeviceID) || s.DeviceName("DEV1") != "notify" {
		t.Errorf("devices: %v", devs)
	}
	for _, tt := range []struct{ body, code string }{
		{`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"bot"},"password":"nope"}`, "M_FORBIDDEN"},
		{`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"pw"}`, "M_FORBIDDEN"},
		{`{"type":"m.login.token","token":"x"}`, "M_UNKNOWN"},
		{`{"type":"m.login.password","password":"pw"}`, "M_MISSING_PARAM"},
		{`[]`, "M_BAD_JSON"},
	} {
		if r := login(tt.body); r.errcode() != tt.code {
			t.Errorf("%s: %d %s, want %s", tt.body, r.status, r.raw, tt.code)
		}
	}
	// Without a password set, nobody logs in.
	s2 := newServer(t, Options{})
	if r := do(t, s2, "POST", path, `{"type":"m.login.password","identifier":{"type":"m.id.user","user":"bot"},"password":""}`, ""); r.status != 403 {
		t.Errorf("login without a password configured: %d", r.status)
	}
}

func TestWellKnown(t *testing.T) {
	const path = "/.well-known/matrix/client"
	if r := do(t, newServer(t, Options{}), "GET", path, "", ""); r.status != 404 {
		t.Errorf("unset: %d %s", r.status, r.raw)
	}
	s := newServer(t, Options{WellKnown: "https://matrix.example.org"})
	r := do(t, s, "GET", path, "", "")
	hs, _ := r.body["m.homeserver"].(map[string]any)
	if r.status != 200 || hs["base_url"] != "https://matrix.example.org" {
		t.Errorf("set: %d %s", r.status, r.raw)
	}
	if got := s.Requests(); len(got) != 1 || got[0].Path != path {
		t.Errorf("requests: %+v", got)
	}
}

func TestStateAndSync(t *testing.T) {
	const (
		invited = "!inv:hs.test"
		secret  = "!secret:hs.test"
		v12     = "!opaqueV12"
	)
	s := newServer(t, Options{Joined: []string{room, secret, v12}, Invited: []string{invited}, Encrypted: []string{secret}})
	state := func(roomID, rest string) response {
		return do(t, s, "GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/"+rest, "", bearer)
	}
	if r := state(room, "m.room.power_levels/"); r.status != 200 || r.body["events_default"] != float64(0) {
		t.Errorf("power levels (trailing slash): %d %s", r.status, r.raw)
	}
	if r := state(room, "m.room.power_levels"); r.status != 200 {
		t.Errorf("power levels (no slash): %d %s", r.status, r.raw)
	}
	if r := state(room, "m.room.encryption/"); r.status != 404 || r.errcode() != "M_NOT_FOUND" {
		t.Errorf("encryption of a plain room: %d %s", r.status, r.raw)
	}
	if r := state(secret, "m.room.encryption/"); r.status != 200 || r.body["algorithm"] != "m.megolm.v1.aes-sha2" {
		t.Errorf("encryption: %d %s", r.status, r.raw)
	}
	if r := state(room, "m.room.member/"+url.PathEscape(DefaultUserID)); r.status != 404 || r.errcode() != "M_NOT_FOUND" {
		t.Errorf("a state event with a state key: %d %s", r.status, r.raw)
	}
	if r := state(invited, "m.room.power_levels/"); r.status != 403 || r.errcode() != "M_FORBIDDEN" {
		t.Errorf("state of a room the bot is only invited to: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "GET", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/state/m.room.power_levels/", "", ""); r.status != 401 {
		t.Errorf("state without token: %d", r.status)
	}

	// Power levels gate sends.
	pl := DefaultPowerLevels()
	pl.Events["m.room.message"] = 10
	s.SetPowerLevels(room, pl)
	if r := do(t, s, "PUT", sendPath(room, "a"), msg, bearer); r.status != 403 || r.errcode() != "M_FORBIDDEN" {
		t.Errorf("send below the needed level: %d %s", r.status, r.raw)
	}
	pl.Users[DefaultUserID] = 10
	s.SetPowerLevels(room, pl)
	if r := do(t, s, "PUT", sendPath(room, "a"), msg, bearer); r.status != 200 {
		t.Errorf("send at the needed level: %d %s", r.status, r.raw)
	}

	r := do(t, s, "GET", "/_matrix/client/v3/sync?timeout=0&filter=%7B%7D", "", bearer)
	rooms, _ := r.body["rooms"].(map[string]any)
	join, _ := rooms["join"].(map[string]any)
	invite, _ := rooms["invite"].(map[string]any)
	if r.status != 200 || len(join) != 3 || len(invite) != 1 || invite[invited] == nil {
		t.Errorf("sync: %d %s", r.status, r.raw)
	}
}

// mautrix reads the new endpoints as a real client would.
func TestMautrixState(t *testing.T) {
	const secret = "!secret:hs.test"
	s := newServer(t, Options{Joined: []string{room, secret}, Encrypted: []string{secret}, Password: "pw"})
	cli, err := mautrix.NewClient(s.URL(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	resp, err := cli.Login(ctx, &mautrix.ReqLogin{
		Type:       mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "bot"},
		Password:   "pw", DeviceID: "MN1", StoreCredentials: true,
	})
	if err != nil || resp.DeviceID != "MN1" {
		t.Fatalf("login: %+v %v", resp, err)
	}
	var pl event.PowerLevelsEventContent
	if err := cli.StateEvent(ctx, id.RoomID(room), event.StatePowerLevels, "", &pl); err != nil || pl.StateDefault() != 50 {
		t.Errorf("power levels: state default %d %v", pl.StateDefault(), err)
	}
	var enc event.EncryptionEventContent
	if err := cli.StateEvent(ctx, id.RoomID(secret), event.StateEncryption, "", &enc); err != nil || enc.Algorithm != id.AlgorithmMegolmV1 {
		t.Errorf("encryption: %+v %v", enc, err)
	}
	if err := cli.StateEvent(ctx, id.RoomID(room), event.StateEncryption, "", &enc); err == nil {
		t.Error("encryption of a plain room: no error")
	}
}
