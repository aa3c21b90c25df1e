package e2ee

import (
	"context"
	"encoding/json"
	"fmt"

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
	filter, err := syncFilter(rooms)
	if err != nil {
		return err
	}
	// An inline JSON filter saves the round trip of uploading one.
	resp, err := m.cli.FullSyncRequest(ctx, mautrix.ReqSync{Since: since, Timeout: 0, FilterID: filter})
	if err != nil {
		return fmt.Errorf("syncing room members and devices: %w", err)
	}
	syncer := mautrix.NewDefaultSyncer()
	syncer.OnSync(m.mach.ProcessSyncResponse)
	syncer.OnEventType(event.StateMember, m.mach.HandleMemberEvent)
	syncer.OnEvent(m.cli.StateStoreSyncHandler)
	if err := syncer.ProcessResponse(ctx, resp, since); err != nil {
		return fmt.Errorf("processing /sync: %w", err)
	}
	if err := m.st.crypto.PutNextBatch(ctx, resp.NextBatch); err != nil {
		return fmt.Errorf("crypto store: saving the sync token: %w", err)
	}
	return nil
}
