package realpeers

import (
	"context"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// TestOutage: with the homeserver down, netdata's alarms queue (exit 3);
// `queue` lists them; once it is back, `flush` (same user, no extra flags)
// delivers each exactly once, and a second flush posts nothing.
func TestOutage(t *testing.T) {
	need(t)
	r := newReader(t)
	rooms := []id.RoomID{r.room(roomOpts{botJoined: true}), r.room(roomOpts{botJoined: true})}
	s := newSite(t)
	s.healthConf(env.botToken, string(rooms[0])+" "+string(rooms[1]))

	env.hs.Stop()
	defer hsUp(t) // when the test ends early
	for i := 0; i < 3; i++ {
		a := newAlarm(500+i, "outage_alarm")
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
		r.expectMessages(room, 3)
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
