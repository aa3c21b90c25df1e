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

// BenchmarkStoreAlarm is the store's share of one exec-mode alarm: open the
// state, deliver a raise to ten rooms (the homeserver answers at once) with
// the alert lifecycle recording each root, and close.
func BenchmarkStoreAlarm(b *testing.B) {
	dir := b.TempDir()
	tr := funcTransport(func(ctx context.Context, m Message) (string, error) { return "$ev-" + m.TxnID, nil })
	ctx := context.Background()
	i := 0
	start := cpuTime(b)
	for b.Loop() {
		i++
		msgs := testAlarm("netdata", i, benchRooms...)
		for k := range msgs {
			msgs[k].AlertKey, msgs[k].Phase = fmt.Sprintf("web1|%d", i), PhaseRaise
		}
		ob, err := OpenOutbox(dir, OutboxOptions{})
		if err != nil {
			b.Fatal(err)
		}
		lt := &LifecycleTransport{Next: tr, Store: NewAlertStore(ob.State(), AlertStoreOptions{})}
		if rep := ob.Deliver(ctx, lt, msgs, 32); !rep.Delivered() {
			b.Fatal(rep.Results)
		}
		if err := ob.Close(); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// BenchmarkLifecycleLife: a new alert each iteration, raised, updated and
// resolved in ten rooms through LifecycleTransport (threads) over a
// homeserver that answers at once: the store's part of a life's sends.
func BenchmarkLifecycleLife(b *testing.B) {
	n := 0
	lt := &LifecycleTransport{Next: funcTransportLC(func(context.Context, Message) (string, error) {
		n++
		return "$e" + strconv.Itoa(n), nil
	}), Store: lcStore(b, b.TempDir()), Source: "netdata"}
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
