package liquidjs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The oracle: every template of testdata/templates rendered by LiquidJS
// (scripts/liquidjs/render.js, the npm package at Kuma's pinned version) and
// by this engine, on every context of testdata/templates/contexts, in each of
// oracleZones, at the fixed oracleNow. Any difference fails the test unless
// testdata/templates/known-differences.txt lists it with its reason; an entry
// that matches no difference fails it too, so the list stays true.
//
// Needs node and `npm ci --prefix scripts/liquidjs`; skipped (with the
// command to run) when either is missing, unless LIQUIDJS_ORACLE=required.

var oracleZones = []string{"UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"}

const oracleNow = "2026-11-23T15:04:05.678Z"

// templatesWithoutDifferences may never appear in known-differences.txt.
var templatesWithoutDifferences = []string{"kuma-french"}

type oracleCase struct {
	Name     string          `json:"name"`
	Template string          `json:"template"`
	Context  json.RawMessage `json:"context"`
	TZ       string          `json:"tz"`
	Now      string          `json:"now"`

	tpl, ctx string
}

type oracleResult struct {
	Name   string  `json:"name"`
	Output *string `json:"output"`
	Error  *string `json:"error"`
}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// oracle is LiquidJS, run by node with scripts/liquidjs/render.js.
type oracle struct{ root, node, script string }

// liquidJSOracle is the oracle, in the repository at root. The test is
// skipped (with the command to run) when node or the npm package is
// missing; LIQUIDJS_ORACLE=required (make test, CI) turns the skips into
// failures.
func liquidJSOracle(t *testing.T) oracle {
	t.Helper()
	o := oracle{root: repoRoot(t)}
	skip := t.Skip
	if os.Getenv("LIQUIDJS_ORACLE") == "required" {
		skip = t.Fatal
	}
	var err error
	if o.node, err = exec.LookPath("node"); err != nil {
		skip("node not installed: the LiquidJS oracle needs node and `npm ci --prefix scripts/liquidjs`")
	}
	if _, err := os.Stat(filepath.Join(o.root, "scripts", "liquidjs", "node_modules", "liquidjs")); err != nil {
		skip("scripts/liquidjs/node_modules missing: run `npm ci --prefix scripts/liquidjs` for the LiquidJS oracle")
	}
	o.script = filepath.Join(o.root, "scripts", "liquidjs", "render.js")
	return o
}

// render has LiquidJS render cases: its version, and one result a case, in
// the cases' order.
func (o oracle) render(t *testing.T, cases []oracleCase) (version string, results []oracleResult) {
	t.Helper()
	input, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(o.node, o.script)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("render.js: %v\n%s", err, stderr.String())
	}
	var res struct {
		LiquidJS string         `json:"liquidjs"`
		Results  []oracleResult `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("render.js output: %v", err)
	}
	if len(res.Results) != len(cases) {
		t.Fatalf("render.js returned %d results for %d cases", len(res.Results), len(cases))
	}
	return res.LiquidJS, res.Results
}

type knownDiff struct {
	tpl, ctx, tz, reason string
	line                 int
	used                 bool
}

func (k *knownDiff) matches(tpl, ctx, tz string) bool {
	m := func(pat, s string) bool {
		// '*' matches '/' too (zone names).
		ok, _ := path.Match(strings.ReplaceAll(pat, "/", "|"), strings.ReplaceAll(s, "/", "|"))
		return ok
	}
	return m(k.tpl, tpl) && m(k.ctx, ctx) && m(k.tz, tz)
}

// loadKnownDiffs reads lines "TEMPLATE CONTEXT TZ: reason"; each of the three
// is a name or a path.Match pattern ("*", "kuma-*"); # starts a comment line.
func loadKnownDiffs(t *testing.T, file string) []*knownDiff {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("known differences: %v", err)
	}
	defer f.Close()
	var out []*knownDiff
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		head, reason, ok := strings.Cut(line, ":")
		fields := strings.Fields(head)
		if !ok || len(fields) != 3 || strings.TrimSpace(reason) == "" {
			t.Fatalf("%s:%d: want \"TEMPLATE CONTEXT TZ: reason\", got %q", file, n, line)
		}
		for _, tpl := range templatesWithoutDifferences {
			if ok, _ := path.Match(fields[0], tpl); ok {
				t.Fatalf("%s:%d: %s must match LiquidJS byte for byte; no known difference may cover it", file, n, tpl)
			}
		}
		out = append(out, &knownDiff{tpl: fields[0], ctx: fields[1], tz: fields[2], reason: strings.TrimSpace(reason), line: n})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLiquidJSOracle(t *testing.T) {
	o := liquidJSOracle(t)
	tdir := filepath.Join(o.root, "testdata", "templates")
	tplFiles, _ := filepath.Glob(filepath.Join(tdir, "*.liquid"))
	ctxFiles, _ := filepath.Glob(filepath.Join(tdir, "contexts", "*.json"))
	if len(tplFiles) == 0 || len(ctxFiles) == 0 {
		t.Fatal("empty template corpus")
	}
	known := loadKnownDiffs(t, filepath.Join(tdir, "known-differences.txt"))

	var cases []oracleCase
	contexts := map[string][]byte{}
	for _, cf := range ctxFiles {
		b, err := os.ReadFile(cf)
		if err != nil {
			t.Fatal(err)
		}
		contexts[strings.TrimSuffix(filepath.Base(cf), ".json")] = b
	}
	for _, tf := range tplFiles {
		src, err := os.ReadFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		tname := strings.TrimSuffix(filepath.Base(tf), ".liquid")
		for _, cf := range ctxFiles {
			cname := strings.TrimSuffix(filepath.Base(cf), ".json")
			for _, tz := range oracleZones {
				cases = append(cases, oracleCase{
					Name: tname + " " + cname + " " + tz, Template: string(src),
					Context: contexts[cname], TZ: tz, Now: oracleNow, tpl: tname, ctx: cname,
				})
			}
		}
	}
	version, results := o.render(t, cases)
	if !strings.HasPrefix(version, "10.26.") {
		t.Errorf("oracle is liquidjs %s, want Kuma's 10.26.x", version)
	}

	now, _ := time.Parse(time.RFC3339Nano, oracleNow)
	engines := map[string]*Engine{}
	for _, tz := range oracleZones {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			t.Fatal(err)
		}
		engines[tz] = New(Options{Location: loc, Now: func() time.Time { return now }})
	}

	var same, expected int
	var unexpected []string
	for i, c := range cases {
		r := results[i]
		ctx, err := decodeContext(c.Context)
		if err != nil {
			t.Fatalf("%s: %v", c.ctx, err)
		}
		var got string
		var gotErr error
		tpl, err := engines[c.TZ].Parse(c.tpl, c.Template)
		if err != nil {
			gotErr = err
		} else {
			got, gotErr = tpl.Render(ctx)
		}
		var diff string
		switch {
		case r.Error != nil && gotErr != nil:
			// Both reject it: same behaviour for the caller.
		case r.Error != nil:
			diff = "LiquidJS fails (" + *r.Error + ") but we render " + quoteShort(got)
		case gotErr != nil:
			diff = "we fail (" + gotErr.Error() + ") but LiquidJS renders " + quoteShort(*r.Output)
		case *r.Output != got:
			diff = lineDiff(*r.Output, got)
		}
		if diff == "" {
			same++
			continue
		}
		var hit *knownDiff
		for _, k := range known {
			if k.matches(c.tpl, c.ctx, c.TZ) {
				hit = k
				break
			}
		}
		if hit != nil {
			hit.used = true
			expected++
			continue
		}
		unexpected = append(unexpected, c.Name+": "+diff)
	}
	// check-template (Lint) must accept every template LiquidJS parses:
	// one it renders in any case does. (The comparison above runs Parse,
	// not Lint, which also reports partials.)
	linted := map[string]bool{}
	for i, c := range cases {
		if results[i].Error != nil || linted[c.tpl] {
			continue
		}
		linted[c.tpl] = true
		for _, d := range Lint(c.tpl, c.Template, KumaVariables) {
			if d.Severity == SeverityError {
				unexpected = append(unexpected, c.tpl+": LiquidJS renders it ("+c.ctx+" "+c.TZ+") but check-template rejects it: "+d.String())
			}
		}
	}
	sort.Strings(unexpected)
	for _, u := range unexpected {
		t.Error(u)
	}
	for _, k := range known {
		if !k.used {
			t.Errorf("known-differences.txt:%d: %s %s %s matches no difference any more; remove it", k.line, k.tpl, k.ctx, k.tz)
		}
	}
	t.Logf("liquidjs %s: %d cases, %d identical, %d known differences, %d unexpected", version, len(cases), same, expected, len(unexpected))
}

func quoteShort(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// lineDiff shows the first differing line of want (LiquidJS) and got (ours).
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g || i >= len(wl) || i >= len(gl) {
			return "line " + itoa(i+1) + ":\n  liquidjs: " + quoteShort(w) + "\n  ours:     " + quoteShort(g)
		}
	}
	return "outputs differ"
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
