package sendertest

import (
	"net/url"
	"slices"
	"testing"
)

// TestMessagesAndRestart: /messages pages back through a room's events,
// newest first, with unsigned.transaction_id on the requesting token's own
// events only; ForgetTxnIDs makes a repeated txn id a new event, as a
// homeserver that keeps them in memory does after a restart.
func TestMessagesAndRestart(t *testing.T) {
	s := newServer(t, Options{Password: "pw"})
	for _, txn := range []string{"t1", "t2", "t3"} {
		if r := do(t, s, "PUT", sendPath(room, txn), msg, bearer); r.status != 200 {
			t.Fatalf("send %s: %d %s", txn, r.status, r.raw)
		}
	}
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/messages?dir=b&limit=2"
	page := do(t, s, "GET", path, "", bearer)
	chunk, _ := page.body["chunk"].([]any)
	if page.status != 200 || len(chunk) != 2 || page.body["end"] == nil {
		t.Fatalf("first page: %d %s", page.status, page.raw)
	}
	txnOf := func(ev any) any {
		u, _ := ev.(map[string]any)["unsigned"].(map[string]any)
		return u["transaction_id"]
	}
	if txnOf(chunk[0]) != "t3" || txnOf(chunk[1]) != "t2" {
		t.Errorf("first page not newest first: %s", page.raw)
	}
	next := do(t, s, "GET", path+"&from="+page.body["end"].(string), "", bearer)
	if chunk, _ := next.body["chunk"].([]any); len(chunk) != 1 || txnOf(chunk[0]) != "t1" || next.body["end"] != nil {
		t.Errorf("second page: %s", next.raw)
	}
	// Another device of the same user does not see the txn ids.
	login := do(t, s, "POST", "/_matrix/client/v3/login", `{"type":"m.login.password","identifier":{"type":"m.id.user","user":"bot"},"password":"pw"}`, "")
	tok, _ := login.body["access_token"].(string)
	if tok == "" {
		t.Fatalf("login: %d %s", login.status, login.raw)
	}
	if r := do(t, s, "GET", path, "", "Bearer "+tok); r.status != 200 || txnOf(r.body["chunk"].([]any)[0]) != nil {
		t.Errorf("another token saw a txn id: %s", r.raw)
	}
	if r := do(t, s, "GET", "/_matrix/client/v3/rooms/"+url.PathEscape("!other:hs.test")+"/messages?dir=b", "", bearer); r.status != 403 {
		t.Errorf("a room the bot is not in: %d", r.status)
	}

	s.ForgetTxnIDs()
	if r := do(t, s, "PUT", sendPath(room, "t1"), msg, bearer); r.status != 200 || len(s.Events(room)) != 4 {
		t.Errorf("after a restart a repeated txn id is a new event: %d, %d events", r.status, len(s.Events(room)))
	}
}

// TestDendriteTxnIDInSyncOnly: the Dendrite flavour, as Dendrite v0.13.8,
// gives no unsigned on /messages but unsigned.transaction_id on the
// sending token's events in a /sync timeline, limited to the inline
// filter's rooms, types and limit. The Synapse flavour's /sync stays
// without events.
func TestDendriteTxnIDInSyncOnly(t *testing.T) {
	const other = "!other:hs.test"
	filter := url.QueryEscape(`{"room":{"rooms":["` + room + `"],"timeline":{"limit":2,"types":["m.room.message"]}}}`)
	for _, sw := range []Software{Synapse, Dendrite} {
		s := newServer(t, Options{Software: sw, Joined: []string{room, other}})
		for _, txn := range []string{"t1", "t2", "t3"} {
			if r := do(t, s, "PUT", sendPath(room, txn), msg, bearer); r.status != 200 {
				t.Fatalf("%s: send %s: %d %s", sw, txn, r.status, r.raw)
			}
		}
		m := do(t, s, "GET", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/messages?dir=b", "", bearer)
		chunk, _ := m.body["chunk"].([]any)
		if _, has := chunk[0].(map[string]any)["unsigned"]; has != (sw != Dendrite) {
			t.Errorf("%q /messages: %s", sw, m.raw)
		}
		r := do(t, s, "GET", "/_matrix/client/v3/sync?timeout=0&filter="+filter, "", bearer)
		join, _ := r.body["rooms"].(map[string]any)["join"].(map[string]any)
		var txns []any
		if tl, ok := join[room].(map[string]any)["timeline"].(map[string]any); ok {
			for _, ev := range tl["events"].([]any) {
				txns = append(txns, ev.(map[string]any)["unsigned"].(map[string]any)["transaction_id"])
			}
		}
		_, otherTimeline := join[other].(map[string]any)["timeline"]
		want := []any{"t2", "t3"}
		if sw != Dendrite {
			want = nil
		}
		if r.status != 200 || !slices.Equal(txns, want) || otherTimeline {
			t.Errorf("%q /sync: txn ids %v, want %v; %s", sw, txns, want, r.raw)
		}
	}
}
