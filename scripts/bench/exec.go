package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"time"
)

// The tools of the exec section.
const (
	toolCurl   = "curl PUT (floor)"
	toolScript = "alarm-notify.sh"
	toolMN     = "matrix-notify"
	toolMNC    = "matrix-notify, concurrency=32"
)

// fanoutRooms are the room counts of the fan-out table.
var fanoutRooms = []int{1, 2, 5, 10, 20}

type execKey struct {
	tool  string
	delay time.Duration
	rooms int
}

// execSection runs the side-by-side comparison and the fan-out.
func (b *bench) execSection() error {
	tools := []string{toolCurl, toolScript, toolMN, toolMNC}
	if b.script == "" {
		tools = slices.DeleteFunc(tools, func(t string) bool { return t == toolScript })
	}
	if b.curlPath == "" {
		tools = slices.DeleteFunc(tools, func(t string) bool { return t == toolCurl })
	}
	res := map[execKey][]sample{}
	seq := 0
	allRooms := rooms("r", 20)
	for _, delay := range []time.Duration{0, 50 * time.Millisecond} {
		hs, err := b.startHS(allRooms, "-delay", delay.String())
		if err != nil {
			return err
		}
		counts := []int{1, 10}
		if delay == 50*time.Millisecond {
			counts = []int{1, 2, 5, 10, 20}
		}
		for _, n := range counts {
			runs := b.o.runs
			if n != 1 && n != 10 {
				runs = b.o.fanoutRuns
			}
			step("exec: %d room(s), %s delay, %d runs per tool", n, delay, runs)
			name := fmt.Sprintf("exec-%s-%d", delay, n)
			h, err := b.newHome(name, hs.url, allRooms[:n], "")
			if err != nil {
				return err
			}
			hc, err := b.newHome(name+"-c32", hs.url, allRooms[:n], "[matrix]\nconcurrency = 32\n")
			if err != nil {
				return err
			}
			before, err := countEvents(hs.url)
			if err != nil {
				return err
			}
			want := 0
			for i := -1; i < runs; i++ { // run -1 warms the page cache, not recorded
				for _, tool := range tools {
					seq++
					var s sample
					var err error
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					switch tool {
					case toolCurl:
						s, err = runChild(ctx, b.curlPath, curlArgs(hs.url, allRooms[0], seq), h.env)
						if s.code == 0 {
							want++
						}
					case toolScript:
						s, err = runChild(ctx, filepath.Join(h.plugins, "alarm-notify.sh"), alarmArgs(seq, "disk_space_usage"), h.env)
					case toolMN:
						s, err = runChild(ctx, filepath.Join(h.plugins, "matrix-notify"), alarmArgs(seq, "disk_space_usage"), h.env)
					case toolMNC:
						s, err = runChild(ctx, filepath.Join(hc.plugins, "matrix-notify"), alarmArgs(seq, "disk_space_usage"), hc.env)
					}
					cancel()
					if err != nil {
						hs.stop()
						return fmt.Errorf("%s: %w", tool, err)
					}
					if tool != toolCurl && s.code == 0 {
						want += n
					}
					if i >= 0 {
						k := execKey{tool, delay, n}
						res[k] = append(res[k], s)
					}
				}
			}
			after, err := countEvents(hs.url)
			if err != nil {
				return err
			}
			if got := after - before; got != want {
				b.report.note(fmt.Sprintf("exec %d room(s) at %s: %d events arrived, the exit codes promised %d", n, delay, got, want))
			}
		}
		hs.stop()
	}
	b.report.exec = res
	b.report.execTools = tools
	return nil
}

// curlArgs is the floor: one PUT with the token in the header, the least a
// sender can do per room.
func curlArgs(hs, room string, seq int) []string {
	return []string{"-sS", "--fail", "-o", "/dev/null", "--connect-timeout", "5", "-X", "PUT",
		"-H", "Authorization: Bearer syt_sendertest_token", "-H", "Content-Type: application/json",
		"--data", `{"msgtype":"m.notice","body":"floor"}`,
		fmt.Sprintf("%s/_matrix/client/v3/rooms/%s/send/m.room.message/floor-%d", hs, url.PathEscape(room), seq)}
}

// serverEvent is what /_sendertest/events lists.
type serverEvent struct {
	Room    string          `json:"room"`
	TxnID   string          `json:"txn_id"`
	Content json.RawMessage `json:"content"`
	Legacy  []string        `json:"legacy"`
}

func fetchEvents(hs string) ([]serverEvent, error) {
	resp, err := http.Get(hs + "/_sendertest/events")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var evs []serverEvent
	if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil {
		return nil, err
	}
	return evs, nil
}

// hsStats is sendertest's GET /_sendertest/stats.
type hsStats struct {
	Events    int       `json:"events"`
	LastEvent time.Time `json:"last_event"`
}

// fetchStats reads the homeserver's counts: cheap to poll, unlike the
// events themselves (tens of MB after serve's load).
func fetchStats(hs string) (hsStats, error) {
	var st hsStats
	resp, err := http.Get(hs + "/_sendertest/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

func countEvents(hs string) (int, error) {
	st, err := fetchStats(hs)
	return st.Events, err
}

type serverRequest struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
	Fault  string `json:"fault"`
}

func fetchRequests(hs string) ([]serverRequest, error) {
	resp, err := http.Get(hs + "/_sendertest/requests")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var reqs []serverRequest
	if err := json.NewDecoder(resp.Body).Decode(&reqs); err != nil {
		return nil, err
	}
	return reqs, nil
}
