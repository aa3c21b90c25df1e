package liquidjs

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The negative corpus: every template of testdata/templates/invalid is one
// LiquidJS rejects (the test fails if LiquidJS accepts it: the corpus must
// stay true), and Lint (check-template) must reject it too, at LiquidJS's
// line and column, unless invalid/known-differences.txt lists the template
// with the reason the position differs (never that we accept it). An entry
// that matches no difference fails the test too.
func TestLiquidJSOracleRejects(t *testing.T) {
	o := liquidJSOracle(t)
	dir := filepath.Join(o.root, "testdata", "templates", "invalid")
	files, _ := filepath.Glob(filepath.Join(dir, "*.liquid"))
	if len(files) == 0 {
		t.Fatal("empty negative corpus")
	}
	known := loadPositionDiffs(t, filepath.Join(dir, "known-differences.txt"))
	var cases []oracleCase
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".liquid")
		cases = append(cases, oracleCase{Name: name, Template: string(src), Context: json.RawMessage(`{}`), TZ: "UTC", Now: oracleNow})
	}
	_, results := o.render(t, cases)
	pos := regexp.MustCompile(`, line:(\d+), col:(\d+)$`)
	for i, c := range cases {
		r := results[i]
		if r.Error == nil {
			t.Errorf("%s: LiquidJS renders it (%s): not a negative case", c.Name, quoteShort(*r.Output))
			continue
		}
		var first *Diagnostic
		for _, d := range Lint(c.Name, c.Template, KumaVariables) {
			if d.Severity == SeverityError {
				first = &d
				break
			}
		}
		if first == nil {
			t.Errorf("%s: LiquidJS rejects it (%s), check-template accepts it", c.Name, *r.Error)
			continue
		}
		m := pos.FindStringSubmatch(*r.Error)
		if m == nil {
			t.Errorf("%s: LiquidJS's error has no position: %s", c.Name, *r.Error)
			continue
		}
		want, got := m[1]+":"+m[2], itoa(first.Line)+":"+itoa(first.Col)
		if k, ok := known[c.Name]; ok {
			k.used = true
			if want == got {
				t.Errorf("known-differences.txt:%d: %s now matches LiquidJS (%s); remove it", k.line, c.Name, want)
			}
			continue
		}
		if want != got {
			t.Errorf("%s: LiquidJS says %s (%s), check-template %s (%s)", c.Name, want, *r.Error, got, first.Msg)
		}
	}
	for name, k := range known {
		if !k.used {
			t.Errorf("known-differences.txt:%d: %s is not in the corpus", k.line, name)
		}
	}
}

type positionDiff struct {
	line int
	used bool
}

// loadPositionDiffs reads lines "TEMPLATE: reason".
func loadPositionDiffs(t *testing.T, file string) map[string]*positionDiff {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("known differences: %v", err)
	}
	defer f.Close()
	out := map[string]*positionDiff{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(reason) == "" || strings.ContainsAny(name, " \t") {
			t.Fatalf("%s:%d: want \"TEMPLATE: reason\", got %q", file, n, line)
		}
		out[name] = &positionDiff{line: n}
	}
	return out
}
