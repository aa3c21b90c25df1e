package realpeers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// TestOutage: with the homeserver down, netdata's alarms queue (exit 3);
// `queue` lists them; once it is back, `flush` (same user, no extra flags)
// delivers each exactly once, and a second flush posts nothing: each room
// then holds each of the three alarms (its name and its alarm id) once, none
// missing and none twice.
func TestOutage(t *testing.T) {
	need(t)
	r := newReader(t)
	rooms := []id.RoomID{r.room(roomOpts{botJoined: true}), r.room(roomOpts{botJoined: true})}
	s := newSite(t)
	s.healthConf(env.botToken, string(rooms[0])+" "+string(rooms[1]))

	env.hs.Stop()
	defer hsUp(t) // when the test ends early
	const n = 3
	for i := 0; i < n; i++ {
		a := newAlarm(500+i, fmt.Sprintf("outage_alarm_%d", i))
		res := s.run("", a.args()...)
		if res.code != 3 {
			t.Errorf("alarm %d during the outage: want exit 3 (queued), got %s", i, res)
		}
		t.Logf("alarm %d during the outage: exit %d after %v", i, res.code, res.took)
	}
	q := s.run("", "queue")
	if q.code != 0 {
		t.Errorf("queue: %s", q)
	}
	for _, room := range rooms {
		if !strings.Contains(q.stdout, string(room)) {
			t.Errorf("queue does not list %s:\n%s", room, q)
		}
	}
	hsUp(t)
	f := s.run("", "flush")
	if f.code != 0 {
		t.Errorf("flush after the outage: %s", f)
	}
	f2 := s.run("", "flush")
	if f2.code != 0 {
		t.Errorf("second flush: %s", f2)
	}
	for _, room := range rooms {
		msgs := r.expectMessages(room, n)
		for i := 0; i < n; i++ {
			// The body says the name with spaces ("outage alarm 1") and the
			// link carries the alarm id.
			name, alarmID := fmt.Sprintf("outage alarm %d", i), fmt.Sprintf("alarm_id=%d&", 500+i)
			got := 0
			for _, m := range msgs {
				if strings.Contains(m.Body, name) && strings.Contains(m.Body, alarmID) {
					got++
				}
			}
			if got != 1 {
				t.Errorf("room %s: alarm %d (%q, %s) arrived %d times, want exactly once:%s", room, i, name, alarmID, got, bodies(msgs))
			}
		}
	}
	if q := s.run("", "queue"); q.code != 0 || strings.Contains(q.stdout, string(rooms[0])) {
		t.Errorf("queue after flush still lists the room: %s", q)
	}
}

// TestRerunAfterRestart: running an alarm again after the homeserver
// restarted, or with another token of the bot, posts nothing new
// (issue 13 item 4: Dendrite forgets transaction ids on restart and per
// token).
func TestRerunAfterRestart(t *testing.T) {
	need(t)
	r, room, s := roomSite(t, roomOpts{botJoined: true})
	a := newAlarm(601, "rerun_alarm")
	s.must(0, "", a.args()...)
	r.expectMessages(room, 1)

	env.hs.Stop()
	hsUp(t)
	s.run("", a.args()...)
	if msgs := r.waitMessages(room, 1); len(msgs) != 1 {
		t.Errorf("after a homeserver restart, the re-run posted again:%s", bodies(msgs))
	}

	other, err := loginClient(context.Background(), env.hs.URL, botName, "REALPEERS_OTHER_TOKEN")
	if err != nil {
		t.Fatal(err)
	}
	s.healthConf(other.AccessToken, string(room))
	s.run("", a.args()...)
	if msgs := r.waitMessages(room, 1); len(msgs) != 1 {
		t.Errorf("with another token of the bot, the re-run posted again:%s", bodies(msgs))
	}
}

// TestOutageNoCommand: what an outage left queued arrives once the
// homeserver is back although no further alarm fires and nobody runs
// `flush` (issue 12 item 2: netdata calls us only on a change), within
// 2 minutes, exactly once.
func TestOutageNoCommand(t *testing.T) {
	need(t)
	r, room, s := roomSite(t, roomOpts{botJoined: true})

	env.hs.Stop()
	a := newAlarm(701, "lonely_alarm")
	res := s.run("", a.args()...)
	hsUp(t)
	if res.code != 3 {
		t.Fatalf("alarm during the outage: want exit 3 (queued), got %s", res)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(r.messages(room)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the queued alarm did not arrive within 2 minutes of the homeserver's return")
		}
		time.Sleep(time.Second)
	}
	r.expectMessages(room, 1)
}
