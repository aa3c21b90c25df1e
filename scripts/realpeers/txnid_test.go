package realpeers

import (
	"context"
	"testing"
	"time"

	"matrix-notify/sender"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestMessagesTxnID checks what the state database's "was it delivered
// before" lookup (sender's FindSent, after an attempt that got no answer)
// relies on: that the homeserver shows the sending token the
// unsigned.transaction_id of its events. Dendrite v0.13.8 does so in /sync,
// also after a restart, but its /messages has no unsigned at all: FindSent
// looks in /sync first (issue 13.4).
func TestMessagesTxnID(t *testing.T) {
	need(t)
	ctx := context.Background()
	r := newReader(t)
	room := r.room(roomOpts{botJoined: true})
	bot, err := mautrix.NewClient(env.hs.URL, id.UserID(userID(botName)), env.botToken)
	if err != nil {
		t.Fatal(err)
	}
	const txn = "mnrealpeerstxnidprobe"
	sent, err := bot.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: "txn id probe"}, mautrix.ReqSendEvent{TransactionID: txn})
	if err != nil {
		t.Fatal(err)
	}
	// The raw JSON: what the homeserver sends, whatever mautrix parses.
	find := func(evs []map[string]any) (unsigned any, found bool) {
		for _, ev := range evs {
			if ev["event_id"] == string(sent.EventID) {
				return ev["unsigned"], true
			}
		}
		return nil, false
	}
	txnIn := func(unsigned any) string {
		m, _ := unsigned.(map[string]any)
		s, _ := m["transaction_id"].(string)
		return s
	}
	viaSync := func() (any, bool) {
		t.Helper()
		var resp struct {
			Rooms struct {
				Join map[string]struct {
					Timeline struct {
						Events []map[string]any `json:"events"`
					} `json:"timeline"`
				} `json:"join"`
			} `json:"rooms"`
		}
		// Dendrite's sync stream gets an event a moment after its send
		// returns: ask again for a while before calling it missing.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if _, err := bot.MakeRequest(ctx, "GET", bot.BuildClientURL("v3", "sync")+"?timeout=0", nil, &resp); err != nil {
				t.Fatal(err)
			}
			if u, ok := find(resp.Rooms.Join[string(room)].Timeline.Events); ok || time.Now().After(deadline) {
				return u, ok
			}
		}
	}
	viaMessages := func() (any, bool) {
		t.Helper()
		var resp struct {
			Chunk []map[string]any `json:"chunk"`
		}
		if _, err := bot.MakeRequest(ctx, "GET", bot.BuildClientURL("v3", "rooms", room, "messages")+"?dir=b&limit=20", nil, &resp); err != nil {
			t.Fatal(err)
		}
		return find(resp.Chunk)
	}

	if u, ok := viaSync(); !ok || txnIn(u) != txn {
		t.Errorf("/sync with the sending token: event found %v, unsigned %v, want transaction_id %q", ok, u, txn)
	}
	env.hs.Stop()
	hsUp(t)
	if u, ok := viaSync(); !ok || txnIn(u) != txn {
		t.Errorf("/sync with the sending token after a restart: event found %v, unsigned %v, want transaction_id %q", ok, u, txn)
	}
	// Why FindSent looks in /sync first: here /messages shows the event
	// but not its txn id. Logged, not asserted: a Dendrite that starts
	// setting it breaks nothing.
	if u, ok := viaMessages(); !ok || txnIn(u) != txn {
		t.Logf("/messages with the sending token: event found %v, unsigned %v (no transaction_id, as Dendrite v0.13.8 does)", ok, u)
	}

	// The lookup itself, against the restarted Dendrite (its txn ids
	// forgotten): the earlier delivery is found. That the outbox then
	// posts nothing twice is sender's TestOutboxHomeserverForgetsTxnIDs.
	tr, err := sender.NewMatrixTransport(env.hs.URL, env.botToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.FindSent(ctx, sender.Message{Room: string(room), TxnID: txn}, time.Now().Add(-time.Hour))
	if err != nil || got != string(sent.EventID) {
		t.Errorf("FindSent after a restart = %q, %v; want %s", got, err, sent.EventID)
	}
	got, err = tr.FindSent(ctx, sender.Message{Room: string(room), TxnID: "mnrealpeersnotsent"}, time.Now().Add(-time.Hour))
	if err != nil || got != "" {
		t.Errorf("FindSent of a txn id never sent = %q, %v; want none", got, err)
	}
}
