package realpeers

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// site is one machine's worth of matrix-notify configuration and state, in a
// scratch directory: netdata's config, cache and lib directories, a home.
// Nothing of the host's netdata, home or cache is read.
type site struct {
	t                            *testing.T
	dir, user, stock, cache, lib string
	env                          []string
}

func newSite(t *testing.T) *site {
	t.Helper()
	dir := t.TempDir()
	s := &site{t: t, dir: dir}
	s.user, s.stock = filepath.Join(dir, "etc/netdata"), filepath.Join(dir, "usr/lib/netdata/conf.d")
	s.cache, s.lib = filepath.Join(dir, "var/cache/netdata"), filepath.Join(dir, "var/lib/netdata")
	home := filepath.Join(dir, "home")
	for _, d := range []string{s.user, s.stock, s.cache, s.lib, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.env = []string{
		"PATH=" + os.Getenv("PATH"), "TZ=UTC", "HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "XDG_STATE_HOME=" + filepath.Join(home, ".local/state"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"NETDATA_USER_CONFIG_DIR=" + s.user, "NETDATA_STOCK_CONFIG_DIR=" + s.stock,
		"NETDATA_CACHE_DIR=" + s.cache, "NETDATA_LIB_DIR=" + s.lib,
		"NETDATA_REGISTRY_URL=https://netdata.example.org:19999",
	}
	return s
}

// roomSite is how most tests start: a reader with one room made with opts,
// and a site whose health_alarm_notify.conf sends there with the bot's
// token.
func roomSite(t *testing.T, opts roomOpts) (*reader, id.RoomID, *site) {
	t.Helper()
	r := newReader(t)
	room := r.room(opts)
	s := newSite(t)
	s.healthConf(env.botToken, string(room))
	return r, room, s
}

// healthConf writes health_alarm_notify.conf with the bot's homeserver, a
// token and the default rooms, plus extra lines.
func (s *site) healthConf(token, rooms string, extra ...string) string {
	s.t.Helper()
	conf := fmt.Sprintf("SEND_MATRIX=\"YES\"\nMATRIX_HOMESERVER=%q\nMATRIX_ACCESSTOKEN=%q\nDEFAULT_RECIPIENT_MATRIX=%q\n%s",
		env.hs.URL, token, rooms, strings.Join(extra, "\n"))
	path := filepath.Join(s.user, "health_alarm_notify.conf")
	if err := os.WriteFile(path, []byte(conf+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// toml writes the user's matrix-notify.toml and returns its path.
func (s *site) toml(content string) string {
	s.t.Helper()
	path := filepath.Join(s.user, "matrix-notify.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return path
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout:\n%s\nstderr:\n%s", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// run runs the real matrix-notify binary with the site's environment.
func (s *site) run(stdin string, args ...string) result {
	s.t.Helper()
	return s.runEnv(nil, stdin, args...)
}

func (s *site) runEnv(extraEnv []string, stdin string, args ...string) result {
	s.t.Helper()
	return s.runBin(env.bin, extraEnv, stdin, args...)
}

// runBin runs the matrix-notify binary at bin (a copy of env.bin) with the
// site's environment.
func (s *site) runBin(bin string, extraEnv []string, stdin string, args ...string) result {
	s.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append([]string{}, s.env...), extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	if strings.Contains(r.stdout+r.stderr, env.botToken) {
		s.t.Errorf("matrix-notify %s printed the access token:\n%s", strings.Join(args, " "), r)
	}
	return r
}

// installedNextTo puts a copy of the binary in a plugins.d of the site's,
// with an alarm-notify.sh holding script next to it (none when script is
// ""), as scripts/install.sh installs it, and returns the copy's path.
func installedNextTo(t *testing.T, s *site, script string) string {
	t.Helper()
	dir := filepath.Join(s.dir, "usr/lib/netdata/plugins.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "matrix-notify")
	if err := os.Link(env.bin, bin); err != nil {
		data, err := os.ReadFile(env.bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if script != "" {
		if err := os.WriteFile(filepath.Join(dir, "alarm-notify.sh"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// must runs matrix-notify and fails the test unless it exits with code.
func (s *site) must(code int, stdin string, args ...string) result {
	s.t.Helper()
	r := s.run(stdin, args...)
	if r.code != code {
		s.t.Fatalf("matrix-notify %s: want exit %d, got %s", strings.Join(args, " "), code, r)
	}
	return r
}

// alarm is one netdata 1.37 alarm transition (the 29-argument layout, with
// family, that Debian's netdata passes).
type alarm struct {
	roles, host, name, chart, family string
	alarmID, eventID, uniqueID       int
	status, oldStatus                string
	value, oldValue, info            string
}

func newAlarm(alarmID int, name string) alarm {
	return alarm{roles: "sysadmin", host: "web01", name: name, chart: "disk_space._", family: "/",
		alarmID: alarmID, eventID: 1, uniqueID: alarmID * 100, status: "CRITICAL", oldStatus: "CLEAR",
		value: "98.7", oldValue: "41.0", info: "disk space utilization"}
}

// transition returns the alarm moved to status, as netdata's next event.
func (a alarm) transition(status string) alarm {
	a.oldStatus, a.status = a.status, status
	a.eventID++
	a.uniqueID++
	a.oldValue = a.value
	if status == "CLEAR" {
		a.value = "12.0"
	}
	return a
}

func (a alarm) args() []string {
	when := "1764990000"
	return []string{a.roles, a.host, fmt.Sprint(a.uniqueID), fmt.Sprint(a.alarmID), fmt.Sprint(a.eventID), when,
		a.name, a.chart, a.family, a.status, a.oldStatus, a.value, a.oldValue, "health.d/disks.conf:12",
		"300", "900", "%", a.info, a.value + "%", a.oldValue + "%", "$this > 90", "", "1", "0", "", "",
		"Utilization", "", ""}
}
