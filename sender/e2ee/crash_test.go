package e2ee

import (
	"strings"
	"syscall"
	"testing"
)

// A sender killed (-9) while sharing the room key, then one killed after
// encrypting but before its PUT: the next runs deliver, every message that
// reached the room decrypts, and a run after the PUT-crash with the same
// txn id (the outbox's retry) is one event, at a new index.
func TestKilledSenders(t *testing.T) {
	_, alice, b, room := encryptedRoom(t)

	killed := func(at, body, txn string) {
		t.Helper()
		cmd := helperCmd(t, b, room, textContent(body), txn)
		cmd.Env = append(cmd.Env, "E2EE_KILL_AT="+at)
		err := cmd.Run()
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if err == nil || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("helper killed at %s: %v", at, err)
		}
	}
	// Olm sessions made and stored, the room key never sent.
	killed("/sendToDevice/", "lost in share", "txn-k1")
	sendProcess(t, b, room, textContent("after the share crash"), "txn-k1")
	// Encrypted, the ratchet advanced, the PUT never made.
	killed("/send/m.room.encrypted/txn-k2", "lost before put", "txn-k2")
	s2 := sendProcess(t, b, room, textContent("after the put crash"), "txn-k2")
	sendProcess(t, b, room, textContent("and one more"), "txn-k3")

	got := alice.waitFor(3)
	var bodies []string
	for _, r := range got {
		bodies = append(bodies, r.Body)
	}
	if want := "after the share crash|after the put crash|and one more"; strings.Join(bodies, "|") != want {
		t.Errorf("decrypted %q, want %q", bodies, want)
	}
	// The index the killed run used is skipped, never reused.
	if got[1].Session == got[0].Session && got[1].Index != got[0].Index+2 {
		t.Errorf("after the put crash: index %d, want %d (one skipped)", got[1].Index, got[0].Index+2)
	}
	// The retry of txn-k2 is one event.
	again := sendProcess(t, b, room, textContent("after the put crash"), "txn-k2")
	if again.EventID != s2.EventID {
		t.Errorf("same txn id sent again: event %s, first %s", again.EventID, s2.EventID)
	}
}
