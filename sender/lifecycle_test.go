package sender

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"matrix-notify/sender/sendertest"
	"matrix-notify/sender/state"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/lifecycle/")

const (
	lcOps = "!ops:sendertest.localhost"
	lcDev = "!dev:sendertest.localhost"
)

var lcModes = []Lifecycle{LifecycleThread, LifecycleReply, LifecycleEdit, LifecycleNone}

// lcMarkers are the resolved markers the netdata and kuma adapters supply
// (netdata.ResolvedMarker, kuma.ResolvedMarker; sender cannot import them).
var lcMarkers = map[string]string{"netdata": "✅ RESOLVED", "kuma": "✅ RESOLVED"}

// lcMarker is lcMarkers' marker as it heads a resolution's body.
const lcMarker = "✅ RESOLVED — "

// lcRetry is the real transport to url with a quick retry policy.
func lcRetry(t testing.TB, url string, maxAttempts int) Transport {
	t.Helper()
	mt, err := NewMatrixTransport(url, sendertest.DefaultToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &RetryTransport{Next: mt, Policy: RetryPolicy{Base: time.Millisecond, Max: 2 * time.Millisecond, MaxAttempts: maxAttempts},
		Sleep: func(ctx context.Context, d time.Duration) error { return sleepCtx(ctx, min(d, time.Millisecond)) }}
}

func lcStore(t testing.TB, dir string) *AlertStore {
	t.Helper()
	db, err := state.Open(context.Background(), dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return NewAlertStore(db, AlertStoreOptions{})
}

// netdataLife is a Netdata alarm going WARNING -> CRITICAL -> WARNING ->
// CLEAR, with HTML and, when critical, a mention.
func netdataLife(rooms ...string) []Notification {
	type step struct {
		status, old string
		phase       Phase
		emoji       string
		mention     bool
	}
	steps := []step{
		{"WARNING", "CLEAR", PhaseRaise, "🟡", false},
		{"CRITICAL", "WARNING", PhaseUpdate, "🔴", true},
		{"WARNING", "CRITICAL", PhaseUpdate, "🟡", false},
		{"CLEAR", "WARNING", PhaseResolve, "✅", false},
	}
	var out []Notification
	for i, s := range steps {
		m := &Mentions{}
		if s.mention {
			m.UserIDs = []string{"@oncall:sendertest.localhost"}
		}
		out = append(out, Notification{
			Source:   "netdata",
			Identity: fmt.Sprintf("web1|7|42|%d|1700000000|%s|%s", i+1, s.status, s.old),
			Summary:  "web1 disk_space._ is " + s.status,
			Rooms:    rooms,
			AlertKey: "web1|42",
			Phase:    s.phase,
			Content: Content{
				MsgType:       "m.notice",
				Body:          fmt.Sprintf("%s web1 disk space is %s", s.emoji, strings.ToLower(s.status)),
				Format:        FormatHTML,
				FormattedBody: fmt.Sprintf("%s web1 <b>disk space</b> is %s", s.emoji, strings.ToLower(s.status)),
				Mentions:      m,
			},
		})
	}
	return out
}

// kumaLife is a Kuma monitor going DOWN -> UP, plain text.
func kumaLife(rooms ...string) []Notification {
	mk := func(i int, status string, phase Phase) Notification {
		return Notification{
			Source:   "kuma",
			Identity: fmt.Sprintf("7|%d|%s", i, status),
			Summary:  "API is " + status,
			Rooms:    rooms,
			AlertKey: "7",
			Phase:    phase,
			Content:  Content{MsgType: "m.text", Body: "[API] [" + status + "] HTTP check", Mentions: &Mentions{}},
		}
	}
	return []Notification{mk(1, "DOWN", PhaseRaise), mk(2, "UP", PhaseResolve)}
}

// interleave runs both lives in one room, alternating.
func interleave(rooms ...string) []Notification {
	nd, k := netdataLife(rooms...), kumaLife(rooms...)
	return []Notification{nd[0], k[0], nd[1], nd[2], k[1], nd[3]}
}

func deliverAll(t *testing.T, tr Transport, ns []Notification) {
	t.Helper()
	for _, n := range ns {
		rep := (&Sender{Transport: tr}).Deliver(context.Background(), Messages(n))
		if !rep.Delivered() {
			t.Fatalf("%s: %v", n.Summary, rep.Failed())
		}
	}
}

// lcEvent is a recorded event decoded.
type lcEvent struct {
	ID      string
	TxnID   string
	Content Content
}

func lcEvents(t *testing.T, hs *sendertest.Server, room string) []lcEvent {
	t.Helper()
	var out []lcEvent
	for _, e := range hs.Events(room) {
		var c Content
		dec := json.NewDecoder(bytes.NewReader(e.Content))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", e.Content, err)
		}
		out = append(out, lcEvent{ID: e.EventID, TxnID: e.TxnID, Content: c})
	}
	return out
}

// checkLives checks the events of a room, which got lives (each a list of
// notifications in order, delivered interleaved in the order of their
// TxnIDs' appearance), against mode.
func checkLives(t *testing.T, hs *sendertest.Server, room string, mode Lifecycle, lives ...[]Notification) {
	t.Helper()
	evs := lcEvents(t, hs, room)
	byTxn := map[string]lcEvent{}
	for _, e := range evs {
		byTxn[e.TxnID] = e
	}
	total := 0
	roots := 0
	for _, e := range evs {
		if e.Content.RelatesTo == nil {
			roots++
		}
	}
	for _, life := range lives {
		total += len(life)
		var root, latest lcEvent
		for i, n := range life {
			e, ok := byTxn[TxnID(n.Source, n.Identity, room)]
			if !ok {
				t.Fatalf("%s: %s not in the room", room, n.Summary)
			}
			rel := e.Content.RelatesTo
			if i == 0 || mode == LifecycleNone {
				if rel != nil || e.Content.NewContent != nil {
					t.Errorf("%s %s: %s: want no relation, got %+v", room, mode, n.Summary, rel)
				}
				if e.Content.Body != n.Content.Body {
					t.Errorf("%s %s: %s: body %q, want %q", room, mode, n.Summary, e.Content.Body, n.Content.Body)
				}
				root, latest = e, e
				continue
			}
			if rel == nil {
				t.Errorf("%s %s: %s: no relation", room, mode, n.Summary)
				continue
			}
			switch mode {
			case LifecycleThread:
				want := RelatesTo{RelType: RelThread, EventID: root.ID, IsFallingBack: true, InReplyTo: &InReplyTo{EventID: latest.ID}}
				if !relEqual(*rel, want) {
					t.Errorf("%s thread: %s: %+v, want %+v", room, n.Summary, rel, want)
				}
				if e.Content.Body != n.Content.Body {
					t.Errorf("%s thread: body %q", room, e.Content.Body)
				}
			case LifecycleReply:
				want := RelatesTo{InReplyTo: &InReplyTo{EventID: latest.ID}}
				if !relEqual(*rel, want) {
					t.Errorf("%s reply: %s: %+v, want %+v", room, n.Summary, rel, want)
				}
			case LifecycleEdit:
				want := RelatesTo{RelType: RelReplace, EventID: root.ID}
				if !relEqual(*rel, want) {
					t.Errorf("%s edit: %s: %+v, want %+v", room, n.Summary, rel, want)
				}
				nc := e.Content.NewContent
				switch {
				case nc == nil:
					t.Errorf("%s edit: %s: no m.new_content", room, n.Summary)
				case nc.RelatesTo != nil || nc.NewContent != nil:
					t.Errorf("%s edit: %s: m.new_content is related: %+v", room, n.Summary, nc)
				case n.Phase == PhaseResolve:
					prev := life[i-1].Content.Body
					if !strings.Contains(nc.Body, "RESOLVED — "+n.Content.Body) || !strings.HasSuffix(nc.Body, "\n\n"+prev) {
						t.Errorf("%s edit: resolved body %q: want the marker, %q and %q", room, nc.Body, n.Content.Body, prev)
					}
				case nc.Body != n.Content.Body:
					t.Errorf("%s edit: new body %q, want %q", room, nc.Body, n.Content.Body)
				}
				if nc != nil && e.Content.Body != "* "+nc.Body {
					t.Errorf("%s edit: body %q, want \"* \" + new body", room, e.Content.Body)
				}
				if e.Content.Mentions == nil {
					t.Errorf("%s edit: no m.mentions", room)
				}
			}
			latest = e
		}
	}
	if len(evs) != total {
		t.Errorf("%s %s: %d events, want %d", room, mode, len(evs), total)
	}
	wantRoots := len(lives)
	if mode == LifecycleNone {
		wantRoots = total
	}
	if roots != wantRoots {
		t.Errorf("%s %s: %d events without a relation, want %d", room, mode, roots, wantRoots)
	}
}

func relEqual(a, b RelatesTo) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// golden compares (or with -update writes) the contents of a room's events,
// event ids named $E1, $E2... in the order they were sent.
func golden(t *testing.T, hs *sendertest.Server, room, name string) {
	t.Helper()
	evs := hs.Events(room)
	names := map[string]string{}
	for i, e := range evs {
		names[e.EventID] = fmt.Sprintf("$E%d", i+1)
	}
	var buf bytes.Buffer
	buf.WriteString("[\n")
	for i, e := range evs {
		c := string(e.Content)
		for id, n := range names {
			c = strings.ReplaceAll(c, `"`+id+`"`, `"`+n+`"`)
		}
		var ind bytes.Buffer
		if err := json.Indent(&ind, []byte(fmt.Sprintf(`{"event":%q,"content":%s}`, names[e.EventID], c)), "  ", "  "); err != nil {
			t.Fatal(err)
		}
		buf.WriteString("  ")
		buf.Write(ind.Bytes())
		if i < len(evs)-1 {
			buf.WriteString(",")
		}
		buf.WriteString("\n")
	}
	buf.WriteString("]\n")
	// Readable HTML: these escapes and the characters are the same JSON.
	out := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(buf.String())
	buf.Reset()
	buf.WriteString(out)
	path := filepath.Join("testdata", "lifecycle", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs (go test -run %s -update to accept):\n%s", path, t.Name(), buf.String())
	}
}

// storeStates lists the alert states in the store, as "source alert room root".
func storeStates(t *testing.T, s *AlertStore) []string {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+s.db.Path()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query("SELECT source, alert, room, root FROM alerts ORDER BY source, alert, room")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var src, alert, room, root string
		if err := rows.Scan(&src, &alert, &room, &root); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %s %s", src, alert, room, root))
	}
	return out
}

// TestLifecycleModes: a Netdata alarm (WARNING -> CRITICAL -> WARNING ->
// CLEAR) and a Kuma monitor (DOWN -> UP), interleaved, to two rooms: one
// root per alert and room, the rest related to it as the mode says, rooms
// apart; golden contents; nothing left in the store once resolved.
func TestLifecycleModes(t *testing.T) {
	for _, mode := range lcModes {
		t.Run(string(mode), func(t *testing.T) {
			hs := sendertest.New(sendertest.Options{Joined: []string{lcOps, lcDev}, Seed: 1})
			defer hs.Close()
			lt := &LifecycleTransport{Next: lcRetry(t, hs.URL(), 3), Store: lcStore(t, t.TempDir()), Mode: mode, ResolvedMarkers: lcMarkers}
			deliverAll(t, lt, interleave(lcOps, lcDev))
			for _, room := range []string{lcOps, lcDev} {
				checkLives(t, hs, room, mode, netdataLife(lcOps, lcDev), kumaLife(lcOps, lcDev))
			}
			// Each room has its own roots: nothing relates across rooms.
			ops := map[string]bool{}
			for _, e := range lcEvents(t, hs, lcOps) {
				ops[e.ID] = true
			}
			for _, e := range lcEvents(t, hs, lcDev) {
				if r := e.Content.RelatesTo; r != nil && (ops[r.EventID] || (r.InReplyTo != nil && ops[r.InReplyTo.EventID])) {
					t.Errorf("dev event relates to an ops event: %+v", r)
				}
			}
			golden(t, hs, lcOps, string(mode))
			if states := storeStates(t, lt.Store); len(states) != 0 {
				t.Errorf("store not emptied by the resolutions: %v", states)
			}
		})
	}
}

// TestLifecycleDefaultModeIsThread: an empty Mode threads.
func TestLifecycleDefaultModeIsThread(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{lcOps}})
	defer hs.Close()
	lt := &LifecycleTransport{Next: lcRetry(t, hs.URL(), 1), Store: lcStore(t, t.TempDir())}
	deliverAll(t, lt, kumaLife(lcOps))
	checkLives(t, hs, lcOps, LifecycleThread, kumaLife(lcOps))
}

// TestLifecycleLostState: the store is lost mid-life (a new state
// directory): the next update is posted on its own and becomes the root of
// the rest of the life; an update arriving first does the same.
func TestLifecycleLostState(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{lcOps}})
	defer hs.Close()
	life := netdataLife(lcOps)
	next := lcRetry(t, hs.URL(), 1)
	dir := t.TempDir()
	deliverAll(t, &LifecycleTransport{Next: next, Store: lcStore(t, dir)}, life[:2])
	if err := os.RemoveAll(dir); err != nil { // state lost
		t.Fatal(err)
	}
	lt := &LifecycleTransport{Next: next, Store: lcStore(t, t.TempDir())}
	deliverAll(t, lt, life[2:])
	// Two lives in the room's eyes: raise+update, then update (new root) + resolve.
	checkLives(t, hs, lcOps, LifecycleThread, life[:2], life[2:])

	// The directory removed under a running transport: sends go on, the
	// store comes back.
	hs2 := sendertest.New(sendertest.Options{Joined: []string{lcOps}})
	defer hs2.Close()
	dir2 := t.TempDir()
	lt2 := &LifecycleTransport{Next: lcRetry(t, hs2.URL(), 1), Store: lcStore(t, dir2)}
	os.RemoveAll(dir2)
	deliverAll(t, lt2, life)
	checkLives(t, hs2, lcOps, LifecycleThread, life)
}

// TestLifecycleUpdateFirst: the raise was never seen (sent before
// matrix-notify kept state): the first update is the root.
func TestLifecycleUpdateFirst(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{lcOps}})
	defer hs.Close()
	for _, mode := range []Lifecycle{LifecycleThread, LifecycleEdit} {
		life := netdataLife(lcOps)[1:]
		for i := range life {
			life[i].Identity += string(mode) // other txn ids
		}
		deliverAll(t, &LifecycleTransport{Next: lcRetry(t, hs.URL(), 1), Store: lcStore(t, t.TempDir()), Mode: mode}, life)
	}
	evs := lcEvents(t, hs, lcOps)
	if len(evs) != 6 || evs[0].Content.RelatesTo != nil || evs[3].Content.RelatesTo != nil {
		t.Fatalf("events %+v", evs)
	}
	if r := evs[2].Content.RelatesTo; r.RelType != RelThread || r.EventID != evs[0].ID || r.InReplyTo.EventID != evs[1].ID {
		t.Errorf("thread resolve %+v", r)
	}
	if r := evs[5].Content.RelatesTo; r.RelType != RelReplace || r.EventID != evs[3].ID {
		t.Errorf("edit resolve %+v", r)
	}

	// A resolve alone (its raise unknown) is posted as is.
	hs2 := sendertest.New(sendertest.Options{Joined: []string{lcOps}})
	defer hs2.Close()
	deliverAll(t, &LifecycleTransport{Next: lcRetry(t, hs2.URL(), 1), Store: lcStore(t, t.TempDir())}, kumaLife(lcOps)[1:])
	if evs := lcEvents(t, hs2, lcOps); len(evs) != 1 || evs[0].Content.RelatesTo != nil {
		t.Errorf("lone resolve %+v", evs)
	}
}

// TestLifecycleNewRaiseAfterResolve: a raise after the resolution starts a
// new root; a raise while raised (no resolve seen) does too.
func TestLifecycleNewRaiseAfterResolve(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{lcOps}})
	defer hs.Close()
	lt := &LifecycleTransport{Next: lcRetry(t, hs.URL(), 1), Store: lcStore(t, t.TempDir())}
	first := netdataLife(lcOps)
	second := netdataLife(lcOps)
	for i := range second {
		second[i].Identity += "|again"
	}
	deliverAll(t, lt, first)
	deliverAll(t, lt, second[:2])
	third := kumaLife(lcOps)
	deliverAll(t, lt, third[:1])
	third[0].Identity += "|again"
	deliverAll(t, lt, third) // DOWN again without UP in between: a new root
	checkLives(t, hs, lcOps, LifecycleThread, first, second[:2], kumaLife(lcOps)[:1], third)
}

// TestLifecycleRepeatTxn: a message re-sent after a crash (same txn id)
// while the store has moved on carries another relation; the homeserver
// answers with the first event and creates nothing.
func TestLifecycleRepeatTxn(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{lcOps}})
	defer hs.Close()
	store := lcStore(t, t.TempDir())
	lt := &LifecycleTransport{Next: lcRetry(t, hs.URL(), 1), Store: store}
	life := netdataLife(lcOps)
	deliverAll(t, lt, life[:2])
	m := Messages(life[1])[0]
	first := lcEvents(t, hs, lcOps)[1].ID
	id, err := lt.Send(context.Background(), m) // latest is now the update itself
	if err != nil || id != first {
		t.Fatalf("repeat: %s %v, want %s", id, err, first)
	}
	if n := len(hs.Events(lcOps)); n != 2 {
		t.Errorf("%d events after a repeat, want 2", n)
	}
	st, ok, err := store.Get(context.Background(), AlertRef{Source: "netdata", Alert: "web1|42", Room: lcOps})
	if !ok || err != nil || st.Latest != first {
		t.Errorf("state %+v %v %v", st, ok, err)
	}
	// Raise repeated too (crash after the send, before the outbox removal):
	// the same root is recorded again.
	root := lcEvents(t, hs, lcOps)[0].ID
	if id, err := lt.Send(context.Background(), Messages(life[0])[0]); err != nil || id != root {
		t.Fatalf("repeat raise: %s %v", id, err)
	}
	if st, _, _ := store.Get(context.Background(), AlertRef{Source: "netdata", Alert: "web1|42", Room: lcOps}); st.Root != root {
		t.Errorf("root %s, want %s", st.Root, root)
	}
}

// TestLifecycleOutbox: Outbox.Deliver with LifecycleTransport over
// RetryTransport over MatrixTransport. The homeserver is down while the
// raise and an update are queued; the raise, delivered later, is the root.
func TestLifecycleOutbox(t *testing.T) {
	rooms := []string{lcOps, lcDev}
	down := sendertest.New(sendertest.Options{Joined: rooms})
	downURL := down.URL()
	down.Close()
	ob := openTestOutbox(t, t.TempDir(), OutboxOptions{})
	store := NewAlertStore(ob.State(), AlertStoreOptions{})
	life := netdataLife(rooms...)
	k := kumaLife(rooms...)
	for _, n := range []Notification{life[0], k[0], life[1]} {
		lt := &LifecycleTransport{Next: lcRetry(t, downURL, 2), Store: store}
		rep := ob.Deliver(context.Background(), lt, Messages(n), 0)
		if rep.Count(OutcomeQueued) != 2 {
			t.Fatalf("%s: %+v", n.Summary, rep)
		}
	}
	if states := storeStates(t, store); len(states) != 0 {
		t.Errorf("store written while nothing was sent: %v", states)
	}

	up := sendertest.New(sendertest.Options{Joined: rooms})
	defer up.Close()
	lt := &LifecycleTransport{Next: lcRetry(t, up.URL(), 3), Store: store}
	rep := ob.Deliver(context.Background(), lt, Messages(life[2]), 0)
	if !rep.Delivered() || rep.OlderDelivered != 6 || rep.Pending != 0 {
		t.Fatalf("deliver once up: %+v", rep)
	}
	for _, n := range []Notification{k[1], life[3]} {
		if rep := ob.Deliver(context.Background(), lt, Messages(n), 0); !rep.Delivered() {
			t.Fatalf("%s: %+v", n.Summary, rep)
		}
	}
	for _, room := range rooms {
		checkLives(t, up, room, LifecycleThread, life, k)
	}
	if states := storeStates(t, store); len(states) != 0 {
		t.Errorf("store not emptied: %v", states)
	}
}

// TestLifecycleConcurrent: many alerts to three rooms, each transition
// delivered to the rooms at once, alerts in parallel: one root each (run
// with -race).
func TestLifecycleConcurrent(t *testing.T) {
	rooms := []string{lcOps, lcDev, "!third:sendertest.localhost"}
	hs := sendertest.New(sendertest.Options{Joined: rooms})
	defer hs.Close()
	lt := &LifecycleTransport{Next: lcRetry(t, hs.URL(), 1), Store: lcStore(t, t.TempDir()), Mode: LifecycleEdit}
	var lives [][]Notification
	for a := range 8 {
		life := netdataLife(rooms...)
		for i := range life {
			life[i].AlertKey = fmt.Sprintf("web1|%d", a)
			life[i].Identity += fmt.Sprintf("|%d", a)
			life[i].Content.Body += fmt.Sprintf(" (%d)", a)
		}
		lives = append(lives, life)
	}
	var wg sync.WaitGroup
	for _, life := range lives {
		wg.Go(func() {
			for _, n := range life {
				if rep := (&Sender{Transport: lt}).Deliver(context.Background(), Messages(n)); !rep.Delivered() {
					t.Errorf("%s: %v", n.Summary, rep.Failed())
				}
			}
		})
	}
	wg.Wait()
	for _, room := range rooms {
		checkLives(t, hs, room, LifecycleEdit, lives...)
	}
}

// TestLifecyclePassThrough: no key, no phase, no store or mode none: the
// message is sent as given.
func TestLifecyclePassThrough(t *testing.T) {
	var got []Message
	var mu sync.Mutex
	rec := funcTransportLC(func(_ context.Context, m Message) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m)
		return fmt.Sprintf("$%d", len(got)), nil
	})
	store := lcStore(t, t.TempDir())
	m := Message{Room: lcOps, TxnID: "t", Content: Content{MsgType: "m.text", Body: "b"}, Source: "kuma", AlertKey: "7", Phase: PhaseRaise}
	cases := []struct {
		lt *LifecycleTransport
		m  Message
	}{
		{&LifecycleTransport{Next: rec, Store: store, Mode: LifecycleNone}, m},
		{&LifecycleTransport{Next: rec, Store: store, Mode: "bogus"}, m},
		{&LifecycleTransport{Next: rec}, m},
		{&LifecycleTransport{Next: rec, Store: store}, Message{Room: lcOps, TxnID: "t", Content: m.Content, Phase: PhaseRaise}},
		{&LifecycleTransport{Next: rec, Store: store}, Message{Room: lcOps, TxnID: "t", Content: m.Content, AlertKey: "7"}},
	}
	for _, c := range cases {
		if _, err := c.lt.Send(context.Background(), c.m); err != nil {
			t.Fatal(err)
		}
	}
	for i, g := range got {
		if g.Content.RelatesTo != nil || g.Content.Body != "b" {
			t.Errorf("case %d: %+v", i, g)
		}
	}
	if files := storeStates(t, store); len(files) != 0 {
		t.Errorf("store written: %v", files)
	}
}

type funcTransportLC func(ctx context.Context, m Message) (string, error)

func (f funcTransportLC) Send(ctx context.Context, m Message) (string, error) { return f(ctx, m) }

// TestLifecycleSendFailure: a failed send records nothing, and a raise with
// a relation of its own is sent as a plain root.
func TestLifecycleSendFailure(t *testing.T) {
	fail := true
	var sent []Message
	tr := funcTransportLC(func(_ context.Context, m Message) (string, error) {
		if fail {
			return "", &SendError{Status: 500, Message: "down"}
		}
		sent = append(sent, m)
		return fmt.Sprintf("$e%d", len(sent)), nil
	})
	store := lcStore(t, t.TempDir())
	lt := &LifecycleTransport{Next: tr, Store: store, Source: "kuma"}
	raise := Message{Room: lcOps, TxnID: "t1", AlertKey: "7", Phase: PhaseRaise,
		Content: Content{MsgType: "m.text", Body: "down", RelatesTo: &RelatesTo{InReplyTo: &InReplyTo{EventID: "$x"}}}}
	if _, err := lt.Send(context.Background(), raise); err == nil {
		t.Fatal("no error")
	}
	if files := storeStates(t, store); len(files) != 0 {
		t.Errorf("store written by a failed send: %v", files)
	}
	fail = false
	if _, err := lt.Send(context.Background(), raise); err != nil {
		t.Fatal(err)
	}
	if sent[0].Content.RelatesTo != nil {
		t.Errorf("root sent as a relation: %+v", sent[0].Content.RelatesTo)
	}
	// Source comes from the transport when the message names none.
	if _, ok, _ := store.Get(context.Background(), AlertRef{Source: "kuma", Alert: "7", Room: lcOps}); !ok {
		t.Error("root not recorded under the transport's source")
	}
}

func TestParseLifecycle(t *testing.T) {
	for in, want := range map[string]Lifecycle{"": LifecycleThread, "thread": LifecycleThread, " Edit ": LifecycleEdit, "reply": LifecycleReply, "none": LifecycleNone} {
		if got, err := ParseLifecycle(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	if _, err := ParseLifecycle("threads"); err == nil {
		t.Error("threads accepted")
	}
}

// TestLifecycleStoresContentForEditsOnly: the state of an open alert holds
// what the root shows in edit mode, and only ids and times otherwise.
func TestLifecycleStoresContentForEditsOnly(t *testing.T) {
	for _, mode := range []Lifecycle{LifecycleThread, LifecycleReply, LifecycleEdit} {
		hs := sendertest.New(sendertest.Options{Joined: []string{lcOps}, Seed: 1})
		store := lcStore(t, t.TempDir())
		lt := &LifecycleTransport{Next: lcRetry(t, hs.URL(), 1), Store: store, Mode: mode}
		life := netdataLife(lcOps)
		deliverAll(t, lt, life[:2]) // raised and updated, not resolved
		m := Messages(life[0])[0]
		st, ok, err := store.Get(context.Background(), AlertRef{Source: m.Source, Alert: m.AlertKey, Room: lcOps})
		if err != nil || !ok || st.Root == "" || st.Latest == st.Root {
			t.Fatalf("%s: state %+v %v %v", mode, st, ok, err)
		}
		if stored := st.Content.Body != "" && st.RootContent.Body != ""; stored != (mode == LifecycleEdit) {
			t.Errorf("%s: content stored = %v", mode, stored)
		}
		hs.Close()
	}
}

// TestLifecycleRaiseSkipsRead: a raise starts a new life without reading
// the store (a state that does not decode is not even noticed), and its
// root replaces what was there; an update does read it.
func TestLifecycleRaiseSkipsRead(t *testing.T) {
	store := lcStore(t, t.TempDir())
	ref := AlertRef{Source: "kuma", Alert: "7", Room: lcOps}
	corrupt := func() {
		t.Helper()
		bad := state.Alert{Root: "$old", Latest: "$old", Content: []byte(`{"msgtype":`), Created: time.Now(), Updated: time.Now()}
		if err := store.db.PutAlert(context.Background(), ref, bad); err != nil {
			t.Fatal(err)
		}
	}
	corrupt()
	var logs bytes.Buffer
	var sent []Message
	tr := funcTransportLC(func(_ context.Context, m Message) (string, error) {
		sent = append(sent, m)
		return fmt.Sprintf("$e%d", len(sent)), nil
	})
	lt := &LifecycleTransport{Next: tr, Store: store, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	m := Message{Room: lcOps, TxnID: "t1", Source: "kuma", AlertKey: "7", Phase: PhaseRaise, Content: Content{MsgType: "m.text", Body: "down"}}
	if _, err := lt.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("a raise read the store: %s", logs.String())
	}
	if st, ok, err := store.Get(context.Background(), ref); !ok || err != nil || st.Root != "$e1" {
		t.Fatalf("root not recorded: %+v %v %v", st, ok, err)
	}
	corrupt()
	m.TxnID, m.Phase = "t2", PhaseUpdate
	if _, err := lt.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "unrelated") || sent[1].Content.RelatesTo != nil {
		t.Errorf("an update over a corrupt state: log %q, relation %+v", logs.String(), sent[1].Content.RelatesTo)
	}
}
