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
	user := filepath.Join(dir, "etc")
	if err := os.MkdirAll(user, 0o755); err != nil {
		return err
	}
	conf := strings.NewReplacer("@HOMESERVER@", hs.URL(), "@TOKEN@", hs.Token(), "@OPS@", opsRoom, "@WEB@", webRoom).Replace(sampleConf)
	if err := os.WriteFile(filepath.Join(user, "health_alarm_notify.conf"), []byte(conf), 0o600); err != nil {
		return err
	}
	fmt.Printf("homeserver: %s (sendertest, in memory)\nconfig:     %s\n\n", hs.URL(), filepath.Join(user, "health_alarm_notify.conf"))
	fmt.Print(indent(strings.ReplaceAll(conf, hs.Token(), "<the access token>")))

	env := append(os.Environ(),
		"NETDATA_USER_CONFIG_DIR="+user, "NETDATA_STOCK_CONFIG_DIR="+filepath.Join(dir, "stock"), "NETDATA_CACHE_DIR="+filepath.Join(dir, "cache"),
		"NETDATA_LIB_DIR="+filepath.Join(dir, "lib"), // the state: never the host's /var/lib/netdata
		"NETDATA_REGISTRY_URL=https://netdata.demo.local:19999", "TZ=UTC")
	start := time.Now().Add(-20 * time.Minute).Unix()
	// One alarm's life; step 3 is the very same event as step 2 (ids, time).
	for i, st := range []struct {
		what, status, old, value   string
		id, at, duration, nonClear int64
	}{
		{"disk almost full: WARNING", "WARNING", "CLEAR", "91.3%", 0, 0, 3600, 0},
		{"worse: escalated to CRITICAL", "CRITICAL", "WARNING", "98.7%", 1, 300, 300, 300},
		{"the same CRITICAL again (netdata restarted and re-ran it)", "CRITICAL", "WARNING", "98.7%", 1, 300, 300, 300},
		{"space freed: CLEAR", "CLEAR", "CRITICAL", "42.0%", 3, 1200, 900, 1200},
	} {
		// netdata 2.x argv: 33 positional arguments, as netdata execs alarm-notify.sh.
		n := strconv.FormatInt
		args := []string{
			"sysadmin,webmaster", "web01", n(1000+st.id, 10), "42", n(7+st.id, 10), n(start+st.at, 10),
			"disk_space_usage", "disk_space._", st.status, st.old, strings.TrimSuffix(st.value, "%"), "91.3",
			"health.d/disks.conf:12", n(st.duration, 10), n(st.nonClear, 10), "%",
			`disk "/" space utilization <b>is</b> high`, st.value, "91.3%", "$this > 90", "", "1", "0", "", "", "Utilization",
			"", "", strconv.Itoa(9000 + i), "Disk / space usage", "disk.space", "Disk", "System",
		}
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Env, cmd.Stderr = env, &stderr
		code := 0
		if err := cmd.Run(); err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				return err
			}
			code = ee.ExitCode()
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
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}
