package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkDryRunAlarm is one netdata alarm end to end in-process, as netdata
// exec mode runs it minus the network: argv parsing, Debian's real stock
// health_alarm_notify.conf and a user file (10 Matrix rooms) parsed, settings
// merged, the message built and the 10 PUT requests printed
// (MATRIX_NOTIFY_DRY_RUN=1).
//
// Budget (2-core machine of BENCHMARKS.md, `make bench`): <= 3 ms/op,
// <= 1 MB and <= 8000 allocations per op. Why 3 ms: an exec may spend 1/15
// of alarm-notify.sh's CPU (~17 ms for 10 rooms); process start and package
// init take ~8 ms and ten requests ~4 ms, which leaves ~3-5 ms for this.
// Measured ~1.5 ms, most of it parsing the stock file (see BenchmarkLoadStock
// in adapters/netdata/healthconf), which every alarm does (no parse cache:
// it saved under 1 ms, see BENCHMARKS.md).
// Profile: go test -run '^$' -bench DryRunAlarm -cpuprofile cpu.out ./plugin
func BenchmarkDryRunAlarm(b *testing.B) {
	rooms := benchRooms()
	env, args := benchAlarm(b, "http://127.0.0.1:9", rooms)
	var out countWriter
	b.ReportAllocs()
	for b.Loop() {
		if code := benchApp(env, &out).run(context.Background(), args); code != exitDelivered {
			b.Fatalf("exit %d", code)
		}
	}
	if out.lines/b.N != 10 {
		b.Fatalf("%d lines for %d runs: want 10 requests per run", out.lines, b.N)
	}
}

// benchRooms are the 10 rooms of the alarm benchmarks.
func benchRooms() []string {
	var rooms []string
	for i := 1; i <= 10; i++ {
		rooms = append(rooms, "!room"+strconv.Itoa(i)+":bench.test")
	}
	return rooms
}

// benchAlarm writes netdata's tree for an alarm benchmark: Debian's stock
// health_alarm_notify.conf and a user file naming homeserver and rooms. It
// returns netdata's environment (a dry run) and the alarm's argv.
func benchAlarm(b *testing.B, homeserver string, rooms []string) (map[string]string, []string) {
	stockConf := debianStockConf(b)
	user, stock, cache := netdataTree(b, b.TempDir())
	data, err := os.ReadFile(stockConf)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stock, "health_alarm_notify.conf"), data, 0o600); err != nil {
		b.Fatal(err)
	}
	conf := "MATRIX_HOMESERVER=\"" + homeserver + "\"\nMATRIX_ACCESSTOKEN=\"syt_sendertest_token\"\n" +
		"DEFAULT_RECIPIENT_MATRIX=\"" + strings.Join(rooms, " ") + "\"\nSEND_EMAIL=\"NO\"\n"
	if err := os.WriteFile(filepath.Join(user, "health_alarm_notify.conf"), []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	return netdataTestEnv(user, stock, cache), []string{"sysadmin", "web01", "1001", "42", "7", "1763899200",
		"disk_space_usage", "disk_space._", "/", "CRITICAL", "WARNING", "98.7", "91.3", "health.d/disks.conf:12",
		"300", "900", "%", "disk / space utilization", "98.7%", "91.3%", "$this > 90", "${this} = 98.7", "1", "0",
		"", "", "Utilization", "netdata edit-config health.d/disks.conf=12", ""}
}

// benchApp is one invocation with env, writing to stdout.
func benchApp(env map[string]string, stdout io.Writer) *app {
	return &app{
		getenv:   func(k string) string { return env[k] },
		stdin:    strings.NewReader(""),
		stdout:   stdout,
		stderr:   io.Discard,
		now:      func() time.Time { return fixedNow },
		hostname: func() (string, error) { return "web01.example.org", nil },
		location: time.UTC,
	}
}

// countWriter counts the lines written (one per dry-run request).
type countWriter struct{ lines int }

func (w *countWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if c == '\n' {
			w.lines++
		}
	}
	return len(p), nil
}
