package sender

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"matrix-notify/sender/e2ee"
)

// EncryptTransport encrypts, for the rooms with m.room.encryption, what it
// sends through Next, the transport closest to the wire: above it the
// lifecycle has put the relations into the content (EncryptAll keeps them in
// the clear part) and the retry policy repeats a failed send, which is
// encrypted again (a new megolm index, the same txn id).
//
// Per batch (Prepare): one e2ee.Open of the crypto store (its lock, one
// /sync) for the batch's rooms, EncryptAll, Close; the sealed contents wait
// here, by room and txn id, for the Sends. A Send whose message was not
// prepared, or whose content changed since (the lifecycle related it to a
// root sent in the same batch), or that is a retry (a prepared ciphertext
// is used once, within sealTTL), encrypts just in time with its own
// Open/EncryptAll/Close: retries from the outbox, drains of queued entries.
// No Machine is kept between batches, so a long-lived serve and the
// one-shot invocations can share the store: each takes the lock and loads
// afresh.
//
// Rooms without m.room.encryption get the plaintext unchanged. An
// encrypted room never gets plaintext unless Options.AllowPlaintext; a
// message that cannot be encrypted is not sent (EncryptError) and stays
// queued as plaintext in the outbox, to be encrypted when it is delivered.
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
}

// EncryptError is a message that was not sent because it could not be
// encrypted. Nothing reached the homeserver. Temporary says whether trying
// again in this invocation may help (the lock or the homeserver did not
// answer) as opposed to needing the admin (ErrLoginAgain: run login again;
// ErrPlaintextRefused: the room's keys could not be shared). Either way the
// message stays queued.
type EncryptError struct {
	Room string
	Err  error
}

func (e *EncryptError) Error() string {
	// e2ee's errors carry the fix (ErrLoginAgain: "run matrix-notify
	// login again").
	return fmt.Sprintf("not encrypted, not sent: %v", e.Err)
}

func (e *EncryptError) Unwrap() error { return e.Err }

// Temporary implements the retry policy's test: a homeserver's refusal
// (4xx but 429) or a store that needs the admin does not change by
// trying again now.
func (e *EncryptError) Temporary() bool {
	if errors.Is(e.Err, e2ee.ErrLoginAgain) || errors.Is(e.Err, e2ee.ErrPlaintextRefused) || errors.Is(e.Err, context.Canceled) {
		return false
	}
	var he mautrix.HTTPError
	if errors.As(e.Err, &he) && he.Response != nil {
		code := he.Response.StatusCode
		return code >= 500 || code == 429
	}
	return true
}

// NotSent says no request of this send reached the homeserver (see
// MayHaveArrived).
func (e *EncryptError) NotSent() bool { return true }

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
			t.sealed[sealKey{msgs[i].Room, msgs[i].TxnID}] = s.sealedMsg
		}
	}
}

// Send implements Transport.
func (t *EncryptTransport) Send(ctx context.Context, m Message) (string, error) {
	key := sealKey{m.Room, m.TxnID}
	sum := contentSum(m.Content)
	t.mu.Lock()
	s, ok := t.sealed[key]
	delete(t.sealed, key) // used once: a retry is encrypted again
	t.mu.Unlock()
	how := "prepared"
	if !ok || s.sum != sum || time.Since(s.at) > sealTTL {
		how = "just in time"
		sealed, err := t.seal(ctx, []Message{m})
		if err != nil {
			return "", &EncryptError{Room: m.Room, Err: err}
		}
		var se *SendError
		if errors.As(sealed[0].err, &se) {
			return "", se // the room did not resolve: the homeserver's answer, classified as usual
		}
		if sealed[0].err != nil {
			return "", &EncryptError{Room: m.Room, Err: sealed[0].err}
		}
		s = sealed[0].sealedMsg
	}
	if s.warning != "" && t.Log != nil {
		t.Log.Warn(fmt.Sprintf("Matrix notification for: %s to '%s': %s", m.Summary, m.Room, s.warning))
	}
	out := m
	if s.encrypted {
		out.EventType, out.Wire = EventEncrypted, s.content
		if t.Log != nil {
			t.Log.Debug(fmt.Sprintf("encrypted %s for '%s' (%s)", m.TxnID, m.Room, how))
		}
	}
	return t.Next.Send(ctx, out)
}

// FindSent implements SentFinder through Next: the room's events carry
// our txn ids, encrypted or not.
func (t *EncryptTransport) FindSent(ctx context.Context, m Message, since time.Time) (string, error) {
	return t.Next.FindSent(ctx, m, since)
}

type sealResult struct {
	sealedMsg
	err error
}

// seal encrypts msgs for their rooms: one Open, EncryptAll, Close. The
// error is for the whole batch (the store, its lock, the sync); per-message
// errors (a room that cannot be resolved or encrypted for) are in the
// results.
func (t *EncryptTransport) seal(ctx context.Context, msgs []Message) ([]sealResult, error) {
	cli, err := t.Next.Client(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]sealResult, len(msgs))
	var rooms []id.RoomID
	var plains []e2ee.Plain
	var index []int // plains[j] is msgs[index[j]]
	seen := map[id.RoomID]bool{}
	for i, m := range msgs {
		roomID, err := t.Next.ResolveRoom(ctx, m.Room)
		if err != nil {
			out[i].err = err
			continue
		}
		rid := id.RoomID(roomID)
		if !seen[rid] {
			seen[rid] = true
			rooms = append(rooms, rid)
		}
		plains = append(plains, e2ee.Plain{Room: rid, Content: m.Content})
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
	if t.Log != nil {
		t.Log.Debug(fmt.Sprintf("crypto store %s: %d messages for %d rooms sealed under one lock", t.Options.DBPath, len(plains), len(rooms)))
	}
	for j, s := range sealed {
		i := index[j]
		if s.Err != nil {
			out[i].err = s.Err
			continue
		}
		out[i].sealedMsg = sealedMsg{at: time.Now(), sum: contentSum(msgs[i].Content), encrypted: s.Encrypted, content: s.Content, warning: s.Warning}
	}
	return out, nil
}

// contentSum identifies a content: a prepared ciphertext is used only for
// the content it was made from.
func contentSum(c Content) [32]byte {
	data, _ := json.Marshal(c) // a Content always marshals
	return sha256.Sum256(data)
}
