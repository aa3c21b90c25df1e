// Package e2ee encrypts alerts for Matrix rooms that have m.room.encryption
// (megolm, through mautrix-go's pure-Go goolm: build with -tags goolm), and
// sets up the device that does it: its own crypto store and a cross-signed
// identity, so that Element shows no warning and users who exclude
// unverified devices still see the alerts.
//
// One process per alarm is the normal case, so the crypto state is shared
// between processes through one SQLite file (crypto.db) and an exclusive
// flock on crypto.db.lock: Open takes the lock, loads, syncs once and
// shares keys; EncryptAll advances each room's megolm ratchet in the store;
// Close releases the lock. The caller then sends the ciphertexts with its
// usual PUT and transaction id, outside the lock. Two processes encrypting
// with one stored ratchet without the lock would reuse message indices,
// which receivers reject as replays.
package e2ee

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/id"
)

var (
	// ErrNoStore is a crypto store file that does not exist.
	ErrNoStore = errors.New("no crypto store")
	// ErrLoginAgain is a crypto store that cannot be used for the device
	// the homeserver knows: missing, empty, or made for another device.
	// Uploading a new account for an existing device would replace its
	// identity keys (Dendrite then refuses its one-time keys) and make every
	// receiver distrust it; the fix is a new device, made by login.
	ErrLoginAgain = errors.New("run matrix-notify login again")
	// ErrPlaintextRefused is an encrypted room that we could not encrypt
	// for, where the caller did not allow plaintext.
	ErrPlaintextRefused = errors.New("not sending plaintext into an encrypted room")
)

// Options configure Open.
type Options struct {
	// DBPath is the crypto store: crypto.db in the state directory.
	DBPath string
	// PickleKey encrypts the olm account and sessions at rest. It is a
	// secret kept in the config with the access token, never beside the
	// store.
	PickleKey string
	// AutoJoin joins a target room whose state we may not read (a pending
	// invite), as the transport's auto_join does for a send.
	AutoJoin bool
	// AllowPlaintext lets EncryptAll hand back the plaintext for an
	// encrypted room it could not encrypt for (with the reason in
	// Sealed.Warning) instead of an error. Off unless the admin asked.
	AllowPlaintext bool
	// PlaintextMentions copies m.mentions into the clear part of an
	// encrypted event, so that server-side push rules see mentions. Off:
	// Element does not do it, and it tells the server whom an alert is for.
	PlaintextMentions bool
	// Log receives mautrix's own debug output; nil discards it.
	Log *zerolog.Logger
}

// Machine is an open, locked crypto store with its olm machine, ready to
// encrypt for the rooms given to Open. It is for one delivery batch: a
// Machine must not outlive its lock, since another process may change the
// store as soon as Close returns (mautrix caches olm sessions and the
// account in memory). Not safe for concurrent use.
type Machine struct {
	opts   Options
	rooms  []id.RoomID // given to Open: the ones the sync covered
	cli    *mautrix.Client
	st     *stores
	mach   *crypto.OlmMachine
	lk     *fileLock
	closed bool
}

// Open takes the store's lock (waiting at most until ctx's deadline), loads
// the account, runs one incremental /sync limited to the member and
// encryption state of rooms (member and device-list changes must reach the
// outbound megolm sessions, or new members and devices never get keys), and
// uploads keys if the account was never shared.
//
// cli is the caller's logged-in client; it is not modified (Open works on a
// copy with the store attached). Its UserID and DeviceID may be empty: the
// store knows whose it is. If they are set they must be the store's.
//
// An error wrapping ErrLoginAgain (or ErrNoStore) means the store cannot
// serve this device: the caller must not send plaintext instead, but keep
// the alert and tell the admin to run login. Any other error (lock or
// homeserver timeout) is transient: keep the alert queued, as plaintext in
// the outbox, and encrypt it when it is delivered.
func Open(ctx context.Context, cli *mautrix.Client, rooms []id.RoomID, opts Options) (*Machine, error) {
	if opts.DBPath == "" {
		return nil, errors.New("e2ee: no crypto store path given")
	}
	if _, err := os.Stat(opts.DBPath); errors.Is(err, fs.ErrNotExist) {
		// Not even its directory may exist: no lock to take.
		return nil, fmt.Errorf("crypto store %s: %w: %w", opts.DBPath, ErrNoStore, ErrLoginAgain)
	}
	lk, err := lock(ctx, opts.DBPath+".lock")
	if err != nil {
		return nil, err
	}
	st, err := openStores(ctx, opts.DBPath, []byte(opts.PickleKey), false)
	if err != nil {
		lk.unlock()
		if errors.Is(err, ErrNoStore) {
			return nil, fmt.Errorf("%w: %w", err, ErrLoginAgain)
		}
		return nil, err
	}
	fail := func(err error) (*Machine, error) {
		st.close()
		lk.unlock()
		return nil, err
	}
	if st.user == "" {
		// The device may exist on the homeserver: making an account for
		// it here would replace its keys. Only login makes accounts.
		return fail(fmt.Errorf("crypto store %s has no olm account (login did not finish): %w", opts.DBPath, ErrLoginAgain))
	}
	if (cli.UserID != "" && cli.UserID != st.user) || (cli.DeviceID != "" && cli.DeviceID != st.device) {
		return fail(fmt.Errorf("crypto store %s belongs to %s device %s, the config's login is %s device %s: %w",
			opts.DBPath, st.user, st.device, cli.UserID, cli.DeviceID, ErrLoginAgain))
	}
	c, err := clientFor(cli, st)
	if err != nil {
		return fail(err)
	}
	m := &Machine{opts: opts, rooms: rooms, cli: c, st: st, lk: lk}
	m.mach = newOlmMachine(c, st, opts)
	if err := m.mach.Load(ctx); err != nil {
		return fail(fmt.Errorf("crypto store %s: loading the olm account (is the pickle key the one login wrote?): %w", opts.DBPath, err))
	}
	if !m.mach.GetAccount().Shared {
		// login stored the account but died before uploading its keys.
		if err := m.mach.ShareKeys(ctx, 0); err != nil {
			return fail(fmt.Errorf("uploading device keys: %w", err))
		}
	}
	if err := m.sync(ctx, rooms); err != nil {
		return fail(err)
	}
	return m, nil
}

// newOlmMachine makes the olm machine over st for c.
func newOlmMachine(c *mautrix.Client, st *stores, opts Options) *crypto.OlmMachine {
	log := zerolog.Nop()
	if opts.Log != nil {
		log = *opts.Log
	}
	mach := crypto.NewOlmMachine(c, &log, st.crypto, st.state)
	mach.PlaintextMentions = opts.PlaintextMentions
	return mach
}

// clientFor is a copy of cli bound to st (the state store is filled by
// /sync and /state), so that the caller's client never points at a store
// that Close has closed.
func clientFor(cli *mautrix.Client, st *stores) (*mautrix.Client, error) {
	if cli.HomeserverURL == nil || cli.AccessToken == "" {
		return nil, errors.New("e2ee: the client has no homeserver or access token")
	}
	c := *cli
	c.UserID, c.DeviceID, c.StateStore = st.user, st.device, st.state
	return &c, nil
}

// Device is the store's user and device.
func (m *Machine) Device() (id.UserID, id.DeviceID) { return m.st.user, m.st.device }

// IsEncrypted reports whether room (one given to Open) has
// m.room.encryption, reading its state first if the store has never seen
// it.
func (m *Machine) IsEncrypted(ctx context.Context, room id.RoomID) (bool, error) {
	if !slices.Contains(m.rooms, room) {
		return false, fmt.Errorf("room %s was not given to Open", room)
	}
	if err := m.ensureState(ctx, room); err != nil {
		return false, fmt.Errorf("room %s: reading its state: %w", room, err)
	}
	return m.st.state.IsEncrypted(ctx, room)
}

// Close releases the lock and closes the store. Call it as soon as
// EncryptAll returns, before sending: the ciphertexts are final and the
// ratchets advanced in the store.
func (m *Machine) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	m.mach.Destroy()
	err := m.st.close()
	return errors.Join(err, m.lk.unlock())
}
