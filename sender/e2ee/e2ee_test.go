package e2ee

// Hermetic tests: the store, the lock, and the refusal to send plaintext
// into an encrypted room, with a stub homeserver (the real-peer tests in
// realpeer_test.go and beside it prove the rest against Dendrite).

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

const (
	testUser   = id.UserID("@bot:example.org")
	testDevice = id.DeviceID("DEVICEA")
	testPickle = "pickle-key-for-tests"
)

// newStore makes a store as login leaves it, with an account for
// testDevice marked as shared (so Open uploads nothing).
func newStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), StoreFile)
	ctx := context.Background()
	st, err := openStores(ctx, path, []byte(testPickle), true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	st.setOwner(testUser, testDevice, []byte(testPickle))
	acc := crypto.NewOlmAccount()
	acc.Shared = true
	if err := st.crypto.PutAccount(ctx, acc); err != nil {
		t.Fatal(err)
	}
	return path
}

func testClient(t *testing.T, url string) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(url, "", "token")
	if err != nil {
		t.Fatal(err)
	}
	cli.Log = zerolog.Nop()
	cli.DefaultHTTPRetries = 0
	return cli
}

// A store that is missing, empty, or another device's is never used (nor
// created): the fix is login, said in the error.
func TestOpenRefusesStoreThatCannotServeTheDevice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli := testClient(t, "http://127.0.0.1:1") // never reached
	missing := filepath.Join(t.TempDir(), StoreFile)
	_, err := Open(ctx, cli, nil, Options{DBPath: missing, PickleKey: testPickle})
	if !errors.Is(err, ErrLoginAgain) || !errors.Is(err, ErrNoStore) {
		t.Errorf("missing store: %v", err)
	}
	if _, serr := os.Stat(missing); serr == nil {
		t.Error("Open created the missing store")
	}

	empty := filepath.Join(t.TempDir(), StoreFile)
	st, err := openStores(ctx, empty, []byte(testPickle), true)
	if err != nil {
		t.Fatal(err)
	}
	st.close()
	_, err = Open(ctx, cli, nil, Options{DBPath: empty, PickleKey: testPickle})
	if !errors.Is(err, ErrLoginAgain) || !strings.Contains(err.Error(), "no olm account") {
		t.Errorf("store without an account: %v", err)
	}

	path := newStore(t)
	other := testClient(t, "http://127.0.0.1:1")
	other.UserID, other.DeviceID = testUser, "DEVICEB"
	_, err = Open(ctx, other, nil, Options{DBPath: path, PickleKey: testPickle})
	if !errors.Is(err, ErrLoginAgain) || !strings.Contains(err.Error(), "DEVICEA") {
		t.Errorf("another device's store: %v", err)
	}

	_, err = Open(ctx, cli, nil, Options{DBPath: path, PickleKey: "not the key"})
	if err == nil || !strings.Contains(err.Error(), "pickle key") {
		t.Errorf("wrong pickle key: %v", err)
	}
	_, err = Open(ctx, cli, nil, Options{DBPath: path})
	if err == nil || !strings.Contains(err.Error(), "no pickle key") {
		t.Errorf("no pickle key: %v", err)
	}
}

// The store's files are the owner's alone, whatever the umask.
func TestStoreIsPrivate(t *testing.T) {
	path := newStore(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s is %v, want 0600", path, fi.Mode().Perm())
	}
	// A path with URI metacharacters is the file it names.
	odd := filepath.Join(t.TempDir(), "a?b#c%d.db")
	st, err := openStores(context.Background(), odd, []byte(testPickle), true)
	if err != nil {
		t.Fatal(err)
	}
	st.close()
	if _, err := os.Stat(odd); err != nil {
		t.Errorf("store at %q: %v", odd, err)
	}
}

// Open waits for another process's lock no longer than the deadline.
func TestOpenLockBoundedByDeadline(t *testing.T) {
	path := newStore(t)
	held, err := lock(context.Background(), path+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer held.unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = Open(ctx, testClient(t, "http://127.0.0.1:1"), nil, Options{DBPath: path, PickleKey: testPickle})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "lock") {
		t.Errorf("Open with the lock held: %v", err)
	}
}

func TestSyncFilter(t *testing.T) {
	f, err := syncFilter([]id.RoomID{"!a:x", "!b:x"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal([]byte(f), &got)
	room := got["room"].(map[string]any)
	if rooms, _ := json.Marshal(room["rooms"]); string(rooms) != `["!a:x","!b:x"]` {
		t.Errorf("rooms %s", rooms)
	}
	if types, _ := json.Marshal(room["timeline"].(map[string]any)["types"]); string(types) != `["m.room.member","m.room.encryption"]` {
		t.Errorf("timeline types %s", types)
	}
	for _, k := range []string{"presence", "account_data"} {
		if got[k] == nil {
			t.Errorf("%s not filtered out", k)
		}
	}
	if f, _ := syncFilter(nil); !strings.Contains(f, `"rooms":["!none:invalid"]`) {
		t.Errorf("no rooms must mean none, not all: %s", f)
	}
}

// stubHomeserver answers /sync with nothing new, a room's state (encrypted
// or not), and fails /keys/query: sharing a room key cannot succeed.
func stubHomeserver(t *testing.T) *httptest.Server {
	t.Helper()
	return stubHomeserverFilters(t, nil)
}

// stubHomeserverFilters is stubHomeserver sending each /sync's filter to
// filters.
func stubHomeserverFilters(t *testing.T, filters chan<- string) *httptest.Server {
	t.Helper()
	state := func(encrypted bool) string {
		evts := []map[string]any{
			{"type": "m.room.member", "state_key": testUser, "sender": testUser, "event_id": "$m1", "content": map[string]any{"membership": "join"}},
			{"type": "m.room.member", "state_key": "@alice:example.org", "sender": "@alice:example.org", "event_id": "$m2", "content": map[string]any{"membership": "join"}},
		}
		if encrypted {
			evts = append(evts, map[string]any{"type": "m.room.encryption", "state_key": "", "sender": "@alice:example.org", "event_id": "$e", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}})
		}
		b, _ := json.Marshal(evts)
		return string(b)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_matrix/client/v3/sync", func(w http.ResponseWriter, r *http.Request) {
		if filters != nil {
			filters <- r.URL.Query().Get("filter")
		}
		w.Write([]byte(`{"next_batch":"s1"}`))
	})
	mux.HandleFunc("GET /_matrix/client/v3/rooms/{room}/state", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(state(r.PathValue("room") == "!enc:example.org")))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte(`{"errcode":"M_UNKNOWN","error":"stub: not here"}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// An encrypted room that cannot be encrypted for gets nothing (the error
// says so and the alert stays queued) unless plaintext is allowed; an
// unencrypted room gets the content unchanged.
func TestEncryptAllRefusesPlaintext(t *testing.T) {
	srv := stubHomeserver(t)
	content := json.RawMessage(`{"msgtype":"m.text","body":"disk full"}`)
	msgs := []Plain{{Room: "!enc:example.org", Content: content}, {Room: "!plain:example.org", Content: content}}
	for _, allow := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		path := newStore(t)
		m, err := Open(ctx, testClient(t, srv.URL), []id.RoomID{"!enc:example.org", "!plain:example.org"},
			Options{DBPath: path, PickleKey: testPickle, AllowPlaintext: allow})
		if err != nil {
			t.Fatal(err)
		}
		if enc, err := m.IsEncrypted(ctx, "!enc:example.org"); !enc || err != nil {
			t.Errorf("IsEncrypted(!enc) = %v, %v", enc, err)
		}
		if enc, err := m.IsEncrypted(ctx, "!plain:example.org"); enc || err != nil {
			t.Errorf("IsEncrypted(!plain) = %v, %v", enc, err)
		}
		sealed, err := m.EncryptAll(ctx, msgs)
		m.Close()
		cancel()
		enc, plain := sealed[0], sealed[1]
		if plain.Err != nil || plain.Encrypted || plain.Type != event.EventMessage || string(plain.Content.(json.RawMessage)) != string(content) {
			t.Errorf("allow=%v: unencrypted room: %+v", allow, plain)
		}
		if !allow {
			if !errors.Is(err, ErrPlaintextRefused) || !errors.Is(enc.Err, ErrPlaintextRefused) || !strings.Contains(enc.Err.Error(), "!enc:example.org") {
				t.Errorf("encrypted room, plaintext not allowed: %+v, %v", enc, err)
			}
			continue
		}
		if err != nil || enc.Err != nil || enc.Encrypted || enc.Type != event.EventMessage || enc.Warning == "" {
			t.Errorf("encrypted room, plaintext allowed: %+v, %v", enc, err)
		}
	}
}

// The store remembers whose it is: a client with no user or device id
// (the delivery path's) is given the store's.
func TestOpenTakesTheStoresDevice(t *testing.T) {
	srv := stubHomeserver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	path := newStore(t)
	cli := testClient(t, srv.URL)
	m, err := Open(ctx, cli, nil, Options{DBPath: path, PickleKey: testPickle})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if u, d := m.Device(); u != testUser || d != testDevice {
		t.Errorf("Device() = %s %s", u, d)
	}
	if cli.UserID != "" || cli.StateStore != nil {
		t.Error("Open modified the caller's client")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed: the lock is free again.
	lk, err := lock(ctx, path+".lock")
	if err != nil {
		t.Fatalf("lock after Close: %v", err)
	}
	lk.unlock()
}

// The sync keeps every room an earlier run synced (rooms alternating
// between runs stay covered), and EncryptAll refuses a room Open did not
// sync: a member change there would have been missed.
func TestSyncCoversEveryRoomEverSynced(t *testing.T) {
	filters := make(chan string, 10)
	srv := stubHomeserverFilters(t, filters)
	path := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, rooms := range [][]id.RoomID{{"!a:example.org"}, {"!b:example.org"}} {
		m, err := Open(ctx, testClient(t, srv.URL), rooms, Options{DBPath: path, PickleKey: testPickle})
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := m.EncryptAll(ctx, []Plain{{Room: "!c:example.org", Content: map[string]string{"body": "x"}}})
		if err == nil || sealed[0].Err == nil || !strings.Contains(err.Error(), "not given to Open") {
			t.Errorf("EncryptAll for a room not synced: %v", err)
		}
		m.Close()
	}
	<-filters
	second := <-filters
	if !strings.Contains(second, `"rooms":["!a:example.org","!b:example.org"]`) {
		t.Errorf("second sync's filter %s, want rooms a and b", second)
	}
}

// A pending invite that the sync has not shown yet (Dendrite hands it to
// the sync stream a moment after the invite) but the room's state shows is
// accepted before encrypting, with auto_join: else the send is refused.
func TestAutoJoinSeesTheInviteInTheState(t *testing.T) {
	var joins atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_matrix/client/v3/sync", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"next_batch":"s1"}`))
	})
	mux.HandleFunc("GET /_matrix/client/v3/rooms/{room}/state", func(w http.ResponseWriter, r *http.Request) {
		ours := "invite"
		if joins.Load() > 0 {
			ours = "join"
		}
		w.Write([]byte(`[{"type":"m.room.member","state_key":"` + testUser.String() + `","sender":"@alice:example.org","event_id":"$i","content":{"membership":"` + ours + `"}},
			{"type":"m.room.member","state_key":"@alice:example.org","sender":"@alice:example.org","event_id":"$a","content":{"membership":"join"}}]`))
	})
	mux.HandleFunc("POST /_matrix/client/v3/rooms/{room}/join", func(w http.ResponseWriter, r *http.Request) {
		joins.Add(1)
		w.Write([]byte(`{"room_id":"` + r.PathValue("room") + `"}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := Open(ctx, testClient(t, srv.URL), []id.RoomID{"!invited:example.org"}, Options{DBPath: newStore(t), PickleKey: testPickle, AutoJoin: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i := range 2 {
		if _, err := m.IsEncrypted(ctx, "!invited:example.org"); err != nil {
			t.Fatal(err)
		}
		if n := joins.Load(); n != 1 {
			t.Errorf("after %d look(s): joined %d times, want once", i+1, n)
		}
	}
}
