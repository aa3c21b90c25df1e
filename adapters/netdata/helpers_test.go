package netdata

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// -update rewrites the golden files under testdata/. The bash-derived ones
// (duration4human, urlencode, date) need bash and the real alarm-notify.sh:
// set ALARM_NOTIFY_SH to its path (default: Debian 1.37.1's, extracted by
// scripts/fetch-netdata.sh, which `make test` runs).
// Without them the tests check the committed golden files only.
var update = flag.Bool("update", false, "rewrite golden files under testdata/")

const defaultScript = "../../testdata/.cache/netdata/usr/lib/netdata/plugins.d/alarm-notify.sh"

// scriptFunctions returns the bash source of the named functions cut out of
// the real alarm-notify.sh (from "NAME() {" to the next line "}"), or ""
// when bash or the script is not available.
func scriptFunctions(t *testing.T, names ...string) string {
	t.Helper()
	path := os.Getenv("ALARM_NOTIFY_SH")
	if path == "" {
		path = defaultScript
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if _, err := exec.LookPath("bash"); err != nil {
		return ""
	}
	var out strings.Builder
	for _, name := range names {
		lines := strings.Split(string(src), "\n")
		in := false
		found := false
		for _, l := range lines {
			if !in && strings.HasPrefix(l, name+"() {") {
				in, found = true, true
			}
			if in {
				out.WriteString(l + "\n")
				if l == "}" {
					break
				}
			}
		}
		if !found {
			t.Fatalf("function %s not found in %s", name, path)
		}
	}
	return out.String()
}

// runBash runs script with LC_ALL=C (as alarm-notify.sh exports it), the
// inputs NUL-separated on stdin, and returns the NUL-separated outputs.
func runBash(t *testing.T, script string, env []string, inputs []string) []string {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append([]string{"LC_ALL=C", "PATH=" + os.Getenv("PATH")}, env...)
	var stdin bytes.Buffer
	for _, in := range inputs {
		stdin.WriteString(in)
		stdin.WriteByte(0)
	}
	cmd.Stdin = &stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, stderr.String())
	}
	res := strings.Split(string(out), "\x00")
	if len(res) != len(inputs)+1 || res[len(res)-1] != "" {
		t.Fatalf("bash returned %d results for %d inputs", len(res)-1, len(inputs))
	}
	return res[:len(inputs)]
}

// bashGolden reads the golden file name: the outputs of alarm-notify.sh's
// bash function fn on inputs, computed by script (fn's caller: it reads
// the inputs NUL-separated and prints the outputs so). -update writes it
// from bash first, with header. It must hold a case per input. live is what
// bash says now when the script is around (nil under -update): the golden
// file must still be that.
func bashGolden(t *testing.T, name, header, fn, script string, inputs []string) (cases []goldenCase, live []string) {
	t.Helper()
	fns := scriptFunctions(t, fn)
	if *update {
		if fns == "" {
			t.Fatal("-update needs bash and alarm-notify.sh (ALARM_NOTIFY_SH)")
		}
		outs := runBash(t, fns+script, nil, inputs)
		for i, in := range inputs {
			cases = append(cases, goldenCase{in, outs[i]})
		}
		writeGolden(t, name, header, cases)
	} else if fns != "" {
		live = runBash(t, fns+script, nil, inputs)
	}
	cases = readGolden(t, name)
	if len(cases) != len(inputs) {
		t.Errorf("golden has %d cases, want %d: run with -update", len(cases), len(inputs))
	}
	return cases, live
}

// golden files hold one case per line: Go-quoted fields separated by tabs,
// after a header of # comments.
type goldenCase []string

func readGolden(t *testing.T, name string) []goldenCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []goldenCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var c goldenCase
		for _, q := range strings.Split(line, "\t") {
			s, err := strconv.Unquote(q)
			if err != nil {
				t.Fatalf("%s: bad line %q: %v", name, line, err)
			}
			c = append(c, s)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func writeGolden(t *testing.T, name, header string, cases []goldenCase) {
	t.Helper()
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(header), "\n") {
		b.WriteString("# " + l + "\n")
	}
	for _, c := range cases {
		for i, s := range c {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(strconv.Quote(s))
		}
		b.WriteByte('\n')
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
