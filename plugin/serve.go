package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"matrix-notify/adapters/kuma"
	"matrix-notify/sender"
)

// DefaultListen is where `serve` listens unless told otherwise: loopback,
// where Kuma on the same host reaches it and nobody else does.
const DefaultListen = "127.0.0.1:8087"

// DefaultMaxBody bounds a webhook body.
const DefaultMaxBody = 1 << 20

// receiver is the HTTP side of `serve`: Kuma's Webhook notification posts
// here, and every request is answered once its notification is stored
// durably (202), or, in a dry run, printed (200).
type receiver struct {
	app       *app
	s         settings
	kuma      *kumaPipeline
	transport sender.Transport
	// outbox, when set, delivers each notification (it is stored first)
	// and the answer is 202 once it is delivered or queued; drain retries
	// what is left queued. Nil in a dry run, where the answer waits for the
	// (printed) delivery.
	outbox  *sender.Outbox
	secret  string
	maxBody int64
}

// serveGCPercent is serve's GOGC unless the environment sets one.
const serveGCPercent = 400

func (a *app) runServe(ctx context.Context, args []string) error {
	cf, listenFlag, words, err := parseServeFlags(args)
	if err != nil {
		return err
	}
	if len(words) > 0 {
		return usagef("serve: unexpected argument %q", words[0])
	}
	s, fc, err := a.standaloneSettings(cf)
	if err != nil {
		return err
	}
	listen := DefaultListen
	if fc.Serve.Listen != "" {
		listen = fc.Serve.Listen
	}
	if listenFlag != "" {
		listen = listenFlag
	}
	rcv, err := a.newReceiver(s, fc, listen)
	if err != nil {
		return err
	}
	if a.getenv("GOGC") == "" {
		// serve's live heap is a few MB and it allocates per webhook: at the
		// default GOGC (100) the collector took ~6 % of its CPU under load.
		// Fewer, larger cycles: the heap may grow to 5x the live data.
		debug.SetGCPercent(serveGCPercent)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return usagef("serve: %v", err)
	}
	srv := &http.Server{Handler: rcv.routes(), ReadHeaderTimeout: 10 * time.Second}
	a.log.Info(fmt.Sprintf("listening on http://%s (POST /kuma, /kuma/{route}; GET /healthz)", ln.Addr()))
	drainCtx, stopDrain := context.WithCancel(context.Background())
	drained := make(chan struct{})
	go func() { defer close(drained); rcv.drain(drainCtx) }()
	// stopBackground stops the drain.
	stopBackground := func() {
		stopDrain() // the drain in progress finishes its round, bounded by the deadline
		<-drained
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		stopBackground()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// SIGTERM: stop accepting, let what is in flight finish, exit 0.
	a.log.Info("shutting down: finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.Timeout+5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopBackground()
	if rcv.outbox != nil {
		// What the last requests queued goes now; what cannot stays queued
		// for the next start or `matrix-notify flush`.
		flushCtx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		fr := rcv.outbox.Flush(flushCtx, rcv.transport, s.Concurrency)
		cancel()
		if fr.Remaining > 0 {
			a.log.Warn(fmt.Sprintf("%d notifications left queued in %s", fr.Remaining, rcv.outbox.Dir()))
		}
		rcv.outbox.Close()
	}
	if err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}

// newReceiver checks the [serve] settings and parses the templates: a
// template that does not parse is rejected at startup, not at the first
// alert.
func (a *app) newReceiver(s settings, fc *fileConfig, listen string) (*receiver, error) {
	secret := fc.Serve.Secret
	if fc.Serve.SecretFile != "" {
		b, err := os.ReadFile(fc.Serve.SecretFile)
		if err != nil {
			return nil, usagef("serve.secret_file: %v", err)
		}
		warnIfReadableByOthers(fc.Serve.SecretFile, a.log)
		secret = strings.TrimSpace(string(b))
	}
	a.logh.redact(secret)
	if secret == "" && listen != "" && !isLoopback(listen) {
		return nil, usagef("serve: refusing to listen on %s without a secret: set [serve] secret or secret_file, or listen on 127.0.0.1", listen)
	}
	if !s.DryRun && (s.Homeserver == "" || s.AccessToken == "") {
		return nil, usagef("serve: [matrix] homeserver and access_token (or MATRIX_HOMESERVER / MATRIX_ACCESSTOKEN) must be set")
	}
	pipe, err := a.newKumaPipeline(s, fc, true)
	if err != nil {
		return nil, err
	}
	rcv := &receiver{app: a, s: s, kuma: pipe, secret: secret, maxBody: fc.Serve.MaxBody}
	if rcv.maxBody <= 0 {
		rcv.maxBody = DefaultMaxBody
	}
	if s.DryRun {
		rcv.transport = &sender.DryRunTransport{W: a.stdout}
		return rcv, nil
	}
	if rcv.outbox, err = a.openOutbox(s); err != nil {
		return nil, usageError{err}
	}
	if rcv.transport, err = a.matrixTransport(s, rcv.outbox); err != nil {
		rcv.outbox.Close()
		return nil, err
	}
	return rcv, nil
}

// drainInterval is how often serve retries what is queued when nothing new
// arrives.
const drainInterval = 5 * time.Second

// drain delivers the outbox at start and every drainInterval, for what
// earlier rounds or batches could not deliver, until ctx ends.
// The round in progress when ctx ends runs to its own deadline: a
// notification is never cut off mid-send on SIGTERM.
func (rc *receiver) drain(ctx context.Context) {
	if rc.outbox == nil {
		return
	}
	tick := time.NewTicker(drainInterval)
	defer tick.Stop()
	var pruned time.Time
	for {
		if lt, ok := rc.transport.(*sender.LifecycleTransport); ok && time.Since(pruned) > time.Hour {
			// Forget alerts whose life ended long ago (resolved ones are
			// forgotten at once).
			if _, err := lt.Store.Prune(ctx); err != nil {
				rc.app.log.Warn(fmt.Sprintf("alert store: %v", err))
			}
			pruned = time.Now()
		}
		roundCtx, cancel := context.WithTimeout(context.Background(), rc.s.Timeout)
		fr := rc.outbox.Flush(roundCtx, rc.transport, rc.s.Concurrency)
		cancel()
		if fr.Remaining > 0 {
			rc.app.log.Warn(fmt.Sprintf("%d notifications still queued: %v", fr.Remaining, fr.Err()))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func parseServeFlags(args []string) (commonFlags, string, []string, error) {
	var listen string
	var rest []string
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--listen" || args[i] == "-listen":
			if i+1 >= len(args) {
				return commonFlags{}, "", nil, usagef("serve: --listen needs an address")
			}
			listen = args[i+1]
			i++
		case strings.HasPrefix(args[i], "--listen=") || strings.HasPrefix(args[i], "-listen="):
			listen = args[i][strings.Index(args[i], "=")+1:]
		default:
			rest = append(rest, args[i])
		}
	}
	cf, words, err := parseFlags("serve", rest)
	return cf, listen, words, err
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (rc *receiver) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	mux.HandleFunc("/kuma", rc.handleKuma)
	mux.HandleFunc("/kuma/{route}", rc.handleKuma)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (rc *receiver) authorized(r *http.Request) bool {
	if rc.secret == "" {
		return true
	}
	var given string
	if user, pass, ok := r.BasicAuth(); ok {
		given = pass
		if pass == "" { // some clients put the secret in the user part
			given = user
		}
	} else if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		given = strings.TrimSpace(tok)
	}
	return given != "" && subtle.ConstantTimeCompare([]byte(given), []byte(rc.secret)) == 1
}

func (rc *receiver) handleKuma(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST (or GET) for Kuma webhooks"})
		return
	}
	if !rc.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="matrix-notify"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong secret: send Authorization: Bearer <secret>"})
		return
	}
	route := r.PathValue("route")
	rooms, ok := rc.kuma.rooms(route)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no route %q in [kuma.routes]", route)})
		return
	}
	p, err := kuma.DecodeRequest(r, rc.maxBody)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, kuma.ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		rc.app.log.Warn(fmt.Sprintf("rejected webhook from %s: %v", r.RemoteAddr, err))
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	n := rc.kuma.notification(p, rooms, rc.app.now())
	// The request's context ends if Kuma gives up; the delivery still
	// gets its own deadline so a slow client does not cut it short.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), rc.s.Timeout)
	defer cancel()
	if rc.outbox != nil {
		msgs := sender.Messages(n)
		rep := rc.outbox.Deliver(ctx, rc.transport, msgs, rc.s.Concurrency)
		if lost := len(msgs) - rep.Count(sender.OutcomeDelivered) - rep.Count(sender.OutcomeQueued); lost > 0 {
			var reasons []string
			for _, res := range rep.Results {
				if res.Outcome != sender.OutcomeDelivered && res.Outcome != sender.OutcomeQueued {
					reasons = append(reasons, fmt.Sprintf("%s: %v", res.Message.Room, res.Err))
				}
			}
			writeJSON(w, http.StatusBadGateway, map[string]any{"error": "not delivered", "rooms": reasons})
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"queued": len(msgs)})
		return
	}
	report := (&sender.Sender{Transport: rc.transport, Concurrency: rc.s.Concurrency, Log: rc.app.log}).Deliver(ctx, sender.Messages(n))
	if !report.Delivered() {
		var reasons []string
		for _, f := range report.Failed() {
			reasons = append(reasons, fmt.Sprintf("%s: %v", f.Message.Room, f.Err))
		}
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": "not delivered", "rooms": reasons})
		return
	}
	var events []string
	for _, res := range report.Results {
		events = append(events, res.EventID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"delivered": len(events), "event_ids": events})
}
