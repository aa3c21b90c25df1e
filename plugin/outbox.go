package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"matrix-notify/adapters/kuma"
	"matrix-notify/adapters/netdata"
	"matrix-notify/sender"
	"matrix-notify/sender/e2ee"
)

// matrixTransport is the Matrix client with our retry policy around it, and
// around that the alert lifecycle (threads, replies, edits) unless it is off;
// its alert threads live in ob's state database (none when ob is nil: alerts
// still go out, only unthreaded).
func (a *app) matrixTransport(s settings, ob *sender.Outbox) (sender.Transport, error) {
	opts := sender.DefaultOptions()
	opts.AutoJoin = s.AutoJoin
	opts.CacheDir = filepath.Join(s.StateDir, "cache")
	opts.Log = a.log
	// Connections kept alive for every room sent to at once (net/http
	// keeps two per host by default, so a fan-out or serve under load
	// would open a new connection for most requests).
	keepAlive := http.DefaultTransport.(*http.Transport).Clone()
	keepAlive.MaxIdleConnsPerHost = max(s.Concurrency, 2)
	opts.HTTPClient = &http.Client{Transport: keepAlive}
	mt, err := sender.NewMatrixTransportWithOptions(s.Homeserver, s.AccessToken, opts)
	if err != nil {
		return nil, usageError{err}
	}
	// Encryption is closest to the wire: the lifecycle's relations are in
	// the content it seals, and a retry is encrypted again.
	var wire sender.Transport = mt
	if s.PickleKey != "" {
		et := &sender.EncryptTransport{Next: mt, Log: a.log, Options: e2ee.Options{
			DBPath:         s.cryptoStore(),
			PickleKey:      s.PickleKey,
			AutoJoin:       s.AutoJoin,
			AllowPlaintext: s.AllowPlaintext,
		}}
		if a.getenv("NETDATA_ALARM_NOTIFY_DEBUG") == "1" {
			// mautrix's own account of the crypto steps (sync, key
			// sharing), for the rare case that needs it.
			zl := zerolog.New(zerolog.ConsoleWriter{Out: a.stderr, NoColor: true}).Level(zerolog.DebugLevel)
			et.Options.Log = &zl
		}
		wire = et
	}
	var tr sender.Transport = &sender.RetryTransport{Next: wire, Policy: s.Retry}
	if s.Lifecycle != sender.LifecycleNone && ob != nil {
		store := sender.NewAlertStore(ob.State(), sender.AlertStoreOptions{Now: a.now})
		tr = &sender.LifecycleTransport{Next: tr, Store: store, Mode: s.Lifecycle, Log: a.log,
			ResolvedMarkers: map[string]string{"netdata": netdata.ResolvedMarker, "kuma": kuma.ResolvedMarker}}
	}
	return tr, nil
}

// heldScope scopes, in the state database, the alarms whose homeserver is
// not known (the file that names it could not be read): flush sends them to
// the homeserver it is configured with.
const heldScope = "held"

// openOutbox opens the state database of s and the outbox of s's
// homeserver in it. Txn ids are scoped to an account, so the homeserver
// scopes the entries: two configured bots never send each other's.
func (a *app) openOutbox(s settings) (*sender.Outbox, error) {
	return a.openOutboxScope(s, strings.TrimRight(s.Homeserver, "/"))
}

// held is the held outbox, in the database of ob, the outbox of s.
func (a *app) held(s settings, ob *sender.Outbox) *sender.Outbox {
	return sender.NewOutbox(ob.State(), sender.OutboxOptions{Scope: heldScope, MaxAge: s.MaxAge, Log: a.log, Now: a.now})
}

// openOutboxScope opens the outbox of scope; a permission error says who may
// open it.
func (a *app) openOutboxScope(s settings, scope string) (*sender.Outbox, error) {
	ob, err := sender.OpenOutbox(s.StateDir, sender.OutboxOptions{Scope: scope, MaxAge: s.MaxAge, Log: a.log, Now: a.now})
	if err != nil {
		return nil, permissionHint(err, a.program(), s.StateDir, "flush")
	}
	return ob, nil
}

// notSent is the transport of an alarm that must not be sent yet: every
// message fails with why, which the outbox keeps as its last error.
type notSent struct{ why error }

func (t notSent) Send(context.Context, sender.Message) (string, error) { return "", t.why }

// keep queues n in the outbox without sending it, for netdata's invocation
// whose configuration (a TOML file, a health_alarm_notify.conf) could not be
// read: what that file would have said (the homeserver, the token, rooms,
// templates) is unknown, but the alarm is not lost. It waits in the held
// outbox, which needs no token to keep it, until `matrix-notify flush`, run
// once the file is readable (or as root, who can read it), sends it with
// the configuration the file gives.
func (a *app) keep(ctx context.Context, c *invocationConfig, n sender.Notification) error {
	s := c.s
	a.log.Error(c.unreadable.Error())
	msgs := sender.Messages(n)
	if s.DryRun {
		return sender.WriteDryRun(a.stdout, msgs)
	}
	ob, err := a.openOutboxScope(s, heldScope)
	if err != nil {
		a.log.Error("Matrix notifications lost: they could not be kept", "count", len(msgs), "err", err)
		return fmt.Errorf("%w: %d notifications lost", errNotDelivered, len(msgs))
	}
	rep := ob.Deliver(ctx, notSent{fmt.Errorf("not sent: %s %s", c.unreadableFile, c.unreadableWhy)}, msgs, s.Concurrency)
	queued := rep.Count(sender.OutcomeQueued)
	msg := "notifications kept, not sent, as a file could not be read: once it can, `matrix-notify flush` delivers them"
	if c.unreadableWhy == whyHasError {
		msg = "notifications kept, not sent, as a configuration file has an error: once it is fixed, `matrix-notify flush` delivers them"
	}
	a.log.Warn(msg, "kept", queued, "of", len(msgs), "outbox", ob.Dir(), "file", c.unreadableFile)
	return fmt.Errorf("%w: %d kept, %d of %d not kept", errNotDelivered, queued, len(msgs)-queued, len(msgs))
}

// deliver sends (or, in a dry run, prints) n's messages through the outbox:
// each is on disk before its first attempt and leaves only once delivered, so
// what misses the deadline waits for the next invocation or `flush`.
func (a *app) deliver(ctx context.Context, s settings, n sender.Notification) error {
	msgs := sender.Messages(n)
	if s.DryRun {
		return sender.WriteDryRun(a.stdout, msgs)
	}
	ob, err := a.openOutbox(s)
	if err != nil {
		// Better sent without a safety net than not sent at all.
		a.log.Error("sending without the outbox (and unthreaded), nothing will be kept if delivery fails", "err", err)
		ob = nil
	} else {
		defer ob.Close()
	}
	tr, err := a.matrixTransport(s, ob)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	if ob == nil {
		report := (&sender.Sender{Transport: tr, Concurrency: s.Concurrency, Log: a.log}).Deliver(ctx, msgs)
		if !report.Delivered() {
			return fmt.Errorf("%w: %d of %d rooms failed", errNotDelivered, len(report.Failed()), len(report.Results))
		}
		return nil
	}
	rep := ob.Deliver(ctx, tr, msgs, s.Concurrency)
	if rep.OlderDelivered > 0 {
		a.log.Info("delivered older queued notifications on the way", "count", rep.OlderDelivered)
	}
	// When this call's rooms are done and time is left, what waits for
	// other rooms goes too (a room that just failed is not tried again).
	if rep.Delivered() && ctx.Err() == nil {
		if fr := ob.Flush(ctx, tr, s.Concurrency); fr.Delivered > 0 {
			a.log.Info("delivered queued notifications for other rooms", "count", fr.Delivered)
		}
	}
	if rep.Delivered() {
		return nil
	}
	queued, dropped, failed := rep.Count(sender.OutcomeQueued), rep.Count(sender.OutcomeDropped), rep.Count(sender.OutcomeFailed)
	if queued > 0 || rep.Pending > 0 {
		who := cmp.Or(a.startBackgroundFlush(s, ob), "the next invocation or `matrix-notify flush` delivers them")
		if queued > 0 {
			a.log.Warn("notifications queued", "queued", queued, "of", len(msgs), "outbox", ob.Dir(), "next", who)
		}
	}
	return fmt.Errorf("%w: %d queued, %d dropped, %d failed of %d", errNotDelivered, queued, dropped, failed, len(msgs))
}

// outboxConfig is the configuration of flush and queue: exec mode's (or
// serve's), found as they find it (mode eitherMode), or the one the
// background flush (bg, flush's --until-empty) is told.
func (a *app) outboxConfig(name string, args []string, bg *backgroundFlag) (*invocationConfig, error) {
	cf, words, err := parseFlags(name, args, func(fs *flag.FlagSet) {
		if bg != nil {
			fs.Var(bg, "until-empty", "the background flush, of netdata's or standalone settings")
		}
	})
	if err != nil {
		return nil, err
	}
	if len(words) > 0 {
		return nil, usagef("%s: unexpected argument %q", name, words[0])
	}
	mode := eitherMode
	if bg != nil && bg.set {
		mode = bg.mode
	}
	return a.loadConfig(name, cf, mode)
}

// runFlush delivers everything queued, within the deadline: the outbox of
// the configured homeserver, and what was kept while the configuration
// could not be read. --until-empty makes it the background flush.
func (a *app) runFlush(ctx context.Context, args []string) error {
	var bg backgroundFlag
	c, err := a.outboxConfig("flush", args, &bg)
	if err != nil {
		return err
	}
	s := c.s
	if s.Homeserver == "" || s.AccessToken == "" {
		return usagef("flush: %s", c.missing())
	}
	ob, err := a.openOutbox(s)
	if err != nil {
		return usageError{err}
	}
	defer ob.Close()
	if bg.set {
		return a.backgroundFlush(ctx, s, ob)
	}
	// A person waits for this flush: a homeserver that is down is said
	// at once (it took 20 s of retries), and the background flush keeps
	// trying.
	s.Retry.FailFastUnreachable = true
	tr, err := a.matrixTransport(s, ob)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	fr := ob.Flush(ctx, tr, s.Concurrency)
	hr := a.held(s, ob).Flush(ctx, tr, s.Concurrency)
	fr.Delivered, fr.Dropped, fr.Remaining = fr.Delivered+hr.Delivered, fr.Dropped+hr.Dropped, fr.Remaining+hr.Remaining
	a.log.Info("flush", "delivered", fr.Delivered, "dropped", fr.Dropped, "queued", fr.Remaining, "outbox", ob.Dir())
	if fr.Remaining > 0 {
		if note := a.startBackgroundFlush(s, ob); note != "" {
			a.log.Warn("notifications still queued: " + note)
		}
		return fmt.Errorf("%w: %d still queued", errNotDelivered, fr.Remaining)
	}
	return nil
}

// runQueue lists what waits in the outbox.
func (a *app) runQueue(args []string) error {
	c, err := a.outboxConfig("queue", args, nil)
	if err != nil {
		return err
	}
	ob, err := a.openOutbox(c.s)
	if err != nil {
		return usageError{err}
	}
	defer ob.Close()
	entries, err := ob.List()
	if err != nil {
		return err
	}
	if more, err := a.held(c.s, ob).List(); err == nil {
		entries = append(entries, more...)
	}
	if len(entries) == 0 {
		fmt.Fprintf(a.stdout, "the outbox %s is empty\n", ob.Dir())
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROOM\tAGE\tATTEMPTS\tSUMMARY\tLAST ERROR")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", e.Room, e.Age.Round(time.Second), e.Attempts, oneLine(e.Summary), oneLine(e.LastError))
	}
	tw.Flush()
	fmt.Fprintf(a.stdout, "%d queued in %s\n", len(entries), ob.Dir())
	return nil
}

func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\t", " ").Replace(s)
}
