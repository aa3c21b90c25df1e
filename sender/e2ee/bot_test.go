package e2ee

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"matrix-notify/internal/realpeer"
)

// bot is matrix-notify's account as login leaves it: a new device, its
// crypto store, a cross-signed identity.
type bot struct {
	hs       *realpeer.Dendrite
	user     id.UserID
	password string
	cli      *mautrix.Client
	opts     Options
	setup    Setup
}

func newBot(t *testing.T, d *realpeer.Dendrite) *bot {
	t.Helper()
	name, pw := newUser(t, d, "bot")
	cli := login(t, d, name, pw)
	b := &bot{hs: d, user: cli.UserID, password: pw, cli: cli}
	b.opts = Options{DBPath: filepath.Join(t.TempDir(), StoreFile), PickleKey: NewPickleKey(), AutoJoin: true}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var err error
	b.setup, err = SetupDevice(ctx, cli, pw, "", b.opts)
	if err != nil {
		t.Fatalf("SetupDevice: %v", err)
	}
	return b
}

// send delivers content (JSON) to room in this process.
func (b *bot) send(t *testing.T, room id.RoomID, content, txn string) sent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := deliver(ctx, b.hs.URL, b.cli.AccessToken, b.opts, room, json.RawMessage(content), txn)
	if s.Error != "" {
		t.Fatalf("deliver: %s", s.Error)
	}
	return s
}
