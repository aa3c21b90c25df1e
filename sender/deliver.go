package sender

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"
)

// Transport sends one message to its room and returns the event id the
// homeserver assigned. Implementations must be safe for concurrent use.
type Transport interface {
	Send(ctx context.Context, m Message) (eventID string, err error)
}

// DefaultConcurrency is how many rooms are sent to at once by default: wide
// enough that the usual fan-out (up to a few dozen rooms) goes out in one
// wave, so an alarm costs one round trip, not one per eight rooms.
const DefaultConcurrency = 32

// Sender fans messages out to their rooms concurrently, without an outbox.
type Sender struct {
	Transport   Transport
	Concurrency int          // sends in flight; <= 0 means DefaultConcurrency
	Log         *slog.Logger // one line per message; nil discards
}

// Result is the outcome of one message.
type Result struct {
	Message  Message
	EventID  string
	Err      error
	Duration time.Duration
}

// Report is the outcome of a Deliver call, one Result per message in the
// order the messages were given.
type Report struct {
	Results []Result
}

// Delivered reports whether every message reached its room.
func (r Report) Delivered() bool { return len(r.Failed()) == 0 }

// Failed returns the results that did not reach their room.
func (r Report) Failed() []Result {
	var failed []Result
	for _, res := range r.Results {
		if res.Err != nil {
			failed = append(failed, res)
		}
	}
	return failed
}

// Deliver sends every message, at most Concurrency at a time, until all are
// done or ctx ends. One failure does not stop the others: every room gets its
// own chance, and its own line in the log.
func (s *Sender) Deliver(ctx context.Context, msgs []Message) Report {
	log := orDiscard(s.Log)
	results := make([]Result, len(msgs))
	var g errgroup.Group
	g.SetLimit(limit(s.Concurrency))
	for i, m := range msgs {
		g.Go(func() error {
			start := time.Now()
			eventID, err := s.Transport.Send(ctx, m)
			results[i] = Result{Message: m, EventID: eventID, Err: err, Duration: time.Since(start)}
			if err != nil {
				log.Error("failed to send Matrix notification", "alarm", m.Summary, "room", m.Room, "err", err)
			} else {
				log.Info("sent Matrix notification", "alarm", m.Summary, "room", m.Room, "event", eventID)
			}
			return nil
		})
	}
	_ = g.Wait() // goroutines never return errors; results carry them
	return Report{Results: results}
}

// limit is a concurrency setting: <= 0 means DefaultConcurrency.
func limit(concurrency int) int { return cmp.Or(max(concurrency, 0), DefaultConcurrency) }

// SendError is a failed send as the homeserver (or the network) reported it.
// It carries what a retry policy needs to decide, and never the access token.
type SendError struct {
	Room       string
	Status     int           // HTTP status, 0 when no answer arrived
	ErrCode    string        // Matrix errcode (M_FORBIDDEN, ...)
	Message    string        // the homeserver's error text or the network error
	RetryAfter time.Duration // how long a 429 asked us to wait, 0 if not said
	Err        error         // the underlying error, for errors.Is
	// JoinErr is the answer to the join auto_join tried after the send was
	// refused because the bot is not in the room (Message then ends with
	// it); ClassifyRoomError reads both.
	JoinErr *SendError
	Join    bool // the refused request was itself a join (MatrixTransport.Join)
	Resolve bool // the refused request resolved the room's alias
}

func (e *SendError) Error() string {
	if e.Status == 0 {
		return "no answer from homeserver: " + e.Message
	}
	switch e.ErrCode {
	case "M_UNKNOWN_TOKEN":
		return e.answer() + " (the access token was rejected: run `matrix-notify login`)"
	case "M_MISSING_TOKEN":
		return e.answer() + " (no access token was sent: set access_token or MATRIX_ACCESSTOKEN, or run `matrix-notify login`)"
	}
	if h := ClassifyRoomError(e).Hint(e.Room, e.JoinErr != nil || e.Join); h != "" {
		return e.answer() + " (" + h + ")"
	}
	return e.answer()
}

// answer is what the homeserver (or the network) said, without advice.
func (e *SendError) answer() string {
	switch {
	case e.Status == 0:
		return e.Message
	case e.ErrCode != "":
		return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.ErrCode, e.Message)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
}

func (e *SendError) Unwrap() error { return e.Err }

// Temporary reports whether trying again later may succeed: rate limits,
// server errors and network failures, as opposed to a rejected token or a
// room the bot may not post in (Classify decides).
func (e *SendError) Temporary() bool { return Classify(e).Retryable() }
