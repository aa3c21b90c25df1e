package e2ee_test

import (
	"context"
	"errors"
	"log"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"matrix-notify/sender/e2ee"
)

// The delivery path, per batch of messages (one alarm in exec mode, a
// flush or one of serve's batches): encrypt everything under the lock,
// release it, then PUT each event with the txn id the message always had.
// The outbox keeps the plaintext; a retry encrypts again (a new index) and
// the txn id still makes the homeserver deduplicate.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, _ := mautrix.NewClient("https://matrix.example.org", "", "token from the config")
	rooms := []id.RoomID{"!ops:example.org"} // aliases resolved first
	content := map[string]any{"msgtype": "m.text", "body": "disk full"}

	m, err := e2ee.Open(ctx, cli, rooms, e2ee.Options{
		DBPath:    "/var/lib/netdata/matrix-notify/crypto.db", // from the config login wrote
		PickleKey: "pickle key from the config",
		AutoJoin:  true,
	})
	if errors.Is(err, e2ee.ErrLoginAgain) {
		log.Print("keep the alert queued: ", err) // permanent until login runs
		return
	} else if err != nil {
		log.Print("keep the alert queued, retry later: ", err) // lock or homeserver timeout
		return
	}
	sealed, err := m.EncryptAll(ctx, []e2ee.Plain{{Room: rooms[0], Content: content}})
	m.Close() // before any PUT
	if err != nil {
		log.Print("rooms with Sealed.Err stay queued: ", err)
	}
	for _, s := range sealed {
		if s.Err != nil {
			continue
		}
		cli.SendMessageEvent(ctx, s.Room, s.Type, s.Content, mautrix.ReqSendEvent{TransactionID: "mn…the message's txn id"})
	}
}
