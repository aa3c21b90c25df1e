// Package sendertest is an in-memory Matrix homeserver for tests, demos and
// benchmarks of matrix-notify. It implements the few client-server endpoints
// a notification sender touches (the routes in handler.go) as strictly as
// Synapse does, records every request and event so a test can assert on
// what arrived, and injects faults on demand (429 with either Retry-After
// flavour, 5xx, slow answers, dropped connections, a global rate limit) so
// retry logic can be tested without a real server.
//
// It is deliberately strict where real servers differ, so that a sender that
// passes here works against every server: a join needs a JSON object body, a
// send needs a room id (not an alias), an unknown path is M_UNRECOGNIZED.
// With Options.Software = Dendrite it answers as Dendrite v0.13.8 does where
// that differs (rooms it has never been in, joins it refuses, power levels).
// Legacy client behaviour that Synapse still accepts (r0 paths, POST send
// without txn id, ?access_token=) is accepted but flagged in the records,
// so a test can prove our sender never relies on it.
//
// An admin API on the same server, GET /_sendertest/events,
// GET /_sendertest/requests and GET /_sendertest/stats (their counts, the
// time of the last event), serves the records as JSON without a token, for
// processes (the demo, benchmarks) that drive the server from outside.
package sendertest

import (
	"cmp"
	"encoding/json"
	"maps"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults used when Options leaves a field empty.
const (
	DefaultToken    = "syt_sendertest_token"
	DefaultUserID   = "@bot:sendertest.localhost"
	DefaultDeviceID = "SENDERTEST"
)

// Legacy flags recorded on requests and events. A test of our sender asserts
// that none of them ever appears; a test of a stock script (Netdata's
// alarm-notify.sh) may expect them.
const (
	LegacyR0             = "r0"               // /_matrix/client/r0/... instead of v3
	LegacyPostWithoutTxn = "post-without-txn" // POST .../send/{type}: no idempotency
	LegacyQueryToken     = "query-token"      // ?access_token= instead of the header
)

// MaxEventSize is the Matrix limit on a whole event (the PDU as canonical
// JSON), not just its content.
const MaxEventSize = 65536

// Options configure a Server. The zero value is usable: default token and
// user, no rooms.
type Options struct {
	Token    string // the one valid access token (DefaultToken if empty)
	UserID   string // the bot's user id; its server part names the server
	DeviceID string
	Joined   []string // rooms the bot is in: sends succeed
	Invited  []string // rooms with a pending invite: join succeeds
	Public   []string // rooms anyone may join
	// Aliases maps "#alias:server" to a room id. A room only reachable through
	// an alias is known but invite-only: joining it is M_FORBIDDEN.
	Aliases map[string]string
	// Encrypted rooms have an m.room.encryption state event.
	Encrypted []string
	// Password, when set, lets the bot log in with POST /login
	// (m.login.password); each login returns a new token bound to its device.
	Password string
	// WellKnown is the m.homeserver.base_url served at
	// /.well-known/matrix/client; empty answers 404.
	WellKnown string
	Delay     time.Duration // added before every /_matrix answer
	Seed      int64         // seeds the probabilistic faults and event ids
	// Software is the homeserver whose answers are given where real
	// servers differ: Synapse (the default) or Dendrite.
	Software Software
}

// Software names a homeserver implementation whose answers the server
// imitates where they differ from Synapse's.
type Software string

const (
	// Synapse is the default.
	Synapse Software = ""
	// Dendrite answers as Dendrite v0.13.8 does where it differs from
	// Synapse: sends to rooms it does not know or the bot is not in, sends
	// without the power to, and joins it refuses (observed with curl, the
	// stub room with two Dendrites federating over loopback; read in its
	// clientapi/routing/sendevent.go and joinroom.go). The answers, word
	// for word, are in sendEvent and dendriteJoin.
	Dendrite Software = "dendrite"
)

// Event is one event the server accepted.
type Event struct {
	Room    string          `json:"room"`
	EventID string          `json:"event_id"`
	TxnID   string          `json:"txn_id,omitempty"` // empty for a legacy POST
	Type    string          `json:"type"`
	Sender  string          `json:"sender"`
	Content json.RawMessage `json:"content"` // compacted, otherwise as sent
	Time    time.Time       `json:"time"`
	Legacy  []string        `json:"legacy,omitempty"`
	token   string          // the access token that sent it
}

// Request is one request to a /_matrix endpoint (admin requests are not
// recorded). Status 0 means no answer was sent: the connection was dropped or
// the client went away during a delay.
type Request struct {
	Time     time.Time `json:"time"`
	Method   string    `json:"method"`
	Path     string    `json:"path"` // escaped path and query, access_token redacted
	Status   int       `json:"status"`
	Legacy   []string  `json:"legacy,omitempty"`
	Fault    FaultKind `json:"fault,omitempty"`    // the fault that shaped the answer, if any
	Replayed bool      `json:"replayed,omitempty"` // a repeated txn id answered from the cache
}

// Server is the fake homeserver. It implements http.Handler; New also
// listens. All methods are safe for concurrent use.
type Server struct {
	opts       Options // with the defaults filled in; read-only
	ts         *httptest.Server
	done       chan struct{} // closed by Close: ends every pending sleep
	closeOnce  sync.Once
	serverName string

	mu       sync.Mutex
	tokens   map[string]string // access token -> device id
	devices  map[string]string // device id -> display name
	rooms    map[string]*roomState
	aliases  map[string]string
	txns     map[txnKey]string
	events   []Event
	requests []Request
	seq      uint64
	faults   []Fault
	rates    FaultRates
	rng      *rand.Rand
	delay    time.Duration
	limit    bucket
}

type roomState struct {
	joined, invited, public, encrypted bool
	powerLevels                        PowerLevels
}

// PowerLevels is the content of a room's m.room.power_levels event, as far as
// sending messages goes.
type PowerLevels struct {
	Users         map[string]int `json:"users"`
	UsersDefault  int            `json:"users_default"`
	Events        map[string]int `json:"events"`
	EventsDefault int            `json:"events_default"`
	StateDefault  int            `json:"state_default"`
}

// DefaultPowerLevels are a room's power levels unless SetPowerLevels says
// otherwise: everyone may send messages (events_default 0), as in a room
// created with the private_chat preset.
func DefaultPowerLevels() PowerLevels {
	return PowerLevels{
		Users:        map[string]int{},
		Events:       map[string]int{"m.room.power_levels": 100, "m.room.encryption": 100},
		StateDefault: 50,
	}
}

// levels returns the power level of user and the level needed to send an
// event of type evType.
func (pl PowerLevels) levels(user, evType string) (have, need int) {
	have, found := pl.Users[user]
	if !found {
		have = pl.UsersDefault
	}
	need, found = pl.Events[evType]
	if !found {
		need = pl.EventsDefault
	}
	return have, need
}

// txnKey scopes idempotency like the spec: per access token and endpoint.
// The endpoint is keyed by its decoded parts, so r0 and v3, or an encoded and
// a plain room id, count as the same endpoint (Synapse keys on the raw path;
// being lenient here only ever hides a duplicate our sender would not send).
type txnKey struct{ token, room, evType, txn string }

// New starts a Server listening on a loopback port. Close it when done.
func New(opts Options) *Server {
	s := NewHandler(opts)
	s.ts = httptest.NewServer(s)
	return s
}

// NewHandler builds a Server without listening, for a caller that runs its
// own http.Server (the bench's homeserver process). URL is then empty.
func NewHandler(opts Options) *Server {
	opts.Token = cmp.Or(opts.Token, DefaultToken)
	opts.UserID = cmp.Or(opts.UserID, DefaultUserID)
	opts.DeviceID = cmp.Or(opts.DeviceID, DefaultDeviceID)
	s := &Server{
		opts:       opts,
		done:       make(chan struct{}),
		serverName: serverPart(opts.UserID),
		tokens:     map[string]string{opts.Token: opts.DeviceID},
		devices:    map[string]string{opts.DeviceID: ""},
		rooms:      map[string]*roomState{},
		aliases:    map[string]string{},
		txns:       map[txnKey]string{},
		rng:        rand.New(rand.NewPCG(uint64(opts.Seed), 0x5e4de7)),
		delay:      opts.Delay,
	}
	for _, r := range opts.Public {
		s.room(r).public = true
	}
	for _, r := range opts.Invited {
		s.room(r).invited = true
	}
	for _, r := range opts.Joined {
		s.room(r).joined = true
	}
	for _, r := range opts.Encrypted {
		s.room(r).encrypted = true
	}
	for a, r := range opts.Aliases {
		s.AddAlias(a, r)
	}
	return s
}

// serverPart returns what follows the first ':' of a Matrix id, or "".
func serverPart(id string) string {
	_, after, _ := strings.Cut(id, ":")
	return after
}

// room returns the state of a room, creating it as known. Callers hold mu
// (or own s exclusively, as in NewHandler).
func (s *Server) room(id string) *roomState {
	st := s.rooms[id]
	if st == nil {
		st = &roomState{powerLevels: DefaultPowerLevels()}
		s.rooms[id] = st
	}
	return st
}

// URL is the base URL ("http://127.0.0.1:port"), the homeserver URL a client
// is configured with. Empty for a Server from NewHandler.
func (s *Server) URL() string {
	if s.ts == nil {
		return ""
	}
	return s.ts.URL
}

// Close ends pending delays and stops the listener, if any.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
	if s.ts != nil {
		s.ts.Close()
	}
}

// Token is the access token the server starts with (bound to DeviceID). A
// login with DeviceID's device id replaces it, as on Synapse.
func (s *Server) Token() string { return s.opts.Token }

// Devices returns the bot's device ids, sorted: the initial device and one
// per login with a new device id.
func (s *Server) Devices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.devices))
}

// DeviceName is the display name a login gave device (its
// initial_device_display_name), "" for none.
func (s *Server) DeviceName(device string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.devices[device]
}

// SetPowerLevels replaces a room's m.room.power_levels content. Sends are
// checked against it: below the level needed the answer is M_FORBIDDEN.
func (s *Server) SetPowerLevels(room string, pl PowerLevels) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.room(room).powerLevels = pl
}

// UserID is the bot's user id, the sender of every event.
func (s *Server) UserID() string { return s.opts.UserID }

// Events returns the events accepted in one room, in order.
func (s *Server) Events(room string) []Event {
	return slices.DeleteFunc(s.AllEvents(), func(e Event) bool { return e.Room != room })
}

// AllEvents returns every accepted event, in the order accepted.
func (s *Server) AllEvents() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Stats counts the records; LastEvent is when the latest event was stored
// (zero if none).
type Stats struct {
	Events    int       `json:"events"`
	Requests  int       `json:"requests"`
	LastEvent time.Time `json:"last_event"`
}

// Requests returns every recorded request, in the order answered.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Join makes the bot a member of room, as if it had joined earlier.
func (s *Server) Join(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.room(room)
	st.joined, st.invited = true, false
}

// Leave removes the bot from room (kicked, or left): sends get M_FORBIDDEN and
// the room stays known, so a join without a new invite is M_FORBIDDEN too.
func (s *Server) Leave(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.room(room).joined = false
}

// Invite gives the bot a pending invite to room.
func (s *Server) Invite(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.room(room); !st.joined {
		st.invited = true
	}
}

// AddAlias points alias ("#name:server") at room.
func (s *Server) AddAlias(alias, room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aliases[alias] = room
	s.room(room)
}

// SetDelay sets the delay added before every /_matrix answer.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetRateLimit limits new events to perSecond over all rooms, with a burst of
// one second's worth (at least 1), like Synapse's rc_message. Excess sends get
// 429 M_LIMIT_EXCEEDED with both Retry-After and retry_after_ms giving the
// wait. Zero or less turns the limit off. The bucket starts full.
func (s *Server) SetRateLimit(perSecond float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	burst := math.Max(1, math.Ceil(perSecond))
	s.limit = bucket{rate: perSecond, burst: burst, tokens: burst, last: time.Now()}
}

// bucket is a token bucket; a rejected attempt costs nothing, like Synapse.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// take spends a token, or reports how long until one is available.
func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	if b.rate <= 0 {
		return true, 0
	}
	b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// ForgetTxnIDs forgets every txn id seen so far, as a homeserver that keeps
// them in memory does when it restarts (Dendrite; Synapse keeps them a
// day): a repeated send then creates a second event. The events stay.
func (s *Server) ForgetTxnIDs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.txns)
}
