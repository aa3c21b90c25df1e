package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	got := summarize([]float64{4, 1, 3, 2, 5})
	if want := (stats{med: 3, min: 1, max: 5, q1: 2, q3: 4}); got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if got := summarize([]float64{1, 2}).med; got != 1.5 {
		t.Errorf("median of 1, 2 = %v, want 1.5", got)
	}
	if got := summarize(nil); got != (stats{}) {
		t.Errorf("summarize(nil) = %+v", got)
	}
}

func TestTable(t *testing.T) {
	var b strings.Builder
	table(&b, []string{"a", "b"}, [][]string{{"1", "2"}, line("item", "<= 1", "0.5", true, false)[:2]})
	want := "| a | b |\n|---|---|\n| 1 | 2 |\n| PASS | item |\n"
	if b.String() != want {
		t.Errorf("table =\n%s\nwant\n%s", b.String(), want)
	}
	for _, c := range []struct {
		pass, info bool
		want       string
	}{{true, false, "PASS"}, {false, false, "MISS"}, {true, true, "info"}, {false, true, "info"}} {
		if got := line("i", "t", "m", c.pass, c.info)[0]; got != c.want {
			t.Errorf("line(pass %v, info %v) = %s, want %s", c.pass, c.info, got, c.want)
		}
	}
}

func TestExitCodes(t *testing.T) {
	if got := exitCodes([]sample{{code: 3}, {code: 0}, {code: 3}}); got != "1×0, 2×3" {
		t.Errorf("exitCodes = %q", got)
	}
}

func TestBenchLine(t *testing.T) {
	for l, want := range map[string][]string{
		"BenchmarkMessage/layout1-2   \t  170000\t      6800 ns/op\t    4600 B/op\t      64 allocs/op": {"BenchmarkMessage/layout1", "6800 ns/op\t    4600 B/op\t      64 allocs/op"},
		"BenchmarkLoadStock   1000  679400 ns/op":                                                      {"BenchmarkLoadStock", "679400 ns/op"},
		"PASS": nil,
	} {
		if m := benchLine.FindStringSubmatch(l); !slices.Equal(tail(m), want) {
			t.Errorf("%q: got %q, want %q", l, tail(m), want)
		}
	}
}

func tail(m []string) []string {
	if m == nil {
		return nil
	}
	return m[1:]
}

func TestKumaBody(t *testing.T) {
	re := regexp.MustCompile(`"monitorID":(\d+),"status":(\d)`)
	for i, want := range []string{"1 0", "2 0", "1 1", "2 1", "1 0"} {
		m := re.FindStringSubmatch(string(kumaBody(i, 2)))
		if m == nil || m[1]+" "+m[2] != want {
			t.Errorf("webhook %d: monitor and status %v, want %s", i, m, want)
		}
	}
}

func TestProcStatusKB(t *testing.T) {
	if kb := procStatusKB(os.Getpid(), "VmHWM"); kb < 1024 {
		t.Errorf("this process's VmHWM = %d kB", kb)
	}
	if kb := procStatusKB(os.Getpid(), "NoSuchField"); kb != 0 {
		t.Errorf("a missing field = %d kB", kb)
	}
}
