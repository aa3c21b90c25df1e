package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"matrix-notify/sender"
	"matrix-notify/sender/e2ee"
	"matrix-notify/sender/format"
)

// fileConfig is matrix-notify's own TOML file. A key not listed here is an
// error (decodeConfig), with the nearest key that is: a misspelt key must
// not silently leave a setting at its default.
type fileConfig struct {
	Matrix struct {
		Homeserver      string   `toml:"homeserver"`
		AccessToken     string   `toml:"access_token"`
		AccessTokenFile string   `toml:"access_token_file"`
		Rooms           []string `toml:"rooms"`
		Concurrency     int      `toml:"concurrency"`
		Timeout         duration `toml:"timeout"`
		// ExecTimeout bounds an invocation netdata waits for (exec mode,
		// custom-sender): netdata runs its next health pass only after it.
		ExecTimeout duration `toml:"exec_timeout"`
		// BackgroundFlush (default true): an invocation that leaves
		// something queued starts the background flush (see retrier.go).
		BackgroundFlush *bool `toml:"background_flush"`
		// StateDir holds the outbox and caches (discovery, aliases).
		StateDir string   `toml:"state_dir"`
		MaxAge   duration `toml:"max_age"`
		// AutoJoin (default true) joins a room on M_FORBIDDEN, which
		// accepts a pending invite, and resends once.
		AutoJoin *bool `toml:"auto_join"`
		// RetryBase and RetryMax shape the backoff on 5xx and network
		// errors (429s wait what the homeserver says).
		RetryBase duration `toml:"retry_base"`
		RetryMax  duration `toml:"retry_max"`
		// Lifecycle is how an alert's later transitions relate to the
		// message that raised it: thread (default), reply, edit or none.
		Lifecycle string `toml:"lifecycle"`
		// MsgType per severity (critical, warning, clear, info): m.text
		// notifies, m.notice never does (mentions included).
		MsgType           map[string]string `toml:"msgtype"`
		MentionOnCritical []string          `toml:"mention_on_critical"`
		MentionOnWarning  []string          `toml:"mention_on_warning"`
		// MentionRoomOn lists the severities that mention @room.
		MentionRoomOn []string `toml:"mention_room_on"`
		// PickleKey encrypts the crypto store at rest and turns end-to-end
		// encryption on: login writes it, a secret kept with the token.
		PickleKey string `toml:"pickle_key"`
		// CryptoStore is the crypto store's path (crypto.db), written by
		// login; default <state_dir>/crypto.db.
		CryptoStore string `toml:"crypto_store"`
		// AllowPlaintextInEncryptedRooms sends plaintext into an encrypted
		// room that could not be encrypted for (default false: it waits).
		AllowPlaintextInEncryptedRooms bool `toml:"allow_plaintext_in_encrypted_rooms"`
	} `toml:"matrix"`
	Kuma    templateConfig `toml:"kuma"`
	Netdata templateConfig `toml:"netdata"`
	Serve   struct {
		Listen     string `toml:"listen"`
		Secret     string `toml:"secret"`
		SecretFile string `toml:"secret_file"`
		MaxBody    int64  `toml:"max_body"`
	} `toml:"serve"`
	Timezone string `toml:"timezone"`

	dir string // the file's directory: relative template files are found there
	// path and data are the file and its text, for errors that name the
	// line of a value (valueError); empty when there is no file.
	path string
	data []byte
}

// valueError is an error about the value of key: FILE:LINE: [table] key: ...
func (fc *fileConfig) valueError(key []string, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if fc.path == "" {
		return fmt.Errorf("config: %s: %s", keyName(key), msg)
	}
	return fmt.Errorf("%s: %s: %s", where(fc.path, fc.data, key), keyName(key), msg)
}

// templateConfig is a [kuma] or [netdata] section: Liquid templates for the
// plain body and the HTML body, or one Markdown template for both, inline
// or from a file, and (kuma) rooms per route of the webhook receiver.
type templateConfig struct {
	Template             string              `toml:"template"`
	TemplateFile         string              `toml:"template_file"`
	HTMLTemplate         string              `toml:"html_template"`
	HTMLTemplateFile     string              `toml:"html_template_file"`
	MarkdownTemplate     string              `toml:"markdown_template"`
	MarkdownTemplateFile string              `toml:"markdown_template_file"`
	Rooms                []string            `toml:"rooms"`
	Routes               map[string][]string `toml:"routes"`
}

// duration reads "30s", "1m30s" from TOML.
type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration like \"30s\": %q", b)
	}
	if v <= 0 {
		return fmt.Errorf("must be positive, got %q", b)
	}
	d.Duration = v
	return nil
}

// DefaultTimeout bounds one invocation's delivery, all rooms together.
const DefaultTimeout = 30 * time.Second

// DefaultExecTimeout bounds an invocation netdata waits for. A homeserver
// that answers at all answers well within it; one that refuses connections
// costs no wait at all (RetryPolicy.FailFastUnreachable), and what is not
// delivered is queued for the background flush.
const DefaultExecTimeout = 5 * time.Second

// settings is the merged configuration of one invocation. Order, later wins:
// health_alarm_notify.conf, TOML, environment, flags.
type settings struct {
	Homeserver  string
	AccessToken string
	Rooms       []string
	Concurrency int
	Timeout     time.Duration
	ExecTimeout time.Duration // Timeout of the invocations netdata waits for, when shorter
	Location    *time.Location
	DryRun      bool
	StateDir    string // "" until resolved per mode (stateDir)
	Retry       sender.RetryPolicy
	Lifecycle   sender.Lifecycle
	Severity    format.SeverityPolicy
	MaxAge      time.Duration // outbox entries older than this are dropped, loudly
	AutoJoin    bool
	// PickleKey set turns end-to-end encryption on; CryptoStore is the
	// store's path ("" for <StateDir>/crypto.db, see cryptoStore).
	PickleKey      string
	CryptoStore    string
	AllowPlaintext bool
	// BackgroundFlush starts the background flush when something is left
	// queued; flushArgs is its argv, which loads these settings again.
	BackgroundFlush bool
	flushArgs       []string
}

// cryptoStore is the crypto store's path: [matrix] crypto_store (login
// writes it), else crypto.db in the state directory.
func (s settings) cryptoStore() string {
	if s.CryptoStore != "" {
		return s.CryptoStore
	}
	return filepath.Join(s.StateDir, e2ee.StoreFile)
}

// DefaultMaxAge is how long an undelivered alert is kept.
const DefaultMaxAge = 24 * time.Hour

// loadFileConfig reads the TOML file at path. A missing file is an error only
// when required (given by --config or MATRIX_NOTIFY_CONFIG).
func loadFileConfig(path string, required bool, log *slog.Logger) (*fileConfig, error) {
	fc := fileConfig{dir: filepath.Dir(path)}
	if path == "" {
		return &fc, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return &fc, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := decodeConfig(path, data, &fc); err != nil {
		return nil, err
	}
	fc.path, fc.data = path, data
	if fc.Matrix.AccessToken != "" || fc.Matrix.PickleKey != "" {
		warnIfReadableByOthers(path, log)
	}
	if fc.Matrix.AccessTokenFile != "" {
		tok, err := os.ReadFile(fc.Matrix.AccessTokenFile)
		if err != nil {
			return nil, causeError{fc.valueError([]string{"matrix", "access_token_file"}, "%v", cmp.Or(unreadable(fc.Matrix.AccessTokenFile), err)), err}
		}
		warnIfReadableByOthers(fc.Matrix.AccessTokenFile, log)
		fc.Matrix.AccessToken = cmp.Or(fc.Matrix.AccessToken, strings.TrimSpace(string(tok)))
	}
	if hs := fc.Matrix.Homeserver; hs != "" {
		if err := sender.CheckHomeserver(hs); err != nil {
			return nil, fc.valueError([]string{"matrix", "homeserver"}, "%v", err)
		}
	}
	if fc.Matrix.Concurrency < 0 {
		return nil, fc.valueError([]string{"matrix", "concurrency"}, "must be positive, got %d", fc.Matrix.Concurrency)
	}
	return &fc, nil
}

// warnIfReadableByOthers tells the admin when a file holding the token can be
// read by others than the user we run as and its group (tokenFileProblem).
func warnIfReadableByOthers(path string, log *slog.Logger) {
	st, err := os.Stat(path)
	if err != nil {
		return
	}
	if msg := tokenFileProblem(path, st); msg != "" {
		log.Warn(msg)
	}
}

// apply merges the TOML file over s: a key left out (its zero value) keeps
// what s had.
func (fc *fileConfig) apply(s *settings) error {
	m := fc.Matrix
	s.Homeserver = cmp.Or(m.Homeserver, s.Homeserver)
	s.AccessToken = cmp.Or(m.AccessToken, s.AccessToken)
	if len(m.Rooms) > 0 {
		s.Rooms = m.Rooms
	}
	s.Concurrency = cmp.Or(m.Concurrency, s.Concurrency)
	s.Timeout = cmp.Or(m.Timeout.Duration, s.Timeout)
	s.ExecTimeout = cmp.Or(m.ExecTimeout.Duration, s.ExecTimeout)
	s.MaxAge = cmp.Or(m.MaxAge.Duration, s.MaxAge)
	s.Retry.Base = cmp.Or(m.RetryBase.Duration, s.Retry.Base)
	s.Retry.Max = cmp.Or(m.RetryMax.Duration, s.Retry.Max)
	s.StateDir = cmp.Or(m.StateDir, s.StateDir)
	s.PickleKey = cmp.Or(m.PickleKey, s.PickleKey)
	if m.CryptoStore != "" {
		s.CryptoStore = m.CryptoStore
		if !filepath.IsAbs(s.CryptoStore) && fc.dir != "" {
			// Relative to the file that names it, as template files are.
			s.CryptoStore = filepath.Join(fc.dir, s.CryptoStore)
		}
	}
	s.AllowPlaintext = s.AllowPlaintext || m.AllowPlaintextInEncryptedRooms
	if m.AutoJoin != nil {
		s.AutoJoin = *m.AutoJoin
	}
	if m.BackgroundFlush != nil {
		s.BackgroundFlush = *m.BackgroundFlush
	}
	if err := fc.severityPolicy(&s.Severity); err != nil {
		return err
	}
	if fc.Matrix.Lifecycle != "" {
		l, err := sender.ParseLifecycle(fc.Matrix.Lifecycle)
		if err != nil {
			return fc.valueError([]string{"matrix", "lifecycle"}, "%v", err)
		}
		s.Lifecycle = l
	}
	if fc.Timezone != "" {
		loc, err := time.LoadLocation(fc.Timezone)
		if err != nil {
			return fc.valueError([]string{"timezone"}, "%q: %v", fc.Timezone, err)
		}
		s.Location = loc
	}
	return nil
}

// severityPolicy reads msgtype and mentions per severity.
func (fc *fileConfig) severityPolicy(p *format.SeverityPolicy) error {
	m := fc.Matrix
	parse := func(key, name string) (format.Severity, error) {
		sev, ok := format.ParseSeverity(name)
		if !ok {
			return "", fc.valueError([]string{"matrix", key}, "unknown severity %q (critical, warning, clear, info)", name)
		}
		return sev, nil
	}
	p.MsgType = map[format.Severity]string{}
	for name, mt := range m.MsgType {
		sev, err := parse("msgtype", name)
		if err != nil {
			return err
		}
		if mt != "m.text" && mt != "m.notice" {
			return fc.valueError([]string{"matrix", "msgtype", name}, "%q is neither m.text nor m.notice", mt)
		}
		p.MsgType[sev] = mt
	}
	p.MentionUsers = map[format.Severity][]string{format.Critical: m.MentionOnCritical, format.Warning: m.MentionOnWarning}
	for sev, users := range p.MentionUsers {
		for _, u := range users {
			if !format.ValidUserID(u) {
				return fc.valueError([]string{"matrix", "mention_on_" + string(sev)}, "%q is not a Matrix user id (@user:server)", u)
			}
		}
	}
	p.MentionRoom = map[format.Severity]bool{}
	for _, name := range m.MentionRoomOn {
		sev, err := parse("mention_room_on", name)
		if err != nil {
			return err
		}
		p.MentionRoom[sev] = true
	}
	return nil
}

// applyEnv merges netdata's variable names from the environment over s.
// A switch is off when it is 0, no, false or off, any case.
func applyEnv(s *settings, getenv func(string) string) {
	s.Homeserver = cmp.Or(getenv("MATRIX_HOMESERVER"), s.Homeserver)
	s.AccessToken = cmp.Or(getenv("MATRIX_ACCESSTOKEN"), s.AccessToken)
	isOff := func(v string) bool { return slices.Contains([]string{"0", "no", "false", "off"}, strings.ToLower(v)) }
	if v := getenv("MATRIX_NOTIFY_DRY_RUN"); v != "" && !isOff(v) {
		s.DryRun = true
	}
	if v := getenv("MATRIX_NOTIFY_BACKGROUND_FLUSH"); v != "" {
		s.BackgroundFlush = !isOff(v)
	}
}
