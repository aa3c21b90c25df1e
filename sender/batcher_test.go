package sender

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Concurrent callers are delivered in batches (the first send holds the
// runner until every other caller waits, so the next batch has them all),
// and each caller gets its own messages' outcomes, in order. Once Run has
// ended, Deliver answers nil at once.
func TestBatcher(t *testing.T) {
	ob := openTestOutbox(t, t.TempDir(), OutboxOptions{})
	release := make(chan struct{})
	var sends atomic.Int32
	tr := funcTransport(func(ctx context.Context, m Message) (string, error) {
		if sends.Add(1) == 1 {
			<-release
		}
		return "$" + m.Summary, nil
	})
	b := NewBatcher(ob, tr, 4, 10*time.Second)
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { b.Run(ctx); close(ran) }()

	const callers = 20
	results := make([][]OutboxResult, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { results[i] = b.Deliver(testAlarm("b", i, "!room:hs", "!other:hs")) })
		if i == 0 {
			for sends.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	time.Sleep(50 * time.Millisecond) // the other callers wait for the runner
	close(release)
	wg.Wait()
	for i, res := range results {
		if len(res) != 2 {
			t.Fatalf("caller %d: %d results, want 2", i, len(res))
		}
		for j, room := range []string{"!room:hs", "!other:hs"} {
			want := fmt.Sprintf("$b alarm %d", i)
			if r := res[j]; r.Outcome != OutcomeDelivered || r.Message.Room != room || r.EventID != want {
				t.Errorf("caller %d result %d: %s in %s (%s), want %s in %s", i, j, r.Outcome, r.Message.Room, r.EventID, want, room)
			}
		}
	}
	if n := sends.Load(); n != 2*callers {
		t.Errorf("%d sends, want %d", n, 2*callers)
	}

	stop()
	<-ran
	if res := b.Deliver(testAlarm("b", callers, "!room:hs")); res != nil {
		t.Errorf("Deliver after Run ended: %v, want nil", res)
	}
}
