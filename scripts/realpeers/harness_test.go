package realpeers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Users of the test homeserver. The bot is what matrix-notify logs in as; the
// reader owns the rooms and reads what arrived; oncall is mentioned.
const (
	botName    = "bot"
	readerName = "reader"
	oncallName = "oncall"
	password   = "correct horse battery staple"
	serverName = "localhost"
)

func userID(name string) string { return "@" + name + ":" + serverName }

// env is what TestMain set up: the binary under test and the homeserver, or
// why there is none.
var env struct {
	skip     string // non-empty: why these tests cannot run here
	bin      string // the matrix-notify binary
	repo     string // the repository root
	hs       *dendrite
	botToken string // the bot's token on a device of the harness's own
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	binDir := os.Getenv("DENDRITE_BIN_DIR")
	if binDir == "" {
		env.skip = "DENDRITE_BIN_DIR is not set: these tests need Dendrite v0.13.8's binaries (run `make integration`, which builds them with scripts/realpeers/dendrite.sh)"
		return m.Run()
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.repo = repo
	tmp, err := os.MkdirTemp("", "realpeers-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Traversable by the netdata user, for the daemon test's scratch dirs.
	os.Chmod(tmp, 0o755)
	defer os.RemoveAll(tmp)

	env.bin = filepath.Join(tmp, "bin", "matrix-notify")
	// goolm: mautrix's pure-Go olm, for end-to-end encryption without cgo.
	build := exec.Command("go", "build", "-tags", "goolm", "-trimpath", "-o", env.bin, "./plugin")
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building matrix-notify:", err)
		return 1
	}
	os.Chmod(filepath.Dir(env.bin), 0o755)

	hs, err := startDendrite(filepath.Join(tmp, "dendrite"), binDir, filepath.Join(repo, "scripts/realpeers/dendrite.sh"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting Dendrite:", err)
		return 1
	}
	env.hs = hs
	defer hs.stop()
	for _, u := range []string{botName, readerName, oncallName} {
		if err := hs.createUser(u); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := loginClient(ctx, hs.url, botName, "REALPEERS_HARNESS")
	if err != nil {
		fmt.Fprintln(os.Stderr, "logging the bot in:", err)
		return 1
	}
	env.botToken = c.AccessToken
	return m.Run()
}

// need skips a test that has no homeserver.
func need(t *testing.T) {
	t.Helper()
	if env.skip != "" {
		t.Skip(env.skip)
	}
}

// dendrite is one Dendrite process and its data directory, restartable on
// the same address.
type dendrite struct {
	dir, addr, url, script, binDir string
	cmd                            *exec.Cmd
	done                           chan struct{} // closed when cmd has exited
}

func startDendrite(dir, binDir, script string) (*dendrite, error) {
	d := &dendrite{dir: dir, script: script, binDir: binDir}
	if out, err := d.scriptCmd("init", dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("dendrite.sh init: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d.addr = fmt.Sprintf("127.0.0.1:%d", port)
	d.url = "http://" + d.addr
	return d, d.start()
}

func (d *dendrite) scriptCmd(args ...string) *exec.Cmd {
	cmd := exec.Command("bash", append([]string{d.script}, args...)...)
	cmd.Env = append(os.Environ(), "DENDRITE_BIN_DIR="+d.binDir)
	return cmd
}

// start runs Dendrite (dendrite.sh execs it: the child is Dendrite itself)
// and waits until it answers the client API.
func (d *dendrite) start() error {
	logPath := filepath.Join(d.dir, "dendrite.out")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close() // the child has its own copy
	d.cmd = d.scriptCmd("run", d.dir, d.addr)
	d.cmd.Stdout, d.cmd.Stderr = f, f
	if err := d.cmd.Start(); err != nil {
		return err
	}
	d.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(d.cmd, d.done)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("dendrite exited: %v\n%s", d.cmd.ProcessState, out)
		default:
		}
		resp, err := http.Get(d.url + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.stop()
	return fmt.Errorf("dendrite did not answer on %s within 60 s", d.addr)
}

// stop ends Dendrite (SIGTERM, SIGKILL after 5 s) and waits until it has
// exited, so that a client sees the outage at once.
func (d *dendrite) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
	d.cmd = nil
}

func (d *dendrite) createUser(name string) error {
	cmd := d.scriptCmd("user", d.dir, d.url, name)
	cmd.Stdin = strings.NewReader(password + "\n")
	// create-account logs the new token: keep it out of the test output.
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("creating user %s: %v\n%s", name, err, redactTokens(string(out)))
	}
	return nil
}

func redactTokens(s string) string {
	if i := strings.Index(s, "AccessToken:"); i >= 0 {
		return s[:i] + "AccessToken: <redacted>)"
	}
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
