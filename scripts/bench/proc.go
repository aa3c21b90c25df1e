package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"matrix-notify/internal/child"
	"matrix-notify/sender/sendertest"
)

// proc is a server the bench started: sendertest or `matrix-notify serve`.
type proc struct {
	*child.Process
	url string
}

// startProc starts cmd and waits for the first line of out (its stdout or
// stderr pipe) that re matches: re's first group is the server's URL.
func startProc(cmd *exec.Cmd, out io.Reader, re *regexp.Regexp) (*proc, error) {
	p, url, err := child.StartAnnounced(cmd, out, re, 20*time.Second, nil)
	if err != nil {
		return nil, err
	}
	return &proc{p, url}, nil
}

// stop ends the server (SIGTERM, SIGKILL after 15 s) and waits for it.
func (p *proc) stop() {
	p.Stop(15 * time.Second)
}

// startHS runs the homeserver: this program again, as homeserver (see
// there), on listen (a free port when "").
func (b *bench) startHS(listen string, rooms []string, delay time.Duration, rate float64) (*proc, error) {
	cmd := exec.Command(b.self, "homeserver", cmp.Or(listen, "127.0.0.1:0"), strings.Join(rooms, ","), delay.String(), fmt.Sprint(rate))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	return startProc(cmd, out, regexp.MustCompile(`^(http://127\.0\.0\.1:\d+)$`))
}

// homeserver is the process startHS starts: package sender/sendertest's
// homeserver on loopback, with rooms (comma-separated) joined, delay
// before every answer and rate new events/s at most (0: no limit). It
// prints its URL as the first line on stdout and serves until killed.
func homeserver(listen, rooms, delay, rate string) error {
	d, err := time.ParseDuration(delay)
	if err != nil {
		return err
	}
	r, err := strconv.ParseFloat(rate, 64)
	if err != nil {
		return err
	}
	srv := sendertest.NewHandler(sendertest.Options{Joined: strings.Split(rooms, ","), Delay: d})
	srv.SetRateLimit(r)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	return (&http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}).Serve(ln)
}

// getJSON decodes what GET url answers into v: sendertest's
// /_sendertest/events and /requests.
func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// stats is sendertest's /_sendertest/stats: its counts, cheap to poll,
// unlike the events themselves, tens of MB after serve's load.
func (p *proc) stats() (st sendertest.Stats, err error) {
	err = getJSON(p.url+"/_sendertest/stats", &st)
	return st, err
}

// waitFor calls done every interval until it returns true, or false past
// deadline; it reports whether done returned true.
func waitFor(deadline time.Time, interval time.Duration, done func() bool) bool {
	for !done() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

// countPairs counts the (room, alarm) pairs among the homeserver's events,
// the alarm named in the body by re's first group: the pairs delivered, and
// the duplicates, events beyond the first for a pair whatever the txn id.
func countPairs(hs string, re *regexp.Regexp) (delivered, duplicates int, err error) {
	var evs []struct {
		Room    string
		Content struct{ Body string }
	}
	if err := getJSON(hs+"/_sendertest/events", &evs); err != nil {
		return 0, 0, err
	}
	seen := map[string]int{}
	for _, ev := range evs {
		if m := re.FindStringSubmatch(ev.Content.Body); m != nil {
			seen[ev.Room+"|"+m[1]]++
		}
	}
	for _, n := range seen {
		duplicates += n - 1
	}
	return len(seen), duplicates, nil
}

func rooms(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("!%s%02d:bench.test", prefix, i+1)
	}
	return out
}

// home is a throwaway netdata: config dirs with Debian's stock file and a
// user file, a cache dir, plugins.d, and the environment netdata gives a
// notifier.
type home struct {
	dir, user, plugins string
	env                []string
}

// newHome makes one with the user file routing to rooms on hsURL, and toml
// as matrix-notify.toml when it is not "".
func (b *bench) newHome(name, hsURL string, rooms []string, toml string) (*home, error) {
	dir := filepath.Join(b.tmp, name)
	stock := filepath.Join(dir, "stock")
	h := &home{dir: dir, user: filepath.Join(dir, "etc"), plugins: filepath.Join(dir, "plugins.d")}
	for _, d := range []string{h.user, stock, filepath.Join(dir, "cache"), h.plugins} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// Matrix only: email is on in the stock file and would cost the script
	// a sendmail run where one is installed.
	conf := fmt.Sprintf("SEND_EMAIL=\"NO\"\nSEND_MATRIX=\"YES\"\nMATRIX_HOMESERVER=%q\nMATRIX_ACCESSTOKEN=%q\nDEFAULT_RECIPIENT_MATRIX=%q\n",
		hsURL, "syt_sendertest_token", strings.Join(rooms, " "))
	files := map[string][]byte{filepath.Join(h.user, "health_alarm_notify.conf"): []byte(conf),
		filepath.Join(stock, "health_alarm_notify.conf"): b.stock, filepath.Join(h.plugins, "alarm-notify.sh"): b.script}
	if toml != "" {
		files[filepath.Join(h.user, "matrix-notify.toml")] = []byte(toml)
	}
	for path, data := range files {
		mode := os.FileMode(0o600)
		if strings.HasSuffix(path, ".sh") {
			mode = 0o755
		}
		if data == nil {
			continue
		}
		if err := os.WriteFile(path, data, mode); err != nil {
			return nil, err
		}
	}
	// The binary the way the README installs it, with install(1). Not with
	// one write(2) (os.WriteFile): the page-cache folios that leaves are
	// larger, and the kernel's fault-around maps them whole, so that every
	// exec of such a copy reads about 1.3 MB more RSS (BENCHMARKS.md, "How it
	// measures"). Users install it; they do not write it in one go.
	bin := filepath.Join(h.plugins, "matrix-notify")
	if out, err := exec.Command("install", "-m", "0755", b.bin, bin).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("install %s: %v: %s", bin, err, out)
	}
	h.env = []string{
		"PATH=" + os.Getenv("PATH") + ":/usr/bin:/bin", "TZ=UTC", "LANG=C.UTF-8",
		"HOME=" + dir, "CURL_HOME=" + dir,
		"NETDATA_USER_CONFIG_DIR=" + h.user, "NETDATA_STOCK_CONFIG_DIR=" + stock, "NETDATA_CACHE_DIR=" + filepath.Join(dir, "cache"),
		"NETDATA_LIB_DIR=" + filepath.Join(dir, "lib"), // the state: never the host's /var/lib/netdata
		"NETDATA_REGISTRY_URL=https://netdata.example.org:19999",
	}
	return h, nil
}

// alarmArgs is netdata 1.x's 29-argument argv for one CRITICAL transition,
// unique per seq (unique id, event id) and named name.
func alarmArgs(seq int, name string) []string {
	id := fmt.Sprint(seq)
	return []string{"sysadmin", "web01", "9" + id, "4" + id, id, "1763899200", name, "disk_space._", "/",
		"CRITICAL", "WARNING", "98.7", "91.3", "health.d/disks.conf:12", "300", "900", "%",
		"disk / space utilization", "98.7%", "91.3%", "$this > 90", "${this} = 98.7", "1", "0", "", "",
		"Utilization", "netdata edit-config health.d/disks.conf=12", ""}
}

// sample is one child process, measured.
type sample struct {
	v    [3]float64 // indexed by wall (ms), cpu (ms), rss (MB)
	code int
}

const (
	wall = iota
	cpu
	rss
)

// runChild runs path with args and env through the launcher, which measures
// it: wall time from fork to reaped, CPU (user+sys) and peak RSS from
// wait4's rusage, which counts the child and every descendant it waited for
// (bash's curls); ru_maxrss is the largest single process among them, not a
// sum.
func (b *bench) runChild(timeout time.Duration, path string, args, env []string) (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.launcher, append([]string{path}, args...)...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return sample{}, fmt.Errorf("%s: launcher: %v", path, err)
	}
	var wallNS, user, sys, rssKB int64
	var s sample
	if _, err := fmt.Sscan(string(out), &wallNS, &user, &sys, &rssKB, &s.code); err != nil {
		return sample{}, fmt.Errorf("%s: launcher report %q: %v", path, out, err)
	}
	s.v = [3]float64{float64(wallNS) / 1e6, float64(user+sys) / 1e6, float64(rssKB) / 1024}
	return s, nil
}
