package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// logHandler writes netdata's log style, one line per record:
//
//	2026-11-23 23:17:50: matrix-notify: INFO: message key=value
//
// Netdata copies a notifier's stderr into its error log, so lines look like
// alarm-notify.sh's. Any secret registered with redact is replaced before the
// line is written: the token must never reach a log, whatever an error quotes.
type logHandler struct {
	*logSink // shared by the handlers WithAttrs derives
	level    slog.Level
	attrs    []slog.Attr
	now      func() time.Time
}

// logSink is where the lines go and what they must never hold.
type logSink struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string
}

func newLogger(w io.Writer, debug bool) (*slog.Logger, *logHandler) {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	h := &logHandler{logSink: &logSink{w: w}, level: level, now: time.Now}
	return slog.New(h), h
}

// redact registers a secret that must never be written.
func (s *logSink) redact(secret string) {
	if len(secret) < 4 { // too short to redact without mangling ordinary words
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, secret)
}

// setOutput sends the lines of every logger of this sink to w from now on.
func (s *logSink) setOutput(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w = w
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func levelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: matrix-notify: %s: %s", h.now().Format("2006-01-02 15:04:05"), levelName(r.Level), r.Message)
	for _, a := range h.attrs {
		writeAttr(&b, a)
	}
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, a)
		return true
	})
	line := b.String()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.secrets {
		line = strings.ReplaceAll(line, s, "<redacted>")
	}
	// One record is one line: a newline inside an alarm's text must not
	// forge a second log line.
	line = strings.ReplaceAll(line, "\n", `\n`)
	_, err := io.WriteString(h.w, line+"\n")
	return err
}

// writeAttr writes " key=value", the value quoted (as slog's text handler
// does) when it has a space, a quote or an = in it, so that an alarm's
// summary reads as one value.
func writeAttr(b *strings.Builder, a slog.Attr) {
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " \t\"=") {
		v = strconv.Quote(v)
	}
	fmt.Fprintf(b, " %s=%s", a.Key, v)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &h2
}

// WithGroup is flat: netdata's log has no structure to nest into.
func (h *logHandler) WithGroup(string) slog.Handler { return h }
