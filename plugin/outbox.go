package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"matrix-notify/sender"
)

// xdgStateDir is where the modes netdata does not run keep their state.
func (a *app) xdgStateDir() string {
	if dir := a.getenv("XDG_STATE_HOME"); dir != "" {
		return filepath.Join(dir, "matrix-notify")
	}
	if home := a.getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "state", "matrix-notify")
	}
	return "/var/lib/matrix-notify"
}

// defaultStateDir is the state directory when TOML's state_dir is unset:
// under netdata's cache directory when netdata runs us (or the environment
// says where that is), the XDG state directory otherwise.
func (a *app) defaultStateDir(netdataMode bool) string {
	if netdataMode || a.getenv("NETDATA_CACHE_DIR") != "" {
		return filepath.Join(a.netdataDirs().cache, "matrix-notify")
	}
	return a.xdgStateDir()
}

// matrixTransport is the Matrix client with our retry policy around it, and
// around that the alert lifecycle (threads, replies, edits) unless it is off;
// its alert threads live in ob's state database (none when ob is nil: alerts
// still go out, only unthreaded).
func (a *app) matrixTransport(s settings, ob *sender.Outbox) (sender.Transport, error) {
	opts := sender.DefaultOptions()
	opts.AutoJoin = s.AutoJoin
	opts.CacheDir = filepath.Join(s.StateDir, "cache")
	opts.Log = a.log
	opts.HTTPClient = a.httpClient(s)
	mt, err := sender.NewMatrixTransportWithOptions(s.Homeserver, s.AccessToken, opts)
	if err != nil {
		return nil, usageError{err}
	}
	var tr sender.Transport = &sender.RetryTransport{Next: mt, Policy: s.Retry}
	if s.Lifecycle != sender.LifecycleNone && ob != nil {
		store := sender.NewAlertStore(ob.State(), sender.AlertStoreOptions{Now: a.now})
		tr = &sender.LifecycleTransport{Next: tr, Store: store, Mode: s.Lifecycle, Log: a.log}
	}
	return tr, nil
}

// httpClient keeps connections to the homeserver alive for every room sent
// to at once (net/http keeps two per host by default, so a fan-out or serve
// under load would open a new connection for most requests).
func (a *app) httpClient(s settings) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(s.Concurrency, 2)
	return &http.Client{Transport: tr}
}

// openOutbox opens the state database of s and the outbox of s's
// homeserver in it. Txn ids are scoped to an account, so the homeserver
// scopes the entries: two configured bots never send each other's.
func (a *app) openOutbox(s settings) (*sender.Outbox, error) {
	return sender.OpenOutbox(s.StateDir, sender.OutboxOptions{Scope: strings.TrimRight(s.Homeserver, "/"), MaxAge: s.MaxAge, Log: a.log, Now: a.now})
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
		a.log.Error(fmt.Sprintf("%v: sending without the outbox (and unthreaded), nothing will be kept if delivery fails", err))
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
		a.log.Info(fmt.Sprintf("delivered %d older queued notifications on the way", rep.OlderDelivered))
	}
	// When this call's rooms are done and time is left, what waits for
	// other rooms goes too (a room that just failed is not tried again).
	if rep.Delivered() && ctx.Err() == nil {
		if fr := ob.Flush(ctx, tr, s.Concurrency); fr.Delivered > 0 {
			a.log.Info(fmt.Sprintf("delivered %d queued notifications for other rooms", fr.Delivered))
		}
	}
	if rep.Delivered() {
		return nil
	}
	queued, dropped, failed := rep.Count(sender.OutcomeQueued), rep.Count(sender.OutcomeDropped), rep.Count(sender.OutcomeFailed)
	if queued > 0 {
		a.log.Warn(fmt.Sprintf("%d of %d notifications queued in %s: the next invocation or `matrix-notify flush` delivers them", queued, len(msgs), ob.Dir()))
	}
	return fmt.Errorf("%w: %d queued, %d dropped, %d failed of %d", errNotDelivered, queued, dropped, failed, len(msgs))
}

// refuseForeignState stops cmd, a command run by hand (flush, test), when it
// runs as root in a state directory that belongs to another user: the files
// it would leave there (the state database, the parse cache) would be root's, and netdata, running as its own user, could
// not read, replace or remove them. netdata's own invocations are never
// refused: an alarm is sent whatever the directory's owner.
func (a *app) refuseForeignState(cmd, dir string) error {
	owned, uid, ok := foreignOwner(dir)
	if !ok {
		return nil
	}
	return usagef("%s: %s belongs to uid %d, not root: what root would write in %s, that user's matrix-notify (netdata's) could not read or remove. Run it as that user: sudo -u '#%d' matrix-notify %s ...", cmd, owned, uid, dir, uid, cmd)
}

// outboxSettings are the settings of flush and queue: the TOML file and the
// environment; the state directory as netdata's when NETDATA_CACHE_DIR is set.
func (a *app) outboxSettings(name string, args []string) (settings, error) {
	cf, words, err := parseFlags(name, args)
	if err != nil {
		return settings{}, err
	}
	if len(words) > 0 {
		return settings{}, usagef("%s: unexpected argument %q", name, words[0])
	}
	s, _, err := a.standaloneSettings(cf)
	return s, err
}

// runFlush delivers everything queued, within the deadline.
func (a *app) runFlush(ctx context.Context, args []string) error {
	s, err := a.outboxSettings("flush", args)
	if err != nil {
		return err
	}
	if s.Homeserver == "" || s.AccessToken == "" {
		return usagef("flush: the homeserver and access token must be set ([matrix] in the TOML file, or MATRIX_HOMESERVER / MATRIX_ACCESSTOKEN)")
	}
	if err := a.refuseForeignState("flush", s.StateDir); err != nil {
		return err
	}
	ob, err := a.openOutbox(s)
	if err != nil {
		return usageError{err}
	}
	defer ob.Close()
	tr, err := a.matrixTransport(s, ob)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	fr := ob.Flush(ctx, tr, s.Concurrency)
	a.log.Info(fmt.Sprintf("flush: %d delivered, %d dropped, %d still queued in %s", fr.Delivered, fr.Dropped, fr.Remaining, ob.Dir()))
	if fr.Remaining > 0 {
		return fmt.Errorf("%w: %d still queued", errNotDelivered, fr.Remaining)
	}
	return nil
}

// runQueue lists what waits in the outbox.
func (a *app) runQueue(args []string) error {
	s, err := a.outboxSettings("queue", args)
	if err != nil {
		return err
	}
	ob, err := a.openOutbox(s)
	if err != nil {
		return usageError{err}
	}
	defer ob.Close()
	entries, err := ob.List()
	if err != nil {
		return err
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
