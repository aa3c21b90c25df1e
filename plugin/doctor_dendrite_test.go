package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"matrix-notify/sender/sendertest"
)

// doctor --join words a refused join with the hint every other message
// gives for the same refusal (sender.ClassifyRoomError), here Dendrite's.
func TestDoctorJoinRefusedOnDendrite(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Software: sendertest.Dendrite, Invited: []string{"!abcdef"}})
	defer hs.Close()
	tmp := t.TempDir()
	env := loginEnv(tmp)
	path := filepath.Join(tmp, "doctor.toml")
	conf := "[matrix]\nhomeserver = \"" + hs.URL() + "\"\naccess_token = \"" + hs.Token() + "\"\nrooms = [\"!abcdef\"]\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, stderr := runApp(t, "", env, "doctor", "--join", "--config", path)
	want := `could not join room=!abcdef err="HTTP 400 M_UNKNOWN: room ID \"!abcdef\" is invalid: at least one ':' is expected in the room id (\"!abcdef\" is not a room id the homeserver accepts`
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
}
