package main

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"matrix-notify/adapters/kuma"
	"matrix-notify/sender"
)

// DefaultListen is where `serve` listens unless told otherwise: loopback,
// where Kuma on the same host reaches it and nobody else does.
const DefaultListen = "127.0.0.1:8087"

// DefaultMaxBody bounds a webhook body.
const DefaultMaxBody = 1 << 20

// Statuses serve answers, in the README's table (TestReadmeServeStatuses
// keeps the two together). Kuma's Webhook provider treats any 2xx as
// success and shows the body of anything else next to the status, so a 2xx
// is only ever a promise kept: delivered, or safely queued for a reason that
// passes. A homeserver that refuses for good (an unknown room, a room the
// bot may not post in, a rejected token) is 502 Bad Gateway: Kuma's request
// was right (not 4xx) and matrix-notify did not fail (not 500); the
// upstream it relays to refused, which is what 502 says.
const (
	statusDelivered        = http.StatusOK                    // every room has the message
	statusQueued           = http.StatusAccepted              // queued for a transient reason; the outbox retries
	statusBadRequest       = http.StatusBadRequest            // the payload is malformed; the body says which field
	statusUnauthorized     = http.StatusUnauthorized          // missing or wrong secret
	statusNoRoute          = http.StatusNotFound              // no such [kuma.routes] route
	statusMethodNotAllowed = http.StatusMethodNotAllowed      // neither POST nor GET
	statusTooLarge         = http.StatusRequestEntityTooLarge // over [serve] max_body
	statusMediaType        = http.StatusUnsupportedMediaType  // a content type or encoding Kuma does not send
	statusRefused          = http.StatusBadGateway            // the homeserver refused for good
	statusNotQueued        = http.StatusServiceUnavailable    // not delivered and could not be queued
)

// serveStatuses are the statuses of serve's answers, for the README check.
var serveStatuses = []int{statusDelivered, statusQueued, statusBadRequest, statusUnauthorized, statusNoRoute,
	statusMethodNotAllowed, statusTooLarge, statusMediaType, statusRefused, statusNotQueued}

// serveDeadline bounds the delivery attempt a webhook waits for (or
// --timeout, if shorter): what is not delivered by then is queued and
// answered 202, and the outbox keeps trying in the background.
const serveDeadline = 5 * time.Second

// receiver is the HTTP side of `serve`: Kuma's Webhook notification posts
// here, and every request is answered from the outcome of its delivery,
// attempted as exec mode does (Outbox.Deliver: recorded, sent, and queued if
// it cannot go now), or, in a dry run, printed (200).
type receiver struct {
	app       *app
	s         settings
	kuma      *kumaPipeline
	transport sender.Transport
	// outbox records each webhook's messages before they are sent and
	// keeps what is not delivered; drain retries that. Nil in a dry run,
	// as is batcher, which delivers concurrent webhooks together.
	outbox   *sender.Outbox
	batcher  *sender.Batcher
	deadline time.Duration
	secret   string
	maxBody  int64
}

func (a *app) runServe(ctx context.Context, args []string) error {
	var listenFlag string
	cf, words, err := parseFlags("serve", args, func(fs *flag.FlagSet) {
		fs.StringVar(&listenFlag, "listen", "", "address to listen on")
	})
	if err != nil {
		return err
	}
	if len(words) > 0 {
		return usagef("serve: unexpected argument %q", words[0])
	}
	c, err := a.loadConfig("serve", cf, standaloneMode)
	if err != nil {
		return err
	}
	s, fc := c.s, c.fc
	if err := c.credentialsMissing("serve"); err != nil {
		return err
	}
	listen := cmp.Or(listenFlag, fc.Serve.Listen, DefaultListen)
	rcv, err := a.newReceiver(s, fc, listen)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return usagef("serve: %v", err)
	}
	srv := &http.Server{Handler: rcv.routes(), ReadHeaderTimeout: 10 * time.Second}
	a.log.Info("listening", "url", "http://"+ln.Addr().String(), "routes", "POST /kuma, /kuma/{route}; GET /healthz")
	// The batch runner delivers until every handler has its answer; the
	// drain's round in progress finishes when it is stopped.
	background, stop := context.WithCancel(context.Background())
	// inFlight ends the sends in progress, stopGrace after SIGTERM.
	inFlight, endInFlight := context.WithCancel(context.Background())
	defer endInFlight()
	var wg sync.WaitGroup
	if rcv.outbox != nil {
		wg.Go(func() { rcv.batcher.Run(background) })
		wg.Go(func() { rcv.drain(background, inFlight) })
	}
	stopBackground := func() {
		stop()
		wg.Wait()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		stopBackground()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// SIGTERM: stop accepting, let what is in flight finish within
	// stopGrace, exit 0.
	a.log.Info("shutting down: finishing requests in flight")
	time.AfterFunc(stopGrace, endInFlight)
	err = a.shutdown(srv, inFlight)
	stopBackground()
	if rcv.outbox != nil {
		// What the last requests queued goes now, within what is left of
		// stopGrace; what cannot stays queued for the next start or
		// `matrix-notify flush`.
		fr := rcv.outbox.Flush(inFlight, rcv.transport, s.Concurrency)
		if fr.Remaining > 0 {
			a.log.Warn("notifications left queued", "count", fr.Remaining, "store", rcv.outbox.Dir())
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
	pipe, err := a.newKumaPipeline(s, fc, true)
	if err != nil {
		return nil, err
	}
	for _, trap := range kumaTemplateTraps(fc) {
		a.log.Warn("a template compares Kuma's status with a number, which never matches: every alert would read as DOWN", "template", trap)
	}
	rcv := &receiver{app: a, s: s, kuma: pipe, secret: secret, maxBody: fc.Serve.MaxBody, deadline: min(serveDeadline, s.Timeout)}
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
	rcv.batcher = sender.NewBatcher(rcv.outbox, rcv.transport, s.Concurrency, rcv.deadline)
	return rcv, nil
}

// shutdown stops srv from accepting and waits for the requests in flight
// until inFlight ends. Those still unanswered then are cut off, a stop
// like any other: what they carried is in the outbox, stored before its
// first attempt. (It was an error, and serve exited 3.)
func (a *app) shutdown(srv *http.Server, inFlight context.Context) error {
	err := srv.Shutdown(inFlight)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		a.log.Warn("stopped with webhooks unanswered after the grace period: their notifications stay queued", "grace", stopGrace)
		return nil
	}
	return err
}

// drainInterval is how often serve retries what is queued when nothing new
// arrives.
const drainInterval = 5 * time.Second

// stopGrace is how long serve, on SIGTERM, lets the sends in progress go
// on (answers, a drain round, a last flush): a homeserver that is down or
// slow must not hold a stop for its retries (it took 22 s with the
// homeserver refusing connections; Docker kills after 10 s). What is cut
// off stays queued, as it was stored before its first attempt, and its
// transaction id and delivery record keep a resend from posting twice.
const stopGrace = 5 * time.Second

// drain delivers the outbox at start and every drainInterval, for what
// earlier rounds or batches could not deliver, until ctx ends. The round
// in progress when ctx ends runs to its own deadline, or until inFlight
// ends.
func (rc *receiver) drain(ctx, inFlight context.Context) {
	tick := time.NewTicker(drainInterval)
	defer tick.Stop()
	var pruned time.Time
	for {
		if lt, ok := rc.transport.(*sender.LifecycleTransport); ok && time.Since(pruned) > time.Hour {
			// Forget alerts whose life ended long ago (resolved ones are
			// forgotten at once).
			if _, err := lt.Store.Prune(ctx); err != nil {
				rc.app.log.Warn("pruning the alert store failed", "err", err)
			}
			pruned = time.Now()
		}
		roundCtx, cancel := context.WithTimeout(inFlight, rc.s.Timeout)
		fr := rc.outbox.Flush(roundCtx, rc.transport, rc.s.Concurrency)
		cancel()
		if fr.Remaining > 0 {
			rc.app.log.Warn("notifications still queued", "count", fr.Remaining, "err", fr.Err())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
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
		writeJSON(w, statusMethodNotAllowed, map[string]string{"error": "use POST (or GET) for Kuma webhooks"})
		return
	}
	if !rc.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="matrix-notify"`)
		writeJSON(w, statusUnauthorized, map[string]string{"error": "missing or wrong secret: send Authorization: Bearer <secret>"})
		return
	}
	route := r.PathValue("route")
	rooms, ok := rc.kuma.rooms(route)
	if !ok {
		writeJSON(w, statusNoRoute, map[string]string{"error": fmt.Sprintf("no route %q in [kuma.routes]", route)})
		return
	}
	if len(rooms) == 0 {
		writeJSON(w, statusNoRoute, map[string]string{"error": "no rooms configured for /kuma: set [kuma] rooms or [matrix] rooms"})
		return
	}
	p, err := kuma.DecodeRequest(r, rc.maxBody)
	if err != nil {
		status := statusBadRequest
		switch {
		case errors.Is(err, kuma.ErrTooLarge):
			status = statusTooLarge
		case errors.Is(err, kuma.ErrUnsupportedMediaType):
			status = statusMediaType
		}
		rc.app.log.Warn("rejected a webhook", "from", r.RemoteAddr, "err", err)
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	n := rc.kuma.notification(p, rooms, rc.app.now())
	msgs := sender.Messages(n)
	var results []sender.OutboxResult
	if rc.outbox != nil {
		// Delivered in a batch with the webhooks that arrive meanwhile,
		// within the deadline; a client that hangs up does not cut it short.
		if results = rc.batcher.Deliver(msgs); results == nil {
			writeJSON(w, statusNotQueued, map[string]string{"error": "shutting down: send it again to the next matrix-notify serve"})
			return
		}
	} else {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), rc.deadline)
		defer cancel()
		report := (&sender.Sender{Transport: rc.transport, Concurrency: rc.s.Concurrency, Log: rc.app.log}).Deliver(ctx, msgs)
		for _, res := range report.Results {
			out := sender.OutboxResult{Result: res, Outcome: sender.OutcomeDelivered}
			if res.Err != nil {
				out.Outcome = sender.OutcomeFailed
			}
			results = append(results, out)
		}
	}
	status, body := answer(results)
	writeJSON(w, status, body)
}

// answer is serve's answer to a webhook whose messages had these outcomes:
// 200 when every room has its message; 502 when the homeserver refused one
// for good (its reason first: fixing it is up to the admin); 503 when one
// could be neither delivered nor queued; 202 when what is left is queued
// for a reason that passes (the homeserver is down, slow or rate limiting)
// and the outbox will deliver it. The error is one line, for Kuma to show.
func answer(results []sender.OutboxResult) (int, map[string]any) {
	events := []string{} // [] in the answer, never null
	var refused, lost, queued []sender.OutboxResult
	for _, res := range results {
		switch {
		case res.Outcome == sender.OutcomeDelivered:
			events = append(events, res.EventID)
		case res.Outcome == sender.OutcomeDropped || res.Err != nil && !transient(res.Err):
			refused = append(refused, res)
		case res.Outcome == sender.OutcomeFailed:
			lost = append(lost, res)
		default:
			queued = append(queued, res)
		}
	}
	body := map[string]any{"delivered": len(events), "event_ids": events}
	if len(queued) > 0 {
		body["queued"] = len(queued)
	}
	reason := func(what string, res sender.OutboxResult) string {
		msg := fmt.Sprintf("%s %s: %v", what, res.Message.Room, res.Err)
		if n := len(results); n > 1 {
			msg = fmt.Sprintf("%s (delivered to %d of %d rooms)", msg, len(events), n)
		}
		return oneLine(msg)
	}
	switch {
	case len(refused) > 0:
		body["error"] = reason("not delivered to", refused[0])
		return statusRefused, body
	case len(lost) > 0:
		body["error"] = reason("not delivered and not queued (the outbox could not store it) for", lost[0])
		return statusNotQueued, body
	case len(queued) > 0:
		body["reason"] = reason("queued, the outbox retries it: not delivered yet to", queued[0])
		return statusQueued, body
	}
	return statusDelivered, body
}

// transient reports whether trying again later may deliver what err kept
// back (a rate limit, a server error, a network failure, the deadline), as
// opposed to a refusal the homeserver will repeat (RetryPolicy's verdict).
func transient(err error) bool {
	var tmp interface{ Temporary() bool }
	return errors.As(err, &tmp) && tmp.Temporary()
}
