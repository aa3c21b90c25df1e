package netdata

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"matrix-notify/adapters/netdata/healthconf"
)

func varsWith(def string, roles map[string]string) *healthconf.Vars {
	v := healthconf.NewVars()
	v.Scalars["DEFAULT_RECIPIENT_MATRIX"] = def
	v.Arrays["role_recipients_matrix"] = roles
	return v
}

type logLine struct{ level, msg string }

func collect(lines *[]logLine) func(level, msg string) {
	return func(level, msg string) { *lines = append(*lines, logLine{level, msg}) }
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestRecipientsModifierSequence(t *testing.T) {
	cache := t.TempDir()
	vars := varsWith("", map[string]string{
		"sysadmin": "!plain:hs, !crit:hs|critical !nowarn:hs|nowarn\t!noclear:hs|noclear\n" +
			"!combo:hs|critical|noclear #alias:hs|CRITICAL|NOWARN !bad:hs|bogus !badafter:hs|critical|bogus disabled",
	})
	const (
		P  = "!plain:hs"
		C  = "!crit:hs"
		NW = "!nowarn:hs"
		NC = "!noclear:hs"
		CN = "!combo:hs"
		A  = "#alias:hs"
		B  = "!bad:hs"
		BA = "!badafter:hs"
	)
	file := func(r string) string { return TrackingFile(cache, r, "42") }
	steps := []struct {
		status, old string
		want        []string
		files       []string // tracking files that exist afterwards
	}{
		{"WARNING", "CLEAR", []string{P, NC, B, BA}, nil},
		{"CRITICAL", "WARNING", []string{P, C, NW, NC, CN, A, B, BA}, []string{C, CN, A}},
		{"WARNING", "CRITICAL", []string{P, C, NC, CN, B, BA}, []string{C, CN, A}},
		{"CLEAR", "WARNING", []string{P, C, NW, A, B, BA}, nil},
		// a second CLEAR: nobody with critical gets it any more
		{"CLEAR", "WARNING", []string{P, NW, B, BA}, nil},
	}
	for i, s := range steps {
		var logs []logLine
		a := Alarm{Status: s.status, OldStatus: s.old, AlarmID: "42"}
		got := Recipients(vars, "sysadmin", a, cache, collect(&logs))
		if !slices.Equal(got, s.want) {
			t.Errorf("step %d %s: recipients\n got %q\nwant %q", i, s.status, got, s.want)
		}
		for _, r := range []string{P, C, NW, NC, CN, A, B, BA} {
			if want := slices.Contains(s.files, r); exists(file(r)) != want {
				t.Errorf("step %d %s: tracking file of %s exists=%v, want %v", i, s.status, r, !want, want)
			}
		}
		// unknown modifiers are errors, once per recipient per run
		var errs []string
		for _, l := range logs {
			if l.level == LevelError {
				errs = append(errs, l.msg)
			}
		}
		wantErrs := []string{
			"SEVERITY FILTERING for !bad:hs|bogus VIA matrix: invalid modifier 'bogus'.",
			"SEVERITY FILTERING for !badafter:hs|critical|bogus VIA matrix: invalid modifier 'bogus'.",
		}
		if !slices.Equal(errs, wantErrs) {
			t.Errorf("step %d: errors %q", i, errs)
		}
	}
	// directories: created for every recipient with critical that got past the
	// modifier loop, never for the others
	for r, want := range map[string]bool{C: true, CN: true, A: true, P: false, NW: false, NC: false, B: false, BA: false} {
		if got := exists(filepath.Join(cache, "alarm-notify", "matrix", r)); got != want {
			t.Errorf("dir of %s exists=%v, want %v", r, got, want)
		}
	}
}

func TestRecipientsRolesAndDuplicates(t *testing.T) {
	cache := t.TempDir()
	vars := varsWith("!def:hs", map[string]string{
		"sysadmin":  "!a:hs !b:hs",
		"webmaster": "!b:hs|critical, !c:hs,!a:hs",
		"dba":       "disabled",
		"empty":     "",
	})
	crit := Alarm{Status: "CRITICAL", AlarmID: "1"}
	for _, c := range []struct {
		roles string
		want  []string
	}{
		{"sysadmin", []string{"!a:hs", "!b:hs"}},
		{"sysadmin,webmaster", []string{"!a:hs", "!b:hs", "!c:hs"}},
		{"webmaster sysadmin", []string{"!b:hs", "!c:hs", "!a:hs"}},
		{" webmaster ,, sysadmin\t", []string{"!b:hs", "!c:hs", "!a:hs"}},
		{"silent", nil},
		{"disabled,silent", nil},
		{"sysadmin,silent", []string{"!a:hs", "!b:hs"}},
		{"dba", nil},
		{"empty", []string{"!def:hs"}},
		{"unknownrole", []string{"!def:hs"}},
		{"unknownrole,sysadmin", []string{"!def:hs", "!a:hs", "!b:hs"}},
		{"", nil},
	} {
		got := Recipients(vars, c.roles, crit, cache, nil)
		if !slices.Equal(got, c.want) {
			t.Errorf("roles %q: got %q, want %q", c.roles, got, c.want)
		}
	}
	if !exists(TrackingFile(cache, "!b:hs", "1")) {
		t.Error("critical touch missing")
	}
	// a WARNING: !b:hs|critical has its file, and plain !b:hs comes first anyway
	got := Recipients(vars, "webmaster", Alarm{Status: "WARNING", AlarmID: "2"}, cache, nil)
	if !slices.Equal(got, []string{"!c:hs", "!a:hs"}) {
		t.Errorf("webmaster WARNING for a new alarm: %q", got)
	}
	// the same recipient twice with critical: on CLEAR the first occurrence
	// removes the file and is allowed, the second is blocked; it is kept once
	v2 := varsWith("!x:hs|critical !x:hs|critical", nil)
	Recipients(v2, "r", Alarm{Status: "CRITICAL", AlarmID: "9"}, cache, nil)
	if got := Recipients(v2, "r", Alarm{Status: "CLEAR", AlarmID: "9"}, cache, nil); !slices.Equal(got, []string{"!x:hs"}) {
		t.Errorf("duplicate critical on CLEAR: %q", got)
	}
	// nil vars and log, default cache dir untouched for plain recipients
	if got := Recipients(nil, "sysadmin", crit, "", nil); got != nil {
		t.Errorf("nil vars: %q", got)
	}
}

func TestRecipientsOddNames(t *testing.T) {
	cache := t.TempDir()
	vars := varsWith("", map[string]string{
		"r": "!abc:example.org #room:example.org|critical |critical !empty-mods:hs| @user:hs|Critical",
	})
	got := Recipients(vars, "r", Alarm{Status: "CRITICAL", AlarmID: "5"}, cache, nil)
	want := []string{"!abc:example.org", "#room:example.org", "!empty-mods:hs", "@user:hs"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, r := range []string{"#room:example.org", "@user:hs", ""} {
		if !exists(TrackingFile(cache, r, "5")) {
			t.Errorf("tracking file for %q missing", r)
		}
	}
	// "room|" has no modifiers: always allowed, but CLEAR still removes a stale file
	stale := TrackingFile(cache, "!empty-mods:hs", "5")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if !FilterRecipient("!empty-mods:hs|", Alarm{Status: "CLEAR", AlarmID: "5"}, cache, nil) || exists(stale) {
		t.Error("room| on CLEAR")
	}
}

// TestFilterRecipientVsBash runs 1.37.1's filter_recipient_by_criticality
// (which knows only critical, where master agrees) over a status sequence
// and compares decisions and tracking files with FilterRecipient.
func TestFilterRecipientVsBash(t *testing.T) {
	fns := scriptFunctions(t, "filter_recipient_by_criticality")
	if fns == "" {
		t.Skip("no bash/alarm-notify.sh")
	}
	recipients := []string{"!plain:hs", "!crit:hs|critical", "#alias:hs|CRITICAL", "|critical"}
	seq := []string{"WARNING", "CRITICAL", "WARNING", "CLEAR", "CLEAR", "CRITICAL", "CLEAR"}
	bashCache, goCache := t.TempDir(), t.TempDir()
	script := `debug() { :; }; error() { :; }
` + fns + `
while IFS= read -r -d '' status && IFS= read -r -d '' r; do
  if filter_recipient_by_criticality matrix "$r"; then printf 'true\0true\0'; else printf 'false\0false\0'; fi
done`
	step := 0
	for _, st := range seq {
		for _, r := range recipients {
			out := runBash(t, script, []string{"NETDATA_CACHE_DIR=" + bashCache, "alarm_id=7"}, []string{st, r})
			got := FilterRecipient(r, Alarm{Status: st, AlarmID: "7"}, goCache, nil)
			if want := out[0] == "true"; got != want {
				t.Errorf("step %d %s %q: %v, bash %v", step, st, r, got, want)
			}
			for _, r := range recipients {
				key, _, _ := strings.Cut(r, "|")
				if exists(TrackingFile(bashCache, key, "7")) != exists(TrackingFile(goCache, key, "7")) {
					t.Errorf("step %d: tracking file of %q differs", step, key)
				}
			}
			step++
		}
	}
	// same directory trees
	list := func(root string) []string {
		var out []string
		filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
			return nil
		})
		return out
	}
	if b, g := list(bashCache), list(goCache); !slices.Equal(b, g) {
		t.Errorf("trees differ:\nbash %q\ngo   %q", b, g)
	}
}
