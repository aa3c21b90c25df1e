package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// syncFilter keeps what encryption needs from /sync: the target rooms'
// member and encryption events. Device-list changes and to-device events
// (olm messages from receivers) are not filterable and always come.
func syncFilter(rooms []id.RoomID) (string, error) {
	if len(rooms) == 0 {
		// An empty list would mean every room.
		rooms = []id.RoomID{"!none:invalid"}
	}
	none := &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}}
	keep := &mautrix.FilterPart{
		Types: []event.Type{event.StateMember, event.StateEncryption},
		Limit: 100,
	}
	f := mautrix.Filter{
		AccountData: none,
		Presence:    none,
		Room: &mautrix.RoomFilter{
			Rooms:       rooms,
			AccountData: none,
			Ephemeral:   none,
			State:       &mautrix.FilterPart{Types: keep.Types},
			Timeline:    keep,
		},
	}
	b, err := json.Marshal(f)
	return string(b), err
}

// sync runs one /sync since the store's batch token (none: an initial sync)
// without waiting, feeds it to the olm machine and the state store, and
// saves the new token.
func (m *Machine) sync(ctx context.Context, rooms []id.RoomID) error {
	since, err := m.st.crypto.GetNextBatch(ctx)
	if err != nil {
		return fmt.Errorf("crypto store: reading the sync token: %w", err)
	}
	// The token covers the rooms every earlier sync kept; a room new to
	// the filter missed the changes before this token, so its members are
	// read afresh (/state) and its session rotated. The filter keeps every
	// room ever covered, so that rooms alternating between runs (serve's
	// routes) stay covered rather than being read again each time.
	covered, err := m.st.coveredRooms(ctx)
	if err != nil {
		return err
	}
	all := append([]id.RoomID(nil), covered...)
	var added []id.RoomID
	for _, r := range rooms {
		if !slices.Contains(all, r) {
			all = append(all, r)
			added = append(added, r)
		}
	}
	for _, r := range added {
		if err := m.st.state.ClearCachedMembers(ctx, r); err != nil {
			return fmt.Errorf("crypto store: %w", err)
		}
		if err := m.st.crypto.RemoveOutboundGroupSession(ctx, r); err != nil {
			return fmt.Errorf("crypto store: %w", err)
		}
	}
	filter, err := syncFilter(all)
	if err != nil {
		return err
	}
	// An inline JSON filter saves the round trip of uploading one.
	resp, err := m.cli.FullSyncRequest(ctx, mautrix.ReqSync{Since: since, Timeout: 0, FilterID: filter})
	if errors.Is(err, mautrix.MUnknownToken) {
		return fmt.Errorf("syncing room members and devices: %w (our device was deleted or logged out): %w", err, ErrLoginAgain)
	} else if err != nil {
		return fmt.Errorf("syncing room members and devices: %w", withoutQuery(err))
	}
	// Our device may have been deleted on the homeserver (its keys go with
	// it, and logging in again under its id does not bring them back) or
	// its keys replaced: receivers would then distrust or ignore what we
	// encrypt. The sync lists our user when our devices change: check
	// then (no cost otherwise), before the token moves past the change, so
	// that a failed check is made again next time.
	if slices.Contains(resp.DeviceLists.Changed, m.st.user) {
		err := checkDeviceKeys(ctx, m.cli, m.mach.OwnIdentity())
		if errors.Is(err, errNoDeviceKeys) || errors.Is(err, ErrDeviceHasKeys) {
			return fmt.Errorf("crypto store %s: %w: %w", m.opts.DBPath, err, ErrLoginAgain)
		} else if err != nil {
			return err
		}
	}
	syncer := mautrix.NewDefaultSyncer()
	syncer.OnSync(m.mach.ProcessSyncResponse)
	syncer.OnEvent(m.cli.StateStoreSyncHandler)
	m.rotateOnMemberChanges(ctx, resp) // before the store learns them
	if err := syncer.ProcessResponse(ctx, resp, since); err != nil {
		return fmt.Errorf("processing /sync: %w", err)
	}
	if err := m.st.addCovered(ctx, added); err != nil {
		return err
	}
	if err := m.st.crypto.PutNextBatch(ctx, resp.NextBatch); err != nil {
		return fmt.Errorf("crypto store: saving the sync token: %w", err)
	}
	return nil
}

// rotateOnMemberChanges drops the outbound megolm session of each room
// whose membership this sync changes from what the store knew, so the next
// message goes in a new session shared with the members as they are now (a
// member who left must not read it; one who joined needs its key).
//
// mautrix's HandleMemberEvent decides per event from prev_content, which
// the first sync after joining a room lacks for every member: it would
// rotate a session all the members have. Comparing each member's last
// membership in the sync with the store rotates only on a real change.
func (m *Machine) rotateOnMemberChanges(ctx context.Context, resp *mautrix.RespSync) {
	for room, data := range resp.Rooms.Join {
		last := map[id.UserID]event.Membership{}
		for _, evts := range [][]*event.Event{data.State.Events, data.Timeline.Events} {
			for _, evt := range evts {
				if evt.Type != event.StateMember || evt.StateKey == nil {
					continue
				}
				var c event.MemberEventContent
				if err := json.Unmarshal(evt.Content.VeryRaw, &c); err == nil {
					last[id.UserID(*evt.StateKey)] = c.Membership
				}
			}
		}
		for user, now := range last {
			old, err := m.st.state.GetMembership(ctx, room, user)
			if err == nil && (old == now || (old == event.MembershipInvite && now == event.MembershipJoin)) {
				// Unchanged, or an invited member (whose devices have
				// the key) joined.
				continue
			}
			// On error a best effort like mautrix's: the next share goes
			// to the members the store lists anyway.
			_ = m.st.crypto.RemoveOutboundGroupSession(ctx, room)
			break
		}
	}
}

// withoutQuery is a failed request's error without its URL's query: a
// sync's carries the whole inline filter (some 700 characters), which
// swamped every log line and the outbox's last error. The network error
// itself is kept (errors.Is: a refused connection is queued at once).
func withoutQuery(err error) error {
	ue, ok := errors.AsType[*url.Error](err)
	if !ok {
		return err
	}
	base, _, _ := strings.Cut(ue.URL, "?")
	return &url.Error{Op: ue.Op, URL: base, Err: ue.Err}
}
