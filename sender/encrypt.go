package sender

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"matrix-notify/sender/e2ee"
)

// EncryptTransport encrypts, for the rooms with m.room.encryption, what it
// sends through Next. It is the transport closest to the wire: the
// lifecycle's relations are already in the content (EncryptAll keeps them
// in the clear part), and a retry is encrypted again (a new megolm index,
// the same txn id).
//
// Per batch (Prepare): one e2ee.Open of the crypto store (its lock, one
// /sync), EncryptAll, Close; the sealed contents wait here for their Sends.
// A Send whose message was not prepared, whose content changed since (the
// lifecycle related it to a root sent in the same batch), or that is a retry
// (a prepared ciphertext is used once, within sealTTL) encrypts just in time.
// No Machine is kept between batches, so a long-lived serve and the one-shot
// invocations can share the store: each takes the lock and loads afresh.
//
// An encrypted room never gets plaintext unless Options.AllowPlaintext; a
// message that cannot be encrypted is not sent (EncryptError) and stays
// queued as plaintext, to be encrypted when it is delivered.
type EncryptTransport struct {
	Next    *MatrixTransport
	Options e2ee.Options
	// Log gets the warnings of plaintext let into an encrypted room
	// (AllowPlaintext), and at debug level what each lock sealed; nil
	// discards.
	Log *slog.Logger

	mu     sync.Mutex
	sealed map[sealKey]sealedMsg
}

type sealKey struct{ room, txn string }

// sealTTL bounds how long a prepared ciphertext waits for its Send. A
// message sent later (serve retrying after an outage) is encrypted again:
// members who joined meanwhile, and a rotated session, must count.
const sealTTL = time.Minute

// sealedMsg is a prepared message: what to PUT if its content is still sum.
type sealedMsg struct {
	at        time.Time
	sum       [32]byte
	encrypted bool
	content   any
	warning   string
	err       error
}

// EncryptError is a message that was not sent because it could not be
// encrypted: nothing reached the homeserver, and it stays queued.
type EncryptError struct {
	Room string
	Err  error
}

// Error: e2ee's errors carry the fix (ErrLoginAgain: "run matrix-notify
// login again"). Not "not encrypted": with encryption set up, every send
// first syncs to learn whether its room is encrypted, so this is also the
// error of a room that is not, when the homeserver is down.
func (e *EncryptError) Error() string { return "not sent: encryption: " + e.Err.Error() }

func (e *EncryptError) Unwrap() error { return e.Err }

// Temporary says whether trying again in this invocation may help (the lock
// or the homeserver did not answer), as opposed to needing the admin
// (ErrLoginAgain, ErrPlaintextRefused) or a homeserver's refusal (4xx but
// 429).
func (e *EncryptError) Temporary() bool {
	if errors.Is(e.Err, e2ee.ErrLoginAgain) || errors.Is(e.Err, e2ee.ErrPlaintextRefused) || errors.Is(e.Err, context.Canceled) {
		return false
	}
	if he, ok := errors.AsType[mautrix.HTTPError](e.Err); ok && he.Response != nil {
		return he.Response.StatusCode >= 500 || he.Response.StatusCode == 429
	}
	return true
}

// Prepare implements Preparer: it encrypts msgs under one lock of the
// crypto store. What fails here is left to Send, which tries again and
// reports it per message.
func (t *EncryptTransport) Prepare(ctx context.Context, msgs []Message) {
	sealed, err := t.seal(ctx, msgs)
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sealed == nil {
		t.sealed = map[sealKey]sealedMsg{}
	}
	for k, s := range t.sealed {
		if time.Since(s.at) > sealTTL {
			delete(t.sealed, k) // prepared, never sent (delivered before, queued behind a failure)
		}
	}
	for i, s := range sealed {
		if s.err == nil {
			t.sealed[sealKey{msgs[i].Room, msgs[i].TxnID}] = s
		}
	}
}

// Send implements Transport.
func (t *EncryptTransport) Send(ctx context.Context, m Message) (string, error) {
	key := sealKey{m.Room, m.TxnID}
	t.mu.Lock()
	s, ok := t.sealed[key]
	delete(t.sealed, key) // used once: a retry is encrypted again
	t.mu.Unlock()
	how := "prepared"
	if !ok || s.sum != contentSum(m.Content) || time.Since(s.at) > sealTTL {
		how = "just in time"
		sealed, err := t.seal(ctx, []Message{m})
		if err == nil {
			s, err = sealed[0], sealed[0].err
		}
		if se, ok := errors.AsType[*SendError](err); ok {
			return "", se // the room did not resolve: the homeserver's answer, classified as usual
		}
		if err != nil {
			return "", &EncryptError{Room: m.Room, Err: err}
		}
	}
	log := orDiscard(t.Log)
	if s.warning != "" {
		log.Warn("Matrix notification sent in plaintext to an encrypted room", "alarm", m.Summary, "room", m.Room, "why", s.warning)
	}
	if s.encrypted {
		m.EventType, m.Wire = EventEncrypted, s.content
		log.Debug("encrypted", "txn", m.TxnID, "room", m.Room, "how", how)
	}
	return t.Next.Send(ctx, m)
}

// FindSent implements SentFinder through Next: the room's events carry
// our txn ids, encrypted or not.
func (t *EncryptTransport) FindSent(ctx context.Context, m Message, since time.Time) (string, error) {
	return t.Next.FindSent(ctx, m, since)
}

// seal encrypts msgs for their rooms: one Open, EncryptAll, Close. The
// error is for the whole batch (the store, its lock, the sync); per-message
// errors (a room that cannot be resolved or encrypted for) are in the
// results.
func (t *EncryptTransport) seal(ctx context.Context, msgs []Message) ([]sealedMsg, error) {
	cli, err := t.Next.Client(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]sealedMsg, len(msgs))
	var rooms []id.RoomID
	var plains []e2ee.Plain
	var index []int // plains[j] is msgs[index[j]]
	for i, m := range msgs {
		roomID, err := t.Next.ResolveRoom(ctx, m.Room)
		if err != nil {
			out[i].err = err
			continue
		}
		if rid := id.RoomID(roomID); !slices.Contains(rooms, rid) {
			rooms = append(rooms, rid)
		}
		plains = append(plains, e2ee.Plain{Room: id.RoomID(roomID), Content: m.Content})
		index = append(index, i)
	}
	if len(plains) == 0 {
		return out, nil
	}
	mach, err := e2ee.Open(ctx, cli, rooms, t.Options)
	if err != nil {
		return nil, err
	}
	sealed, _ := mach.EncryptAll(ctx, plains) // errors are per room, in sealed
	if err := mach.Close(); err != nil {
		return nil, fmt.Errorf("closing the crypto store: %w", err)
	}
	orDiscard(t.Log).Debug("messages sealed under one lock of the crypto store", "store", t.Options.DBPath, "messages", len(plains), "rooms", len(rooms))
	for j, s := range sealed {
		i := index[j]
		out[i] = sealedMsg{at: time.Now(), sum: contentSum(msgs[i].Content), encrypted: s.Encrypted, content: s.Content, warning: s.Warning, err: s.Err}
	}
	return out, nil
}

// contentSum identifies a content: a prepared ciphertext is used only for
// the content it was made from.
func contentSum(c Content) [32]byte {
	data, _ := json.Marshal(c) // a Content always marshals
	return sha256.Sum256(data)
}
