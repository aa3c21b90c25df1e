package sender

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// UserAgent is sent with every request.
const UserAgent = "matrix-notify"

// MatrixTransport sends messages with the mautrix-go client: v3 PUT with our
// own txn id and the token in the Authorization header, never in the URL.
//
// A message's Room is what the user configured: a room id (!id:server, or
// !id alone since room version 12: used as given, a server is never
// appended) or an alias (#name:server), resolved here and cached. With
// AutoJoin, a send refused because the bot is not in the room (however the
// homeserver words it: see ClassifyRoomError) joins the room, which accepts
// a pending invite, and is sent once more with the same txn id.
type MatrixTransport struct {
	client *mautrix.Client
	opts   Options

	// The homeserver given as a server name is discovered on first use;
	// hsInput is "" once it is known.
	discoverMu sync.Mutex
	hsInput    string

	aliasMu sync.Mutex
	aliases map[string]string // alias -> room id, this process
}

// Options configure a MatrixTransport beyond the homeserver and token.
type Options struct {
	HTTPClient *http.Client // nil for a default one; deadlines come from the context
	// AutoJoin joins a room when a send is refused because the bot is not
	// in it (RoomNotJoined) and resends once (same txn id).
	AutoJoin bool
	CacheDir string       // holds resolved aliases (rooms.json) between runs; "": memory only
	Log      *slog.Logger // a line when the transport joins a room; nil discards
}

// DefaultAliasTTL bounds how long an alias resolved by an earlier run is
// trusted (within a process, an alias is resolved once): an alias can be
// moved to another room.
const DefaultAliasTTL = time.Hour

// DefaultOptions are the options of NewMatrixTransport: auto-join on, no
// cache directory.
func DefaultOptions() Options { return Options{AutoJoin: true} }

// NewMatrixTransport returns a transport for the homeserver with
// DefaultOptions and the given HTTP client (nil for a default one).
func NewMatrixTransport(homeserver, accessToken string, httpc *http.Client) (*MatrixTransport, error) {
	opts := DefaultOptions()
	opts.HTTPClient = httpc
	return NewMatrixTransportWithOptions(homeserver, accessToken, opts)
}

// NewMatrixTransportWithOptions returns a transport for homeserver: a base
// URL (a trailing slash is dropped), or a server name such as example.org,
// discovered through .well-known on first use (see Discover).
func NewMatrixTransportWithOptions(homeserver, accessToken string, opts Options) (*MatrixTransport, error) {
	homeserver = strings.TrimRight(strings.TrimSpace(homeserver), "/")
	if homeserver == "" {
		return nil, errors.New("no homeserver given")
	}
	t := &MatrixTransport{opts: opts, aliases: map[string]string{}}
	base := homeserver
	if !strings.Contains(homeserver, "://") {
		t.hsInput, base = homeserver, "https://discovery.invalid" // replaced on first use
	}
	var err error
	if t.client, err = newClient(opts.HTTPClient, base, accessToken); err != nil {
		return nil, err // it quotes the URL only, never the token
	}
	t.opts.Log = orDiscard(opts.Log)
	return t, nil
}

// ready discovers the homeserver once, when it was given as a server name.
// A failed discovery is tried again by the next call.
func (t *MatrixTransport) ready(ctx context.Context) error {
	t.discoverMu.Lock()
	defer t.discoverMu.Unlock()
	if t.hsInput == "" {
		return nil
	}
	hs, err := Discover(ctx, t.client.Client, t.hsInput)
	if err != nil {
		return err
	}
	u, err := url.Parse(hs.BaseURL)
	if err != nil {
		return fmt.Errorf("homeserver %q: %w", hs.BaseURL, err)
	}
	t.client.HomeserverURL, t.hsInput = u, ""
	return nil
}

// HomeserverURL is the base URL requests go to ("" while a server name is
// not discovered yet).
func (t *MatrixTransport) HomeserverURL() string {
	t.discoverMu.Lock()
	defer t.discoverMu.Unlock()
	if t.hsInput != "" {
		return ""
	}
	return t.client.HomeserverURL.String()
}

// Client is the transport's mautrix client, once the homeserver is known
// (discovered if it was given as a server name): for the encryption layer,
// which copies what it needs and never changes it.
func (t *MatrixTransport) Client(ctx context.Context) (*mautrix.Client, error) {
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	return t.client, nil
}

// Send implements Transport.
func (t *MatrixTransport) Send(ctx context.Context, m Message) (string, error) {
	roomID, fromFile, err := t.resolve(ctx, m.Room)
	if err != nil {
		return "", err
	}
	eventID, err := t.send(ctx, roomID, m)
	if err == nil {
		return eventID, nil
	}
	se := toSendError(m.Room, err)
	if ClassifyRoomError(se) != RoomNotJoined {
		// Not a membership problem: joining would not help (a power level,
		// a rejected token, refused content, an outage).
		return "", se
	}
	if fromFile {
		// The alias may have moved since an earlier run resolved it.
		t.remember(m.Room, "")
	}
	if !t.opts.AutoJoin {
		return "", se
	}
	// Joining accepts a pending invite; joining a room we are in is a no-op
	// (then the resend fails again and says why).
	target := roomID
	if isAlias(m.Room) {
		target = m.Room // the server resolves it, with the servers to join via
	}
	joined, jerr := t.client.JoinRoom(ctx, target, nil)
	if jerr != nil {
		je := toSendError(m.Room, jerr)
		se.Message = fmt.Sprintf("%s; auto_join failed: %s", se.Message, je.answer())
		se.JoinErr = je
		return "", se
	}
	if joined.RoomID != "" && joined.RoomID.String() != roomID {
		roomID = joined.RoomID.String()
		if isAlias(m.Room) {
			t.remember(m.Room, roomID)
		}
	}
	t.opts.Log.Info("joined the room to deliver to it (auto_join)", "room", m.Room)
	eventID, err = t.send(ctx, roomID, m) // once, same txn id
	if err != nil {
		return "", toSendError(m.Room, err)
	}
	return eventID, nil
}

func (t *MatrixTransport) send(ctx context.Context, roomID string, m Message) (string, error) {
	typ, content := event.EventMessage, any(m.Content)
	if m.EventType != "" {
		typ, content = event.Type{Type: m.EventType, Class: event.MessageEventType}, m.Wire
	}
	resp, err := t.client.SendMessageEvent(ctx, id.RoomID(roomID), typ, content,
		mautrix.ReqSendEvent{TransactionID: m.TxnID})
	if err != nil {
		return "", err
	}
	return resp.EventID.String(), nil
}

// toSendError turns mautrix's error into a SendError with what a retry
// decision needs.
func toSendError(room string, err error) *SendError {
	se := &SendError{Room: room, Message: err.Error(), Err: err}
	httpErr, ok := errors.AsType[mautrix.HTTPError](err)
	if !ok {
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
		se.Message = cmp.Or(strings.TrimSpace(httpErr.ResponseBody), http.StatusText(se.Status))
	}
	if ra := ParseRetryAfter(httpErr.Response.Header.Get("Retry-After"), time.Now()); ra > 0 {
		se.RetryAfter = ra
	}
	return se
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
