package sender

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// storeStates lists the states held in the store's buckets, as
// "source alert room root", failing on a bucket that does not decode.
func storeStates(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, name := range storeFiles(t, dir) {
		if !isHexName(name, 2) {
			continue
		}
		b := readBucket(t, filepath.Join(dir, name))
		for _, e := range b.States {
			out = append(out, fmt.Sprintf("%s %s %s %s", e.Source, e.Alert, e.Room, e.Root))
		}
	}
	slices.Sort(out)
	return out
}

// readBucket decodes a bucket file whole: no stale tail allowed.
func readBucket(t *testing.T, path string) alertBucket {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b alertBucket
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatalf("%s: %v: %q", filepath.Base(path), err, data)
	}
	return b
}

// sameBucketRefs returns n refs of one bucket, and a ref of another: found
// by trying alert keys in turn (1 in 256 lands in a given bucket).
func sameBucketRefs(n int) (refs []AlertRef, other AlertRef) {
	var bucket string
	for i := 0; len(refs) < n || other.Alert == ""; i++ {
		r := AlertRef{Source: "netdata", Alert: fmt.Sprintf("web%d|42", i), Room: lcOps}
		switch name := alertBucketName(r); {
		case bucket == "":
			bucket = name
			refs = append(refs, r)
		case name == bucket && len(refs) < n:
			refs = append(refs, r)
		case name != bucket && other.Alert == "":
			other = r
		}
	}
	return refs, other
}

func testState(root string, now time.Time) AlertState {
	return AlertState{Root: root, Latest: root, RootContent: Content{MsgType: "m.notice", Body: "raised " + root},
		Content: Content{MsgType: "m.notice", Body: "now " + root}, Created: now, Updated: now}
}

// bucketJSON is the content of a bucket holding these states.
func bucketJSON(t *testing.T, now time.Time, refs ...AlertRef) string {
	t.Helper()
	b := alertBucket{Version: alertBucketVersion, States: []alertEntry{}}
	for _, r := range refs {
		b.States = append(b.States, alertEntry{Source: r.Source, Alert: r.Alert, Room: r.Room, AlertState: testState("$"+r.Alert, now)})
	}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(data) + "\n"
}

// TestAlertStoreBucket: refs sharing a bucket, and buckets a killed or
// crashed writer left behind, as sequences of operations.
func TestAlertStoreBucket(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	refs, other := sameBucketRefs(3)
	a, b, c := refs[0], refs[1], refs[2]
	bucket := alertBucketName(a)

	type step struct {
		op   string   // put, del, get, raw (write at offset 0, no truncate), file (replace the bucket), states
		ref  AlertRef // put, del, get
		data string   // raw, file
		// get: the root wanted ("" unknown) and whether an error is.
		want    string
		wantErr bool
		states  []AlertRef // states: what the bucket holds, decoded whole
	}
	put := func(r AlertRef) step { return step{op: "put", ref: r} }
	del := func(r AlertRef) step { return step{op: "del", ref: r} }
	known := func(r AlertRef) step { return step{op: "get", ref: r, want: "$" + r.Alert} }
	unknown := func(r AlertRef) step { return step{op: "get", ref: r} }
	broken := func(r AlertRef) step { return step{op: "get", ref: r, wantErr: true} }
	holds := func(rs ...AlertRef) step { return step{op: "states", states: rs} }
	cases := []struct {
		name  string
		steps []step
	}{
		{"two refs in one bucket", []step{put(a), put(b), known(a), known(b), unknown(c), holds(a, b)}},
		{"put replaces", []step{put(a), put(b), put(a), known(a), holds(a, b)}},
		{"delete keeps the other", []step{put(a), put(b), del(a), unknown(a), known(b), holds(b), del(b), unknown(b), holds()}},
		{"delete of an unknown ref", []step{del(a), unknown(a), put(b), del(a), known(b), holds(b)}},
		{"other bucket apart", []step{put(a), put(other), del(a), known(other), holds(other)}},
		// A writer killed between the write and the truncate: the new,
		// shorter content, then the end of the old.
		{"stale tail", []step{put(a), put(b), put(c), {op: "raw", data: bucketJSON(t, now, b)},
			unknown(a), known(b), unknown(c), put(c), holds(b, c), known(c)}},
		{"stale tail of garbage", []step{{op: "file", data: bucketJSON(t, now, a) + `{"v":2,"states":[{"so`}, known(a), put(b), holds(a, b)}},
		{"corrupt bucket", []step{put(a), put(other), {op: "file", data: `{"v":2,"states":[{"source":"netd`},
			broken(a), broken(b), known(other), del(a), broken(a), put(b), unknown(a), known(b), holds(b, other)}},
		{"zeros (power loss)", []step{{op: "file", data: "\x00\x00\x00\x00"}, broken(a), put(a), known(a), holds(a)}},
		{"another version", []step{{op: "file", data: strings.Replace(bucketJSON(t, now, a), `"v":2`, `"v":3`, 1)}, broken(a), put(b), unknown(a), holds(b)}},
		{"empty file", []step{{op: "file", data: ""}, unknown(a), del(a), put(a), known(a), holds(a)}},
		{"state without a root", []step{{op: "file", data: strings.Replace(bucketJSON(t, now, a, b), `"root":"$`+a.Alert+`"`, `"root":""`, 1)},
			unknown(a), known(b), put(c), holds(b, c)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenAlertStore(dir, AlertStoreOptions{Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, bucket)
			for i, st := range tc.steps {
				switch st.op {
				case "put":
					if err := s.Put(st.ref, testState("$"+st.ref.Alert, now)); err != nil {
						t.Fatalf("step %d: put: %v", i, err)
					}
				case "del":
					if err := s.Delete(st.ref); err != nil {
						t.Fatalf("step %d: delete: %v", i, err)
					}
				case "get":
					got, ok, err := s.Get(st.ref)
					if (err != nil) != st.wantErr || ok != (st.want != "") || got.Root != st.want {
						t.Fatalf("step %d: get %s: %q %v %v, want %q (error %v)", i, st.ref.Alert, got.Root, ok, err, st.want, st.wantErr)
					}
					if ok && (got.Content.Body != "now "+st.want || !got.Updated.Equal(now)) {
						t.Fatalf("step %d: get %s: %+v", i, st.ref.Alert, got)
					}
				case "raw":
					f, err := os.OpenFile(path, os.O_WRONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
					before, _ := f.Stat()
					if _, err := f.WriteAt([]byte(st.data), 0); err != nil {
						t.Fatal(err)
					}
					f.Close()
					if int64(len(st.data)) >= before.Size() {
						t.Fatalf("step %d: %d bytes over %d: no stale tail", i, len(st.data), before.Size())
					}
				case "file":
					if err := os.WriteFile(path, []byte(st.data), 0o600); err != nil {
						t.Fatal(err)
					}
				case "states":
					var want []string
					for _, r := range st.states {
						want = append(want, fmt.Sprintf("%s %s %s $%s", r.Source, r.Alert, r.Room, r.Alert))
					}
					slices.Sort(want)
					if got := storeStates(t, dir); !slices.Equal(got, want) {
						t.Fatalf("step %d: store holds %q, want %q", i, got, want)
					}
				}
			}
			// Buckets only; no temp file, and no bucket removed once made.
			for _, name := range storeFiles(t, dir) {
				if !isHexName(name, 2) {
					t.Errorf("file %s", name)
				}
			}
		})
	}
}

// TestAlertStoreFiles: what a Put writes (readable, the ref named), and what
// Get and Delete never create.
func TestAlertStoreFiles(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "alerts")
	s, err := OpenAlertStore(dir, AlertStoreOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	a := AlertRef{Source: "netdata", Alert: "h|1", Room: lcOps}
	if _, ok, err := s.Get(a); ok || err != nil {
		t.Fatalf("get in an empty store: %v %v", ok, err)
	}
	if err := s.Delete(a); err != nil {
		t.Fatal(err)
	}
	if files := storeFiles(t, dir); len(files) != 0 {
		t.Fatalf("get and delete created %v", files)
	}
	if err := s.Put(a, testState("$r", now)); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(AlertRef{Source: "kuma", Alert: a.Alert, Room: a.Room}); ok || err != nil {
		t.Errorf("another source's alert found: %v %v", ok, err)
	}
	name := alertKey(a)[:2] + ".json"
	if files := storeFiles(t, dir); !slices.Equal(files, []string{name}) {
		t.Fatalf("files %v, want %s", files, name)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, name))
	if !strings.HasPrefix(string(raw), `{"v":2,"states":[{"source":"netdata","alert":"h|1","room":"!ops:sendertest.localhost","root":"$r"`) {
		t.Errorf("bucket %s", raw)
	}
	if info, _ := os.Stat(filepath.Join(dir, name)); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", info.Mode())
	}
	if err := s.Delete(a); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, name)); string(raw) != `{"v":2,"states":[]}`+"\n" {
		t.Errorf("emptied bucket %q", raw)
	}
	// The directory removed under the store: the next Put makes it again.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(a); ok || err != nil {
		t.Fatalf("get without a directory: %v %v", ok, err)
	}
	if err := s.Put(a, testState("$r2", now)); err != nil {
		t.Fatal(err)
	}
	if st, ok, err := s.Get(a); !ok || err != nil || st.Root != "$r2" {
		t.Fatalf("get after the directory came back: %+v %v %v", st, ok, err)
	}
	// On disk, for other processes, not only in the file this store kept open.
	other, err := OpenAlertStore(dir, AlertStoreOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if st, ok, err := other.Get(a); !ok || err != nil || st.Root != "$r2" {
		t.Fatalf("another store's get after the directory came back: %+v %v %v", st, ok, err)
	}
}

// TestAlertStoreExpiry: past MaxAge a state is unknown, dropped by the next
// change to its bucket or by Prune; Prune also clears what the previous
// layout and crashed writers left.
func TestAlertStoreExpiry(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	refs, other := sameBucketRefs(3)
	a, b, c := refs[0], refs[1], refs[2]
	for _, tc := range []struct {
		age   time.Duration
		known bool
	}{{0, true}, {59 * time.Minute, true}, {time.Hour, true}, {time.Hour + time.Second, false}, {48 * time.Hour, false}} {
		t.Run(tc.age.String(), func(t *testing.T) {
			now := start
			s, err := OpenAlertStore(t.TempDir(), AlertStoreOptions{MaxAge: time.Hour, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			s.Put(a, testState("$a", now))
			now = now.Add(tc.age)
			if _, ok, err := s.Get(a); ok != tc.known || err != nil {
				t.Errorf("known %v %v, want %v", ok, err, tc.known)
			}
			s.Put(b, testState("$b", now)) // drops a if expired
			want := []string{"netdata " + b.Alert + " " + lcOps + " $b"}
			if tc.known {
				want = append(want, "netdata "+a.Alert+" "+lcOps+" $a")
				slices.Sort(want)
			}
			if got := storeStates(t, s.Dir()); !slices.Equal(got, want) {
				t.Errorf("store holds %q, want %q", got, want)
			}
		})
	}

	t.Run("prune", func(t *testing.T) {
		now := start
		dir := t.TempDir()
		s, err := OpenAlertStore(dir, AlertStoreOptions{MaxAge: time.Hour, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []AlertRef{a, b, other} {
			s.Put(r, testState("$"+r.Alert, now))
		}
		write := func(name, data string, mod time.Time) {
			t.Helper()
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			if !mod.IsZero() {
				os.Chtimes(path, mod, mod)
			}
		}
		old := time.Now().Add(-2 * time.Hour)
		write(".tmp-old", "", old)
		write(".tmp-fresh", "", time.Time{})
		// The previous layout: a state file per ref ("v":1).
		oldFile := func(r AlertRef, updated time.Time) string {
			data, _ := json.Marshal(struct {
				V int `json:"v"`
				alertEntry
			}{1, alertEntry{r.Source, r.Alert, r.Room, testState("$old", updated)}})
			return string(data)
		}
		write(alertKey(c)+".json", oldFile(c, now.Add(time.Hour)), time.Time{})
		write(alertKey(AlertRef{Alert: "gone"})+".json", oldFile(c, now.Add(-2*time.Hour)), time.Time{})
		write(alertKey(AlertRef{Alert: "garbage"})+".json", "{garbage", old)
		write(alertKey(AlertRef{Alert: "fresh garbage"})+".json", "{garbage", time.Time{})
		write("notes.txt", "mine", old)
		// Buckets that do not decode: one for long, one just now.
		var spare []string
		for i := range 256 {
			if name := fmt.Sprintf("%02x.json", i); name != alertBucketName(a) && name != alertBucketName(other) {
				spare = append(spare, name)
			}
		}
		oldBad, freshBad := spare[0], spare[1]
		write(oldBad, `{"v":2,"sta`, old)
		write(freshBad, `{"v":2,"sta`, time.Time{})

		if _, ok, _ := s.Get(c); ok {
			t.Error("a state of the previous layout was read")
		}
		now = now.Add(30 * time.Minute)
		s.Put(b, testState("$b", now)) // b refreshed, a and other not
		now = now.Add(45 * time.Minute)
		n, err := s.Prune()
		// a, other, .tmp-old, the expired old file, the old garbage, the
		// corrupt bucket.
		if err != nil || n != 6 {
			t.Errorf("prune %d %v", n, err)
		}
		want := []string{".tmp-fresh", alertKey(AlertRef{Alert: "fresh garbage"}) + ".json", alertKey(c) + ".json",
			alertBucketName(a), alertBucketName(other), oldBad, freshBad, "notes.txt"}
		slices.Sort(want)
		if files := storeFiles(t, dir); !slices.Equal(files, want) {
			t.Errorf("left %v\nwant %v", files, want)
		}
		if got := readBucket(t, filepath.Join(dir, alertBucketName(a))); len(got.States) != 1 || !got.States[0].is(b) {
			t.Errorf("bucket of a and b holds %+v", got.States)
		}
		if got := readBucket(t, filepath.Join(dir, alertBucketName(other))); len(got.States) != 0 {
			t.Errorf("bucket of other holds %+v", got.States)
		}
		if got := readBucket(t, filepath.Join(dir, oldBad)); len(got.States) != 0 || got.Version != alertBucketVersion {
			t.Errorf("corrupt bucket pruned to %+v", got)
		}
		if raw, _ := os.ReadFile(filepath.Join(dir, freshBad)); string(raw) != `{"v":2,"sta` {
			t.Errorf("fresh corrupt bucket rewritten: %q", raw)
		}
		if _, ok, _ := s.Get(b); !ok {
			t.Error("refreshed state pruned")
		}
		now = now.Add(2 * time.Hour)
		if n, err := s.Prune(); err != nil || n != 2 { // b, the old file of c
			t.Errorf("prune expired %d %v", n, err)
		}
		if n, err := s.Prune(); err != nil || n != 0 {
			t.Errorf("prune again %d %v", n, err)
		}
	})
}

// TestAlertStoreConcurrent: goroutines writing refs of one bucket at once,
// through two stores on the same directory (as two processes would), with a
// Prune running: no update lost, no bucket broken (run with -race).
func TestAlertStoreConcurrent(t *testing.T) {
	refs, _ := sameBucketRefs(16)
	dir := t.TempDir()
	var stores [2]*AlertStore
	for i := range stores {
		s, err := OpenAlertStore(dir, AlertStoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	const rounds = 20
	var wg sync.WaitGroup
	for g, ref := range refs {
		s := stores[g%2]
		wg.Go(func() {
			for i := range rounds {
				root := fmt.Sprintf("$%d.%d", g, i)
				if err := s.Put(ref, testState(root, time.Now())); err != nil {
					t.Error(err)
					return
				}
				// Only this goroutine writes ref: it reads its own write.
				if st, ok, err := s.Get(ref); !ok || err != nil || st.Root != root {
					t.Errorf("%d: got %q %v %v, want %s", g, st.Root, ok, err, root)
					return
				}
			}
			if g%4 == 3 {
				if err := s.Delete(ref); err != nil {
					t.Error(err)
				}
			}
		})
	}
	stop := make(chan struct{})
	pruned := make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				pruned <- nil
				return
			default:
			}
			if _, err := stores[1].Prune(); err != nil {
				pruned <- err
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	if err := <-pruned; err != nil {
		t.Error(err)
	}
	var want []string
	for g, r := range refs {
		if g%4 != 3 {
			want = append(want, fmt.Sprintf("%s %s %s $%d.%d", r.Source, r.Alert, r.Room, g, rounds-1))
		}
	}
	slices.Sort(want)
	if got := storeStates(t, dir); !slices.Equal(got, want) {
		t.Errorf("store holds\n%q\nwant\n%q", got, want)
	}
}

// TestOpenAlertStoreBuckets: a new store gets its 256 buckets, empty, so no
// Put pays for creating a file; an existing store is left as it is.
func TestOpenAlertStoreBuckets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "alerts")
	s, err := OpenAlertStore(dir, AlertStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 256 {
		t.Fatalf("%d files", len(des))
	}
	for _, de := range des {
		info, _ := de.Info()
		if !isHexName(de.Name(), 2) || info.Size() != 0 || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %d bytes", de.Name(), info.Mode(), info.Size())
		}
	}
	ref := AlertRef{Source: "kuma", Alert: "1", Room: lcOps}
	if _, ok, err := s.Get(ref); ok || err != nil {
		t.Errorf("get in a new store: %v %v", ok, err)
	}
	if err := os.Remove(filepath.Join(dir, "00.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenAlertStore(dir, AlertStoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "00.json")); !os.IsNotExist(err) {
		t.Errorf("an existing store was filled in: %v", err)
	}
}

// codecStates are states of every shape the store writes, and some it
// should not meet: contents with mentions and relations, HTML, non-ASCII,
// invalid UTF-8, times in other zones.
func codecStates() []alertEntry {
	now := time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.UTC)
	rich := Content{MsgType: "m.text", Body: "🔴 web1 <disk> & \"space\"\n\t\u2028\u2029\x01\x7f",
		Format: FormatHTML, FormattedBody: `<b>web1</b> <a href="x?a=1&b=2">disk</a>`,
		Mentions: &Mentions{UserIDs: []string{"@a:b", "@c<d>:e"}, Room: true}}
	rel := Content{MsgType: "m.notice", Body: "* x", RelatesTo: &RelatesTo{RelType: RelReplace, EventID: "$r"},
		NewContent: &Content{MsgType: "m.notice", Body: "x", Mentions: &Mentions{}}}
	return []alertEntry{
		{Source: "kuma", Alert: "monitor-1|0", Room: "!ops:sendertest.localhost", AlertState: AlertState{Root: "$a", Latest: "$b", Created: now, Updated: now}},
		{Source: "netdata", Alert: "web1|disk\\space", Room: "#alerts:example.org", AlertState: AlertState{Root: "$a", Latest: "$a", RootContent: rich, Content: rel,
			Created: now.In(time.FixedZone("", 5*3600+30*60)), Updated: now.Add(time.Hour).In(time.FixedZone("", -7*3600))}},
		{Source: "s\xff\xfe", Alert: "é\u00e9\U0001F600", Room: "", AlertState: AlertState{Content: Content{Body: "only a body"}}},
		{},
	}
}

// TestAppendAlertBucket: appendAlertBucket writes what json.Marshal does,
// and the fast parser reads it back without help.
func TestAppendAlertBucket(t *testing.T) {
	all := codecStates()
	for _, b := range []alertBucket{
		{Version: alertBucketVersion},
		{Version: alertBucketVersion, States: []alertEntry{}},
		{Version: 0, States: all[:1]},
		{Version: alertBucketVersion, States: all},
	} {
		want, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendAlertBucket([]byte("x"), &b)
		if !ok || string(got) != "x"+string(want) {
			t.Fatalf("appendAlertBucket %v:\n%s\nwant\n%s", ok, got, want)
		}
		checkDecodeAlertBucket(t, want)
		if b.States != nil { // write never writes null
			if _, ok := parseAlertBucket(want, nil); !ok {
				t.Fatalf("the fast parser gave up on %s", want)
			}
		}
	}
	// A time json.Marshal does not encode: appendAlertBucket says so.
	bad := alertBucket{Version: alertBucketVersion, States: []alertEntry{{AlertState: AlertState{Updated: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}}
	if _, ok := appendAlertBucket(nil, &bad); ok {
		t.Error("year 10000 encoded")
	}
}

// TestDecodeAlertBucket: what the fast parser leaves to encoding/json, and
// that either way a bucket decodes as encoding/json decodes it.
func TestDecodeAlertBucket(t *testing.T) {
	canonical, _ := json.Marshal(alertBucket{Version: alertBucketVersion, States: codecStates()[:2]})
	indented, _ := json.MarshalIndent(alertBucket{Version: alertBucketVersion, States: codecStates()[:2]}, "", "\t")
	for _, tc := range []struct {
		data string
		fast bool // the fast parser takes it
	}{
		{string(canonical), true},
		{string(canonical) + "\n" + string(canonical[:40]), true},
		{"  " + string(indented) + "\n", true},
		{`{"states":[],"v":2}`, true},
		{`{"v":2,"states":[{"root":"$a","updated":"2026-01-01T00:00:00Z","alert":"x\u00e9\n","source":"s","room":"r"}]}`, true},
		{`{"v":2,"states":[{"content":{"body":"a","m.mentions":{"room":true},"msgtype":"m.text"}}]}`, true},
		{`{"v":2}`, true},
		{`{}`, true},
		{`{"v":2,"states":null}`, false},
		{`{"V":2,"states":[]}`, false},
		{`{"v":2,"states":[],"other":1}`, false},
		{`{"v":2,"v":2,"states":[]}`, false},
		{`{"v":2,"states":[{"root":"a","root":"b"}]}`, false},
		{`{"v":2,"states":[{"Root":"a"}]}`, false},
		{`{"v":2,"states":[{"root":null}]}`, false},
		{`{"v":2,"states":[{"root":1}]}`, false},
		{`{"v":2.0,"states":[]}`, false},
		{`{"v":02,"states":[]}`, false},
		{`{"v":-2,"states":[]}`, false},
		{`{"v":2,"states":[{"updated":"yesterday"}]}`, false},
		{`{"v":2,"states":[{"updated":"2026-01-01T00:00:00\u005a"}]}`, false},
		{`{"v":2,"states":[{"content":{"m.mentions":{"room":"yes"}}}]}`, false},
		{`{"v":2,"states":[{"content":{"m.mentions":{"room":true]}}]}`, false},
		{`{"v":2,"states":[{"root":"a\x01"}]}`, false},
		{`{"v":2,"states":[{"root":"\q"}]}`, false},
		{`{"v":2,"states":[,]}`, false},
		{`{"v":2,"states":[{}],}`, false},
		{`{"v":2,"states":[{"source":"netd`, false},
		{"\x00\x00\x00", false},
		{"", false},
		{`null`, false},
	} {
		if _, ok := parseAlertBucket([]byte(tc.data), nil); ok != tc.fast {
			t.Errorf("%q: fast %v, want %v", tc.data, ok, tc.fast)
		}
		checkDecodeAlertBucket(t, []byte(tc.data))
	}
}

// checkDecodeAlertBucket checks that decodeAlertBucket decodes data as
// encoding/json's Decoder does, and that its fast parser takes only what
// encoding/json decodes.
func checkDecodeAlertBucket(t *testing.T, data []byte) {
	t.Helper()
	var std alertBucket
	serr := json.NewDecoder(bytes.NewReader(data)).Decode(&std)
	if fast, ok := parseAlertBucket(data, nil); ok {
		if serr != nil {
			t.Fatalf("%q: the fast parser took what encoding/json does not: %v", data, serr)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("%q: decoded\n%#v\nwant\n%#v", data, fast, std)
		}
	}
	got, err := decodeAlertBucket(data, nil)
	if (err != nil) != (serr != nil) || serr == nil && !reflect.DeepEqual(got, std) {
		t.Fatalf("%q: decodeAlertBucket %v, want %v", data, err, serr)
	}
	// Only one ref's (Get): the first state of each ref the bucket holds,
	// and one it does not.
	refs := []AlertRef{{Source: "none"}}
	for _, e := range std.States {
		refs = append(refs, AlertRef{e.Source, e.Alert, e.Room})
	}
	for _, ref := range refs {
		var want []alertEntry
		if i := slices.IndexFunc(std.States, func(e alertEntry) bool { return e.is(ref) }); i >= 0 {
			want = std.States[i : i+1]
		}
		fast, ok := parseAlertBucket(data, &ref)
		if _, all := parseAlertBucket(data, nil); ok != all || ok && (fast.Version != std.Version || !reflect.DeepEqual(fast.States, want)) {
			t.Fatalf("%q: the states of %v: %v %#v, want %#v", data, ref, ok, fast.States, want)
		}
	}
}

func FuzzDecodeAlertBucket(f *testing.F) {
	states := codecStates()
	for i := range states {
		data, _ := json.Marshal(alertBucket{Version: alertBucketVersion, States: states[:i+1]})
		f.Add(data)
		f.Add(append(data, data[:len(data)/2]...))
		data, _ = json.MarshalIndent(alertBucket{Version: alertBucketVersion, States: states[i : i+1]}, "", " ")
		f.Add(data)
	}
	f.Add([]byte(`{"v":2,"states":[{"content":{"m.mentions":{"room":true,"user_ids":["@a:b"]},"m.relates_to":null,"body":"\ud83d\ude00\ud800"}}]}`))
	f.Add([]byte(`{"v":2,"states":[{"created":"2026-01-01T00:00:00+05:30","updated":"2026-01-01T00:00:00.123456789-07:00"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeAlertBucket(t, data)
	})
}

func FuzzAppendAlertBucket(f *testing.F) {
	f.Add("netdata", "web1|disk", "!ops:example.org", "🔴 <b>&", "x\u2028\xff", int64(1767225600123456789), int32(3600), true, true)
	f.Add("", "", "", "", "", int64(0), int32(0), false, false)
	f.Fuzz(func(t *testing.T, source, alert, room, body, html string, unixNano int64, offset int32, mentions, rel bool) {
		at := time.Unix(0, unixNano).In(time.FixedZone("", int(offset%(24*3600))))
		c := Content{MsgType: "m.text", Body: body, FormattedBody: html}
		if mentions {
			c.Mentions = &Mentions{UserIDs: []string{body}}
		}
		if rel {
			c.RelatesTo = &RelatesTo{RelType: RelThread, EventID: html, InReplyTo: &InReplyTo{EventID: room}}
			c.NewContent = &Content{Body: alert}
		}
		b := alertBucket{Version: alertBucketVersion, States: []alertEntry{
			{Source: source, Alert: alert, Room: room, AlertState: AlertState{Root: body, Latest: html, RootContent: c, Created: at, Updated: at}},
			{Source: room, Alert: source, AlertState: AlertState{Content: c, Updated: at}},
		}}
		want, werr := json.Marshal(b)
		got, ok := appendAlertBucket(nil, &b)
		if ok != (werr == nil) || ok && !bytes.Equal(got, want) {
			t.Fatalf("appendAlertBucket %v:\n%s\njson.Marshal %v:\n%s", ok, got, werr, want)
		}
		if ok {
			checkDecodeAlertBucket(t, got)
		}
	})
}

// TestPlainASCII: every byte at every place of a word and of the rest.
func TestPlainASCII(t *testing.T) {
	for n := range 20 {
		for at := range n {
			for c := range 256 {
				s := bytes.Repeat([]byte{'a'}, n)
				s[at] = byte(c)
				want := c >= 0x20 && c < 0x80 && c != '\\'
				if got := bucketPlainASCII(s); got != want {
					t.Fatalf("%q: %v", s, got)
				}
			}
		}
	}
}

// TestAlertBucketPath: a bucket's name is the first two digits of its key,
// its path the directory's joined to it.
func TestAlertBucketPath(t *testing.T) {
	for i, ref := range []AlertRef{{}, {Source: "netdata", Alert: "web1|disk", Room: lcOps}, {Source: "kuma", Alert: strings.Repeat("x", 300), Room: "é"}} {
		if got, want := alertBucketName(ref), alertKey(ref)[:2]+".json"; got != want {
			t.Errorf("%d: name %s, want %s", i, got, want)
		}
		for _, dir := range []string{"", ".", "/", "alerts", "a/b/", "a/../b", "/var/lib//x/."} {
			s := &AlertStore{dir: dir, prefix: bucketPrefix(dir)}
			if got, want := s.bucketPath(ref), filepath.Join(dir, alertBucketName(ref)); got != want {
				t.Errorf("%d: path in %q: %s, want %s", i, dir, got, want)
			}
		}
	}
}

// TestAlertBucketCodecFields: the bucket codec knows every field of a state
// (a new one must be added to appendAlertBucket and bucketParser, and to
// codecStates), and encoding/json encodes them as the codec does.
func TestAlertBucketCodecFields(t *testing.T) {
	names := func(typ reflect.Type) []string {
		var out []string
		for f := range typ.Fields() {
			if f.Anonymous {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			out = append(out, name)
		}
		return out
	}
	if got := names(reflect.TypeFor[alertEntry]()); !slices.Equal(got, alertEntryKeys[:3]) {
		t.Errorf("alertEntry: %q, want %q", got, alertEntryKeys[:3])
	}
	if got := names(reflect.TypeFor[AlertState]()); !slices.Equal(got, alertEntryKeys[3:]) {
		t.Errorf("AlertState: %q, want %q", got, alertEntryKeys[3:])
	}
	if got := names(reflect.TypeFor[Content]()); !slices.Equal(got, alertContentKeys) {
		t.Errorf("Content: %q, want %q", got, alertContentKeys)
	}
	if got := names(reflect.TypeFor[alertBucket]()); !slices.Equal(got, alertBucketKeys) {
		t.Errorf("alertBucket: %q, want %q", got, alertBucketKeys)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[alertBucket](), reflect.TypeFor[alertEntry](), reflect.TypeFor[AlertState](), reflect.TypeFor[Content]()} {
		for _, iface := range []reflect.Type{reflect.TypeFor[json.Marshaler](), reflect.TypeFor[json.Unmarshaler]()} {
			if typ.Implements(iface) || reflect.PointerTo(typ).Implements(iface) {
				t.Errorf("%v is a %v: the bucket codec does not call it", typ, iface)
			}
		}
	}
}
