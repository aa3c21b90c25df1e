package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
)

// command is one subcommand: its name, what runs it with the words that
// follow (nil: run dispatches it itself) and what `matrix-notify NAME
// --help` prints.
type command struct {
	name  string
	run   func(a *app, ctx context.Context, args []string) error
	usage string
}

// commonFlagsHelp describes the flags parseFlags takes.
const commonFlagsHelp = `  --config FILE     TOML configuration (env MATRIX_NOTIFY_CONFIG)
  --dry-run         print the requests that would be sent, send nothing (env MATRIX_NOTIFY_DRY_RUN=1)
  --timeout D       overall delivery deadline (default 30s; exec_timeout, 5s, for test,
                    custom-sender and netdata's alarms, which netdata waits for)
  --concurrency N   rooms sent to at once (default 32)
`

// commands are the subcommands, in the order of the usage text. Any other
// first word is netdata's argv if it has netdata's shape (netdataMinArgs),
// else an unknown command.
var commands = []command{
	{"test", nil, `usage: matrix-notify test [ROLE] [flags]
       matrix-notify ROLE test

Sends a WARNING, a CRITICAL and a CLEAR test alarm to ROLE's rooms (default
sysadmin), as alarm-notify.sh test [ROLE] does, with netdata's configuration.

flags:
` + commonFlagsHelp},
	{"custom-sender", (*app).runCustomSender, `usage: matrix-notify custom-sender "ROOMS" [flags]

Called from netdata's custom_sender() in health_alarm_notify.conf: ROOMS are
the recipients alarm-notify.sh chose, the alarm's fields come from the
environment under netdata's names (host, status, alarm, ...).

flags:
` + commonFlagsHelp},
	{"kuma", (*app).runKuma, `usage: matrix-notify kuma [flags] < payload.json

Delivers one Uptime Kuma webhook payload (JSON) read from stdin to the [kuma]
rooms (or [matrix] rooms).

flags:
` + commonFlagsHelp},
	{"serve", (*app).runServe, `usage: matrix-notify serve [--listen ADDR] [flags]

HTTP receiver for Uptime Kuma's Webhook notification: POST /kuma (or
/kuma/ROUTE for [kuma.routes] ROUTE), GET /healthz. Each webhook is stored and
delivered before it is answered: 200 delivered, 202 queued for a transient
reason (the homeserver is down or slow), 502 refused by the homeserver for
good (unknown room, forbidden, rejected token), with the reason in the body.

flags:
  --listen ADDR     address to listen on (default 127.0.0.1:8087; [serve] listen)
` + commonFlagsHelp},
	{"flush", (*app).runFlush, `usage: matrix-notify flush [flags]

Delivers what waits in the outbox, within the deadline. Exit 0 when the
outbox is empty afterwards, 3 when some notifications are still queued.

flags:
` + commonFlagsHelp},
	{"queue", func(a *app, _ context.Context, args []string) error { return a.runQueue(args) }, `usage: matrix-notify queue [flags]

Lists what waits in the outbox: room, age, attempts, summary, last error.

flags:
  --config FILE     TOML configuration (env MATRIX_NOTIFY_CONFIG)
`},
	{"check-template", func(a *app, _ context.Context, args []string) error { return a.runCheckTemplate(args) }, `usage: matrix-notify check-template FILE [--source kuma|netdata]

Checks a Liquid template as LiquidJS (Uptime Kuma's engine) parses it: a
parse error (exit 1) is printed as FILE:LINE:COL; unknown variables and
filters, and comparisons that can never match, are warnings (exit 0).

flags:
  --source S        kuma (default) or netdata: whose variables the template sees
`},
	{"login", (*app).runLogin, `usage: matrix-notify login [--homeserver HS] [--user U] [--config F] [--print]
                          [--recovery-key-file F] [--no-encryption]

Logs in with a password (asked for, never given on the command line; piped
in as the only line of stdin by scripts) on a stable device, and saves the
access token in the TOML file. It also sets up end-to-end encryption once:
the device's crypto store (its pickle_key and crypto_store go into the TOML
file), cross-signed by the account. An account without a cross-signing
identity gets one, and its recovery key is printed once: keep it. An
account that has one needs its recovery key to sign the new device: asked
on a terminal, or from --recovery-key-file / MATRIX_NOTIFY_RECOVERY_KEY.

flags:
  --homeserver HS          homeserver URL or server name
  --user U                 user name or @user:server
  --config FILE            TOML file to write (env MATRIX_NOTIFY_CONFIG)
  --print                  print the token on stdout, write no file (no encryption)
  --recovery-key-file F    the account's recovery key, for scripts
  --no-encryption          set up no end-to-end encryption
`},
	{"doctor", (*app).runDoctor, `usage: matrix-notify doctor [--config F] [--join] [--timeout D]

Checks the configuration: the token (whoami), and for every configured room
that it resolves, that the bot is in it (or invited) and may post, and
whether it is encrypted; prints each problem with its fix. Exit 0 when every
room can receive alerts, 3 otherwise.

flags:
  --config FILE     TOML configuration (env MATRIX_NOTIFY_CONFIG)
  --join            accept pending invites now
  --timeout D       deadline for the checks (default 30s)
`},
	{"version", nil, `usage: matrix-notify version

Prints the module version, the VCS commit it was built from and the Go
version (also: matrix-notify --version).
`},
	{"help", nil, `usage: matrix-notify help [COMMAND]

Prints the usage, or COMMAND's (also: matrix-notify COMMAND --help).
`},
}

// lookupCommand returns the subcommand named name.
func lookupCommand(name string) (command, bool) {
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == name })
	if i < 0 {
		return command{}, false
	}
	return commands[i], true
}

// wantsHelp reports whether the words after a subcommand ask for its help:
// -h, -help or --help before a "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// netdataMinArgs is the shortest argv taken for netdata's: up to the status
// (position 9 in 2.x, 10 in 1.x). netdata passes 29 (1.x) or 33 (2.x)
// arguments, 24 or 30 in its own test mode; an older one fewer, but never
// less than that. Anything shorter carries no status, so it could never be
// sent: it is a mistyped command, not an alarm.
const netdataMinArgs = 9

// unknownCommand is the error for a first word that is neither a subcommand
// nor the start of netdata's argv.
func unknownCommand(word string) error {
	names := []string{"--version", "--help"}
	for _, c := range commands {
		names = append(names, c.name)
	}
	if s := closest(word, names); s != "" {
		return usagef("unknown command %q, did you mean %q? (matrix-notify help lists the commands)", word, s)
	}
	return usagef("unknown command %q: matrix-notify help lists the commands (netdata's alarm argv has at least %d arguments)", word, netdataMinArgs)
}

// closest returns the candidate nearest to word when it is near enough to be
// a typo (an edit distance of at most a third of its length, at least 1;
// case is ignored), "" otherwise.
func closest(word string, candidates []string) string {
	best, bestD := "", 0
	w := strings.ToLower(word)
	for _, c := range candidates {
		d := editDistance(w, strings.ToLower(c))
		limit := max(1, len([]rune(c))/3)
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (optimal string
// alignment) between a and b, in runes: a swap of two neighbours counts
// once, as in "flsuh".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// buildCommit is the commit `make build` passes with -ldflags -X, for when
// the toolchain could not stamp the VCS information itself (GOFLAGS
// -buildvcs=false, a git worktree, a tree without .git).
var buildCommit string

// writeVersion prints the module version, the VCS commit and the Go
// version, as recorded in the binary by the Go toolchain.
func writeVersion(w io.Writer, info *debug.BuildInfo, ok bool, fallbackCommit string) {
	version, commit, when, modified := "unknown", cmp.Or(fallbackCommit, "unknown"), "", false
	goVersion := runtime.Version()
	if ok {
		version, goVersion = cmp.Or(info.Main.Version, "(devel)"), info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var notes []string
	if when != "" {
		notes = append(notes, when)
	}
	if modified {
		notes = append(notes, "with uncommitted changes")
	}
	if len(notes) > 0 {
		commit += " (" + strings.Join(notes, ", ") + ")"
	}
	fmt.Fprintf(w, "matrix-notify %s\ncommit %s\n%s %s/%s\n", version, commit, goVersion, runtime.GOOS, runtime.GOARCH)
}
