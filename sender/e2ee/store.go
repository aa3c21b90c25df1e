package e2ee

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"
	_ "modernc.org/sqlite" // the pure-Go "sqlite" driver: no cgo
)

// StoreFile is the crypto store's file name in the state directory.
const StoreFile = "crypto.db"

// dsn is modernc's DSN for path: WAL so readers never block the one writer,
// foreign keys as mautrix's schema expects, a busy timeout beyond our flock
// (doctor may read while a send holds the lock), and immediate transactions
// so two writers never deadlock upgrading a read lock.
func dsn(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=busy_timeout(10000)&_txlock=immediate"
}

// stores is the opened crypto store: one SQLite file holding mautrix's
// state store (members, encryption state) and crypto store (olm account,
// sessions, devices, cross-signing keys).
type stores struct {
	db     *dbutil.Database
	state  *sqlstatestore.SQLStateStore
	crypto *crypto.SQLCryptoStore
	// user and device own the account in the store; "" when it has none.
	user   id.UserID
	device id.DeviceID
}

// openStores opens the store at path, upgrading its schema. With create the
// file is made (0600) if missing; without, a missing file is ErrNoStore:
// opening would make an empty store, and an empty store for an existing
// device is what must never be used (see ErrLoginAgain).
func openStores(ctx context.Context, path string, pickleKey []byte, create bool) (*stores, error) {
	if len(pickleKey) == 0 {
		return nil, errors.New("crypto store: no pickle key given (it is kept in the config; run login again)")
	}
	if create {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("crypto store: %w", err)
		}
		f.Close()
	} else if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("crypto store %s: %w", path, ErrNoStore)
		}
		return nil, fmt.Errorf("crypto store: %w", err)
	}
	raw, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("crypto store %s: %w", path, err)
	}
	// dbutil accepts any dialect starting with "sqlite"; "sqlite3" selects
	// its SQLite SQL whatever the driver's name.
	db, err := dbutil.NewWithDB(raw, "sqlite3")
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("crypto store %s: %w", path, err)
	}
	s := &stores{db: db}
	fail := func(what string, err error) (*stores, error) {
		db.Close()
		return nil, fmt.Errorf("crypto store %s: %s: %w", path, what, err)
	}
	s.state = sqlstatestore.NewSQLStateStore(db, dbutil.NoopLogger, false)
	if err := s.state.Upgrade(ctx); err != nil {
		return fail("state schema", err)
	}
	schema := crypto.NewSQLCryptoStore(db, dbutil.NoopLogger, "", "", pickleKey)
	if err := schema.DB.Upgrade(ctx); err != nil {
		return fail("crypto schema", err)
	}
	if _, err := db.Exec(ctx, coveredSchema); err != nil {
		return fail("schema", err)
	}
	// The account row names its owner: the account id is the user id (see
	// setStoreOwner), so a later run needs neither the config nor /whoami
	// to know whose keys these are.
	err = db.QueryRow(ctx, "SELECT account_id, device_id FROM crypto_account").Scan(&s.user, &s.device)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fail("reading the account", err)
	}
	if s.user != "" {
		s.crypto = crypto.NewSQLCryptoStore(db, dbutil.NoopLogger, s.user.String(), s.device, pickleKey)
	}
	return s, nil
}

// setOwner points the crypto store at user's device (a store about to get
// its first account).
func (s *stores) setOwner(user id.UserID, device id.DeviceID, pickleKey []byte) {
	s.user, s.device = user, device
	s.crypto = crypto.NewSQLCryptoStore(s.db, dbutil.NoopLogger, user.String(), device, pickleKey)
}

func (s *stores) close() error { return s.db.Close() }

// coveredSchema lists the rooms the stored sync token covers: the rooms
// every sync since the first has kept (see Machine.sync). Ours, beside
// mautrix's tables.
const coveredSchema = `CREATE TABLE IF NOT EXISTS matrix_notify_synced_room (room_id TEXT PRIMARY KEY)`

func (s *stores) coveredRooms(ctx context.Context) ([]id.RoomID, error) {
	rows, err := s.db.Query(ctx, "SELECT room_id FROM matrix_notify_synced_room ORDER BY room_id")
	rooms, err := dbutil.NewRowIterWithError(rows, dbutil.ScanSingleColumn[id.RoomID], err).AsList()
	if err != nil {
		return nil, fmt.Errorf("crypto store: reading the synced rooms: %w", err)
	}
	return rooms, nil
}

func (s *stores) addCovered(ctx context.Context, rooms []id.RoomID) error {
	for _, r := range rooms {
		if _, err := s.db.Exec(ctx, "INSERT INTO matrix_notify_synced_room (room_id) VALUES ($1) ON CONFLICT DO NOTHING", r); err != nil {
			return fmt.Errorf("crypto store: recording the synced rooms: %w", err)
		}
	}
	return nil
}

// StoreOwner returns the user and device whose olm account the crypto
// store at path holds (both "" when it holds none yet), under the store's
// lock: login reuses that device when it logs in again, since a new store
// for an existing device would replace the device's keys. A missing file is
// ErrNoStore.
func StoreOwner(ctx context.Context, path string) (id.UserID, id.DeviceID, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		// Not even its directory may exist: no lock to take.
		return "", "", fmt.Errorf("crypto store %s: %w", path, ErrNoStore)
	}
	lk, err := lock(ctx, path+".lock")
	if err != nil {
		return "", "", err
	}
	defer lk.unlock()
	// The pickle key only unpickles the account, which is not read here.
	st, err := openStores(ctx, path, []byte("unused"), false)
	if err != nil {
		return "", "", err
	}
	defer st.close()
	return st.user, st.device, nil
}
