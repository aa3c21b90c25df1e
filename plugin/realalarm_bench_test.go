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

	"matrix-notify/sender/sendertest"
)

// BenchmarkRealAlarm is one netdata alarm end to end in-process, as
// BenchmarkDryRunAlarm but delivered: 10 rooms of a loopback sendertest
// homeserver, through the outbox and the alert store (a new alert every
// iteration), so that it measures what the state database costs an alarm.
// Profile: go test -run '^$' -bench RealAlarm -benchtime 300x -cpuprofile cpu.out ./plugin
func BenchmarkRealAlarm(b *testing.B) {
	stockConf := debianStockConf(b)
	user, stock, cache := netdataTree(b, b.TempDir())
	data, err := os.ReadFile(stockConf)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stock, "health_alarm_notify.conf"), data, 0o600); err != nil {
		b.Fatal(err)
	}
	var rooms []string
	for i := 1; i <= 10; i++ {
		rooms = append(rooms, "!room"+strconv.Itoa(i)+":bench.test")
	}
	srv := sendertest.New(sendertest.Options{Joined: rooms})
	defer srv.Close()
	conf := "MATRIX_HOMESERVER=\"" + srv.URL() + "\"\nMATRIX_ACCESSTOKEN=\"" + sendertest.DefaultToken + "\"\n" +
		"DEFAULT_RECIPIENT_MATRIX=\"" + strings.Join(rooms, " ") + "\"\nSEND_EMAIL=\"NO\"\n"
	if err := os.WriteFile(filepath.Join(user, "health_alarm_notify.conf"), []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	env := netdataTestEnv(user, stock, cache)
	delete(env, "MATRIX_NOTIFY_DRY_RUN")
	args := []string{"sysadmin", "web01", "1001", "42", "7", "1763899200", "disk_space_usage", "disk_space._",
		"/", "CRITICAL", "WARNING", "98.7", "91.3", "health.d/disks.conf:12", "300", "900", "%",
		"disk / space utilization", "98.7%", "91.3%", "$this > 90", "${this} = 98.7", "1", "0", "", "",
		"Utilization", "netdata edit-config health.d/disks.conf=12", ""}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		// A new alert every time: fresh ids and name.
		n++
		id := strconv.Itoa(10000 + n)
		args[2], args[3], args[4], args[6] = id, id, id, "disk_space_usage_"+id
		a := &app{
			getenv:   func(k string) string { return env[k] },
			stdin:    strings.NewReader(""),
			stdout:   io.Discard,
			stderr:   io.Discard,
			now:      func() time.Time { return fixedNow },
			hostname: func() (string, error) { return "web01.example.org", nil },
			location: time.UTC,
		}
		if code := a.run(context.Background(), args); code != exitDelivered {
			b.Fatalf("exit %d", code)
		}
	}
}
