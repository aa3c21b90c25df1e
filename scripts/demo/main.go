// Command demo is `make demo`: it starts the bundled homeserver
// (sender/sendertest) on loopback, runs the built matrix-notify exactly as
// netdata would for one alarm's life (WARNING, escalated to CRITICAL, CLEAR)
// routed by roles from a sample health_alarm_notify.conf to two rooms, runs
// the CRITICAL a second time the way a netdata restart might, and prints what
// each room received. Nothing beyond loopback, nothing to install but go.
package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"matrix-notify/sender/sendertest"
)

//go:embed health_alarm_notify.conf
var sampleConf string

const (
	opsRoom = "!ops:demo.local"
	webRoom = "!web:demo.local"
)

func main() {
	bin := flag.String("bin", "bin/matrix-notify", "the matrix-notify binary to run")
	flag.Parse()
	if err := run(*bin); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin string) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	hs := sendertest.New(sendertest.Options{Joined: []string{opsRoom, webRoom}})
	defer hs.Close()

	dir, err := os.MkdirTemp("", "matrix-notify-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	user, stock, cache := filepath.Join(dir, "etc"), filepath.Join(dir, "stock"), filepath.Join(dir, "cache")
	for _, d := range []string{user, stock, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	conf := strings.NewReplacer("@HOMESERVER@", hs.URL(), "@TOKEN@", hs.Token(), "@OPS@", opsRoom, "@WEB@", webRoom).Replace(sampleConf)
	if err := os.WriteFile(filepath.Join(user, "health_alarm_notify.conf"), []byte(conf), 0o600); err != nil {
		return err
	}
	fmt.Printf("homeserver: %s (sendertest, in memory)\nconfig:     %s\n\n", hs.URL(), filepath.Join(user, "health_alarm_notify.conf"))
	fmt.Print(indent(strings.ReplaceAll(conf, hs.Token(), "<the access token>")))

	start := time.Now().Add(-20 * time.Minute).Unix()
	steps := []struct {
		what                  string
		status, old           string
		when, duration, nonCl int64
		value                 string
	}{
		{"disk almost full: WARNING", "WARNING", "CLEAR", start, 3600, 0, "91.3%"},
		{"worse: escalated to CRITICAL", "CRITICAL", "WARNING", start + 300, 300, 300, "98.7%"},
		{"the same CRITICAL again (netdata restarted and re-ran it)", "CRITICAL", "WARNING", start + 300, 300, 300, "98.7%"},
		{"space freed: CLEAR", "CLEAR", "CRITICAL", start + 1200, 900, 1200, "42.0%"},
	}
	env := append(os.Environ(),
		"NETDATA_USER_CONFIG_DIR="+user, "NETDATA_STOCK_CONFIG_DIR="+stock, "NETDATA_CACHE_DIR="+cache,
		"NETDATA_LIB_DIR="+filepath.Join(dir, "lib"), // the state: never the host's /var/lib/netdata
		"NETDATA_REGISTRY_URL=https://netdata.demo.local:19999", "TZ=UTC")
	for i, st := range steps {
		// netdata 2.x argv: 33 positional arguments, as netdata execs alarm-notify.sh.
		args := []string{
			"sysadmin,webmaster", "web01", strconv.Itoa(1000 + i), "42", strconv.Itoa(7 + i), strconv.FormatInt(st.when, 10),
			"disk_space_usage", "disk_space._", st.status, st.old, strings.TrimSuffix(st.value, "%"), "91.3",
			"health.d/disks.conf:12", strconv.FormatInt(st.duration, 10), strconv.FormatInt(st.nonCl, 10), "%",
			`disk "/" space utilization <b>is</b> high`, st.value, "91.3%", "$this > 90", "", "1", "0", "", "", "Utilization",
			"", "", strconv.Itoa(9000 + i), "Disk / space usage", "disk.space", "Disk", "System",
		}
		if i == 2 {
			args[2], args[4] = strconv.Itoa(1000+1), strconv.Itoa(7+1) // the very same event as step 2
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			return err
		}
		fmt.Printf("$ matrix-notify sysadmin,webmaster web01 ... %s %s ...   # %s\n", st.status, st.old, st.what)
		fmt.Print(indent(stderr.String()))
		fmt.Printf("  exit code %d\n\n", code)
	}

	for _, room := range []string{opsRoom, webRoom} {
		events := hs.Events(room)
		fmt.Printf("=== timeline of %s (%d events)\n", room, len(events))
		for _, ev := range events {
			var c struct {
				MsgType       string `json:"msgtype"`
				Body          string `json:"body"`
				FormattedBody string `json:"formatted_body"`
			}
			if err := json.Unmarshal(ev.Content, &c); err != nil {
				return err
			}
			fmt.Printf("%s  %s  %s\n  body: %s\n  html: %s\n", ev.Time.Format("15:04:05.000"), ev.EventID, c.MsgType, c.Body, c.FormattedBody)
		}
		fmt.Println()
	}
	fmt.Println("The repeated CRITICAL reused its transaction ids, so no room shows it twice.")
	fmt.Println("Room !web:demo.local has the nowarn modifier: it got the CRITICAL and the CLEAR only.")
	return nil
}

func indent(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  " + line)
	}
	b.WriteString("\n")
	return b.String()
}
