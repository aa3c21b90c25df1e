// Command matrix-notify delivers Netdata alarms and Uptime Kuma
// notifications to Matrix rooms. This package only wires the adapters to the
// sender: the CLI, configuration loading and exit codes live here, the rest
// lives in adapters/ and sender/.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"matrix-notify/adapters/netdata"
	"matrix-notify/sender"
)

// Exit codes, documented in the README.
const (
	exitDelivered = 0 // delivered to every target
	exitNothing   = 1 // nothing to send by rule, as alarm-notify.sh
	exitUsage     = 2 // usage or configuration error
	exitFailed    = 3 // not delivered: left queued in the outbox (or dropped, loudly)
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{
		getenv:     os.Getenv,
		stdin:      os.Stdin,
		stdout:     os.Stdout,
		stderr:     os.Stderr,
		now:        time.Now,
		hostname:   os.Hostname,
		location:   time.Local,
		spawn:      spawnBackgroundFlush,
		executable: os.Executable,
		environ:    os.Environ,
		becomeUser: becomeUser,
	}
	setGC(os.Args[1:])
	os.Exit(a.run(ctx, os.Args[1:]))
}

// setGC turns the collector off for a one-shot invocation (an alarm, a
// Kuma payload, a command) up to a 16 MiB memory limit: an exec allocates
// about the 4 MB that would start the first collection, and that
// collection costs more than it frees before exit. Measured with the
// bench's launcher, per exec: 2,300 -> 2,070 page faults, 22.3 -> 21.7 MB
// peak RSS, 1-3 ms less CPU (see BENCHMARKS.md). The limit is for one that
// waits long for a busy room in a storm and keeps allocating: with 64 MiB
// the storm's largest process grew from 26.5 to 29 MB, with 16 MiB to
// about 27.5 MB (12 MiB starts collections in an ordinary exec). serve and
// the background flush run for long and keep the default.
func setGC(args []string) {
	if len(args) > 0 && (args[0] == "serve" || args[0] == "flush") {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(16 << 20)
}

// app is one invocation: its environment and streams, injectable for tests.
type app struct {
	getenv   func(string) string
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	now      func() time.Time
	hostname func() (string, error)
	location *time.Location // time.Local unless TOML's timezone says otherwise
	// environ is the whole environment, which health_alarm_notify.conf
	// may refer to as bash's `source` would see it.
	environ func() []string
	// becomeUser switches the process to another user: root acting as the
	// owner of netdata's state directory. nil: refuse instead.
	becomeUser func(uid, gid int) error
	// spawn starts the background flush (retrier.go); nil: never (tests
	// running the app in-process).
	spawn func(lockPath string, args []string) (pid int, err error)
	// executable is this program's path: `test` reads the alarm-notify.sh
	// installed next to it. nil: none (tests running the app in-process).
	executable func() (string, error)
	// netdataWaits is set for the invocations netdata waits for (exec mode,
	// custom-sender) and for `test`, which stands for them: they get the
	// short exec deadline and give up at once on a refused connection.
	netdataWaits bool

	log  *slog.Logger
	logh *logHandler
}

// usageError is a mistake in how the program was called or configured.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

const usageText = `usage:
  matrix-notify ROLES HOST UNIQUE_ID ALARM_ID EVENT_ID WHEN NAME CHART ...
                                       netdata exec mode: alarm-notify.sh's arguments
  matrix-notify test [ROLE] [flags]    send WARNING, CRITICAL and CLEAR test alarms
  matrix-notify custom-sender "ROOMS" [flags]
                                       from netdata's custom_sender(): fields from the environment
  matrix-notify kuma [flags]           one Uptime Kuma webhook payload (JSON) on stdin
  matrix-notify serve [--listen ADDR] [flags]
                                       HTTP receiver for Kuma's Webhook notification
  matrix-notify flush [flags]          deliver what waits in the outbox
  matrix-notify queue [flags]          list what waits in the outbox
  matrix-notify check-template FILE [--source kuma|netdata]
                                       lint a Liquid template
  matrix-notify login [--homeserver HS] [--user U] [--config F] [--print]
                                       log in (password asked, never in argv), save the token,
                                       set up end-to-end encryption (--recovery-key-file F)
  matrix-notify doctor [--config F] [--join]
                                       check the token and every configured room
  matrix-notify version                print the version, commit and Go version (also --version)
  matrix-notify help [COMMAND]         this text, or COMMAND's (also: matrix-notify COMMAND --help)

flags (after the subcommand; in netdata exec mode use the environment):
` + commonFlagsHelp + `
exit codes: 0 delivered to every room; 1 nothing to send by rule; 2 usage or
configuration error; 3 delivery failed or left queued.
`

func (a *app) run(ctx context.Context, args []string) int {
	a.log, a.logh = newLogger(a.stderr, a.getenv("NETDATA_ALARM_NOTIFY_DEBUG") == "1")
	a.logh.now = a.now

	if len(args) == 0 {
		fmt.Fprint(a.stderr, usageText)
		return exitUsage
	}
	var err error
	switch c, known := lookupCommand(args[0]); {
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help":
		return a.help(args[1:])
	case args[0] == "version" || args[0] == "--version" || args[0] == "-version":
		if len(args) > 1 && !wantsHelp(args[1:]) {
			return a.exitCode(usagef("version: unexpected argument %q", args[1]))
		}
		if len(args) > 1 {
			return a.help([]string{"version"})
		}
		info, ok := debug.ReadBuildInfo()
		writeVersion(a.stdout, info, ok, buildCommit)
		return exitDelivered
	case known && wantsHelp(args[1:]):
		return a.help(args[:1])
	case len(args) > 1 && args[1] == "test" && wantsHelp(args[2:]): // ROLE test --help
		return a.help([]string{"test"})
	case args[0] == "test" || isTestInvocation(args): // `test` with flags it does not know: runTest says so
		err = a.runTest(ctx, args)
	case known && c.run != nil:
		err = c.run(a, ctx, args[1:])
	case len(args) >= netdataMinArgs: // the shape of alarm-notify.sh's argv
		err = a.runExec(ctx, args)
	default:
		err = unknownCommand(args[0])
	}
	return a.exitCode(err)
}

// help prints the usage, or that of the command named in args, on stdout.
func (a *app) help(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stdout, usageText)
		return exitDelivered
	}
	name := args[0]
	if wantsHelp(args) {
		name = "help"
	}
	c, ok := lookupCommand(name)
	if !ok {
		return a.exitCode(unknownCommand(args[0]))
	}
	fmt.Fprint(a.stdout, c.usage)
	return exitDelivered
}

// isTestInvocation is alarm-notify.sh's rule for `test [ROLE]` / `ROLE test`,
// applied to the words once flags are set aside.
func isTestInvocation(args []string) bool {
	_, words, err := parseFlags("test", args)
	if err != nil {
		return false
	}
	_, ok := netdata.TestInvocation(words)
	return ok && len(words) > 0
}

// errNothingToSend means a rule decided not to send (exit 1). It is logged
// where it is decided, as alarm-notify.sh does.
var errNothingToSend = errors.New("nothing to send")

// errNotDelivered means at least one room did not get its message (exit 3).
var errNotDelivered = errors.New("not delivered")

func (a *app) exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitDelivered
	case errors.Is(err, errNothingToSend), errors.Is(err, errTemplateHasErrors):
		return exitNothing
	case errors.Is(err, errNotDelivered):
		return exitFailed
	}
	a.log.Error(err.Error())
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}

// commonFlags are the flags every subcommand takes.
type commonFlags struct {
	config      string
	dryRun      bool
	timeout     time.Duration
	concurrency int
}

// parseFlags parses the common flags, and those extra adds for the
// subcommand itself, among args (parseArgs) and returns the other words.
func parseFlags(name string, args []string, extra ...func(*flag.FlagSet)) (commonFlags, []string, error) {
	var cf commonFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&cf.config, "config", "", "TOML configuration file")
	fs.BoolVar(&cf.dryRun, "dry-run", false, "print the requests, send nothing")
	fs.DurationVar(&cf.timeout, "timeout", 0, "overall delivery deadline")
	fs.IntVar(&cf.concurrency, "concurrency", 0, "rooms sent to at once")
	for _, add := range extra {
		add(fs)
	}
	words, err := parseArgs(fs, args)
	if err != nil {
		return cf, nil, err
	}
	if cf.concurrency < 0 {
		return cf, nil, usagef("%s: --concurrency must be positive", name)
	}
	return cf, words, nil
}

// parseArgs parses fs's flags anywhere among args (flags follow the
// subcommand, interleaved with its words; all after "--" are words) and
// returns the other words. Errors are returned as usage errors, not printed.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return words, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(words, rest...), nil
		}
		words = append(words, rest[0])
		args = rest[1:]
	}
}

// baseSettings returns the defaults every mode starts from.
func (a *app) baseSettings() settings {
	return settings{Concurrency: sender.DefaultConcurrency, Timeout: DefaultTimeout, ExecTimeout: DefaultExecTimeout,
		Location: a.location, MaxAge: DefaultMaxAge, AutoJoin: true, Lifecycle: sender.DefaultLifecycle, BackgroundFlush: true}
}

// configPath returns the TOML file to read and whether it must exist.
func (a *app) configPath(flagValue, fallback string) (string, bool) {
	if flagValue != "" {
		return flagValue, true
	}
	if v := a.getenv("MATRIX_NOTIFY_CONFIG"); v != "" {
		return v, true
	}
	return fallback, false
}

// applyOverrides applies the environment and the flags over s: what comes
// after the TOML file.
func (a *app) applyOverrides(s *settings, cf commonFlags) {
	applyEnv(s, a.getenv)
	s.DryRun = s.DryRun || cf.dryRun
	if cf.timeout > 0 {
		s.Timeout = cf.timeout
	}
	s.Concurrency = cmp.Or(cf.concurrency, s.Concurrency) // parseFlags refuses a negative one
	a.logh.redact(s.AccessToken)
	a.logh.redact(s.PickleKey)
}
