package main

// The background flush: what an outage left queued must reach its rooms when
// the homeserver is back, even if no further alarm fires (netdata runs us only
// when an alarm changes state, which may be days later).
//
// Why a process we start rather than a systemd timer running `flush`: it
// needs nothing installed besides the binary (static installs, containers,
// systems without systemd), exists only while something is queued, starts
// within the invocation that queued (no minute of timer granularity on top of
// the backoff), and runs as whoever queued, with the same environment, so it
// finds the same configuration and state directory by construction.
//
// How: an invocation that leaves something queued takes the retrier lock
// (flock, non-blocking: if it is held, a background flush already runs and
// will see the new entries) and re-executes this binary as
// `flush --until-empty=ORIGIN`, handing it the locked file as fd 3. The child
// runs in a session of its own (setsid), in /, with stdin, stdout and stderr
// on /dev/null: netdata reads a notifier's pipes until EOF, so an inherited
// pipe would hold netdata up for as long as the child lives. It logs to a file
// next to the outbox, and flushes in short rounds (sender.Retrier: the room
// locks a round holds are the only thing an alarm could wait for), backing
// off up to a minute, until the outbox is empty, everything left needs a
// person (a rejected token), or every entry outlived max_age. Before it
// exits it releases the lock and looks once more: an invocation that queued
// while the lock was held started no flush of its own.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"matrix-notify/sender"
)

// backgroundFlag is --until-empty=ORIGIN, the background flush: ORIGIN
// (netdata or standalone, the default) is how its spawner's settings were
// loaded, so that it loads the same ones.
type backgroundFlag struct {
	set  bool
	mode configMode
}

func (b *backgroundFlag) String() string   { return "" }
func (b *backgroundFlag) IsBoolFlag() bool { return true } // bare --until-empty: standalone

func (b *backgroundFlag) Set(v string) error {
	b.set, b.mode = true, standaloneMode
	switch v {
	case "netdata":
		b.mode = netdataMode
	case "standalone", "true", "":
	default:
		return fmt.Errorf("want netdata or standalone, got %q", v)
	}
	return nil
}

// backgroundFlushArgs is the argv of the background flush of an invocation
// that loaded its configuration in mode, from --config if given.
func backgroundFlushArgs(mode configMode, config string) []string {
	from := "standalone"
	if mode == netdataMode {
		from = "netdata"
	}
	args := []string{"flush", "--until-empty=" + from}
	if config != "" {
		args = append(args, "--config", config)
	}
	return args
}

// retrierPaths are the lock (holding the pid of the background flush) and
// the log of the background flush of an outbox.
func retrierPaths(ob *sender.Outbox) (lock, log string) {
	return ob.Dir() + ".flush.lock", ob.Dir() + ".flush.log"
}

// startBackgroundFlush makes sure a background flush runs for ob, and says
// so in the words of a log line ("" when none could start).
func (a *app) startBackgroundFlush(s settings, ob *sender.Outbox) string {
	if !s.BackgroundFlush {
		return ""
	}
	if a.spawn == nil {
		a.log.Debug("background flush: not available in this process")
		return ""
	}
	lockPath, logPath := retrierPaths(ob)
	pid, err := a.spawn(lockPath, s.flushArgs)
	switch {
	case errors.Is(err, errFlushRunning):
		return fmt.Sprintf("the background flush already running (pid %s) delivers them when the homeserver answers", readPID(lockPath))
	case err != nil:
		a.log.Error("cannot start the background flush: `matrix-notify flush` delivers them", "err", err)
		return ""
	}
	return fmt.Sprintf("a background flush (pid %d, log %s) delivers them when the homeserver answers", pid, logPath)
}

// errFlushRunning: the lock is held, a background flush runs.
var errFlushRunning = errors.New("a background flush is running")

// readPID is the pid the background flush wrote into its lock file.
// The spawner writes it just after the flush starts, so a reader may come
// a moment early: it looks again a few times, briefly, for a whole line.
func readPID(lockPath string) string {
	for try := 0; ; try++ {
		data, err := os.ReadFile(lockPath)
		if line, ok := strings.CutSuffix(string(data), "\n"); err == nil && ok && strings.TrimSpace(line) != "" {
			return strings.TrimSpace(line)
		}
		if err != nil || try == 10 {
			return "?"
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// backgroundFlush is `flush --until-empty=ORIGIN`, started by
// startBackgroundFlush (it works when run by hand too), for s, whose
// outbox ob is.
func (a *app) backgroundFlush(ctx context.Context, s settings, ob *sender.Outbox) error {
	lockPath, logPath := retrierPaths(ob)
	lock, err := takeRetrierLock(lockPath)
	if errors.Is(err, errFlushRunning) {
		a.log.Info("flush: a background flush already runs", "outbox", ob.Dir(), "pid", readPID(lockPath))
		return nil
	}
	if err != nil {
		return err
	}
	defer lock.Close()

	// From here on, the log is the file (the outbox's lines too): nobody
	// reads our stderr.
	if f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err == nil {
		defer f.Close()
		a.logh.setOutput(f)
	}
	// Short rounds that give up at once on a refused connection: the
	// retrier's own backoff spaces the attempts.
	s.Timeout = min(s.Timeout, s.ExecTimeout)
	s.Retry.FailFastUnreachable = true
	tr, err := a.matrixTransport(s, ob)
	if err != nil {
		return err
	}
	a.log.Info("background flush started", "outbox", ob.Dir(), "pid", os.Getpid())
	r := &sender.Retrier{Outbox: ob, Transport: tr, Concurrency: s.Concurrency, Round: s.Timeout, Log: a.log}
	for {
		if err := r.Run(ctx); err != nil {
			a.log.Error("background flush stops: `matrix-notify flush` delivers them once that is fixed", "err", err)
			return fmt.Errorf("%w: %v", errNotDelivered, err)
		}
		// Empty. Let go of the lock first, then look again: an invocation
		// that queued while we held it relied on us.
		if err := unlockRetrier(lock); err != nil {
			return err
		}
		left, err := ob.List()
		if err != nil || len(left) == 0 {
			a.log.Info("background flush: the outbox is empty")
			return nil
		}
		if ok, err := relockRetrier(lock); err != nil || !ok {
			return err // another background flush took over
		}
	}
}

// writeLockPID writes pid into the lock file f, unless it is there already:
// the background flush finds the pid its spawner wrote, and the invocations
// of a storm read it meanwhile (readPID), which a rewrite, truncating first,
// showed them empty ("already running (pid ?)").
func writeLockPID(f *os.File, pid int) {
	line := strconv.Itoa(pid) + "\n"
	buf := make([]byte, len(line)+1)
	if n, _ := f.ReadAt(buf, 0); string(buf[:n]) == line {
		return
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(line), 0)
	}
}
