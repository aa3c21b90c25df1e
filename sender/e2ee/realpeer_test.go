package e2ee

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// decryptedJSON is the content a receiver decrypted, as JSON values.
func decryptedJSON(t *testing.T, r received) map[string]any {
	t.Helper()
	raw, err := json.Marshal(r.Content)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	return m
}

func jsonMap(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Two separate processes send into a room the receiver created encrypted
// (the bot only invited: the first joins it): both decrypt to the exact
// plaintext, and the second makes no key upload, only /sync and the PUT,
// continuing the same megolm session at the next index.
func TestEncryptedAcrossProcesses(t *testing.T) {
	_, alice, b, room := encryptedRoom(t)

	first := textContent("disk full on host-1 <&> ünïcode")
	s1 := sendProcess(t, b, room, first, "txn-1")
	if !s1.Encrypted || s1.Type != event.EventEncrypted.Type {
		t.Fatalf("first send was not encrypted: %+v", s1)
	}
	got := alice.waitFor(1)
	if !reflect.DeepEqual(decryptedJSON(t, got[0]), jsonMap(t, first)) {
		t.Fatalf("decrypted %v, sent %s", decryptedJSON(t, got[0]), first)
	}

	// The second: the sync after joining reports the members' device lists
	// as changed (one /keys/query), nothing is uploaded or shared.
	second := textContent("disk full on host-1: cleared")
	s2 := sendProcess(t, b, room, second, "txn-2")
	for _, r := range s2.Requests {
		if strings.Contains(r, "/keys/upload") || strings.Contains(r, "/keys/claim") || strings.Contains(r, "/sendToDevice") {
			t.Errorf("second process: %s (all: %v)", r, s2.Requests)
		}
	}
	got = alice.waitFor(2)
	if !reflect.DeepEqual(decryptedJSON(t, got[1]), jsonMap(t, second)) {
		t.Fatalf("decrypted %v, sent %s", decryptedJSON(t, got[1]), second)
	}
	if got[1].Session != got[0].Session || got[1].Index != got[0].Index+1 {
		t.Errorf("second message: session %s index %d, want session %s index %d", got[1].Session, got[1].Index, got[0].Session, got[0].Index+1)
	}
	// The third, nothing having changed: /sync and the PUT, nothing else.
	s3 := sendProcess(t, b, room, textContent("third"), "txn-3")
	want := []string{"GET /_matrix/client/v3/sync", "PUT /_matrix/client/v3/rooms/" + room.String() + "/send/m.room.encrypted/txn-3"}
	if !reflect.DeepEqual(s3.Requests, want) {
		t.Errorf("third process made requests %v, want only %v", s3.Requests, want)
	}
	got = alice.waitFor(3)
	if got[2].Session != got[0].Session || got[2].Index != got[0].Index+2 {
		t.Errorf("third message: session %s index %d, want session %s index %d", got[2].Session, got[2].Index, got[0].Session, got[0].Index+2)
	}

	// A thread reply: the relation stays in the clear part, the rest is
	// encrypted.
	reply := `{"msgtype":"m.text","body":"update","m.relates_to":{"rel_type":"m.thread","event_id":"` + s1.EventID +
		`","is_falling_back":true,"m.in_reply_to":{"event_id":"` + s1.EventID + `"}}}`
	b.send(t, room, reply, "txn-reply")
	got = alice.waitFor(4)
	clear := got[3].Raw.Content.AsEncrypted()
	if clear.RelatesTo == nil || clear.RelatesTo.Type != event.RelThread || clear.RelatesTo.EventID.String() != s1.EventID {
		t.Errorf("encrypted thread reply's clear m.relates_to = %+v, want the thread of %s", clear.RelatesTo, s1.EventID)
	}
	if !reflect.DeepEqual(decryptedJSON(t, got[3])["body"], "update") {
		t.Errorf("thread reply decrypted to %v", decryptedJSON(t, got[3]))
	}
	if strings.Contains(string(got[3].Raw.Content.VeryRaw), "update") {
		t.Errorf("the body is in the clear: %s", got[3].Raw.Content.VeryRaw)
	}

	// A room without m.room.encryption gets the content unchanged.
	plainRoom := createPlainRoom(t, alice, b.user)
	s4 := b.send(t, plainRoom, textContent("plain"), "txn-4")
	if s4.Encrypted || s4.Type != event.EventMessage.Type {
		t.Errorf("send into an unencrypted room: %+v", s4)
	}
}

func createPlainRoom(t *testing.T, p *peer, invite ...id.UserID) id.RoomID {
	t.Helper()
	resp, err := p.cli.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: invite})
	if err != nil {
		t.Fatal(err)
	}
	return resp.RoomID
}
