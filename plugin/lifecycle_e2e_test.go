package main

import (
	"encoding/json"
	"strings"
	"testing"

	"matrix-notify/sender/sendertest"
)

type relatedEvent struct {
	EventID string
	Content struct {
		MsgType   string `json:"msgtype"`
		Body      string `json:"body"`
		RelatesTo *struct {
			RelType   string `json:"rel_type"`
			EventID   string `json:"event_id"`
			InReplyTo *struct {
				EventID string `json:"event_id"`
			} `json:"m.in_reply_to"`
		} `json:"m.relates_to"`
		NewContent *struct {
			Body string `json:"body"`
		} `json:"m.new_content"`
	}
}

func relatedEvents(t *testing.T, hs *sendertest.Server, room string) []relatedEvent {
	t.Helper()
	var out []relatedEvent
	for _, ev := range hs.Events(room) {
		var re relatedEvent
		re.EventID = ev.EventID
		if err := json.Unmarshal(ev.Content, &re.Content); err != nil {
			t.Fatal(err)
		}
		out = append(out, re)
	}
	return out
}

// TestE2ELifecycle: one netdata alarm's life (WARNING, escalated, demoted,
// cleared) with the built binary, in each lifecycle mode: one root per
// room, the rest related to it as configured.
func TestE2ELifecycle(t *testing.T) {
	life := []struct{ status, old string }{{"WARNING", "CLEAR"}, {"CRITICAL", "WARNING"}, {"WARNING", "CRITICAL"}, {"CLEAR", "WARNING"}}
	for _, mode := range []string{"thread", "reply", "edit", "none"} {
		t.Run(mode, func(t *testing.T) {
			rooms := []string{"!a:hs.test", "!b:hs.test"}
			hs := sendertest.New(sendertest.Options{Joined: rooms})
			defer hs.Close()
			h := newNetdataHome(t, confFor(hs, strings.Join(rooms, " ")))
			h.writeTOML(t, "[matrix]\nlifecycle = \""+mode+"\"\n")
			for i, st := range life {
				args := alarmArgs("sysadmin", "700"+string(rune('0'+i)), string(rune('1'+i)), st.status, st.old, "disk")
				if r := h.run(t, nil, args...); r.code != 0 {
					t.Fatalf("%s: exit %d\n%s", st.status, r.code, r.stderr)
				}
			}
			for _, room := range rooms {
				evs := relatedEvents(t, hs, room)
				if len(evs) != 4 {
					t.Fatalf("%s: %d events, want 4", room, len(evs))
				}
				root := evs[0]
				if root.Content.RelatesTo != nil {
					t.Errorf("%s: the raising message is a relation: %+v", room, root.Content.RelatesTo)
				}
				for i, ev := range evs[1:] {
					rel := ev.Content.RelatesTo
					switch mode {
					case "none":
						if rel != nil {
							t.Errorf("%s event %d: related in mode none", room, i+1)
						}
					case "thread":
						if rel == nil || rel.RelType != "m.thread" || rel.EventID != root.EventID || rel.InReplyTo == nil || rel.InReplyTo.EventID != evs[i].EventID {
							t.Errorf("%s event %d: not in the root's thread replying to the previous one: %+v", room, i+1, rel)
						}
					case "reply":
						if rel == nil || rel.InReplyTo == nil || rel.InReplyTo.EventID != evs[i].EventID {
							t.Errorf("%s event %d: not a reply to the previous one: %+v", room, i+1, rel)
						}
					case "edit":
						if rel == nil || rel.RelType != "m.replace" || rel.EventID != root.EventID || ev.Content.NewContent == nil {
							t.Errorf("%s event %d: not an edit of the root: %+v", room, i+1, rel)
						}
					}
				}
				if mode == "edit" && !strings.Contains(evs[3].Content.NewContent.Body, "RESOLVED") {
					t.Errorf("%s: the resolving edit lacks its marker: %q", room, evs[3].Content.NewContent.Body)
				}
			}
		})
	}
}

// TestE2ELifecycleLostState: the state directory is gone between the raise
// and the recovery: the recovery is posted on its own, nothing fails.
func TestE2ELifecycleLostState(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!a:hs.test"}})
	defer hs.Close()
	h := newNetdataHome(t, confFor(hs, "!a:hs.test"))
	if r := h.run(t, nil, alarmArgs("sysadmin", "801", "1", "CRITICAL", "CLEAR", "x")...); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if err := removeAll(h.lib + "/matrix-notify"); err != nil {
		t.Fatal(err)
	}
	if r := h.run(t, nil, alarmArgs("sysadmin", "802", "2", "CLEAR", "CRITICAL", "x")...); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	evs := relatedEvents(t, hs, "!a:hs.test")
	if len(evs) != 2 || evs[1].Content.RelatesTo != nil {
		t.Fatalf("want the recovery posted plainly, got %+v", evs)
	}
}

// TestE2ELifecycleKuma: Kuma DOWN, DOWN again (resend), UP through `kuma`:
// the resend and the recovery go into the first DOWN's thread.
func TestE2ELifecycleKuma(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!kuma:hs.test"}})
	defer hs.Close()
	h := newNetdataHome(t, "")
	cfg := h.user + "/kuma.toml"
	writeFile(t, cfg, "[matrix]\nhomeserver = \""+hs.URL()+"\"\naccess_token = \""+hs.Token()+"\"\nrooms = [\"!kuma:hs.test\"]\nstate_dir = \""+h.cache+"/kuma-state\"\n")
	for _, p := range []string{
		strings.Replace(kumaDown, `"time":"2026-11-23 10:00:00.000"`, `"time":"2026-11-23 10:00:00.000"`, 1),
		strings.Replace(kumaDown, `"time":"2026-11-23 10:00:00.000"`, `"time":"2026-11-23 10:10:00.000"`, 1),
		`{"heartbeat":{"monitorID":3,"status":1,"time":"2026-11-23 10:20:00.000","msg":"200 - OK","ping":12},"monitor":{"id":3,"name":"Shop","url":"https://shop.example.org/health","type":"http"},"msg":"[Shop] [✅ Up] 200 - OK"}`,
	} {
		cmd := execIn(h, "kuma", "--config", cfg)
		cmd.Stdin = strings.NewReader(p)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	evs := relatedEvents(t, hs, "!kuma:hs.test")
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	for i, ev := range evs[1:] {
		if rel := ev.Content.RelatesTo; rel == nil || rel.RelType != "m.thread" || rel.EventID != evs[0].EventID {
			t.Errorf("event %d not in the first DOWN's thread: %+v", i+1, rel)
		}
	}
}
