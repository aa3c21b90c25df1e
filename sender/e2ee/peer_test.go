package e2ee

// The receiving side of the real-peer tests: a Matrix user with its own
// device and E2EE state, through mautrix's own in-memory stores (nothing of
// this package), that creates encrypted rooms and decrypts what arrives.

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"

	"matrix-notify/internal/realpeer"
)

// login logs a user in as a new device on d.
func login(t *testing.T, d *realpeer.Dendrite, user, pw string) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(d.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	cli.Log = zerolog.Nop()
	cli.DefaultHTTPRetries = 0
	_, err = cli.Login(context.Background(), &mautrix.ReqLogin{
		Type:             mautrix.AuthTypePassword,
		Identifier:       mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: user},
		Password:         pw,
		StoreCredentials: true,
	})
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return cli
}

// received is one decrypted message.
type received struct {
	EventID string
	Body    string
	Session id.SessionID
	Index   uint
	Content *event.MessageEventContent
	Raw     *event.Event // the encrypted event as the server delivered it
}

type peer struct {
	t     *testing.T
	cli   *mautrix.Client
	mach  *crypto.OlmMachine
	since string
	got   []received
	seen  map[id.EventID]bool
	// undecryptable counts m.room.encrypted events that failed, with why.
	failures []string
	plain    []*event.Event // m.room.message events (not encrypted)
}

func newPeer(t *testing.T, d *realpeer.Dendrite, prefix string) *peer {
	t.Helper()
	user, pw := newUser(t, d, prefix)
	cli := login(t, d, user, pw)
	// mautrix's MemoryStateStore panics on join rules (a nil map in
	// v0.26): its SQL state store, on a database of the peer's own.
	raw, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "peer.db"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := dbutil.NewWithDB(raw, "sqlite3")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ss := sqlstatestore.NewSQLStateStore(db, dbutil.NoopLogger, false)
	if err := ss.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	cli.StateStore = ss
	mach := crypto.NewOlmMachine(cli, nil, crypto.NewMemoryStore(nil), ss)
	ctx := context.Background()
	if err := mach.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mach.ShareKeys(ctx, 0); err != nil {
		t.Fatalf("peer keys: %v", err)
	}
	p := &peer{t: t, cli: cli, mach: mach, seen: map[id.EventID]bool{}}
	p.sync(0) // catch up (and learn our own device)
	return p
}

// encryptedRoom is where most tests start: on the package's Dendrite d,
// alice (a mautrix client of her own) has made an encrypted room and
// invited the bot b.
func encryptedRoom(t *testing.T) (d *realpeer.Dendrite, alice *peer, b *bot, room id.RoomID) {
	t.Helper()
	d = homeserver(t)
	alice = newPeer(t, d, "alice")
	b = newBot(t, d)
	return d, alice, b, alice.createEncryptedRoom(b.user)
}

// createEncryptedRoom makes a private room with m.room.encryption from the
// start, inviting users.
func (p *peer) createEncryptedRoom(invite ...id.UserID) id.RoomID {
	p.t.Helper()
	resp, err := p.cli.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{
		Preset: "private_chat",
		Invite: invite,
		InitialState: []*event.Event{{
			Type:    event.StateEncryption,
			Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
		}},
	})
	if err != nil {
		p.t.Fatalf("create room: %v", err)
	}
	p.sync(0)
	return resp.RoomID
}

// sync runs one /sync (waiting up to timeout for something new), handling
// room keys and decrypting the timeline.
func (p *peer) sync(timeout time.Duration) {
	p.t.Helper()
	ctx := context.Background()
	resp, err := p.cli.FullSyncRequest(ctx, mautrix.ReqSync{Since: p.since, Timeout: int(timeout.Milliseconds()),
		// Room for a burst of alarms: a limited timeline would skip some.
		FilterID: `{"room":{"timeline":{"limit":200}}}`})
	if err != nil {
		p.t.Fatalf("peer sync: %v", err)
	}
	syncer := mautrix.NewDefaultSyncer()
	syncer.OnSync(p.mach.ProcessSyncResponse)
	syncer.OnEventType(event.StateMember, p.mach.HandleMemberEvent)
	syncer.OnEvent(p.cli.StateStoreSyncHandler)
	syncer.OnEventType(event.EventEncrypted, func(ctx context.Context, evt *event.Event) {
		if p.seen[evt.ID] {
			return
		}
		p.seen[evt.ID] = true
		dec, err := p.mach.DecryptMegolmEvent(ctx, evt)
		if err != nil {
			p.failures = append(p.failures, evt.ID.String()+": "+err.Error())
			return
		}
		enc := evt.Content.AsEncrypted()
		idx, err := crypto.ParseMegolmMessageIndex(enc.MegolmCiphertext)
		if err != nil {
			p.t.Errorf("message index of %s: %v", evt.ID, err)
		}
		msg := dec.Content.AsMessage()
		p.got = append(p.got, received{EventID: evt.ID.String(), Body: msg.Body, Session: enc.SessionID, Index: idx, Content: msg, Raw: evt})
	})
	syncer.OnEventType(event.EventMessage, func(ctx context.Context, evt *event.Event) {
		if !p.seen[evt.ID] {
			p.seen[evt.ID] = true
			p.plain = append(p.plain, evt)
		}
	})
	if err := syncer.ProcessResponse(ctx, resp, p.since); err != nil {
		p.t.Fatalf("peer sync: %v", err)
	}
	p.since = resp.NextBatch
}

// waitFor syncs until n messages were decrypted (or failed), at most 30 s.
func (p *peer) waitFor(n int) []received {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(p.got)+len(p.failures) < n && time.Now().Before(deadline) {
		p.sync(2 * time.Second)
	}
	if len(p.failures) > 0 {
		p.t.Fatalf("%s could not decrypt %d events:\n%s", p.cli.UserID, len(p.failures), strings.Join(p.failures, "\n"))
	}
	if len(p.got) < n {
		p.t.Fatalf("%s decrypted %d of %d messages within 30s", p.cli.UserID, len(p.got), n)
	}
	return p.got
}

// waitJoined syncs until user is joined to room (as this peer sees it).
func (p *peer) waitJoined(room id.RoomID, user id.UserID) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.cli.StateStore.IsInRoom(context.Background(), room, user) {
			return
		}
		p.sync(time.Second)
	}
	p.t.Fatalf("%s never saw %s join %s", p.cli.UserID, user, room)
}
