package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"matrix-notify/adapters/netdata"
	"matrix-notify/adapters/netdata/healthconf"
	"matrix-notify/sender"
	"matrix-notify/sender/format"
)

// netdataDirs are netdata's directories, with alarm-notify.sh's defaults.
type netdataDirs struct {
	user, stock, cache string
}

func (a *app) netdataDirs() netdataDirs {
	return netdataDirs{
		user:  a.netdataVar("NETDATA_USER_CONFIG_DIR"),
		stock: a.netdataVar("NETDATA_STOCK_CONFIG_DIR"),
		cache: a.netdataVar("NETDATA_CACHE_DIR"),
	}
}

// netdataContent is the message: the [netdata] templates over netdata's
// variables when configured, else def, the stock wording. A template that
// does not parse is logged and def goes out: netdata runs us once per
// alarm, and a broken template must not cost the alarm.
func (a *app) netdataContent(s settings, fc *fileConfig, f netdata.Fields, def sender.Content) sender.Content {
	mt, err := a.loadTemplates(s, "netdata", fc.Netdata, fc.dir)
	if err != nil {
		a.log.Error("sending the default message", "err", err)
		return def
	}
	vars := map[string]any{}
	for k, v := range f.Map() {
		vars[k] = v
	}
	return mt.content(vars, def, a.log)
}

// netdataEnv is what the derived fields depend on besides the alarm: netdata's
// environment, the conf's date_format/use_fqdn/images_base_url, host names,
// the time zone and the clock.
func (a *app) netdataEnv(s settings, vars *healthconf.Vars) netdata.Env {
	env := netdata.EnvFromOS(a.netdataVar)
	env.FQDN, env.ShortHostname = a.hostnames()
	env.UseFQDN = vars.Get("use_fqdn") == "YES"
	env.DateFormat = vars.Get("date_format")
	env.ImagesBaseURL = vars.Get("images_base_url")
	env.Location = s.Location
	env.Now = a.now()
	return env
}

// hostnames are `hostname` and `hostname -s`, or "" when unknown.
func (a *app) hostnames() (fqdn, short string) {
	if h, err := a.hostname(); err == nil {
		short, _, _ = strings.Cut(h, ".")
		return h, short
	}
	return "", ""
}

// runExec is netdata exec mode: argv exactly as alarm-notify.sh receives it.
// Flags are not accepted here (netdata owns argv): their environment
// equivalents apply.
func (a *app) runExec(ctx context.Context, args []string) error {
	alarm, err := netdata.ParseArgs(args)
	if err != nil {
		return usageError{err}
	}
	a.netdataWaits = true
	return a.sendAlarm(ctx, alarm, func() (*invocationConfig, error) {
		return a.loadConfig("exec", commonFlags{}, netdataMode)
	})
}

// runTest sends WARNING, CRITICAL and CLEAR test alarms like
// `alarm-notify.sh test [ROLE]`.
func (a *app) runTest(ctx context.Context, args []string) error {
	cf, words, err := parseFlags("test", args)
	if err != nil {
		return err
	}
	role, ok := netdata.TestInvocation(words)
	if !ok {
		return usagef("usage: matrix-notify test [ROLE]")
	}
	a.netdataWaits = true   // it tries the path netdata's alarms take
	host, _ := a.hostname() // the script uses $(hostname), not -s
	// Read once: after the first alarm, root may be running as netdata's
	// user (enterStateDir), who must not be asked to read root's files.
	load := sync.OnceValues(func() (*invocationConfig, error) { return a.loadConfig("test", cf, netdataMode) })
	var failed error
	for _, alarm := range netdata.TestAlarms(a.installedLayout(), role, host, a.now(), "matrix-notify") {
		a.log.Info("sending test alarm", "status", alarm.Status, "role", role)
		if err := a.sendAlarm(ctx, alarm, load); err != nil {
			if _, ok := err.(usageError); ok {
				return err
			}
			failed = err
		}
	}
	return failed
}

// installedLayout is the argv layout of the netdata installed with us: that
// of the alarm-notify.sh next to this program in plugins.d (Layout2, master's,
// when there is none), so that `test` sends what that netdata's test sends.
func (a *app) installedLayout() netdata.Layout {
	if a.executable != nil {
		if exe, err := a.executable(); err == nil {
			if script, err := os.ReadFile(filepath.Join(filepath.Dir(exe), "alarm-notify.sh")); err == nil {
				return netdata.ScriptLayout(script)
			}
		}
	}
	return netdata.Layout2
}

// sendAlarm screens, routes and delivers one netdata alarm; load reads the
// configuration, only once the alarm passed the screening (as
// alarm-notify.sh sources its files only then).
func (a *app) sendAlarm(ctx context.Context, alarm netdata.Alarm, load func() (*invocationConfig, error)) error {
	if alarm.Host == "" {
		_, alarm.Host = a.hostnames()
	}
	// alarm-notify.sh screens before it sources the configuration, so only
	// the environment can set clear_alarm_always.
	if ok, reason := netdata.Screen(alarm, netdata.ClearAlarmAlways(a.getenv)); !ok {
		a.log.Info(reason)
		return errNothingToSend
	}
	c, err := load()
	if err != nil {
		return err
	}
	d, vars, s := c.dirs, c.vars, c.s
	id := alarm.Host + "." + alarm.Chart + "." + alarm.Name
	if vars.Get("SEND_MATRIX") != "YES" {
		a.log.Info("not sending Matrix notification", "alarm", id, "SEND_MATRIX", vars.Get("SEND_MATRIX"))
		return errNothingToSend
	}
	if (s.Homeserver == "" || s.AccessToken == "") && c.unreadable == nil {
		a.log.Info("not sending Matrix notification", "alarm", id, "reason", c.missing())
		return errNothingToSend
	}
	if len(s.Rooms) > 0 {
		// [matrix] rooms in the TOML file is the default recipient list:
		// it comes later than health_alarm_notify.conf, so it wins.
		vars.Scalars["DEFAULT_RECIPIENT_MATRIX"] = strings.Join(s.Rooms, " ")
	}
	rooms := netdata.Recipients(vars, alarm.Roles, alarm, d.cache, a.logFunc())
	if len(rooms) == 0 && c.unreadable != nil {
		// The rooms are in the file that cannot be used: there is no
		// room to keep the alarm for. Said at ERROR, with the file's fix
		// (exit 3 alone is what netdata logs, and it reads as "queued").
		a.log.Error(c.unreadable.Error())
		why := "its rooms are in a file that cannot be read; [matrix] rooms in matrix-notify.toml keeps alarms even then"
		if c.unreadableWhy == whyHasError {
			why = "its rooms are in a configuration file that has an error"
		}
		a.log.Error("Matrix notification lost: "+why, "alarm", id, "status", alarm.Status, "roles", alarm.Roles, "file", c.unreadableFile)
		return fmt.Errorf("%w: Matrix notification for %s lost", errNotDelivered, id)
	}
	if len(rooms) == 0 {
		a.log.Info("not sending Matrix notification: no recipients", "alarm", id, "status", alarm.Status, "roles", alarm.Roles)
		return errNothingToSend
	}
	return a.sendNetdata(ctx, c, alarm, netdata.Derive(alarm, a.netdataEnv(s, vars)), rooms)
}

// sendNetdata delivers alarm to rooms, or keeps it when c could not be read
// whole.
func (a *app) sendNetdata(ctx context.Context, c *invocationConfig, alarm netdata.Alarm, fields netdata.Fields, rooms []string) error {
	n := netdata.Notification(alarm, fields, rooms)
	n.AlertKey, n.Phase = netdata.Lifecycle(alarm, fields)
	n.Content = format.Finish(a.netdataContent(c.s, c.fc, fields, n.Content), netdata.SeverityOf(alarm.Status), c.s.Severity)
	if c.unreadable != nil {
		return a.keep(ctx, c, n)
	}
	return a.deliver(ctx, c.s, n)
}

// runCustomSender is called from netdata's custom_sender(): the recipients are
// the words of the first argument (already filtered by alarm-notify.sh), the
// alarm fields come from the environment under netdata's names.
func (a *app) runCustomSender(ctx context.Context, args []string) error {
	cf, words, err := parseFlags("custom-sender", args)
	if err != nil {
		return err
	}
	a.netdataWaits = true // alarm-notify.sh waits for us, and netdata for it
	var rooms []string
	for _, w := range words {
		rooms = append(rooms, netdata.SplitRecipients(w)...)
	}
	c, err := a.loadConfig("custom-sender", cf, netdataMode)
	if err != nil {
		return err
	}
	if len(rooms) == 0 {
		rooms = c.s.Rooms
	}
	rooms = dedupe(rooms)
	alarm, fields := netdata.FromEnv(a.getenv)
	if len(rooms) == 0 {
		a.log.Info("not sending Matrix notification: no rooms given and no [matrix] rooms configured", "alarm", alarm.Host+"."+alarm.Chart+"."+alarm.Name)
		return errNothingToSend
	}
	if (c.s.Homeserver == "" || c.s.AccessToken == "") && c.unreadable == nil {
		return usagef("custom-sender: %s", c.missing())
	}
	return a.sendNetdata(ctx, c, alarm, fields, rooms)
}

// dedupe is in without its empty and repeated words.
func dedupe(in []string) []string {
	seen := map[string]bool{"": true}
	return slices.DeleteFunc(slices.Clone(in), func(s string) bool {
		dup := seen[s]
		seen[s] = true
		return dup
	})
}

// logFunc logs what the netdata adapter tells at its level (INFO unless
// it says ERROR, WARNING or DEBUG).
func (a *app) logFunc() func(level, msg string) {
	levels := map[string]slog.Level{"ERROR": slog.LevelError, "WARNING": slog.LevelWarn, "WARN": slog.LevelWarn, "DEBUG": slog.LevelDebug}
	return func(level, msg string) { a.log.Log(context.Background(), levels[strings.ToUpper(level)], msg) }
}
