package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// isAlias reports whether room is a room alias (#name:server) rather than a
// room id.
func isAlias(room string) bool { return len(room) > 1 && room[0] == '#' }

// aliasCache is the file cache of resolved aliases in CacheDir.
func (t *MatrixTransport) aliasCache() fileCache {
	return fileCache{dir: t.opts.CacheDir, name: "rooms.json", ttl: t.opts.AliasTTL, now: time.Now}
}

// resolve returns the room id to send to: a room id as given (with or
// without a server part: never completed), an alias through the process's
// memory, the cache file, or GET /directory/room/{alias}. fromFile says the
// id came from an earlier run's cache.
func (t *MatrixTransport) resolve(ctx context.Context, room string) (roomID string, fromFile bool, err error) {
	if !isAlias(room) {
		return room, false, nil
	}
	t.aliasMu.Lock()
	cached, ok := t.aliases[room]
	t.aliasMu.Unlock()
	if ok {
		return cached, false, nil
	}
	if cached, ok := t.aliasCache().get(room); ok {
		t.aliasMu.Lock()
		t.aliases[room] = cached
		t.aliasMu.Unlock()
		return cached, true, nil
	}
	resp, err := t.client.ResolveAlias(ctx, id.RoomAlias(room))
	if err != nil {
		return "", false, err
	}
	if resp.RoomID == "" {
		return "", false, fmt.Errorf("alias %s resolved to no room id", room)
	}
	t.remember(room, resp.RoomID.String())
	return resp.RoomID.String(), false, nil
}

// remember stores a resolved alias in memory and in the cache file.
func (t *MatrixTransport) remember(alias, roomID string) {
	t.aliasMu.Lock()
	t.aliases[alias] = roomID
	t.aliasMu.Unlock()
	t.aliasCache().put(alias, roomID)
}

// forget drops an alias from memory and from the cache file.
func (t *MatrixTransport) forget(alias string) {
	t.aliasMu.Lock()
	delete(t.aliases, alias)
	t.aliasMu.Unlock()
	t.aliasCache().put(alias, "")
}

// ResolveRoom returns the room id of room: an alias resolved (and cached),
// a room id as given.
func (t *MatrixTransport) ResolveRoom(ctx context.Context, room string) (string, error) {
	if err := t.ready(ctx); err != nil {
		return "", err
	}
	roomID, _, err := t.resolve(ctx, room)
	if err != nil {
		return "", toSendError(room, err)
	}
	return roomID, nil
}

// Whoami returns the user and device the access token belongs to.
func (t *MatrixTransport) Whoami(ctx context.Context) (userID, deviceID string, err error) {
	if err := t.ready(ctx); err != nil {
		return "", "", err
	}
	resp, err := t.client.Whoami(ctx)
	if err != nil {
		return "", "", toSendError("", err)
	}
	return resp.UserID.String(), resp.DeviceID.String(), nil
}

// Join joins room (an id or an alias; joining accepts a pending invite) and
// returns its room id.
func (t *MatrixTransport) Join(ctx context.Context, room string) (string, error) {
	if err := t.ready(ctx); err != nil {
		return "", err
	}
	resp, err := t.client.JoinRoom(ctx, room, nil)
	if err != nil {
		se := toSendError(room, err)
		se.Join = true
		return "", se
	}
	return resp.RoomID.String(), nil
}

// Membership values of RoomStatus.
const (
	MembershipJoin   = "join"
	MembershipInvite = "invite"
	MembershipNone   = "" // neither joined nor invited
)

// RoomStatus is what CheckRooms found about one configured room.
type RoomStatus struct {
	Room   string // as configured
	RoomID string // resolved; "" when ResolveErr is set
	// ResolveErr: the alias could not be resolved.
	ResolveErr error
	// Membership is the bot's: MembershipJoin, MembershipInvite or
	// MembershipNone.
	Membership string
	// InvitesUnknown is set when the pending invites could not be listed
	// (Membership is then join or none).
	InvitesUnknown error
	// PowerKnown: UserLevel and SendLevel were read from the room's
	// m.room.power_levels (or its absence); only for joined rooms.
	PowerKnown bool
	UserLevel  int
	SendLevel  int // needed for m.room.message
	PowerErr   error
	// Encrypted: the room has m.room.encryption; only known when joined.
	Encrypted     bool
	EncryptionErr error
}

// CanPost reports whether a message sent now would be accepted: joined and
// allowed by the power levels (as far as they could be read).
func (r RoomStatus) CanPost() bool {
	return r.ResolveErr == nil && r.Membership == MembershipJoin && (!r.PowerKnown || r.UserLevel >= r.SendLevel)
}

// CheckRooms looks at each room as userID sees it: resolved id, membership
// (GET /joined_rooms, and a minimal /sync for pending invites), power to send
// m.room.message and encryption (the room's state). An error is returned only
// when nothing could be checked (the token is rejected, no answer).
func (t *MatrixTransport) CheckRooms(ctx context.Context, userID string, rooms []string) ([]RoomStatus, error) {
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	joinedResp, err := t.client.JoinedRooms(ctx)
	if err != nil {
		return nil, toSendError("", err)
	}
	joined := map[string]bool{}
	for _, r := range joinedResp.JoinedRooms {
		joined[r.String()] = true
	}
	out := make([]RoomStatus, len(rooms))
	var ids []string
	for i, room := range rooms {
		st := RoomStatus{Room: room}
		st.RoomID, st.ResolveErr = t.ResolveRoom(ctx, room)
		if st.ResolveErr == nil && joined[st.RoomID] {
			st.Membership = MembershipJoin
		}
		if st.ResolveErr == nil {
			ids = append(ids, st.RoomID)
		}
		out[i] = st
	}
	invited, invErr := t.invites(ctx, ids)
	for i := range out {
		st := &out[i]
		if st.ResolveErr != nil {
			continue
		}
		if st.Membership == MembershipNone {
			if invErr != nil {
				st.InvitesUnknown = invErr
			} else if invited[st.RoomID] {
				st.Membership = MembershipInvite
			}
		}
		if st.Membership != MembershipJoin {
			continue
		}
		st.UserLevel, st.SendLevel, st.PowerKnown, st.PowerErr = t.powerToSend(ctx, st.RoomID, userID)
		st.Encrypted, st.EncryptionErr = t.encrypted(ctx, st.RoomID)
	}
	return out, nil
}

// invites lists pending invites with one /sync that asks for nothing but
// the room list (the only place the client API shows invites), limited to
// the rooms of interest.
func (t *MatrixTransport) invites(ctx context.Context, roomIDs []string) (map[string]bool, error) {
	if len(roomIDs) == 0 {
		return map[string]bool{}, nil
	}
	none := map[string]any{"not_types": []string{"*"}}
	filter := map[string]any{
		"presence":     none,
		"account_data": none,
		"room": map[string]any{
			"rooms":        slices.Compact(slices.Sorted(slices.Values(roomIDs))),
			"timeline":     map[string]any{"limit": 1, "not_types": []string{"*"}},
			"state":        map[string]any{"not_types": []string{"*"}, "lazy_load_members": true},
			"ephemeral":    none,
			"account_data": none,
		},
	}
	fj, err := json.Marshal(filter)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Rooms struct {
			Invite map[string]json.RawMessage `json:"invite"`
		} `json:"rooms"`
	}
	u := t.client.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "sync"}, map[string]string{
		"filter": string(fj), "timeout": "0", "set_presence": "offline",
	})
	if _, err := t.client.MakeRequest(ctx, http.MethodGet, u, nil, &resp); err != nil {
		return nil, toSendError("", err)
	}
	out := map[string]bool{}
	for r := range resp.Rooms.Invite {
		out[r] = true
	}
	return out, nil
}

// powerToSend reads the room's power levels: the user's level and the level
// m.room.message needs. A room without the event lets everyone send.
func (t *MatrixTransport) powerToSend(ctx context.Context, roomID, userID string) (user, need int, known bool, err error) {
	var pl struct {
		Users         map[string]json.Number `json:"users"`
		UsersDefault  json.Number            `json:"users_default"`
		Events        map[string]json.Number `json:"events"`
		EventsDefault json.Number            `json:"events_default"`
	}
	err = t.client.StateEvent(ctx, id.RoomID(roomID), event.StatePowerLevels, "", &pl)
	if notFound(err) {
		return 0, 0, true, nil
	}
	if err != nil {
		return 0, 0, false, toSendError(roomID, err)
	}
	num := func(n json.Number) int {
		v, _ := n.Int64()
		return int(v)
	}
	user = num(pl.UsersDefault)
	if v, ok := pl.Users[userID]; ok {
		user = num(v)
	}
	need = num(pl.EventsDefault)
	if v, ok := pl.Events[event.EventMessage.Type]; ok {
		need = num(v)
	}
	return user, need, true, nil
}

// encrypted reports whether the room has an m.room.encryption state event.
func (t *MatrixTransport) encrypted(ctx context.Context, roomID string) (bool, error) {
	var enc map[string]any
	err := t.client.StateEvent(ctx, id.RoomID(roomID), event.StateEncryption, "", &enc)
	switch {
	case err == nil:
		return true, nil
	case notFound(err):
		return false, nil
	}
	return false, toSendError(roomID, err)
}

func notFound(err error) bool {
	var he mautrix.HTTPError
	return errors.As(err, &he) && he.Response != nil && he.Response.StatusCode == http.StatusNotFound
}
