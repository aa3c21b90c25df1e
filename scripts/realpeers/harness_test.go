package realpeers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"matrix-notify/internal/realpeer"
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
	hs       *realpeer.Dendrite
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

	hs, err := realpeer.StartDendrite(filepath.Join(tmp, "dendrite"), binDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting Dendrite:", err)
		return 1
	}
	env.hs = hs
	defer hs.Stop()
	for _, u := range []string{botName, readerName, oncallName} {
		if err := hs.CreateUser(u, password); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := loginClient(ctx, hs.URL, botName, "REALPEERS_HARNESS")
	if err != nil {
		fmt.Fprintln(os.Stderr, "logging the bot in:", err)
		return 1
	}
	env.botToken = c.AccessToken
	return m.Run()
}

// hsUp starts Dendrite again after a test's env.hs.Stop (nothing when it
// runs): the tests after it need it.
func hsUp(t *testing.T) {
	t.Helper()
	if err := env.hs.Start(); err != nil {
		t.Fatalf("restarting Dendrite: %v", err)
	}
}

// need skips a test that has no homeserver.
func need(t *testing.T) {
	t.Helper()
	if env.skip != "" {
		realpeer.Skip(t, "%s", env.skip)
	}
}
