package e2ee

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"matrix-notify/internal/realpeer"
)

// A receiver that shares no code with us (nio over libolm) decrypts what
// two separate sender processes sent, to the exact content, then 20 sent
// at once: no duplicate message index (nio rejects those as replays).
func TestNioReceives(t *testing.T) {
	realpeer.NeedNio(t)
	d := homeserver(t)
	b := newBot(t, d)
	user, pw := newUser(t, d, "nio")
	store := t.TempDir()
	var setup struct {
		RoomID string `json:"room_id"`
	}
	realpeer.NioRun(t, &setup, "setup", d.URL, user, pw, store, b.user.String())
	room := id.RoomID(setup.RoomID)

	first, second := textContent("nio one: ✓ <disk>"), textContent("nio two")
	sendProcess(t, b, room, first, "nio-1")
	sendProcess(t, b, room, second, "nio-2")
	var got realpeer.NioReceived
	realpeer.NioRun(t, &got, "receive", d.URL, store, room.String(), "2", "30")
	if len(got.Errors) > 0 || len(got.Messages) != 2 {
		t.Fatalf("nio: %+v", got)
	}
	for i, want := range []string{first, second} {
		m := got.Messages[i]
		if !m.Decrypted || !reflect.DeepEqual(m.Content, jsonMap(t, want)) {
			t.Errorf("nio message %d: decrypted %v, content %v, want %s", i, m.Decrypted, m.Content, want)
		}
	}
	if got.Messages[0].SessionID != got.Messages[1].SessionID {
		t.Errorf("the second process started a new session: %s, %s", got.Messages[0].SessionID, got.Messages[1].SessionID)
	}

	const n = 20
	var wg sync.WaitGroup
	outs, errs := make([][]byte, n), make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = helperCmd(t, b, room, textContent(fmt.Sprintf("nio burst %02d", i)), fmt.Sprintf("nio-b%02d", i)).Output()
		}()
	}
	wg.Wait()
	for i := range n {
		parseSent(t, outs[i], errs[i])
	}
	got = realpeer.NioReceived{}
	realpeer.NioRun(t, &got, "receive", d.URL, store, room.String(), fmt.Sprint(n), "60")
	if len(got.Errors) > 0 {
		t.Fatalf("nio could not decrypt %d of the burst: %v", len(got.Errors), got.Errors)
	}
	var bodies []string
	for _, m := range got.Messages {
		bodies = append(bodies, m.Body)
	}
	sort.Strings(bodies)
	for i := range n {
		if i >= len(bodies) || bodies[i] != fmt.Sprintf("nio burst %02d", i) {
			t.Fatalf("nio decrypted %q", bodies)
		}
	}
	checkIndicesUnique(t, b, room)
}

// checkIndicesUnique reads the room's encrypted events as the server holds
// them and checks that no (session, index) pair repeats.
func checkIndicesUnique(t *testing.T, b *bot, room id.RoomID) {
	t.Helper()
	resp, err := b.cli.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 500)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	count := 0
	for _, evt := range resp.Chunk {
		if evt.Type != event.EventEncrypted {
			continue
		}
		if err := evt.Content.ParseRaw(evt.Type); err != nil {
			t.Fatal(err)
		}
		enc := evt.Content.AsEncrypted()
		idx, err := crypto.ParseMegolmMessageIndex(enc.MegolmCiphertext)
		if err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprintf("%s/%d", enc.SessionID, idx)
		if seen[k] {
			t.Errorf("megolm session %s index %d used twice", enc.SessionID, idx)
		}
		seen[k] = true
		count++
	}
	t.Logf("%d encrypted events, every (session, index) once", count)
}
