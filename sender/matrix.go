package sender

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// UserAgent is sent with every request.
const UserAgent = "matrix-notify"

// MatrixTransport sends messages with the mautrix-go client: v3 PUT with our
// own txn id and the token in the Authorization header, never in the URL.
type MatrixTransport struct {
	client *mautrix.Client
}

// NewMatrixTransport returns a transport for the homeserver base URL. httpc
// may be nil for a default client; deadlines come from the context.
func NewMatrixTransport(homeserver, accessToken string, httpc *http.Client) (*MatrixTransport, error) {
	homeserver = strings.TrimRight(homeserver, "/")
	cli, err := mautrix.NewClient(homeserver, "", accessToken)
	if err != nil {
		// mautrix's error quotes the URL only, never the token.
		return nil, fmt.Errorf("homeserver %q: %w", homeserver, err)
	}
	// Our retry policy decides; mautrix's own retries ignore retry_after_ms.
	cli.DefaultHTTPRetries = 0
	cli.Log = zerolog.Nop()
	cli.UserAgent = UserAgent
	if httpc != nil {
		cli.Client = httpc
	}
	return &MatrixTransport{client: cli}, nil
}

// Send implements Transport.
func (t *MatrixTransport) Send(ctx context.Context, m Message) (string, error) {
	resp, err := t.client.SendMessageEvent(ctx, id.RoomID(m.Room), event.EventMessage, m.Content,
		mautrix.ReqSendEvent{TransactionID: m.TxnID})
	if err != nil {
		return "", toSendError(m.Room, err)
	}
	return resp.EventID.String(), nil
}

// toSendError turns mautrix's error into a SendError with what a retry
// decision needs.
func toSendError(room string, err error) *SendError {
	se := &SendError{Room: room, Message: err.Error(), Err: err}
	var httpErr mautrix.HTTPError
	if !errors.As(err, &httpErr) {
		return se
	}
	if httpErr.Response == nil {
		if httpErr.WrappedError != nil {
			se.Message = httpErr.WrappedError.Error()
			se.Err = httpErr.WrappedError
		}
		return se
	}
	se.Status = httpErr.Response.StatusCode
	if httpErr.RespError != nil {
		se.ErrCode = httpErr.RespError.ErrCode
		se.Message = httpErr.RespError.Err
		if ms, ok := httpErr.RespError.ExtraData["retry_after_ms"].(float64); ok && ms > 0 {
			se.RetryAfter = time.Duration(ms) * time.Millisecond
		}
	} else {
		se.Message = strings.TrimSpace(httpErr.ResponseBody)
		if se.Message == "" {
			se.Message = http.StatusText(se.Status)
		}
	}
	if ra := ParseRetryAfter(httpErr.Response.Header.Get("Retry-After"), time.Now()); ra > 0 {
		se.RetryAfter = ra
	}
	return se
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
