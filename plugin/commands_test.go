package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	"matrix-notify/sender/sendertest"
)

// Every subcommand's --help (and -h) prints its usage on stdout and exits 0,
// running nothing: `test --help` sends no alarm.
func TestSubcommandHelp(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!ops:example.org"}})
	defer hs.Close()
	h := newNetdataHome(t, confFor(hs, "!ops:example.org"))
	for _, c := range commands {
		for _, flag := range []string{"--help", "-h"} {
			r := h.run(t, nil, c.name, flag)
			if r.code != exitDelivered {
				t.Errorf("%s %s: exit %d, want 0\nstderr: %s", c.name, flag, r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stdout, "usage: matrix-notify "+c.name) {
				t.Errorf("%s %s: stdout does not start with its usage:\n%s", c.name, flag, r.stdout)
			}
			if r.stderr != "" {
				t.Errorf("%s %s: stderr: %s", c.name, flag, r.stderr)
			}
		}
	}
	// Flags before --help, the ROLE test form, and help COMMAND.
	for _, args := range [][]string{{"test", "webmaster", "--help"}, {"webmaster", "test", "--help"},
		{"serve", "--listen", "127.0.0.1:0", "--help"}, {"help", "test"}} {
		r := h.run(t, nil, args...)
		if r.code != exitDelivered || !strings.HasPrefix(r.stdout, "usage: matrix-notify test") && args[0] != "serve" {
			t.Errorf("%q: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
	if n := len(hs.Events("!ops:example.org")); n != 0 {
		t.Errorf("--help sent %d messages", n)
	}
}

func TestUnknownCommand(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!ops:example.org"}})
	defer hs.Close()
	h := newNetdataHome(t, confFor(hs, "!ops:example.org"))
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"flsuh"}, `unknown command "flsuh", did you mean "flush"?`},
		{[]string{"sreve", "--listen", ":0"}, `unknown command "sreve", did you mean "serve"?`},
		{[]string{"--verison"}, `unknown command "--verison", did you mean "--version"?`},
		{[]string{"doctr"}, `did you mean "doctor"?`},
		{[]string{"sysadmin"}, `unknown command "sysadmin": matrix-notify help lists the commands`},
		{[]string{"sysadmin", "web01", "1001", "42", "7", "1763899200", "disk_space_usage", "disk_space._"}, `unknown command "sysadmin"`},
		{[]string{"help", "flsuh"}, `did you mean "flush"?`},
	}
	for _, tt := range tests {
		r := h.run(t, nil, tt.args...)
		if r.code != exitUsage {
			t.Errorf("%q: exit %d, want %d", tt.args, r.code, exitUsage)
		}
		if !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: stderr %q, want %q", tt.args, r.stderr, tt.want)
		}
	}
	if n := len(hs.Events("!ops:example.org")); n != 0 {
		t.Errorf("an unknown command sent %d messages", n)
	}
	// netdata's argv is still an alarm, from the status on (position 9).
	r := h.run(t, nil, "sysadmin", "web01", "1001", "42", "7", "1763899200", "disk_space_usage", "disk_space._", "WARNING")
	if r.code != exitDelivered {
		t.Fatalf("9-argument alarm: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(hs.Events("!ops:example.org")); n != 1 {
		t.Errorf("9-argument alarm: %d messages, want 1", n)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := newNetdataHome(t, "").run(t, nil, args...)
		if r.code != exitDelivered {
			t.Fatalf("%q: exit %d: %s", args, r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "matrix-notify ") || !strings.HasPrefix(lines[1], "commit ") || !strings.HasPrefix(lines[2], "go1.") {
			t.Errorf("%q:\n%s", args, r.stdout)
		}
	}
}

func TestWriteVersion(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "matrix-notify", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-12-06T01:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	var b bytes.Buffer
	writeVersion(&b, info, true, "fallback")
	want := "matrix-notify v1.2.3\ncommit 0123456789abcdef (2026-12-06T01:00:00Z, with uncommitted changes)\ngo1.26.8 "
	if !strings.HasPrefix(b.String(), want) {
		t.Errorf("got\n%s\nwant prefix\n%s", b.String(), want)
	}
	b.Reset()
	writeVersion(&b, &debug.BuildInfo{GoVersion: "go1.26.8"}, true, "541cffedc846")
	if !strings.Contains(b.String(), "matrix-notify (devel)\ncommit 541cffedc846\n") {
		t.Errorf("fallback commit:\n%s", b.String())
	}
}

func TestClosest(t *testing.T) {
	cands := []string{"homeserver", "access_token", "rooms", "flush", "queue"}
	for word, want := range map[string]string{"homesever": "homeserver", "Homeserver": "homeserver", "acess_token": "access_token",
		"room": "rooms", "flsuh": "flush", "quuee": "queue", "xyz": "", "": ""} {
		if got := closest(word, cands); got != want {
			t.Errorf("closest(%q) = %q, want %q", word, got, want)
		}
	}
}
