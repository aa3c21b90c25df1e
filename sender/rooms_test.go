package sender

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"matrix-notify/sender/sendertest"
)

const (
	alertsRoom  = "!alerts:hs.test"
	alertsAlias = "#alerts:hs.test"
)

func newTransport(t *testing.T, hs *sendertest.Server, opts Options) *MatrixTransport {
	t.Helper()
	tr, err := NewMatrixTransportWithOptions(hs.URL(), hs.Token(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func message(room, txn string) Message {
	return Message{Room: room, TxnID: txn, Summary: "test", Content: Content{MsgType: "m.notice", Body: "disk full"}}
}

// count returns how many recorded requests match method and a path prefix.
func count(hs *sendertest.Server, method, prefix string) int {
	n := 0
	for _, r := range hs.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

const directoryPath = "/_matrix/client/v3/directory/room/"

func TestAliasResolvedAndCached(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{alertsRoom}, Aliases: map[string]string{alertsAlias: alertsRoom}})
	defer hs.Close()
	dir := t.TempDir()
	ctx := context.Background()

	tr := newTransport(t, hs, Options{CacheDir: dir})
	for _, txn := range []string{"t1", "t2"} {
		if _, err := tr.Send(ctx, message(alertsAlias, txn)); err != nil {
			t.Fatalf("send %s: %v", txn, err)
		}
	}
	if got := len(hs.Events(alertsRoom)); got != 2 {
		t.Fatalf("%d events in %s, want 2", got, alertsRoom)
	}
	if got := count(hs, "GET", directoryPath+url.PathEscape(alertsAlias)); got != 1 {
		t.Errorf("alias resolved %d times in one process, want 1", got)
	}
	// The send went to the room id: servers refuse aliases in send paths.
	if got := count(hs, "PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(alertsRoom)+"/send/"); got != 2 {
		t.Errorf("%d sends to the room id", got)
	}
	// The next run (a new transport) finds it in the cache file.
	tr2 := newTransport(t, hs, Options{CacheDir: dir})
	if _, err := tr2.Send(ctx, message(alertsAlias, "t3")); err != nil {
		t.Fatal(err)
	}
	if got := count(hs, "GET", directoryPath); got != 1 {
		t.Errorf("alias resolved again despite the cache file (%d lookups)", got)
	}
	data, err := os.ReadFile(filepath.Join(dir, "rooms.json"))
	if err != nil || !strings.Contains(string(data), alertsRoom) {
		t.Errorf("rooms.json: %s %v", data, err)
	}
	// Without a cache dir, every process resolves once.
	tr3 := newTransport(t, hs, Options{})
	tr3.Send(ctx, message(alertsAlias, "t4"))
	tr3.Send(ctx, message(alertsAlias, "t5"))
	if got := count(hs, "GET", directoryPath); got != 2 {
		t.Errorf("%d lookups, want 2", got)
	}
	if got := len(hs.Events(alertsRoom)); got != 5 {
		t.Errorf("%d events, want 5", got)
	}
}

func TestAliasUnknown(t *testing.T) {
	hs := sendertest.New(sendertest.Options{})
	defer hs.Close()
	tr := newTransport(t, hs, DefaultOptions())
	_, err := tr.Send(context.Background(), message("#nope:hs.test", "t1"))
	var se *SendError
	if !errors.As(err, &se) || se.Status != 404 || se.ErrCode != "M_NOT_FOUND" || se.Temporary() || se.Room != "#nope:hs.test" {
		t.Fatalf("err = %#v", err)
	}
	if count(hs, "PUT", "") != 0 || count(hs, "POST", "") != 0 {
		t.Errorf("sent or joined for an unknown alias: %v", paths(hs.Requests()))
	}
}

// An alias cached by an earlier run that has since moved to another room:
// the send to the old room is refused, the cache entry goes, and auto_join
// joins through the alias, which lands in the new room.
func TestAliasMovedSinceCached(t *testing.T) {
	const oldRoom, newRoom = "!old:hs.test", "!new:hs.test"
	hs := sendertest.New(sendertest.Options{Invited: []string{newRoom}, Aliases: map[string]string{alertsAlias: oldRoom}})
	defer hs.Close()
	dir := t.TempDir()
	hs.Join(oldRoom)
	if _, err := newTransport(t, hs, Options{CacheDir: dir}).Send(context.Background(), message(alertsAlias, "t1")); err != nil {
		t.Fatal(err)
	}
	hs.Leave(oldRoom)
	hs.AddAlias(alertsAlias, newRoom)

	tr := newTransport(t, hs, Options{CacheDir: dir, AutoJoin: true})
	if _, err := tr.Send(context.Background(), message(alertsAlias, "t2")); err != nil {
		t.Fatal(err)
	}
	if got := len(hs.Events(newRoom)); got != 1 {
		t.Errorf("%d events in the new room", got)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "rooms.json"))
	if !strings.Contains(string(data), newRoom) || strings.Contains(string(data), oldRoom) {
		t.Errorf("cache not updated: %s", data)
	}
}

// Room version 12 ids have no server part: sent to as given.
func TestRoomV12IDUsedAsGiven(t *testing.T) {
	const v12 = "!Y3Xc9ZQk0oA2lVt1nFgKh8sWqT5rJm6bE4uPdLiOyN7"
	hs := sendertest.New(sendertest.Options{Joined: []string{v12}})
	defer hs.Close()
	tr := newTransport(t, hs, DefaultOptions())
	m := message(v12, "t1")
	if _, err := tr.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	evs := hs.Events(v12)
	if len(evs) != 1 || evs[0].Room != v12 {
		t.Fatalf("events: %+v", evs)
	}
	reqs := hs.Requests()
	if len(reqs) != 1 || reqs[0].Path != SendPath(v12, "t1") || strings.Contains(reqs[0].Path, "%3A") {
		t.Errorf("requests: %v", paths(reqs))
	}
}

func TestAutoJoinAcceptsInvite(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Invited: []string{alertsRoom}})
	defer hs.Close()
	tr := newTransport(t, hs, DefaultOptions())
	m := message(alertsRoom, TxnID("netdata", "id1", alertsRoom))
	ev, err := tr.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	evs := hs.Events(alertsRoom)
	if len(evs) != 1 || evs[0].EventID != ev || evs[0].TxnID != m.TxnID {
		t.Fatalf("events: %+v (event %s)", evs, ev)
	}
	p := paths(hs.Requests())
	send := "PUT " + SendPath(alertsRoom, m.TxnID)
	want := []string{send, "POST /_matrix/client/v3/join/" + url.PathEscape(alertsRoom), send}
	if strings.Join(p, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(p, "\n"), strings.Join(want, "\n"))
	}
	// Joined now: the next send goes straight through.
	if _, err := tr.Send(context.Background(), message(alertsRoom, "t2")); err != nil || len(hs.Requests()) != 4 {
		t.Errorf("second send: %v, %d requests", err, len(hs.Requests()))
	}
}

func TestAutoJoinThroughAlias(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Invited: []string{alertsRoom}, Aliases: map[string]string{alertsAlias: alertsRoom}})
	defer hs.Close()
	if _, err := newTransport(t, hs, DefaultOptions()).Send(context.Background(), message(alertsAlias, "t1")); err != nil {
		t.Fatal(err)
	}
	if count(hs, "POST", "/_matrix/client/v3/join/"+url.PathEscape(alertsAlias)) != 1 || len(hs.Events(alertsRoom)) != 1 {
		t.Errorf("requests: %v", paths(hs.Requests()))
	}
}

func TestAutoJoinOff(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Invited: []string{alertsRoom}})
	defer hs.Close()
	tr := newTransport(t, hs, Options{AutoJoin: false})
	_, err := tr.Send(context.Background(), message(alertsRoom, "t1"))
	var se *SendError
	if !errors.As(err, &se) || se.ErrCode != "M_FORBIDDEN" || se.Temporary() {
		t.Fatalf("err = %v", err)
	}
	if count(hs, "POST", "") != 0 || len(hs.Requests()) != 1 || len(hs.Events(alertsRoom)) != 0 {
		t.Errorf("requests: %v", paths(hs.Requests()))
	}
}

func TestAutoJoinFails(t *testing.T) {
	hs := sendertest.New(sendertest.Options{})
	defer hs.Close()
	hs.AddAlias("#private:hs.test", alertsRoom) // known, not invited
	tr := newTransport(t, hs, DefaultOptions())
	_, err := tr.Send(context.Background(), message(alertsRoom, "t1"))
	var se *SendError
	if !errors.As(err, &se) || se.ErrCode != "M_FORBIDDEN" || !strings.Contains(err.Error(), "auto_join failed: HTTP 403 M_FORBIDDEN") {
		t.Fatalf("err = %v", err)
	}
	if count(hs, "PUT", "") != 1 || count(hs, "POST", "") != 1 {
		t.Errorf("requests: %v (one send, one join, no resend)", paths(hs.Requests()))
	}
}

// Invited without the power to post: the join accepts the invite, the one
// resend fails for lack of power, and that is the end of it. (Joined
// without the power, nothing is joined: TestAutoJoinByMeaning.)
func TestAutoJoinResendsOnlyOnce(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Invited: []string{alertsRoom}})
	defer hs.Close()
	pl := sendertest.DefaultPowerLevels()
	pl.EventsDefault = 50
	hs.SetPowerLevels(alertsRoom, pl)
	_, err := newTransport(t, hs, DefaultOptions()).Send(context.Background(), message(alertsRoom, "t1"))
	if err == nil || !strings.Contains(err.Error(), "send_level (50)") {
		t.Fatalf("err = %v", err)
	}
	if count(hs, "PUT", "") != 2 || count(hs, "POST", "") != 1 {
		t.Errorf("requests: %v", paths(hs.Requests()))
	}
}

func TestTransportDiscoversServerName(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{alertsRoom}})
	defer hs.Close()
	name, nameURL, c := tlsHomeserver(t, sendertest.Options{WellKnown: hs.URL()})
	tr, err := NewMatrixTransportWithOptions(hostPort(t, nameURL), hs.Token(), Options{HTTPClient: c})
	if err != nil {
		t.Fatal(err)
	}
	if tr.HomeserverURL() != "" {
		t.Errorf("discovered before first use")
	}
	for _, txn := range []string{"t1", "t2"} {
		if _, err := tr.Send(context.Background(), message(alertsRoom, txn)); err != nil {
			t.Fatal(err)
		}
	}
	if tr.HomeserverURL() != hs.URL() || len(hs.Events(alertsRoom)) != 2 || len(name.Requests()) != 1 {
		t.Errorf("homeserver %q, %d events, %d well-known requests", tr.HomeserverURL(), len(hs.Events(alertsRoom)), len(name.Requests()))
	}
}

func TestCheckRooms(t *testing.T) {
	const (
		invited   = "!invited:hs.test"
		stranger  = "!stranger:hs.test"
		muted     = "!muted:hs.test"
		encrypted = "!secret:hs.test"
		promoted  = "!promoted:hs.test"
	)
	hs := sendertest.New(sendertest.Options{
		Joined:    []string{alertsRoom, muted, encrypted, promoted},
		Invited:   []string{invited},
		Encrypted: []string{encrypted},
		Aliases:   map[string]string{alertsAlias: alertsRoom},
	})
	defer hs.Close()
	hs.AddAlias("#stranger:hs.test", stranger)
	pl := sendertest.DefaultPowerLevels()
	pl.Events["m.room.message"] = 20
	hs.SetPowerLevels(muted, pl)
	pl = sendertest.DefaultPowerLevels()
	pl.EventsDefault = 50
	pl.Users[hs.UserID()] = 50
	hs.SetPowerLevels(promoted, pl)

	tr := newTransport(t, hs, DefaultOptions())
	user, device, err := tr.Whoami(context.Background())
	if err != nil || user != hs.UserID() || device != sendertest.DefaultDeviceID {
		t.Fatalf("whoami: %s %s %v", user, device, err)
	}
	rooms := []string{alertsAlias, invited, stranger, muted, encrypted, promoted, "#nope:hs.test"}
	got, err := tr.CheckRooms(context.Background(), user, rooms)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		id, membership     string
		canPost, encrypted bool
		user, send         int
	}
	wants := []want{
		{alertsRoom, MembershipJoin, true, false, 0, 0},
		{invited, MembershipInvite, false, false, 0, 0},
		{stranger, MembershipNone, false, false, 0, 0},
		{muted, MembershipJoin, false, false, 0, 20},
		{encrypted, MembershipJoin, true, true, 0, 0},
		{promoted, MembershipJoin, true, false, 50, 50},
		{"", MembershipNone, false, false, 0, 0},
	}
	for i, w := range wants {
		g := got[i]
		if g.Room != rooms[i] || g.RoomID != w.id || g.Membership != w.membership || g.CanPost() != w.canPost ||
			g.Encrypted != w.encrypted || g.UserLevel != w.user || g.SendLevel != w.send ||
			g.PowerErr != nil || g.EncryptionErr != nil || g.InvitesUnknown != nil {
			t.Errorf("%s: got %+v (can post %v), want %+v", rooms[i], g, g.CanPost(), w)
		}
	}
	if got[6].ResolveErr == nil {
		t.Errorf("unknown alias resolved")
	}
	// Checking changes nothing: the invite is still pending.
	if count(hs, "POST", "") != 0 || count(hs, "PUT", "") != 0 {
		t.Errorf("CheckRooms wrote: %v", paths(hs.Requests()))
	}
	// A rejected token fails the whole check.
	bad, _ := NewMatrixTransport(hs.URL(), "nope", nil)
	if _, err := bad.CheckRooms(context.Background(), user, rooms); err == nil || !strings.Contains(err.Error(), "M_UNKNOWN_TOKEN") {
		t.Errorf("bad token: %v", err)
	}
}

func TestDeviceIDStable(t *testing.T) {
	a := DeviceID("bot", "https://matrix.example.org")
	for _, same := range [][2]string{
		{"@bot:example.org", "https://matrix.example.org/"},
		{"Bot", "HTTPS://matrix.example.org"},
	} {
		if got := DeviceID(same[0], same[1]); got != a {
			t.Errorf("DeviceID(%q, %q) = %s, want %s", same[0], same[1], got, a)
		}
	}
	if DeviceID("bot", "https://other.example.org") == a || DeviceID("alice", "https://matrix.example.org") == a {
		t.Error("device ids collide across users or homeservers")
	}
	if !strings.HasPrefix(a, "MATRIXNOTIFY") || len(a) != len("MATRIXNOTIFY")+8 {
		t.Errorf("device id %q", a)
	}
}

func TestLogin(t *testing.T) {
	const password = "correct horse battery staple"
	hs := sendertest.New(sendertest.Options{Password: password, Joined: []string{alertsRoom}})
	defer hs.Close()
	ctx := context.Background()
	first, err := Login(ctx, nil, hs.URL()+"/", "bot", password)
	if err != nil {
		t.Fatal(err)
	}
	wantDevice := DeviceID("bot", hs.URL())
	if first.UserID != hs.UserID() || first.DeviceID != wantDevice || first.AccessToken == "" {
		t.Fatalf("login: %+v", first)
	}
	second, err := Login(ctx, nil, hs.URL(), hs.UserID(), password)
	if err != nil || second.DeviceID != wantDevice {
		t.Fatalf("second login: %+v %v", second, err)
	}
	if devs := hs.Devices(); len(devs) != 2 || hs.DeviceName(wantDevice) != DeviceDisplayName {
		t.Errorf("devices %v (name %q): logging in twice must reuse the device", devs, hs.DeviceName(wantDevice))
	}
	tr := newTransportToken(t, hs, second.AccessToken)
	if user, device, err := tr.Whoami(ctx); err != nil || user != hs.UserID() || device != wantDevice {
		t.Errorf("whoami with the new token: %s %s %v", user, device, err)
	}
	if _, err := tr.Send(ctx, message(alertsRoom, "t1")); err != nil {
		t.Errorf("send with the new token: %v", err)
	}
	_, err = Login(ctx, nil, hs.URL(), "bot", "wrong")
	if err == nil || !strings.Contains(err.Error(), "wrong user or password") || strings.Contains(err.Error(), password) {
		t.Errorf("wrong password: %v", err)
	}
	for _, r := range hs.Requests() {
		if strings.Contains(r.Path, "password") || strings.Contains(r.Path, "horse") {
			t.Errorf("password in a URL: %s", r.Path)
		}
	}
}

func newTransportToken(t *testing.T, hs *sendertest.Server, token string) *MatrixTransport {
	t.Helper()
	tr, err := NewMatrixTransport(hs.URL(), token, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
