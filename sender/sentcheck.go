package sender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// SentFinder is a Transport that can tell whether an earlier attempt of a
// message reached its room. Homeservers remember txn ids for a while only
// (Dendrite: in memory, per token, for 30–60 minutes), so a message whose
// attempt got no answer is looked for before it is sent again.
type SentFinder interface {
	// FindSent returns the event that m's txn id created, "" if there is
	// none; the earlier attempt began at since.
	FindSent(ctx context.Context, m Message, since time.Time) (string, error)
}

// findSent asks t, or answers errors.ErrUnsupported.
func findSent(ctx context.Context, t Transport, m Message, since time.Time) (string, error) {
	if f, ok := t.(SentFinder); ok {
		return f.FindSent(ctx, m, since)
	}
	return "", errors.ErrUnsupported
}

// MayHaveArrived reports whether a failed send may have reached the
// homeserver all the same: no answer came (a timeout, a connection cut, a
// process stopped mid-request), as opposed to an HTTP answer or a
// connection never made.
func MayHaveArrived(err error) bool {
	if re, ok := errors.AsType[*RetryError](err); ok && re.InDoubt {
		return true
	}
	if se, ok := errors.AsType[*SendError](err); ok && se.Status != 0 {
		return false
	}
	if _, ok := errors.AsType[*EncryptError](err); ok { // refused before any request
		return false
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return false
	}
	_, dns := errors.AsType[*net.DNSError](err)
	return !dns
}

// How far back FindSent looks: pages of events, newest first, until one
// is older than the attempt (less a margin for the clocks).
const (
	findSentPage  = 100
	findSentPages = 5
	findSentSkew  = 5 * time.Minute
)

// FindSent implements SentFinder: the room's recent events carry
// unsigned.transaction_id on the events this device sent. It looks in a
// /sync of the room's timeline first, then pages back through /messages.
// Both are needed: Dendrite v0.13.8 never sets unsigned on /messages
// events, only on /sync's (measured, scripts/realpeers/txnid_test.go,
// also after a restart); Synapse sets it on both, but /sync's timeline
// holds only the last findSentPage events.
func (t *MatrixTransport) FindSent(ctx context.Context, m Message, since time.Time) (string, error) {
	roomID, _, err := t.resolve(ctx, m.Room)
	if err != nil {
		return "", err
	}
	room, types := id.RoomID(roomID), []event.Type{event.EventMessage, event.EventEncrypted}
	sync, err := t.syncRooms(ctx, []id.RoomID{room}, &mautrix.FilterPart{Limit: findSentPage, Types: types})
	if err != nil {
		return "", fmt.Errorf("looking for an earlier delivery: %w", toSendError(m.Room, err))
	}
	if r := sync.Rooms.Join[room]; r != nil {
		if ev := sentIn(r.Timeline.Events, m.TxnID); ev != "" {
			return ev, nil
		}
	}
	from := ""
	for range findSentPages {
		resp, err := t.client.Messages(ctx, room, from, "", mautrix.DirectionBackward, &mautrix.FilterPart{Types: types}, findSentPage)
		if err != nil {
			return "", fmt.Errorf("looking for an earlier delivery: %w", toSendError(m.Room, err))
		}
		if ev := sentIn(resp.Chunk, m.TxnID); ev != "" {
			return ev, nil
		}
		if resp.End == "" || len(resp.Chunk) == 0 ||
			time.UnixMilli(resp.Chunk[len(resp.Chunk)-1].Timestamp).Before(since.Add(-findSentSkew)) {
			break
		}
		from = resp.End
	}
	return "", nil
}

// sentIn is the id of the event of evs that txnID created, "" if none.
func sentIn(evs []*event.Event, txnID string) string {
	if i := slices.IndexFunc(evs, func(ev *event.Event) bool { return ev.Unsigned.TransactionID == txnID }); i >= 0 {
		return evs[i].ID.String()
	}
	return ""
}
