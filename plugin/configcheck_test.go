package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A configuration mistake is an error naming the file and the line, in
// words, with the nearest key for a misspelt one.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, toml, want string
	}{
		{"unknown key", "# bot\n[matrix]\nhomeserver = \"https://hs\"\naccess_token = \"syt_x\"\n\nrooms = [\"!a:hs\"]\nhomesever = \"https://typo\"\n",
			`config.toml:7: unknown key "homesever" in [matrix], did you mean "homeserver"?`},
		{"unknown key, no suggestion", "[matrix]\nfavourite_colour = \"blue\"\n", `config.toml:2: unknown key "favourite_colour" in [matrix]`},
		{"unknown top-level key", "timezon = \"UTC\"\n", `config.toml:1: unknown key "timezon", did you mean "timezone"?`},
		{"unknown table", "[matrx]\nhomeserver = \"x\"\n", `config.toml:1: unknown table [matrx], did you mean [matrix]?`},
		{"unknown key in [serve]", "[serve]\nlisen = \"127.0.0.1:1\"\n", `config.toml:2: unknown key "lisen" in [serve], did you mean "listen"?`},
		{"two unknown keys", "[matrix]\nroom = []\n[kuma]\ntemplat = \"x\"\n",
			`config.toml:2: unknown key "room" in [matrix], did you mean "rooms"?; config.toml:4: unknown key "templat" in [kuma], did you mean "template"?`},
		{"string for a number", "[matrix]\nhomeserver = \"x\"\n\n\nconcurrency = \"8\"\n", `config.toml:5: [matrix] concurrency must be a number, not a string ("8")`},
		{"number for a string", "[matrix]\nhomeserver = 8448\n", `config.toml:2: [matrix] homeserver must be a string, not a number`},
		{"string for a list", "[matrix]\nrooms = \"!a:hs\"\n", `config.toml:2: [matrix] rooms must be a list of strings, not a string ("!a:hs")`},
		{"list item", "[matrix]\nrooms = [\"!a:hs\", 2]\n", `config.toml:2: [matrix] rooms must be a list of strings: item 2 is a number`},
		{"bool", "[matrix]\nauto_join = \"yes\"\n", `config.toml:2: [matrix] auto_join must be true or false, not a string ("yes")`},
		{"duration as a number", "[matrix]\ntimeout = 30\n", `config.toml:2: [matrix] timeout must be a duration in quotes, like "30s", not a number`},
		{"route", "[kuma.routes]\nops = \"!a:hs\"\n", `config.toml:2: [kuma.routes] ops must be a list of strings, not a string ("!a:hs")`},
		{"table for a key", "matrix = 1\n", `config.toml:1: matrix must be a table, not a number`},
		{"bad duration", "[matrix]\n\ntimeout = \"soon\"\n", `config.toml:3: [matrix] timeout: not a duration like "30s": "soon"`},
		{"syntax", "[matrix]\nrooms = [\"!a:hs\",\naccess_token = \n", `config.toml:3: expected value but found "access" instead`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(path, []byte(tt.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadFileConfig(path, true, nil)
			if err == nil {
				t.Fatalf("no error")
			}
			got := strings.ReplaceAll(err.Error(), filepath.Dir(path)+"/", "")
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// The check is not skipped by --dry-run, and the error stops the command
// with exit 2 naming the file and line.
func TestConfigUnknownKeyDryRun(t *testing.T) {
	tmp := t.TempDir()
	env := loginEnv(tmp)
	cfg := filepath.Join(tmp, "config.toml")
	if err := os.WriteFile(cfg, []byte("[matrix]\nhomeserver = \"https://hs.example\"\naccess_token = \"syt_secret_token\"\nrooms = [\"!a:hs\"]\nhomesever = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runApp(t, `{"msg":"hi","heartbeat":null,"monitor":null}`, env, "kuma", "--dry-run", "--config", cfg)
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if want := cfg + `:5: unknown key "homesever" in [matrix], did you mean "homeserver"?`; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if stdout != "" {
		t.Errorf("a dry run printed requests despite the error: %s", stdout)
	}
}

// A value the configuration refuses names the file and the line too.
func TestConfigValueErrors(t *testing.T) {
	tests := []struct{ toml, want string }{
		{"[matrix]\nlifecycle = \"threads\"\n", `config.toml:2: [matrix] lifecycle: `},
		{"\ntimezone = \"Mars/Olympus\"\n", `config.toml:2: timezone: "Mars/Olympus": `},
		{"[matrix]\nmsgtype = { critical = \"m.loud\" }\n", `config.toml:2: [matrix.msgtype] critical: "m.loud" is neither m.text nor m.notice`},
		{"[matrix]\nmention_on_critical = [\"bob\"]\n", `config.toml:2: [matrix] mention_on_critical: "bob" is not a Matrix user id (@user:server)`},
		{"[matrix]\nconcurrency = -1\n", `config.toml:2: [matrix] concurrency: must be positive, got -1`},
		{"[matrix]\nhomeserver = \"ftp://example.org\"\n", `config.toml:2: [matrix] homeserver: homeserver "ftp://example.org": not an http(s) URL`},
		{"[matrix]\nhomeserver = \"matrix example.org\"\n", `config.toml:2: [matrix] homeserver: homeserver "matrix example.org": not a server name`},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, []byte(tt.toml), 0o600); err != nil {
			t.Fatal(err)
		}
		fc, err := loadFileConfig(path, true, nil)
		if err == nil {
			var s settings
			err = fc.apply(&s)
		}
		if err == nil {
			t.Errorf("%q: no error", tt.toml)
			continue
		}
		if got := strings.ReplaceAll(err.Error(), filepath.Dir(path)+"/", ""); !strings.HasPrefix(got, tt.want) {
			t.Errorf("got  %s\nwant %s...", got, tt.want)
		}
	}
}

// "No configuration found" says where it looked.
func TestNoConfigurationFound(t *testing.T) {
	tmp := t.TempDir()
	env := loginEnv(tmp)
	want := filepath.Join(tmp, "xdg", "matrix-notify", "config.toml")
	code, _, stderr := runApp(t, `{"msg":"hi","heartbeat":null,"monitor":null}`, env, "kuma")
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, "kuma: no configuration found: searched "+want+" (not found) and the environment (MATRIX_HOMESERVER, MATRIX_ACCESSTOKEN)") {
		t.Errorf("stderr: %s", stderr)
	}
	// A file without the token says what it lacks.
	if err := os.MkdirAll(filepath.Dir(want), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("[matrix]\nhomeserver = \"https://hs.example\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, stderr = runApp(t, "", env, "serve")
	if !strings.Contains(stderr, "serve: no access_token configured: searched "+want+" (no [matrix] access_token)") {
		t.Errorf("stderr: %s", stderr)
	}
}

// The environment's switches read alike: 0, no, false and off (any case)
// are off, anything else set is on.
func TestApplyEnvSwitches(t *testing.T) {
	for v, on := range map[string]bool{"1": true, "yes": true, "0": false, "no": false, "FALSE": false, "off": false, "Off": false} {
		var s settings
		applyEnv(&s, func(k string) string {
			return map[string]string{"MATRIX_NOTIFY_DRY_RUN": v, "MATRIX_NOTIFY_BACKGROUND_FLUSH": v}[k]
		})
		if s.DryRun != on || s.BackgroundFlush != on {
			t.Errorf("%q: dry run %v, background flush %v; want %v", v, s.DryRun, s.BackgroundFlush, on)
		}
	}
}
