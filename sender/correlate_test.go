package sender

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func testState(root string, now time.Time) AlertState {
	return AlertState{Root: root, Latest: root, RootContent: Content{MsgType: "m.notice", Body: "raised " + root},
		Content: Content{MsgType: "m.notice", Body: "now " + root}, Created: now, Updated: now}
}

// TestAlertStoreRoundTrip: a state reads back as it was put, contents
// included, and Delete forgets it.
func TestAlertStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := lcStore(t, t.TempDir())
	ref := AlertRef{Source: "netdata", Alert: "web1|42", Room: lcOps}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	want := testState("$r", now)
	want.Content.Mentions = &Mentions{UserIDs: []string{"@a:hs"}}
	if err := s.Put(ctx, ref, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, ref)
	if !ok || err != nil || got.Root != want.Root || got.Content.Mentions.UserIDs[0] != "@a:hs" ||
		got.RootContent != want.RootContent || !got.Created.Equal(now) || !got.Updated.Equal(now) {
		t.Errorf("got %+v %v %v, want %+v", got, ok, err, want)
	}
	// Threads keep no content.
	other := AlertRef{Source: "kuma", Alert: "7", Room: lcOps}
	s.Put(ctx, other, AlertState{Root: "$k", Latest: "$k", Created: now, Updated: now})
	if got, ok, _ := s.Get(ctx, other); !ok || got.Content != (Content{}) || got.RootContent != (Content{}) {
		t.Errorf("thread state %+v", got)
	}
	if err := s.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(ctx, ref); ok || err != nil {
		t.Errorf("deleted state still known: %v %v", ok, err)
	}
	if got := storeStates(t, s); !slices.Equal(got, []string{"kuma 7 " + lcOps + " $k"}) {
		t.Errorf("store holds %q", got)
	}
}

// TestAlertStoreExpiry: a state past MaxAge is unknown, dropped by the first
// Put of the next store (process), and by Prune.
func TestAlertStoreExpiry(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := AlertRef{Source: "netdata", Alert: "a", Room: lcOps}
	b := AlertRef{Source: "netdata", Alert: "b", Room: lcOps}
	for _, tc := range []struct {
		age   time.Duration
		known bool
	}{{0, true}, {59 * time.Minute, true}, {time.Hour, true}, {time.Hour + time.Second, false}, {48 * time.Hour, false}} {
		t.Run(tc.age.String(), func(t *testing.T) {
			now := start
			s := lcStore(t, t.TempDir())
			s.maxAge, s.now = time.Hour, func() time.Time { return now }
			s.Put(ctx, a, testState("$a", now))
			now = now.Add(tc.age)
			if _, ok, err := s.Get(ctx, a); ok != tc.known || err != nil {
				t.Errorf("known %v %v, want %v", ok, err, tc.known)
			}
			// The next process's first Put drops a if expired.
			next := NewAlertStore(s.db, AlertStoreOptions{MaxAge: time.Hour, Now: func() time.Time { return now }})
			next.Put(ctx, b, testState("$b", now))
			want := []string{"netdata b " + lcOps + " $b"}
			if tc.known {
				want = append([]string{"netdata a " + lcOps + " $a"}, want...)
			}
			if got := storeStates(t, s); !slices.Equal(got, want) {
				t.Errorf("store holds %q, want %q", got, want)
			}
		})
	}
	t.Run("prune", func(t *testing.T) {
		now := start
		s := lcStore(t, t.TempDir())
		s.maxAge, s.now = time.Hour, func() time.Time { return now }
		s.Put(ctx, a, testState("$a", now))
		now = now.Add(30 * time.Minute)
		s.Put(ctx, b, testState("$b", now))
		now = now.Add(45 * time.Minute)
		if n, err := s.Prune(ctx); err != nil || n != 1 {
			t.Errorf("prune %d %v", n, err)
		}
		now = now.Add(time.Hour)
		if n, err := s.Prune(ctx); err != nil || n != 1 {
			t.Errorf("prune %d %v", n, err)
		}
		if n, err := s.Prune(ctx); err != nil || n != 0 {
			t.Errorf("prune again %d %v", n, err)
		}
	})
}

// TestAlertStoreConcurrent: goroutines writing at once through two stores on
// one database (as two processes would), with a Prune running: no update
// lost (run with -race).
func TestAlertStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	stores := [2]*AlertStore{lcStore(t, dir), lcStore(t, dir)}
	var refs []AlertRef
	for i := range 16 {
		refs = append(refs, AlertRef{Source: "netdata", Alert: fmt.Sprintf("web%d|42", i), Room: lcOps})
	}
	const rounds = 20
	var wg sync.WaitGroup
	for g, ref := range refs {
		s := stores[g%2]
		wg.Go(func() {
			for i := range rounds {
				root := fmt.Sprintf("$%d.%d", g, i)
				if err := s.Put(ctx, ref, testState(root, time.Now())); err != nil {
					t.Error(err)
					return
				}
				if st, ok, err := s.Get(ctx, ref); !ok || err != nil || st.Root != root {
					t.Errorf("%d: got %q %v %v, want %s", g, st.Root, ok, err, root)
					return
				}
			}
			if g%4 == 3 {
				if err := s.Delete(ctx, ref); err != nil {
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
			if _, err := stores[1].Prune(ctx); err != nil {
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
	got := storeStates(t, stores[0])
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("store holds\n%q\nwant\n%q", got, want)
	}
}
