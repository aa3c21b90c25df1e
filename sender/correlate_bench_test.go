//go:build unix

package sender

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time (user and system) this process has used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start (cpu-ns/op): on a busy
// machine ns/op measures the neighbours as much as the code.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// benchRooms are the ten rooms of a fanned-out alarm.
var benchRooms = func() []string {
	var out []string
	for i := range 10 {
		out = append(out, fmt.Sprintf("!room%d:sendertest.localhost", i))
	}
	return out
}()

// benchStore is a new store and the state of an edit-mode alert (with its
// contents: the largest a state gets).
func benchStore(b *testing.B) (*AlertStore, AlertState) {
	s, err := OpenAlertStore(b.TempDir(), AlertStoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	c := Content{MsgType: "m.text", Body: "🔴 web1 disk space is critical"}
	return s, AlertState{Root: "$root", Latest: "$root", RootContent: c, Content: c, Created: now, Updated: now}
}

// BenchmarkAlertStorePut: a new alert each iteration, recorded in ten rooms
// (what a raise fanned out to ten rooms writes).
func BenchmarkAlertStorePut(b *testing.B) {
	s, st := benchStore(b)
	i := 0
	start := cpuTime(b)
	for b.Loop() {
		i++
		for _, room := range benchRooms {
			if err := s.Put(AlertRef{Source: "netdata", Alert: fmt.Sprintf("web1|%d", i), Room: room}, st); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCPU(b, start)
}

// BenchmarkAlertStoreLife: a new alert each iteration, raised, updated and
// resolved in ten rooms, with the store calls LifecycleTransport makes
// (Get then Put, Get then Put, Get then Delete): the steady state of a
// long-running serve, where states come and go.
func BenchmarkAlertStoreLife(b *testing.B) {
	s, st := benchStore(b)
	i := 0
	start := cpuTime(b)
	for b.Loop() {
		i++
		for step := range 3 {
			for _, room := range benchRooms {
				ref := AlertRef{Source: "netdata", Alert: fmt.Sprintf("web1|%d", i), Room: room}
				if _, _, err := s.Get(ref); err != nil {
					b.Fatal(err)
				}
				var err error
				if step < 2 {
					err = s.Put(ref, st)
				} else {
					err = s.Delete(ref)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	reportCPU(b, start)
}

// BenchmarkLifecycleLife: a new alert each iteration, raised, updated and
// resolved in ten rooms through LifecycleTransport (threads) over a
// homeserver that answers at once: the store's part of a life's sends.
func BenchmarkLifecycleLife(b *testing.B) {
	s, err := OpenAlertStore(b.TempDir(), AlertStoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	lt := &LifecycleTransport{Next: funcTransportLC(func(context.Context, Message) (string, error) {
		n++
		return "$e" + strconv.Itoa(n), nil
	}), Store: s, Source: "netdata"}
	ctx := context.Background()
	i := 0
	start := cpuTime(b)
	for b.Loop() {
		i++
		for _, phase := range []Phase{PhaseRaise, PhaseUpdate, PhaseResolve} {
			for _, room := range benchRooms {
				m := Message{Room: room, AlertKey: fmt.Sprintf("web1|%d", i), Phase: phase, Content: Content{MsgType: "m.text", Body: "🔴 web1 disk space is critical"}}
				if _, err := lt.Send(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	reportCPU(b, start)
}

// BenchmarkAlertStoreServe: the store under a long-running serve, ~1000
// alerts open across the 256 buckets (about 4 states a bucket, thread mode:
// no contents), one message per op: three in four an update (Get, Put), one
// in four a resolve (Get, Delete) whose alert is raised anew (Put, no Get) so
// that the number of open alerts holds.
func BenchmarkAlertStoreServe(b *testing.B) {
	const open = 1024
	s, err := OpenAlertStore(b.TempDir(), AlertStoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	st := AlertState{Root: "$raise:sendertest.localhost", Latest: "$raise:sendertest.localhost", Created: now, Updated: now}
	ref := func(slot, gen int) AlertRef {
		return AlertRef{Source: "kuma", Alert: "monitor-" + strconv.Itoa(slot) + "|" + strconv.Itoa(gen), Room: "!ops:sendertest.localhost"}
	}
	gen := make([]int, open)
	for slot := range open {
		if err := s.Put(ref(slot, 0), st); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	start := cpuTime(b)
	for b.Loop() {
		slot := i % open
		resolve := (i/open)%4 == 3
		i++
		r := ref(slot, gen[slot])
		if _, ok, err := s.Get(r); err != nil || !ok {
			b.Fatal(ok, err)
		}
		if !resolve {
			st.Latest, st.Updated = "$update:sendertest.localhost", time.Now()
			if err := s.Put(r, st); err != nil {
				b.Fatal(err)
			}
			continue
		}
		if err := s.Delete(r); err != nil {
			b.Fatal(err)
		}
		gen[slot]++
		if err := s.Put(ref(slot, gen[slot]), st); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}
