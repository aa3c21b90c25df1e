package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// isAlias reports whether room is a room alias (#name:server) rather than a
// room id.
func isAlias(room string) bool { return len(room) > 1 && room[0] == '#' }

// resolve returns the room id to send to, once the homeserver is known: a
// room id as given (with or without a server part: never completed), an
// alias through the process's memory, the cache file, or GET
// /directory/room/{alias}. fromFile says the id came from an earlier run's
// cache. Its errors are SendErrors, classified as a send's.
func (t *MatrixTransport) resolve(ctx context.Context, room string) (roomID string, fromFile bool, err error) {
	if err := t.ready(ctx); err != nil {
		return "", false, &SendError{Room: room, Message: err.Error(), Err: err}
	}
	if !isAlias(room) {
		return room, false, nil
	}
	t.aliasMu.Lock()
	roomID, ok := t.aliases[room]
	if !ok {
		e := t.aliasFile()[room]
		if age := time.Since(e.Time); e.Value != "" && age >= 0 && age <= DefaultAliasTTL {
			roomID, fromFile = e.Value, true
			t.aliases[room] = roomID
		}
	}
	t.aliasMu.Unlock()
	if roomID != "" {
		return roomID, fromFile, nil
	}
	resp, err := t.client.ResolveAlias(ctx, id.RoomAlias(room))
	if err == nil && resp.RoomID == "" {
		err = fmt.Errorf("alias %s resolved to no room id", room)
	}
	if err != nil {
		se := toSendError(room, err)
		se.Resolve = true
		return "", false, se
	}
	t.remember(room, resp.RoomID.String())
	return resp.RoomID.String(), false, nil
}

// cachedAlias is an entry of rooms.json, the aliases resolved by earlier
// runs in CacheDir.
type cachedAlias struct {
	Value string    `json:"value"` // the room id
	Time  time.Time `json:"time"`
}

// aliasFile reads rooms.json; a file that cannot be read is empty: a cache
// never stops a delivery. aliasMu is held.
func (t *MatrixTransport) aliasFile() map[string]cachedAlias {
	entries := map[string]cachedAlias{}
	if t.opts.CacheDir == "" {
		return entries
	}
	if data, err := os.ReadFile(filepath.Join(t.opts.CacheDir, "rooms.json")); err == nil && json.Unmarshal(data, &entries) != nil {
		return map[string]cachedAlias{}
	}
	return entries
}

// remember keeps a resolved alias (roomID "" forgets it) in memory and in
// rooms.json, dropping what expired there. A write that fails is ignored,
// and concurrent processes may lose each other's entries (the last rename
// wins): either only costs a lookup.
func (t *MatrixTransport) remember(alias, roomID string) {
	t.aliasMu.Lock()
	defer t.aliasMu.Unlock()
	delete(t.aliases, alias)
	if roomID != "" {
		t.aliases[alias] = roomID
	}
	if t.opts.CacheDir == "" {
		return
	}
	entries := t.aliasFile()
	now := time.Now()
	for k, e := range entries {
		if now.Sub(e.Time) > DefaultAliasTTL || k == alias {
			delete(entries, k)
		}
	}
	if roomID != "" {
		entries[alias] = cachedAlias{Value: roomID, Time: now}
	}
	data, err := json.MarshalIndent(entries, "", "  ")
	if err != nil || os.MkdirAll(t.opts.CacheDir, 0o700) != nil {
		return
	}
	tmp, err := os.CreateTemp(t.opts.CacheDir, ".rooms.json.*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), filepath.Join(t.opts.CacheDir, "rooms.json")) != nil {
		os.Remove(tmp.Name())
	}
}

// ResolveRoom returns the room id of room: an alias resolved (and cached),
// a room id as given.
func (t *MatrixTransport) ResolveRoom(ctx context.Context, room string) (string, error) {
	roomID, _, err := t.resolve(ctx, room)
	return roomID, err
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
	Room       string // as configured
	RoomID     string // resolved; "" when ResolveErr is set
	ResolveErr error
	Membership string // the bot's: MembershipJoin, MembershipInvite or MembershipNone
	// InvitesUnknown is set when the pending invites could not be listed
	// (Membership is then join or none).
	InvitesUnknown error
	// The rest is known for joined rooms only. PowerKnown: UserLevel and
	// SendLevel (for m.room.message) were read from m.room.power_levels (or
	// its absence).
	PowerKnown    bool
	UserLevel     int
	SendLevel     int
	PowerErr      error
	Encrypted     bool // the room has m.room.encryption
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
	joined, err := t.client.JoinedRooms(ctx)
	if err != nil {
		return nil, toSendError("", err)
	}
	out := make([]RoomStatus, len(rooms))
	var ids []id.RoomID
	for i, room := range rooms {
		out[i].Room = room
		if out[i].RoomID, out[i].ResolveErr = t.ResolveRoom(ctx, room); out[i].ResolveErr == nil {
			ids = append(ids, id.RoomID(out[i].RoomID))
		}
	}
	invited, invErr := t.invites(ctx, ids)
	for i := range out {
		st := &out[i]
		switch {
		case st.ResolveErr != nil:
		case slices.Contains(joined.JoinedRooms, id.RoomID(st.RoomID)):
			st.Membership = MembershipJoin
			st.UserLevel, st.SendLevel, st.PowerKnown, st.PowerErr = t.powerToSend(ctx, st.RoomID, userID)
			st.Encrypted, st.EncryptionErr = t.encrypted(ctx, st.RoomID)
		case invErr != nil:
			st.InvitesUnknown = invErr
		case invited[id.RoomID(st.RoomID)] != nil:
			st.Membership = MembershipInvite
		}
	}
	return out, nil
}

// invites lists the pending invites among roomIDs: the client API shows
// them in /sync only.
func (t *MatrixTransport) invites(ctx context.Context, roomIDs []id.RoomID) (map[id.RoomID]*mautrix.SyncInvitedRoom, error) {
	if len(roomIDs) == 0 {
		return nil, nil
	}
	slices.Sort(roomIDs)
	resp, err := t.syncRooms(ctx, slices.Compact(roomIDs), &mautrix.FilterPart{Limit: 1, NotTypes: noTypes})
	if err != nil {
		return nil, toSendError("", err)
	}
	return resp.Rooms.Invite, nil
}

// noTypes is a filter's "no event at all".
var noTypes = []event.Type{{Type: "*"}}

// syncRooms is an initial /sync of rooms that returns their timelines as
// timeline filters them, and nothing else. The filter is given inline (the
// spec allows a JSON object in place of a filter id): nothing is uploaded.
func (t *MatrixTransport) syncRooms(ctx context.Context, rooms []id.RoomID, timeline *mautrix.FilterPart) (*mautrix.RespSync, error) {
	none := &mautrix.FilterPart{NotTypes: noTypes}
	filter, err := json.Marshal(mautrix.Filter{Presence: none, AccountData: none, Room: &mautrix.RoomFilter{
		Rooms: rooms, Timeline: timeline, Ephemeral: none, AccountData: none,
		State: &mautrix.FilterPart{NotTypes: noTypes, LazyLoadMembers: true},
	}})
	if err != nil {
		return nil, err
	}
	return t.client.FullSyncRequest(ctx, mautrix.ReqSync{FilterID: string(filter), SetPresence: event.PresenceOffline})
}

// powerToSend reads the room's power levels: the user's level and the level
// m.room.message needs. A room without the event lets everyone send.
func (t *MatrixTransport) powerToSend(ctx context.Context, roomID, userID string) (user, need int, known bool, err error) {
	var pl event.PowerLevelsEventContent
	err = t.client.StateEvent(ctx, id.RoomID(roomID), event.StatePowerLevels, "", &pl)
	if notFound(err) {
		return 0, 0, true, nil
	}
	if err != nil {
		return 0, 0, false, toSendError(roomID, err)
	}
	return pl.GetUserLevel(id.UserID(userID)), pl.GetEventLevel(event.EventMessage), true, nil
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
	he, ok := errors.AsType[mautrix.HTTPError](err)
	return ok && he.Response != nil && he.Response.StatusCode == http.StatusNotFound
}
