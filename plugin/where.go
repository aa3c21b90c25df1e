package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"matrix-notify/adapters/netdata"
	"matrix-notify/adapters/netdata/healthconf"
)

// configMode says whose configuration and state an invocation uses.
type configMode int

const (
	// netdataMode: netdata's health_alarm_notify.conf files (stock, then
	// the user's), then NETDATA_USER_CONFIG_DIR/matrix-notify.toml, then
	// the environment and the flags; state under NETDATA_LIB_DIR. What
	// netdata runs: exec mode, test, custom-sender.
	netdataMode configMode = iota + 1
	// standaloneMode: the XDG config file, the environment and the flags;
	// state under XDG_STATE_HOME. kuma, serve.
	standaloneMode
	// eitherMode: netdata's when matrix-notify is set up there, else
	// standalone (see chooseMode). flush, queue, doctor: they must find
	// what exec mode (or serve) queued.
	eitherMode
)

// invocationConfig is the configuration of one invocation and where it came
// from.
type invocationConfig struct {
	mode     configMode
	dirs     netdataDirs
	vars     *healthconf.Vars // netdata mode only
	s        settings
	fc       *fileConfig
	tomlPath string
	read     []string // the files read, in order
	searched []string // every file looked for, in order
	notes    []confNote
	// unreadable is why a configuration file (unreadableFile, the first)
	// could not be read or has an error (unreadableWhy says which), when
	// netdata's own invocation goes on without it: the alarm is then kept,
	// not lost.
	unreadable     error
	unreadableFile string
	unreadableWhy  string
}

// confNote is a problem in the configuration to tell the user: at WARNING
// level on every invocation, or, with file set, once per change of that
// file (a world-readable conf holding the token would otherwise be
// repeated on every alarm). doctor lists them all.
type confNote struct {
	msg  string
	file string
}

// netdatasOwn reports whether cmd is one netdata runs, which must never lose
// an alarm to a configuration it cannot read.
func netdatasOwn(cmd string) bool { return cmd == "exec" || cmd == "custom-sender" }

// loadConfig finds and reads the configuration of cmd: every subcommand
// comes here, so each sees what exec mode sees. In netdata mode:
// health_alarm_notify.conf (stock, then user, as alarm-notify.sh sources
// them, with the whole environment as bash would have it), then the TOML
// file, then the environment and the flags; in standalone mode the TOML
// file, the environment and the flags. Then it settles the state directory
// and, unless cmd writes nothing there (doctor, a dry run), acts as that
// directory's owner (enterStateDir) and tells the configuration notes.
func (a *app) loadConfig(cmd string, cf commonFlags, mode configMode) (*invocationConfig, error) {
	c := &invocationConfig{dirs: a.netdataDirs(), s: a.baseSettings()}
	if mode == eitherMode {
		mode = a.chooseMode(cf, c.dirs)
	}
	c.mode = mode
	fallback := a.defaultConfigPath()
	if mode == netdataMode {
		if err := a.loadHealthConf(cmd, c); err != nil {
			return nil, err
		}
		c.s.Homeserver = c.vars.Get("MATRIX_HOMESERVER")
		c.s.AccessToken = c.vars.Get("MATRIX_ACCESSTOKEN")
		fallback = filepath.Join(c.dirs.user, "matrix-notify.toml")
	}
	path, required := a.configPath(cf.config, fallback)
	c.tomlPath = path
	c.searched = append(c.searched, path)
	c.fc = &fileConfig{dir: filepath.Dir(path)}
	fc, err := loadFileConfig(path, required, a.log)
	if err == nil {
		err = fc.apply(&c.s)
	}
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe) && errors.Is(err, fs.ErrPermission):
		// The TOML file, or a file it names (access_token_file).
		detail := cmp.Or(unreadable(pe.Path), err)
		if !netdatasOwn(cmd) {
			if pe.Path != path {
				detail = fmt.Errorf("%s: %w", path, detail)
			}
			return nil, usageError{detail}
		}
		c.notReadable(pe.Path, detail)
	case err != nil && netdatasOwn(cmd) && mode == netdataMode:
		// A mistake in the TOML file must not cost netdata's alarm: it
		// is kept, as for a file that cannot be read, for `flush` once
		// the file is fixed (which then reports the same error), in the
		// rooms the file names if it reads as TOML at all.
		c.notUsable(path, whyHasError, err)
		c.s.Rooms = roomsIn(path)
	case err != nil:
		return nil, usageError{err}
	default:
		for _, w := range c.s.Severity.Validate() {
			a.log.Warn("config: " + w)
		}
		c.fc = fc
		if fc.path != "" {
			c.read = append(c.read, path)
		}
	}
	a.applyOverrides(&c.s, cf)
	if c.s.DryRun && c.unreadableWhy == whyHasError {
		return nil, usageError{c.unreadable} // a dry run checks the configuration: nothing to keep
	}
	c.s.StateDir = cmp.Or(c.s.StateDir, a.defaultStateDir(mode))
	c.s.flushArgs = backgroundFlushArgs(mode, cf.config)
	if mode == netdataMode && a.netdataWaits {
		// netdata's health runs its next pass only after us: a homeserver
		// that is down or slow must cost it seconds at most. What is not
		// delivered is queued, for the background flush.
		if cf.timeout == 0 {
			c.s.Timeout = min(c.s.Timeout, c.s.ExecTimeout)
		}
		c.s.Retry.FailFastUnreachable = true
	}
	switch {
	case cmd == "doctor":
	case c.s.DryRun:
		// Nothing is written in the state directory and nothing
		// remembered. But netdata's alarms keep alarm-notify.sh's
		// tracking files (the critical modifier) in its cache, as a run
		// would: root writes them as that directory's owner.
		if mode == netdataMode {
			if err := a.enterStateDir(cmd, c.dirs.cache); err != nil {
				return nil, err
			}
		}
		for _, n := range c.notes {
			a.log.Warn(n.msg)
		}
	default:
		if err := a.enterStateDir(cmd, c.s.StateDir); err != nil {
			return nil, err
		}
		a.tellNotes(c)
	}
	return c, nil
}

// chooseMode decides, for flush, queue and doctor, whether matrix-notify is
// set up for netdata: netdata's variables are in the environment, the
// --config file is in netdata's config directory, or that directory holds
// matrix-notify.toml or a health_alarm_notify.conf that mentions Matrix.
func (a *app) chooseMode(cf commonFlags, d netdataDirs) configMode {
	for _, k := range []string{"NETDATA_USER_CONFIG_DIR", "NETDATA_STOCK_CONFIG_DIR", "NETDATA_CACHE_DIR", "NETDATA_LIB_DIR"} {
		if a.getenv(k) != "" {
			return netdataMode
		}
	}
	if path, explicit := a.configPath(cf.config, ""); explicit {
		return modeOf(path, d)
	}
	if netdataSetUp(d) {
		return netdataMode
	}
	return standaloneMode
}

// netdataSetUp reports whether netdata's config directory holds
// matrix-notify.toml or a health_alarm_notify.conf that mentions Matrix (or
// one we may not read: netdata's, then).
func netdataSetUp(d netdataDirs) bool {
	if _, err := os.Stat(filepath.Join(d.user, "matrix-notify.toml")); err == nil {
		return true
	}
	data, err := os.ReadFile(filepath.Join(d.user, "health_alarm_notify.conf"))
	return errors.Is(err, fs.ErrPermission) || bytes.Contains(data, []byte("MATRIX"))
}

// tomlFor is the TOML file login works on: --config, MATRIX_NOTIFY_CONFIG,
// netdata's matrix-notify.toml when matrix-notify is set up for netdata
// (the file exec mode reads), else the XDG one.
func (a *app) tomlFor(flagValue string) string {
	d := a.netdataDirs()
	fallback := a.defaultConfigPath()
	if netdataSetUp(d) {
		fallback = filepath.Join(d.user, "matrix-notify.toml")
	}
	path, _ := a.configPath(flagValue, fallback)
	return path
}

// modeOf is the mode of the invocations that read the TOML file at path:
// netdata's for a file in netdata's config directory.
func modeOf(path string, d netdataDirs) configMode {
	if abs(filepath.Dir(path)) == abs(d.user) {
		return netdataMode
	}
	return standaloneMode
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// defaultConfigPath is the TOML file `kuma` and `serve` read when neither
// --config nor MATRIX_NOTIFY_CONFIG names one.
func (a *app) defaultConfigPath() string {
	if dir := a.getenv("XDG_CONFIG_HOME"); dir != "" {
		return filepath.Join(dir, "matrix-notify", "config.toml")
	}
	if home := a.getenv("HOME"); home != "" {
		return filepath.Join(home, ".config", "matrix-notify", "config.toml")
	}
	return "/etc/matrix-notify/config.toml"
}

// defaultStateDir is the state directory when [matrix] state_dir is unset:
// persistent state (outbox, alert threads) is never kept in a cache
// directory, whose contents may be removed at any time.
func (a *app) defaultStateDir(mode configMode) string {
	if mode == netdataMode {
		return filepath.Join(netdata.LibDir(a.netdataVar), "matrix-notify")
	}
	if dir := a.getenv("XDG_STATE_HOME"); dir != "" {
		return filepath.Join(dir, "matrix-notify")
	}
	if home := a.getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "state", "matrix-notify")
	}
	return "/var/lib/matrix-notify"
}

// loadHealthConf reads the stock then the user health_alarm_notify.conf
// over what alarm-notify.sh has defined before sourcing them (netdata.ScriptVars).
func (a *app) loadHealthConf(cmd string, c *invocationConfig) error {
	var environ []string
	if a.environ != nil {
		environ = a.environ()
	}
	vars := netdata.ScriptVars(environ)
	paths := []string{
		filepath.Join(c.dirs.stock, "health_alarm_notify.conf"),
		filepath.Join(c.dirs.user, "health_alarm_notify.conf"),
	}
	c.searched = append(c.searched, paths...)
	var load []string
	for _, p := range paths {
		if err := unreadable(p); err != nil {
			if !netdatasOwn(cmd) {
				return usageError{err}
			}
			c.notReadable(p, err)
			continue
		}
		if _, err := os.Stat(p); err == nil {
			c.read = append(c.read, p)
		}
		load = append(load, p)
	}
	warnings, err := healthconf.Load(vars, load...)
	if err != nil {
		return usageError{err}
	}
	for _, w := range warnings {
		a.log.Debug(w.String())
	}
	for _, n := range netdata.ConfNotes(vars, warnings) {
		c.notes = append(c.notes, confNote{msg: n})
	}
	if origin, ok := vars.Origin["MATRIX_ACCESSTOKEN"]; ok && vars.Get("MATRIX_ACCESSTOKEN") != "" {
		if st, err := os.Stat(origin.File); err == nil && st.Mode().Perm()&0o004 != 0 {
			c.notes = append(c.notes, confNote{file: origin.File,
				msg: fmt.Sprintf("%s holds MATRIX_ACCESSTOKEN and every user of this machine can read it (mode %04o): run %s, or move the token to matrix-notify.toml (netdata-owned 0600, or root:netdata 0640)",
					origin.File, st.Mode().Perm(), restrictCommand(origin.File, st, netdataGroup()))})
		}
	}
	c.vars = vars
	a.logh.redact(vars.Get("MATRIX_ACCESSTOKEN"))
	return nil
}

// Why a configuration file cannot be used (invocationConfig.unreadableWhy).
const (
	whyUnreadable = "could not be read"
	whyHasError   = "has an error"
)

// notReadable records that path could not be read, for err.
func (c *invocationConfig) notReadable(path string, err error) {
	c.notUsable(path, whyUnreadable, err)
}

// notUsable records that path cannot be used, why, for err.
func (c *invocationConfig) notUsable(path, why string, err error) {
	if c.unreadable == nil {
		c.unreadableFile, c.unreadableWhy = path, why
	}
	c.unreadable = errors.Join(c.unreadable, err)
}

// missing says which of the homeserver and the token no file set, and
// where they were looked for.
func (c *invocationConfig) missing() string {
	var toml, conf []string
	if c.s.Homeserver == "" {
		toml, conf = append(toml, "homeserver"), append(conf, "MATRIX_HOMESERVER")
	}
	if c.s.AccessToken == "" {
		toml, conf = append(toml, "access_token"), append(conf, "MATRIX_ACCESSTOKEN")
	}
	files := make([]string, len(c.searched))
	for i, f := range c.searched {
		switch {
		case !slices.Contains(c.read, f):
			files[i] = f + " (not found)"
		case f == c.tomlPath:
			files[i] = fmt.Sprintf("%s (no [matrix] %s)", f, strings.Join(toml, " or "))
		default:
			files[i] = fmt.Sprintf("%s (no %s)", f, strings.Join(conf, " or "))
		}
	}
	what := "no configuration found"
	if len(c.read) > 0 || len(toml) == 1 {
		what = fmt.Sprintf("no %s configured", strings.Join(toml, " or "))
	}
	return fmt.Sprintf("%s: searched %s and the environment (MATRIX_HOMESERVER, MATRIX_ACCESSTOKEN)", what, strings.Join(files, ", "))
}

// credentialsMissing is the error of cmd, a command that needs the
// homeserver and the token unless it is a dry run, when c lacks either.
func (c *invocationConfig) credentialsMissing(cmd string) error {
	if c.s.DryRun || c.s.Homeserver != "" && c.s.AccessToken != "" {
		return nil
	}
	return usagef("%s: %s; run `matrix-notify login --config %s`, or name another file with --config or MATRIX_NOTIFY_CONFIG", cmd, c.missing(), c.tomlPath)
}

// tellNotes logs the configuration notes at WARNING level; those tied to a
// file only when the file changed since they were last told, as remembered
// in the state directory (which holds the file's identity, never its
// content).
func (a *app) tellNotes(c *invocationConfig) {
	if len(c.notes) == 0 {
		return
	}
	memory := filepath.Join(c.s.StateDir, "told")
	old, _ := os.ReadFile(memory)
	seen := map[string]string{}
	for _, line := range strings.Split(string(old), "\n") {
		if file, id, ok := strings.Cut(line, "\t"); ok {
			seen[file] = id
		}
	}
	changed := false
	for _, n := range c.notes {
		st, err := os.Stat(n.file) // an error for a note of no file, too
		if err != nil {
			a.log.Warn(n.msg)
			continue
		}
		id := fileIdentity(st)
		if seen[n.file] == id {
			continue
		}
		a.log.Warn(n.msg + " (said once until the file changes)")
		seen[n.file], changed = id, true
	}
	if !changed {
		return
	}
	var b strings.Builder
	for file, id := range seen {
		fmt.Fprintf(&b, "%s\t%s\n", file, id)
	}
	_ = writeFile0600(memory, []byte(b.String())) // not remembered: said again next time
}

// netdataRoot is the root of the netdata installation whose plugins.d holds
// exe: "/opt/netdata" for netdata's static installer, "" for Debian's and
// RPM's packages and for a binary outside any plugins.d.
func netdataRoot(exe string) string {
	dir := filepath.Dir(exe)
	for _, plugins := range []string{"/usr/libexec/netdata/plugins.d", "/usr/lib/netdata/plugins.d"} {
		if root, ok := strings.CutSuffix(dir, plugins); ok {
			return root
		}
	}
	return ""
}

// netdataVar is the environment variable key, and for netdata's directories
// (NETDATA_*_DIR) alarm-notify.sh's default when netdata does not name it,
// under a.netdataRoot: an admin who runs `flush` or `queue` by hand from a
// static install (/opt/netdata) must find the same configuration and
// outbox as its alarms, not /etc/netdata's. (Whether netdata named them is
// a.getenv's to say: chooseMode asks it.) netdata names them when it runs
// us, so an alarm never asks where the binary is.
func (a *app) netdataVar(key string) string {
	if v := a.getenv(key); v != "" {
		return v
	}
	d, ok := netdataDirDefaults[key]
	if !ok {
		return ""
	}
	if a.executable != nil {
		if exe, err := a.executable(); err == nil {
			return netdataRoot(exe) + d
		}
	}
	return d
}

// netdataDirDefaults are netdata's directories as alarm-notify.sh defaults
// them, in a package install.
var netdataDirDefaults = map[string]string{
	"NETDATA_USER_CONFIG_DIR":  "/etc/netdata",
	"NETDATA_STOCK_CONFIG_DIR": "/usr/lib/netdata/conf.d",
	"NETDATA_CACHE_DIR":        netdata.DefaultCacheDir,
	"NETDATA_LIB_DIR":          netdata.DefaultLibDir,
}

// roomsIn is [matrix] rooms of the TOML file at path, read leniently (the
// file has an error: unknown keys and values of other keys are no matter
// here), or nil.
func roomsIn(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var fc struct {
		Matrix struct {
			Rooms []string `toml:"rooms"`
		} `toml:"matrix"`
	}
	if _, err := toml.Decode(string(data), &fc); err != nil {
		return nil
	}
	return fc.Matrix.Rooms
}
