package sendertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestMautrixClient proves that a real, widely used client works against the
// fake server: if it did not, the fake would be testing our own assumptions.
func TestMautrixClient(t *testing.T) {
	const invited = "!inv:hs.test"
	s := newServer(t, Options{Invited: []string{invited}, Aliases: map[string]string{"#alerts:hs.test": invited}})
	cli, err := mautrix.NewClient(s.URL(), "", DefaultToken)
	if err != nil {
		t.Fatal(err)
	}
	cli.DefaultHTTPRetries = 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	who, err := cli.Whoami(ctx)
	if err != nil || who.UserID != id.UserID(DefaultUserID) || who.DeviceID != DefaultDeviceID {
		t.Fatalf("whoami: %+v %v", who, err)
	}
	if _, err := cli.Versions(ctx); err != nil {
		t.Fatalf("versions: %v", err)
	}
	alias, err := cli.ResolveAlias(ctx, "#alerts:hs.test")
	if err != nil || alias.RoomID != invited {
		t.Fatalf("alias: %+v %v", alias, err)
	}
	joined, err := cli.JoinRoom(ctx, "#alerts:hs.test", nil)
	if err != nil || joined.RoomID != invited {
		t.Fatalf("join: %+v %v", joined, err)
	}

	content := &event.MessageEventContent{MsgType: event.MsgNotice, Body: "CPU high", Mentions: &event.Mentions{}}
	send := func(roomID, txn string) (*mautrix.RespSendEvent, error) {
		return cli.SendMessageEvent(ctx, id.RoomID(roomID), event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: txn})
	}
	first, err := send(room, "mn-txn-1")
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	again, err := send(room, "mn-txn-1")
	if err != nil || again.EventID != first.EventID {
		t.Fatalf("repeat: %+v %v, want %s", again, err, first.EventID)
	}
	if _, err := send(invited, "mn-txn-1"); err != nil {
		t.Fatalf("send to joined room: %v", err)
	}
	events := s.Events(room)
	if len(events) != 1 || events[0].EventID != first.EventID.String() || events[0].TxnID != "mn-txn-1" {
		t.Fatalf("events = %+v", events)
	}

	// Errors arrive as the typed errors mautrix users match on.
	s.Inject(RateLimitedBody(time.Second))
	if _, err := send(room, "mn-txn-2"); !errors.Is(err, mautrix.MLimitExceeded) {
		t.Errorf("429: %v", err)
	}
	if _, err := send("!notjoined:hs.test", "mn-txn-3"); !errors.Is(err, mautrix.MForbidden) {
		t.Errorf("403: %v", err)
	}
	bad, _ := mautrix.NewClient(s.URL(), "", "wrong")
	bad.DefaultHTTPRetries = 0
	if _, err := bad.Whoami(ctx); !errors.Is(err, mautrix.MUnknownToken) {
		t.Errorf("401: %v", err)
	}
	for _, r := range s.Requests() {
		if r.Legacy != nil {
			t.Errorf("mautrix request flagged legacy: %+v", r)
		}
	}
}
