package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// goldenCase is testdata/netdata/<case>/case.json. Beside it: an optional
// health_alarm_notify.conf (the user file), stock.conf (the stock file, or
// "stock": "debian" for Debian's real one), matrix-notify.toml, and the
// expected output want.txt.
type goldenCase struct {
	Description string            `json:"description"`
	Stock       string            `json:"stock"`
	Env         map[string]string `json:"env"`
	Steps       []struct {
		Args []string          `json:"args"`
		Env  map[string]string `json:"env"`
		// Quoted args are Go string literals, so a case can hold bytes
		// that are not UTF-8 (JSON strings cannot).
		Quoted bool `json:"quoted"`
	} `json:"steps"`
}

// fixedNow is the clock of every golden case.
var fixedNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func debianStockConf(tb testing.TB) string {
	p := filepath.Join("..", "testdata", ".cache", "netdata", "usr", "lib", "netdata", "conf.d", "health_alarm_notify.conf")
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("Debian's health_alarm_notify.conf is not here (%v): run scripts/fetch-netdata.sh (make test does)", err)
	}
	return p
}

// netdataTestEnv is the environment netdata gives a notifier, over the
// directories of netdataTree, in a dry run.
func netdataTestEnv(user, stock, cache string) map[string]string {
	return map[string]string{
		"NETDATA_USER_CONFIG_DIR":  user,
		"NETDATA_STOCK_CONFIG_DIR": stock,
		"NETDATA_CACHE_DIR":        cache,
		"NETDATA_LIB_DIR":          libDir(cache),
		"NETDATA_REGISTRY_URL":     "https://netdata.example.org:19999",
		"MATRIX_NOTIFY_DRY_RUN":    "1",
	}
}

// netdataTree makes netdata's user config, stock config, cache and lib
// (libDir(cache)) directories under root.
func netdataTree(tb testing.TB, root string) (user, stock, cache string) {
	tb.Helper()
	user, stock, cache = filepath.Join(root, "etc"), filepath.Join(root, "stock"), filepath.Join(root, "cache")
	for _, d := range []string{user, stock, cache, libDir(cache)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	return user, stock, cache
}

// libDir is the NETDATA_LIB_DIR of a netdataTree: beside its cache. Every
// test environment sets it, so no test reads the host's /var/lib/netdata.
func libDir(cache string) string { return filepath.Join(filepath.Dir(cache), "lib") }

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestGoldenNetdata(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "testdata", "netdata", "*", "case.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, casePath := range dirs {
		dir := filepath.Dir(casePath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			runGoldenCase(t, dir)
		})
	}
}

func runGoldenCase(t *testing.T, dir string) {
	raw, err := os.ReadFile(filepath.Join(dir, "case.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gc goldenCase
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&gc); err != nil {
		t.Fatalf("case.json: %v", err)
	}
	tmp := t.TempDir()
	user, stock, cache := netdataTree(t, tmp)
	switch gc.Stock {
	case "":
	case "debian":
		copyFile(t, debianStockConf(t), filepath.Join(stock, "health_alarm_notify.conf"))
	default:
		copyFile(t, filepath.Join(dir, gc.Stock), filepath.Join(stock, "health_alarm_notify.conf"))
	}
	for _, name := range []string{"health_alarm_notify.conf", "matrix-notify.toml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			copyFile(t, filepath.Join(dir, name), filepath.Join(user, name))
		}
	}

	var out strings.Builder
	for i, step := range gc.Steps {
		env := netdataTestEnv(user, stock, cache)
		for k, v := range gc.Env {
			env[k] = v
		}
		for k, v := range step.Env {
			env[k] = v
		}
		a, stdout, stderr := newGoldenApp("", env)
		args := step.Args
		if step.Quoted {
			args = make([]string, len(step.Args))
			for j, q := range step.Args {
				if args[j], err = strconv.Unquote(q); err != nil {
					t.Fatalf("step %d arg %d: %v", i+1, j+1, err)
				}
			}
		}
		code := a.run(context.Background(), args)
		fmt.Fprintf(&out, "### step %d: %s\nexit %d\n", i+1, describeArgs(args), code)
		fmt.Fprintf(&out, "--- stdout\n%s", stdout.String())
		fmt.Fprintf(&out, "--- stderr\n%s", strings.ReplaceAll(stderr.String(), tmp, "$TMP"))
		fmt.Fprintf(&out, "--- tracking files\n%s", listFiles(t, cache))
		for _, line := range strings.Split(stdout.String(), "\n") {
			if line != "" && !json.Valid([]byte(line)) {
				t.Errorf("step %d: stdout line is not JSON: %q", i+1, line)
			}
		}
	}
	checkGolden(t, filepath.Join(dir, "want.txt"), out.String())
}

func describeArgs(args []string) string {
	if len(args) > 12 {
		return fmt.Sprintf("%d args: %q ...", len(args), args[:12])
	}
	return fmt.Sprintf("%d args: %q", len(args), args)
}

func listFiles(t *testing.T, root string) string {
	var files []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel+"\n")
		}
		return nil
	})
	sort.Strings(files)
	return strings.Join(files, "")
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./plugin -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test ./plugin -update, then review the diff):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff shows the first differing lines, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, wl, gl)
			if shown++; shown == 5 {
				break
			}
		}
	}
	return b.String()
}
