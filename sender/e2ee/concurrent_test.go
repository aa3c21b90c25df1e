package e2ee

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// 20 sender processes at once into one encrypted room, its megolm session
// not yet created: each exits 0, all 20 decrypt, and no message index is
// used twice (the receiver would call that a replay).
func TestConcurrentProcesses(t *testing.T) {
	_, alice, b, room := encryptedRoom(t)
	if _, err := b.cli.JoinRoomByID(context.Background(), room); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	results := make([]sent, n)
	errs := make([]error, n)
	outs := make([][]byte, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := helperCmd(t, b, room, textContent(fmt.Sprintf("alarm %02d", i)), fmt.Sprintf("txn-c%02d", i))
			outs[i], errs[i] = cmd.Output()
		}()
	}
	wg.Wait()
	for i := range n {
		results[i] = parseSent(t, outs[i], errs[i])
		if !results[i].Encrypted {
			t.Errorf("process %d did not encrypt", i)
		}
	}
	got := alice.waitFor(n)
	bodies := map[string]bool{}
	indices := map[string]bool{}
	for _, r := range got {
		bodies[r.Body] = true
		k := fmt.Sprintf("%s/%d", r.Session, r.Index)
		if indices[k] {
			t.Errorf("megolm session %s index %d used twice", r.Session, r.Index)
		}
		indices[k] = true
	}
	for i := range n {
		if !bodies[fmt.Sprintf("alarm %02d", i)] {
			t.Errorf("alarm %02d not decrypted", i)
		}
	}
}

// A member who joins after some alarms decrypts the next one (its devices
// get the key: the sync saw the join and the session was rotated).
func TestLateJoiner(t *testing.T) {
	d, alice, b, room := encryptedRoom(t)
	s1 := b.send(t, room, textContent("before 1"), "txn-l1")
	s2 := b.send(t, room, textContent("before 2"), "txn-l2")
	alice.waitFor(2)

	carol := newPeer(t, d, "carol")
	// The room's history is visible to her, its keys are not: those two
	// stay undecryptable for her, as in Element.
	carol.seen[id.EventID(s1.EventID)] = true
	carol.seen[id.EventID(s2.EventID)] = true
	ctx := context.Background()
	if _, err := alice.cli.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: carol.cli.UserID}); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.cli.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	alice.waitJoined(room, carol.cli.UserID)
	b.send(t, room, textContent("after join"), "txn-l3")
	got := carol.waitFor(1)
	if got[0].Body != "after join" {
		t.Errorf("carol decrypted %q, want the alarm after her join", got[0].Body)
	}
	all := alice.waitFor(3)
	if all[2].Body != "after join" {
		t.Errorf("alice's third message is %q", all[2].Body)
	}
}

// doctor's view of a set-up device and its rooms.
func TestCheckStatus(t *testing.T) {
	d := homeserver(t)
	alice := newPeer(t, d, "alice")
	b := newBot(t, d)
	enc := alice.createEncryptedRoom(b.user)
	plain := createPlainRoom(t, alice, b.user)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, r := range []id.RoomID{enc, plain} {
		if _, err := b.cli.JoinRoomByID(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	st, err := CheckStatus(ctx, b.cli, []id.RoomID{enc, plain}, b.opts)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Store || !st.Identity || !st.CrossSigned || !st.RecoveryInSSSS || len(st.Warnings) > 0 {
		t.Errorf("status of a set-up device: %+v", st)
	}
	if len(st.Rooms) != 2 {
		t.Fatalf("rooms: %+v", st.Rooms)
	}
	if r := st.Rooms[0]; !r.Encrypted || r.Err != nil || r.Members != 2 || r.Devices != 1 || len(r.NoDevices) != 0 {
		t.Errorf("encrypted room: %+v", r)
	}
	if r := st.Rooms[1]; r.Encrypted || r.Err != nil {
		t.Errorf("plain room: %+v", r)
	}
	// A member with no E2EE device is named.
	dave, davePW := newUser(t, d, "dave")
	daveCli := login(t, d, dave, davePW)
	if _, err := alice.cli.InviteUser(ctx, enc, &mautrix.ReqInviteUser{UserID: daveCli.UserID}); err != nil {
		t.Fatal(err)
	}
	// Dendrite's sync stream learns of the invite a moment after the
	// invite returns (the roomserver hands it on asynchronously), so
	// doctor may see the old membership for a short while: ask again.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		st, err = CheckStatus(ctx, b.cli, []id.RoomID{enc}, b.opts)
		if err != nil {
			t.Fatal(err)
		}
		if st.Rooms[0].Members == 3 || time.Now().After(deadline) {
			break
		}
	}
	if r := st.Rooms[0]; len(r.NoDevices) != 1 || r.NoDevices[0] != daveCli.UserID || r.Members != 3 {
		t.Errorf("room with a member without keys: %+v", r)
	}
}
