package realpeer

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
)

// NioPython is the system python, which has Debian's matrix-nio and
// python3-olm.
const NioPython = "/usr/bin/python3"

// NeedNio skips the test when matrix-nio or python3-olm is missing.
func NeedNio(t testing.TB) {
	t.Helper()
	if err := exec.Command(NioPython, "-c", "import nio, olm").Run(); err != nil {
		Skip(t, "matrix-nio with python3-olm not installed for %s (apt-get install python3-matrix-nio python3-olm): %v", NioPython, err)
	}
}

// NioMessage is one message nio_peer.py received.
type NioMessage struct {
	EventID   string         `json:"event_id"`
	Body      string         `json:"body"`
	Decrypted bool           `json:"decrypted"`
	SessionID string         `json:"session_id"`
	Content   map[string]any `json:"content"`
}

// NioReceived is what `nio_peer.py receive` printed.
type NioReceived struct {
	Messages []NioMessage     `json:"messages"`
	Errors   []map[string]any `json:"errors"`
	ToDevice []string         `json:"to_device"` // the to-device events' kinds, for a failure's report
}

// NioRun runs nio_peer.py with args and decodes the JSON it prints into out.
func NioRun(t testing.TB, out any, args ...string) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(NioPython, append([]string{filepath.Join(root, "sender/e2ee/testdata/nio_peer.py")}, args...)...).Output()
	if err != nil {
		var stderr string
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("nio_peer.py %s: %v\n%s\n%s", args[0], err, b, tail(stderr, 3000))
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("nio_peer.py %s printed %q: %v", args[0], b, err)
	}
}
