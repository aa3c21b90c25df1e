package realpeers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// loginClient logs a user in with mautrix on the given device.
func loginClient(ctx context.Context, hsURL, name, device string) (*mautrix.Client, error) {
	c, err := mautrix.NewClient(hsURL, "", "")
	if err != nil {
		return nil, err
	}
	_, err = c.Login(ctx, &mautrix.ReqLogin{
		Type:             mautrix.AuthTypePassword,
		Identifier:       mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: name},
		Password:         password,
		DeviceID:         id.DeviceID(device),
		StoreCredentials: true,
	})
	if err != nil {
		return nil, fmt.Errorf("login %s: %w", name, err)
	}
	return c, nil
}

// reader is the real client that owns the rooms and reads what arrived.
type reader struct {
	t      *testing.T
	c      *mautrix.Client
	bot    *mautrix.Client // the bot's account, only to set up memberships
	oncall *mautrix.Client
}

var deviceSeq atomic.Int64

func newReader(t *testing.T) *reader {
	t.Helper()
	ctx := context.Background()
	dev := func(p string) string { return fmt.Sprintf("%s_%s_%d", p, t.Name(), deviceSeq.Add(1)) }
	r := &reader{t: t}
	var err error
	if r.c, err = loginClient(ctx, env.hs.URL, readerName, dev("READER")); err != nil {
		t.Fatal(err)
	}
	if r.bot, err = mautrix.NewClient(env.hs.URL, id.UserID(userID(botName)), env.botToken); err != nil {
		t.Fatal(err)
	}
	if r.oncall, err = loginClient(ctx, env.hs.URL, oncallName, dev("ONCALL")); err != nil {
		t.Fatal(err)
	}
	return r
}

// roomOpts says how a test room is set up.
type roomOpts struct {
	alias     string // local part of a #alias, "" for none
	botJoined bool   // invite the bot and join it; else only invite it when botInvite
	botInvite bool
	oncall    bool // oncall joins too
}

// room creates an invite-only room owned by the reader.
func (r *reader) room(o roomOpts) id.RoomID {
	r.t.Helper()
	ctx := context.Background()
	req := &mautrix.ReqCreateRoom{Preset: "private_chat", Name: r.t.Name(), RoomAliasName: o.alias}
	if o.botJoined || o.botInvite {
		req.Invite = append(req.Invite, id.UserID(userID(botName)))
	}
	if o.oncall {
		req.Invite = append(req.Invite, id.UserID(userID(oncallName)))
	}
	resp, err := r.c.CreateRoom(ctx, req)
	if err != nil {
		r.t.Fatalf("create room: %v", err)
	}
	if o.botJoined {
		if _, err := r.bot.JoinRoomByID(ctx, resp.RoomID); err != nil {
			r.t.Fatalf("bot joins %s: %v", resp.RoomID, err)
		}
	}
	if o.oncall {
		if _, err := r.oncall.JoinRoomByID(ctx, resp.RoomID); err != nil {
			r.t.Fatalf("oncall joins %s: %v", resp.RoomID, err)
		}
	}
	return resp.RoomID
}

// message is an m.room.message as the reader sees it.
type message struct {
	ID            id.EventID
	Sender        id.UserID
	MsgType       string `json:"msgtype"`
	Body          string `json:"body"`
	Format        string `json:"format"`
	FormattedBody string `json:"formatted_body"`
	RelatesTo     *struct {
		RelType   string `json:"rel_type"`
		EventID   string `json:"event_id"`
		InReplyTo *struct {
			EventID string `json:"event_id"`
		} `json:"m.in_reply_to"`
	} `json:"m.relates_to"`
	Mentions *struct {
		UserIDs []string `json:"user_ids"`
		Room    bool     `json:"room"`
	} `json:"m.mentions"`
	Raw json.RawMessage
}

// messages returns the bot's messages in a room, oldest first.
func (r *reader) messages(room id.RoomID) []message {
	r.t.Helper()
	ctx := context.Background()
	filter := &mautrix.FilterPart{Types: []event.Type{event.EventMessage}, Senders: []id.UserID{id.UserID(userID(botName))}}
	var all []message
	from := ""
	for page := 0; page < 20; page++ {
		resp, err := r.c.Messages(ctx, room, from, "", mautrix.DirectionBackward, filter, 100)
		if err != nil {
			r.t.Fatalf("messages in %s: %v", room, err)
		}
		for _, ev := range resp.Chunk {
			if ev.Type != event.EventMessage || ev.Sender != id.UserID(userID(botName)) {
				continue
			}
			var m message
			if err := json.Unmarshal(ev.Content.VeryRaw, &m); err != nil {
				r.t.Fatalf("event %s: %v", ev.ID, err)
			}
			m.ID, m.Sender, m.Raw = ev.ID, ev.Sender, ev.Content.VeryRaw
			all = append([]message{m}, all...)
		}
		if resp.End == "" || len(resp.Chunk) == 0 {
			break
		}
		from = resp.End
	}
	return all
}

// waitMessages waits until the room holds at least n messages from the bot,
// then a little longer to catch any extra (a duplicate), and returns them.
func (r *reader) waitMessages(room id.RoomID, n int) []message {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs := r.messages(room)
		if len(msgs) >= n {
			time.Sleep(300 * time.Millisecond)
			return r.messages(room)
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("room %s: %d messages from the bot after 20 s, want %d: %s", room, len(msgs), n, bodies(msgs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expectMessages waits for exactly n messages in the room.
func (r *reader) expectMessages(room id.RoomID, n int) []message {
	r.t.Helper()
	msgs := r.waitMessages(room, n)
	if len(msgs) != n {
		r.t.Errorf("room %s: %d messages from the bot, want %d: %s", room, len(msgs), n, bodies(msgs))
	}
	return msgs
}

func bodies(msgs []message) string {
	s := ""
	for _, m := range msgs {
		s += fmt.Sprintf("\n  [%s %s] %q", m.ID, m.MsgType, m.Body)
	}
	return s
}

// notification is one entry of GET /notifications.
type notification struct {
	Actions   []json.RawMessage `json:"actions"`
	RoomID    string            `json:"room_id"`
	Read      bool              `json:"read"`
	EventInfo struct {
		EventID string `json:"event_id"`
	} `json:"event"`
}

// highlighted reports whether the user's notifications list the event with
// a highlight (the push rules decided it pings), waiting up to 10 s.
func highlighted(t *testing.T, c *mautrix.Client, ev id.EventID) (notified, highlight bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var resp struct {
			Notifications []notification `json:"notifications"`
		}
		_, err := c.MakeRequest(context.Background(), http.MethodGet, c.BuildClientURL("v3", "notifications"), nil, &resp)
		if err != nil {
			t.Fatalf("notifications: %v", err)
		}
		for _, n := range resp.Notifications {
			if n.EventInfo.EventID != string(ev) {
				continue
			}
			for _, a := range n.Actions {
				var tw struct {
					SetTweak string `json:"set_tweak"`
					Value    *bool  `json:"value"`
				}
				if json.Unmarshal(a, &tw) == nil && tw.SetTweak == "highlight" && (tw.Value == nil || *tw.Value) {
					return true, true
				}
			}
			notified = true
		}
		if time.Now().After(deadline) {
			return notified, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
