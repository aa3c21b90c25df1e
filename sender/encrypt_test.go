package sender_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"matrix-notify/sender"
	"matrix-notify/sender/e2ee"
	"matrix-notify/sender/sendertest"
	"matrix-notify/sender/state"
)

// A message that carries a wire type and content is PUT as that, under its
// own txn id; the dry run and the outbox keep the plaintext request.
func TestWireTypeSameTxn(t *testing.T) {
	const room = "!enc:hs.test"
	hs := sendertest.New(sendertest.Options{Joined: []string{room}})
	defer hs.Close()
	tr, err := sender.NewMatrixTransport(hs.URL(), hs.Token(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := sender.Messages(sender.Notification{Source: "t", Identity: "one", Rooms: []string{room}, Content: sender.Content{MsgType: "m.text", Body: "secret"}})[0]
	enc := m
	enc.EventType, enc.Wire = sender.EventEncrypted, map[string]any{"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgA"}
	if _, err := tr.Send(context.Background(), enc); err != nil {
		t.Fatal(err)
	}
	evs := hs.Events(room)
	if len(evs) != 1 || evs[0].Type != sender.EventEncrypted || evs[0].TxnID != m.TxnID || string(evs[0].Content) != `{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":"AwgA"}` {
		t.Fatalf("events %+v: want one m.room.encrypted under txn %s with the wire content", evs, m.TxnID)
	}
	if got, want := sender.SendEventPath(room, sender.EventEncrypted, m.TxnID), "/_matrix/client/v3/rooms/%21enc:hs.test/send/m.room.encrypted/"+m.TxnID; got != want {
		t.Errorf("path %s, want %s", got, want)
	}
	if got := sender.SendPath(room, m.TxnID); got != sender.SendEventPath(room, sender.EventMessage, m.TxnID) {
		t.Errorf("SendPath %s is not the m.room.message path", got)
	}
}

type preparer struct {
	sender.Transport
	got [][]sender.Message
}

func (p *preparer) Prepare(_ context.Context, msgs []sender.Message) { p.got = append(p.got, msgs) }

// The retry layer forwards the batch hook to what it wraps.
func TestRetryForwardsPrepare(t *testing.T) {
	p := &preparer{}
	msgs := []sender.Message{{Room: "!a:hs.test", TxnID: "1"}}
	sender.Prepare(context.Background(), &sender.RetryTransport{Next: p}, msgs)
	if len(p.got) != 1 || len(p.got[0]) != 1 {
		t.Errorf("Prepare reached Next %d times", len(p.got))
	}
	sender.Prepare(context.Background(), &sender.RetryTransport{Next: p}, nil)
	if len(p.got) != 1 {
		t.Errorf("an empty batch was prepared")
	}
}

// What cannot be encrypted is never sent, and the retry policy does not
// hammer what only the admin can fix.
func TestEncryptErrorTemporary(t *testing.T) {
	for _, c := range []struct {
		err  error
		temp bool
	}{
		{fmt.Errorf("store: %w", e2ee.ErrLoginAgain), false},
		{fmt.Errorf("room: %w", e2ee.ErrPlaintextRefused), false},
		{context.Canceled, false},
		{errors.New("waiting for the crypto store's lock"), true},
		{mautrix.HTTPError{Response: nil, WrappedError: errors.New("connection refused")}, true},
	} {
		e := &sender.EncryptError{Room: "!r:hs.test", Err: c.err}
		if e.Temporary() != c.temp {
			t.Errorf("%v: Temporary() = %v, want %v", c.err, e.Temporary(), c.temp)
		}
		if _, retry := (sender.RetryPolicy{}).Next(1, e); retry != c.temp {
			t.Errorf("%v: retried %v", c.err, retry)
		}
	}
}

// A store that is missing: EncryptTransport sends nothing and says why.
func TestEncryptTransportNoStore(t *testing.T) {
	const room = "!enc:hs.test"
	hs := sendertest.New(sendertest.Options{Joined: []string{room}})
	defer hs.Close()
	mt, err := sender.NewMatrixTransport(hs.URL(), hs.Token(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &sender.EncryptTransport{Next: mt, Options: e2ee.Options{DBPath: filepath.Join(t.TempDir(), "crypto.db"), PickleKey: "k"}}
	msgs := sender.Messages(sender.Notification{Source: "t", Identity: "one", Rooms: []string{room}, Content: sender.Content{MsgType: "m.text", Body: "secret"}})
	sender.Prepare(context.Background(), tr, msgs)
	_, err = tr.Send(context.Background(), msgs[0])
	var ee *sender.EncryptError
	if !errors.As(err, &ee) || !errors.Is(err, e2ee.ErrLoginAgain) {
		t.Fatalf("Send: %v, want an EncryptError wrapping ErrLoginAgain", err)
	}
	if n := len(hs.Events(room)); n != 0 {
		t.Errorf("%d events sent", n)
	}
}

// Over a transport that prepares nothing, the lifecycle layer does not read
// the batch's alerts before the fan-out (Send reads each anyway): the store
// here is closed, so a read would log an error.
func TestLifecycleSkipsPrepareForPlainTransport(t *testing.T) {
	db, err := state.Open(context.Background(), t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	var logged bytes.Buffer
	msgs := []sender.Message{{Room: "!r:hs.test", TxnID: "1", Source: "netdata", AlertKey: "web01/7", Phase: sender.PhaseResolve, Content: sender.Content{Body: "clear"}}}
	for _, c := range []struct {
		name    string
		next    sender.Transport
		prepare bool
	}{
		{"plain", &sender.RetryTransport{Next: &sender.MatrixTransport{}}, false},
		{"preparer", &sender.RetryTransport{Next: &preparer{}}, true},
	} {
		logged.Reset()
		lt := &sender.LifecycleTransport{Next: c.next, Store: sender.NewAlertStore(db, sender.AlertStoreOptions{}),
			Log: slog.New(slog.NewTextHandler(&logged, nil))}
		sender.Prepare(context.Background(), lt, msgs)
		if read := strings.Contains(logged.String(), "alert lifecycle"); read != c.prepare {
			t.Errorf("%s: the alert was read: %v, want %v (log: %q)", c.name, read, c.prepare, logged.String())
		}
	}
}

// The lifecycle layer prepares an update as it will send it: in its
// alert's thread, so the ciphertext made for it is the one sent.
func TestLifecyclePreparesRelated(t *testing.T) {
	db, err := state.Open(context.Background(), t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := sender.NewAlertStore(db, sender.AlertStoreOptions{})
	ref := sender.AlertRef{Source: "netdata", Alert: "web01/7", Room: "!r:hs.test"}
	if err := store.Put(context.Background(), ref, sender.AlertState{Root: "$root", Latest: "$root", Created: time.Now(), Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	p := &preparer{}
	lt := &sender.LifecycleTransport{Next: &sender.RetryTransport{Next: p}, Store: store}
	msgs := []sender.Message{
		{Room: "!r:hs.test", TxnID: "1", Source: "netdata", AlertKey: "web01/7", Phase: sender.PhaseResolve, Content: sender.Content{Body: "clear"}},
		{Room: "!r:hs.test", TxnID: "2", Source: "netdata", AlertKey: "web01/8", Phase: sender.PhaseRaise, Content: sender.Content{Body: "raise"}},
	}
	sender.Prepare(context.Background(), lt, msgs)
	if len(p.got) != 1 || len(p.got[0]) != 2 {
		t.Fatalf("prepared %v", p.got)
	}
	if rel := p.got[0][0].Content.RelatesTo; rel == nil || rel.RelType != sender.RelThread || rel.EventID != "$root" {
		t.Errorf("the resolve was prepared without its thread: %+v", rel)
	}
	if p.got[0][1].Content.RelatesTo != nil {
		t.Errorf("a raise was prepared with a relation")
	}
}

// A message refused before any request is not looked for in its room
// next time: nothing of it can have arrived.
func TestEncryptErrorNotInDoubt(t *testing.T) {
	err := &sender.EncryptError{Room: "!r:hs.test", Err: errors.New("waiting for the crypto store's lock: context deadline exceeded")}
	if sender.MayHaveArrived(err) {
		t.Error("an encryption failure may have arrived")
	}
	if sender.MayHaveArrived(&sender.RetryError{Attempts: 2, Err: err}) {
		t.Error("retried encryption failures may have arrived")
	}
	var _ sender.SentFinder = &sender.EncryptTransport{}
}
