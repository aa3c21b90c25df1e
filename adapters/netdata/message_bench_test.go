package netdata

import "testing"

// BenchmarkMessage is the message build of one alarm: argv parsing, the
// derived fields (netdata.Derive: dates, durations, goto_url, status
// message) and the escaped m.room.message content (netdata.Content).
//
// Budget (2-core machine of BENCHMARKS.md, `make bench`): <= 50 µs/op,
// <= 16 KB and <= 100 allocations per op. Measured 12-15 µs, ~3.7 KB and ~50
// allocations: an alarm pays this once per invocation, next to ~8 ms of
// process start, so the budget only catches a regression by an order of
// magnitude (a regexp compiled per call, a template engine in the path).
func BenchmarkMessage(b *testing.B) {
	for _, bc := range []struct {
		name string
		argv []string
	}{{"layout1", argv1()}, {"layout2", argv2()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a, err := ParseArgs(bc.argv)
				if err != nil {
					b.Fatal(err)
				}
				c := Content(Derive(a, testEnv))
				if c.Body == "" {
					b.Fatal("empty body")
				}
			}
		})
	}
}
