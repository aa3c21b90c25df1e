package e2ee

// A real homeserver for this package's tests: the integration tests'
// Dendrite v0.13.8 (internal/realpeer), started once per test binary when
// DENDRITE_BIN_DIR names its binaries, skipped otherwise: a test never looks
// in the host's cache directories.

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"matrix-notify/internal/realpeer"
)

var (
	hsOnce sync.Once
	hs     *realpeer.Dendrite
	hsErr  error
)

// homeserver returns the package's Dendrite, starting it on first use, or
// skips the test when the binaries are missing.
func homeserver(t *testing.T) *realpeer.Dendrite {
	t.Helper()
	bin := os.Getenv("DENDRITE_BIN_DIR")
	if bin == "" {
		realpeer.Skip(t, "DENDRITE_BIN_DIR is not set: `make integration` runs the tests against Dendrite")
	}
	for _, b := range []string{"dendrite", "generate-keys", "generate-config", "create-account"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			realpeer.Skip(t, "Dendrite not built (%v): `make integration` builds it", err)
		}
	}
	hsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "e2ee-dendrite-")
		if err != nil {
			hsErr = err
			return
		}
		hs, hsErr = realpeer.StartDendrite(dir, bin)
	})
	if hsErr != nil {
		t.Fatalf("starting Dendrite: %v", hsErr)
	}
	return hs
}

// stopHomeserver ends the package's Dendrite, if it ran, and removes its data.
func stopHomeserver() {
	if hs != nil {
		hs.Stop()
		os.RemoveAll(hs.Dir)
	}
}

var userSeq struct {
	sync.Mutex
	n int
}

// newUser creates an account with a unique name on d and returns its
// localpart and password.
func newUser(t *testing.T, d *realpeer.Dendrite, prefix string) (string, string) {
	t.Helper()
	userSeq.Lock()
	userSeq.n++
	name := fmt.Sprintf("%s%d%d", prefix, time.Now().UnixNano()%1e6, userSeq.n)
	userSeq.Unlock()
	pw := "pw-" + name + "-secret"
	if err := d.CreateUser(name, pw); err != nil {
		t.Fatal(err)
	}
	return name, pw
}
