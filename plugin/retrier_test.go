package main

import (
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestExecDeadline: the invocations netdata waits for (and `test`) get the
// short exec deadline and give up at once on an unreachable homeserver; the
// others keep their patience. An explicit --timeout wins.
func TestExecDeadline(t *testing.T) {
	tests := []struct {
		name        string
		toml        string
		waits       bool
		flag        time.Duration
		timeout     time.Duration
		failFast    bool
		execTimeout time.Duration
	}{
		{name: "exec: default", waits: true, timeout: DefaultExecTimeout, failFast: true, execTimeout: 5 * time.Second},
		{name: "exec: exec_timeout", toml: `exec_timeout = "2s"`, waits: true, timeout: 2 * time.Second, failFast: true, execTimeout: 2 * time.Second},
		{name: "exec: a shorter timeout still bounds", toml: `timeout = "1s"`, waits: true, timeout: time.Second, failFast: true, execTimeout: DefaultExecTimeout},
		{name: "exec: --timeout wins", waits: true, flag: 20 * time.Second, timeout: 20 * time.Second, failFast: true, execTimeout: DefaultExecTimeout},
		{name: "flush, doctor: patient", timeout: DefaultTimeout, execTimeout: DefaultExecTimeout},
		{name: "flush: timeout", toml: `timeout = "45s"` + "\n" + `exec_timeout = "3s"`, timeout: 45 * time.Second, execTimeout: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			env := loginEnv(tmp)
			user, _, _ := netdataTree(t, tmp)
			env["NETDATA_USER_CONFIG_DIR"] = user
			if err := os.WriteFile(filepath.Join(user, "matrix-notify.toml"), []byte("[matrix]\n"+tt.toml+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			a, _, stderr := newGoldenApp("", env)
			a.log, a.logh = newLogger(stderr, false)
			a.netdataWaits = tt.waits
			c, err := a.loadConfig("doctor", commonFlags{timeout: tt.flag}, netdataMode)
			if err != nil {
				t.Fatal(err)
			}
			s := c.s
			if s.Timeout != tt.timeout || s.Retry.FailFastUnreachable != tt.failFast || s.ExecTimeout != tt.execTimeout {
				t.Errorf("timeout %v, fail fast %v, exec_timeout %v; want %v, %v, %v", s.Timeout, s.Retry.FailFastUnreachable, s.ExecTimeout, tt.timeout, tt.failFast, tt.execTimeout)
			}
		})
	}
}

// TestBackgroundFlushArgs: the background flush's argv names the mode its
// spawner's settings came from (and --config), and flush reads it back.
func TestBackgroundFlushArgs(t *testing.T) {
	tests := []struct {
		mode   configMode
		config string
		want   []string
	}{
		{netdataMode, "", []string{"flush", "--until-empty=netdata"}},
		{netdataMode, "/etc/netdata/mn.toml", []string{"flush", "--until-empty=netdata", "--config", "/etc/netdata/mn.toml"}},
		{standaloneMode, "", []string{"flush", "--until-empty=standalone"}},
	}
	for _, tt := range tests {
		got := backgroundFlushArgs(tt.mode, tt.config)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%v %q: %q, want %q", tt.mode, tt.config, got, tt.want)
		}
		var bg backgroundFlag
		cf, _, err := parseFlags("flush", got[1:], func(fs *flag.FlagSet) { fs.Var(&bg, "until-empty", "") })
		if err != nil || !bg.set || bg.mode != tt.mode || cf.config != tt.config {
			t.Errorf("%q read back as %+v, config %q, %v", got, bg, cf.config, err)
		}
	}
	var bg backgroundFlag
	if _, _, err := parseFlags("flush", []string{"--config", "x", "--until-empty"}, func(fs *flag.FlagSet) { fs.Var(&bg, "until-empty", "") }); err != nil || !bg.set || bg.mode != standaloneMode {
		t.Errorf("bare --until-empty: %+v %v", bg, err)
	}
}

// TestStartsBackgroundFlush: an alarm that leaves something queued starts
// the background flush, with the argv that loads the same settings and the
// lock next to the outbox; one that is delivered, a dry run, or
// MATRIX_NOTIFY_BACKGROUND_FLUSH=0 do not.
func TestStartsBackgroundFlush(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	alarm := alarmArgs("sysadmin", "3001", "1", "CRITICAL", "WARNING", "disk full")
	tests := []struct {
		name  string
		env   map[string]string
		toml  string
		spawn bool
	}{
		{name: "queued: started", spawn: true},
		{name: "off by the environment", env: map[string]string{"MATRIX_NOTIFY_BACKGROUND_FLUSH": "0"}},
		{name: "off by the TOML file", toml: "[matrix]\nbackground_flush = false\n"},
		{name: "dry run", env: map[string]string{"MATRIX_NOTIFY_DRY_RUN": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			env := loginEnv(tmp)
			user, _, cache := netdataTree(t, tmp)
			env["NETDATA_USER_CONFIG_DIR"], env["NETDATA_CACHE_DIR"], env["NETDATA_LIB_DIR"] = user, cache, libDir(cache)
			conf := "MATRIX_HOMESERVER=" + refused + "\nMATRIX_ACCESSTOKEN=syt_secret_token\nDEFAULT_RECIPIENT_MATRIX=\"!r:hs\"\n"
			writeFile(t, filepath.Join(user, "health_alarm_notify.conf"), conf)
			if tt.toml != "" {
				writeFile(t, filepath.Join(user, "matrix-notify.toml"), tt.toml)
			}
			for k, v := range tt.env {
				env[k] = v
			}
			a, _, stderr := newGoldenApp("", env)
			var calls [][]string
			var locks []string
			a.spawn = func(lock string, args []string) (int, error) {
				calls, locks = append(calls, args), append(locks, lock)
				return 4242, nil
			}
			code := a.run(context.Background(), alarm)
			if tt.spawn != (len(calls) == 1) || len(calls) > 1 {
				t.Fatalf("exit %d, spawned %q\n%s", code, calls, stderr)
			}
			if !tt.spawn {
				return
			}
			if code != exitFailed || !strings.Contains(stderr.String(), "a background flush (pid 4242") {
				t.Errorf("exit %d\n%s", code, stderr)
			}
			if want := []string{"flush", "--until-empty=netdata"}; !slices.Equal(calls[0], want) {
				t.Errorf("argv %q, want %q", calls[0], want)
			}
			// One background flush per state database: its lock is beside it.
			if want := filepath.Join(libDir(cache), "matrix-notify", "matrix-notify.db.flush.lock"); locks[0] != want {
				t.Errorf("lock %s, want %s", locks[0], want)
			}
		})
	}
}
