package main

import (
	"context"
	"io"
	"strconv"
	"testing"

	"matrix-notify/sender/sendertest"
)

// BenchmarkRealAlarm is one netdata alarm end to end in-process, as
// BenchmarkDryRunAlarm but delivered: 10 rooms of a loopback sendertest
// homeserver, through the outbox and the alert store (a new alert every
// iteration), so that it measures what the state database costs an alarm.
// Profile: go test -run '^$' -bench RealAlarm -benchtime 300x -cpuprofile cpu.out ./plugin
func BenchmarkRealAlarm(b *testing.B) {
	rooms := benchRooms()
	srv := sendertest.New(sendertest.Options{Joined: rooms})
	defer srv.Close()
	env, args := benchAlarm(b, srv.URL(), rooms)
	delete(env, "MATRIX_NOTIFY_DRY_RUN")
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		// A new alert every time: fresh ids and name.
		n++
		id := strconv.Itoa(10000 + n)
		args[2], args[3], args[4], args[6] = id, id, id, "disk_space_usage_"+id
		if code := benchApp(env, io.Discard).run(context.Background(), args); code != exitDelivered {
			b.Fatalf("exit %d", code)
		}
	}
}
