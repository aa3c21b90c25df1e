package healthconf

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// seed is what the caller would put in Vars before the files: a bit of
// environment and alarm-notify.sh's declarations.
func seed() *Vars {
	v := NewVars()
	v.Scalars["HOME"] = "/home/netdata"
	v.Scalars["SEEDED"] = "from-env"
	v.Scalars["SEND_MATRIX"] = "YES"
	v.Arrays["role_recipients_matrix"] = map[string]string{}
	return v
}

func parse(t *testing.T, src string) (*Vars, []Warning) {
	t.Helper()
	v := seed()
	w, err := Parse("test.conf", strings.NewReader(src), v)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return v, w
}

func kinds(ws []Warning) []WarningKind {
	var ks []WarningKind
	for _, w := range ws {
		ks = append(ks, w.Kind)
	}
	return ks
}

// scalarCases are checked against our parser and, when bash is installed,
// against bash itself sourcing the same text.
var scalarCases = []struct {
	name string
	src  string
	want map[string]string
}{
	{"bare", "A=hello", map[string]string{"A": "hello"}},
	{"empty", "A=", map[string]string{"A": ""}},
	{"empty quotes", `A="" B=''`, map[string]string{"A": "", "B": ""}},
	{"single quotes keep everything", `A='$SEEDED \n "x" ${B:-y}'`, map[string]string{"A": `$SEEDED \n "x" ${B:-y}`}},
	{"double quotes expand", `A="[$SEEDED] [${SEEDED}]"`, map[string]string{"A": "[from-env] [from-env]"}},
	{"double quote escapes", `A="a\"b\\c\$d\` + "`" + `e\nf"`, map[string]string{"A": "a\"b\\c$d`e\\nf"}},
	{"ansi-c", `A=$'tab\there\nnl \x41 \u00e9 \'q\''`, map[string]string{"A": "tab\there\nnl A é 'q'"}},
	{"concatenation", `A=x'y'"z"$'w'$SEEDED`, map[string]string{"A": "xyzwfrom-env"}},
	{"unquoted escapes", `A=a\ b\$c`, map[string]string{"A": "a b$c"}},
	{"escapes in operands", `A=\~/x B="${NOPE:-a\ b}" C=${NOPE:-a\ b} D=~/a\ b`, map[string]string{"A": "~/x", "B": `a\ b`, "C": "a b", "D": "/home/netdata/a b"}},
	{"no word splitting", `A="a  b"; B=$A`, map[string]string{"A": "a  b", "B": "a  b"}},
	{"no globbing", `A=* B=/etc/*`, map[string]string{"A": "*", "B": "/etc/*"}},
	{"earlier in file", "A=1\nB=${A}2\nC=\"$B$A\"", map[string]string{"A": "1", "B": "12", "C": "121"}},
	{"same line left to right", `A=1 B=$A A=2 C=$A`, map[string]string{"A": "2", "B": "1", "C": "2"}},
	{"seeded value", `A=$SEEDED`, map[string]string{"A": "from-env"}},
	{"unset is empty", `A="x${NOPE}y"`, map[string]string{"A": "xy"}},
	{"default when unset", `A=${NOPE:-dflt} B="${NOPE-d2}"`, map[string]string{"A": "dflt", "B": "d2"}},
	{"default when empty", `E=; A=${E:-dflt} B=${E-nodflt}`, map[string]string{"A": "dflt", "B": ""}},
	{"default not used", `A=${SEEDED:-dflt}`, map[string]string{"A": "from-env"}},
	{"default with expansion", `A=${NOPE:-"$SEEDED x"}`, map[string]string{"A": "from-env x"}},
	{"assign default", `A=${NEW:=made}; B=$NEW`, map[string]string{"A": "made", "B": "made", "NEW": "made"}},
	{"colon default idiom", `: ${NEW:=made} ${SEEDED:=no}`, map[string]string{"NEW": "made", "SEEDED": "from-env"}},
	{"alternate", `A=${SEEDED:+set} B=${NOPE:+set}`, map[string]string{"A": "set", "B": ""}},
	{"length", `A=${#SEEDED}`, map[string]string{"A": "8"}},
	{"substring and patterns", `U=https://hs.example.org:8448/; A=${U#https://} B=${U%/} C=${U:8:2}`, map[string]string{"A": "hs.example.org:8448/", "B": "https://hs.example.org:8448", "C": "hs"}},
	{"case", `A=${SEEDED^^}`, map[string]string{"A": "FROM-ENV"}},
	{"global replace literal", `R="a,b,,c"; A=${R//,/ }`, map[string]string{"A": "a b  c"}},
	{"arithmetic", `A=$((2*21)) B=$(( ${#SEEDED} + 1 ))`, map[string]string{"A": "42", "B": "9"}},
	{"tilde", `A=~/x B=~`, map[string]string{"A": "/home/netdata/x", "B": "/home/netdata"}},
	{"append", `A=x; A+=y; A+="$A"`, map[string]string{"A": "xyxy"}},
	{"append to unset", `A+=y`, map[string]string{"A": "y"}},
	{"export", `export A="x y" B; export C=$A`, map[string]string{"A": "x y", "C": "x y"}},
	{"declare", `declare A=1 B="$SEEDED"`, map[string]string{"A": "1", "B": "from-env"}},
	{"typeset", `typeset -g A=1`, map[string]string{"A": "1"}},
	{"semicolons and comments", "A=1; B=2 # C=3\n# D=4\n  E=5\t;F=6", map[string]string{"A": "1", "B": "2", "E": "5", "F": "6"}},
	{"line continuation", "A=\"one \\\ntwo\"\nB=x\\\ny", map[string]string{"A": "one two", "B": "xy"}},
	{"multi-line double quotes", "A=\"one\ntwo\"", map[string]string{"A": "one\ntwo"}},
	{"braces in values", `A={a,b} B='{x}'`, map[string]string{"A": "{a,b}", "B": "{x}"}},
	{"equals in value", `A=a=b==c`, map[string]string{"A": "a=b==c"}},
	{"utf-8", `A="⚠️ 🔴 ✅"`, map[string]string{"A": "⚠️ 🔴 ✅"}},
	{"block runs in current shell", `{ A=1; B=2; }`, map[string]string{"A": "1", "B": "2"}},
	{"negation still assigns", `! A=1`, map[string]string{"A": "1"}},
	{"unset", `A=1; unset A SEEDED`, map[string]string{"A": "", "SEEDED": ""}},
	{"curl options", `curl_options="--proxy http://p:3128 -H 'X: y'"`, map[string]string{"curl_options": "--proxy http://p:3128 -H 'X: y'"}},
	{"date format", `date_format='+%Y-%m-%d %H:%M:%S'`, map[string]string{"date_format": "+%Y-%m-%d %H:%M:%S"}},
}

func TestScalars(t *testing.T) {
	for _, tc := range scalarCases {
		t.Run(tc.name, func(t *testing.T) {
			v, w := parse(t, tc.src)
			for name, want := range tc.want {
				if got := v.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if len(w) != 0 {
				t.Errorf("unexpected warnings: %v", w)
			}
		})
	}
}

// TestScalarsAgainstBash sources every scalar case with bash and checks that
// bash agrees, so the table encodes bash's behaviour and not our guesses.
func TestScalarsAgainstBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	dir := t.TempDir()
	for i, tc := range scalarCases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, fmt.Sprintf("case%d.conf", i))
			if err := os.WriteFile(file, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			names := slices.Sorted(maps.Keys(tc.want))
			var script strings.Builder
			script.WriteString("declare -A role_recipients_matrix\nSEEDED=from-env\nSEND_MATRIX=YES\nsource \"$1\"\n")
			for _, n := range names {
				fmt.Fprintf(&script, "printf '%%s\\0' \"$%s\"\n", n)
			}
			cmd := exec.Command(bash, "-c", script.String(), "bash", file)
			cmd.Env = []string{"HOME=/home/netdata", "PATH=/nonexistent", "LC_ALL=C.UTF-8"}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("bash: %v", err)
			}
			got := strings.Split(string(out), "\x00")
			for j, n := range names {
				if got[j] != tc.want[n] {
					t.Errorf("bash says %s = %q, table says %q", n, got[j], tc.want[n])
				}
			}
		})
	}
}

func TestArrays(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    map[string]map[string]string
		indexed []string
	}{
		{
			name: "role recipients",
			src:  "DEFAULT_RECIPIENT_MATRIX=\"!a:hs !b:hs|critical\"\nrole_recipients_matrix[sysadmin]=\"${DEFAULT_RECIPIENT_MATRIX}\"\nrole_recipients_matrix[dba]='!db:hs'",
			want: map[string]map[string]string{"role_recipients_matrix": {"sysadmin": "!a:hs !b:hs|critical", "dba": "!db:hs"}},
		},
		{
			name: "undeclared array is associative",
			src:  `x[sys-admin]=1 x["quoted key"]=3 x[$SEEDED]=4 x[a+b]=5`,
			want: map[string]map[string]string{"x": {"sys-admin": "1", "quoted key": "3", "from-env": "4", "a+b": "5"}},
		},
		{
			name: "declare -A then compound",
			src:  "declare -A HANGOUTS_WEBHOOK_URI\nHANGOUTS_WEBHOOK_URI=( [sysadmin]=\"https://a\" ['dba']=https://b )",
			want: map[string]map[string]string{"HANGOUTS_WEBHOOK_URI": {"sysadmin": "https://a", "dba": "https://b"}},
		},
		{
			name:    "list",
			src:     `L=(a "b c" $SEEDED '*')`,
			want:    map[string]map[string]string{"L": {"0": "a", "1": "b c", "2": "from-env", "3": "*"}},
			indexed: []string{"L"},
		},
		{
			name:    "list with indexes and append",
			src:     `L=([2]=x y); L+=(z); L[10]=t; L[-1]=last`,
			want:    map[string]map[string]string{"L": {"2": "x", "3": "y", "4": "z", "10": "last"}},
			indexed: []string{"L"},
		},
		{
			name: "assoc append and element append",
			src:  `declare -A h=([a]=1); h+=([b]=2); h[a]+=0`,
			want: map[string]map[string]string{"h": {"a": "10", "b": "2"}},
		},
		{
			name:    "declare -a",
			src:     `declare -a L; L[1+1]=two`,
			want:    map[string]map[string]string{"L": {"2": "two"}},
			indexed: []string{"L"},
		},
		{
			name: "scalar to array keeps element 0",
			src:  `S=old; S[k]=new`,
			want: map[string]map[string]string{"S": {"0": "old", "k": "new"}},
		},
		{
			name: "bare name of array sets element 0",
			src:  `role_recipients_matrix=x`,
			want: map[string]map[string]string{"role_recipients_matrix": {"0": "x"}},
		},
		{
			name: "unset element",
			src:  `h[a]=1 h[b]=2; unset 'h[a]'`,
			want: map[string]map[string]string{"h": {"b": "2"}},
		},
		{
			name: "element reads array",
			src:  `h[a]=1; B=${h[a]}x; C="${h[nope]:-d}"`,
			want: map[string]map[string]string{"h": {"a": "1"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, w := parse(t, tc.src)
			if len(w) != 0 {
				t.Errorf("unexpected warnings: %v", w)
			}
			for name, want := range tc.want {
				if got := v.Arrays[name]; !maps.Equal(got, want) {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
				if _, ok := v.Scalars[name]; ok {
					t.Errorf("%s is also a scalar", name)
				}
				if got, want := v.Indexed[name], slices.Contains(tc.indexed, name); got != want {
					t.Errorf("Indexed[%s] = %v, want %v", name, got, want)
				}
			}
		})
	}
}

func TestArrayReads(t *testing.T) {
	v, _ := parse(t, `h[a]=1; L=(x y z); B=${h[a]}x; C="${h[nope]:-d}"; D="${L[*]}" E=${#L[@]} F=${L[1]} G="${!h[@]}"`)
	want := map[string]string{"B": "1x", "C": "d", "D": "x y z", "E": "3", "F": "y", "G": "a"}
	for n, w := range want {
		if got := v.Get(n); got != w {
			t.Errorf("%s = %q, want %q", n, got, w)
		}
	}
	if got := v.Arrays["L"]; !maps.Equal(got, map[string]string{"0": "x", "1": "y", "2": "z"}) || !v.Indexed["L"] {
		t.Errorf("L = %q, indexed %v", got, v.Indexed["L"])
	}
}

func TestExported(t *testing.T) {
	v, _ := parse(t, "export https_proxy=\"http://proxy:3128\"\nexport SEEDED\ndeclare -x D=1\nexport N=1; export -n N\ndeclare -x M=1; declare +x M\nP=plain")
	for _, n := range []string{"https_proxy", "SEEDED", "D"} {
		if !v.Exported[n] {
			t.Errorf("%s not exported", n)
		}
	}
	for _, n := range []string{"N", "M", "P"} {
		if v.Exported[n] {
			t.Errorf("%s exported", n)
		}
	}
	if v.Get("https_proxy") != "http://proxy:3128" || v.Get("SEEDED") != "from-env" || v.Get("N") != "1" {
		t.Errorf("values changed: %v", v.Scalars)
	}
}

// TestNothingExecutes puts every way of running a command in a file and
// checks that none ran and that each was reported.
func TestNothingExecutes(t *testing.T) {
	dir := t.TempDir()
	mark := func(i int) string { return filepath.Join(dir, fmt.Sprintf("ran%d", i)) }
	src := strings.Join([]string{
		`MATRIX_ACCESSTOKEN="$(cat /etc/secret; touch ` + mark(1) + `)"`,
		"MATRIX_HOMESERVER=`touch " + mark(2) + "`",
		`custom_sender() { touch ` + mark(3) + `; }`,
		`touch ` + mark(4),
		`if true; then touch ` + mark(5) + `; IN_IF=1; fi`,
		`for f in a; do touch ` + mark(6) + `; done`,
		`while touch ` + mark(7) + `; do break; done`,
		`case x in x) touch ` + mark(8) + `;; esac`,
		`true | touch ` + mark(9),
		`( touch ` + mark(10) + ` )`,
		`X=1 touch ` + mark(11),
		`A="${B:-$(touch ` + mark(12) + `)}"`,
		`C=$(( $(touch ` + mark(13) + `) + 1 ))`,
		`D=<(touch ` + mark(14) + `)`,
		`export E="$(touch ` + mark(15) + `)"`,
		`L=(a "$(touch ` + mark(16) + `)")`,
		`h[$(touch ` + mark(17) + `)]=x`,
		`: ${F:=$(touch ` + mark(18) + `)}`,
		`unset $(touch ` + mark(19) + `)`,
		`G=1 >` + mark(20),
		`source ` + mark(21),
		`eval "touch ` + mark(22) + `"`,
		`H=$(<` + mark(23) + `)`,
		`function other { touch ` + mark(24) + `; }`,
		`[[ -n x ]] && touch ` + mark(25),
		`((I=1)) && touch ` + mark(26),
		`touch ` + mark(27) + ` &`,
		`coproc touch ` + mark(28),
		`exec touch ` + mark(29),
		`trap 'touch ` + mark(30) + `' EXIT`,
		`declare -f custom_sender`,
		`J=$(touch ` + mark(31) + `) K=ok`,
	}, "\n")
	v := seed()
	v.Scalars["MATRIX_ACCESSTOKEN"] = "previous"
	w, err := Parse("evil.conf", strings.NewReader(src), v)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 31; i++ {
		if _, err := os.Stat(mark(i)); err == nil {
			t.Errorf("construct %d ran", i)
		}
	}
	if got := v.Get("MATRIX_ACCESSTOKEN"); got != "previous" {
		t.Errorf("MATRIX_ACCESSTOKEN = %q, want the previous value", got)
	}
	for _, n := range []string{"MATRIX_HOMESERVER", "IN_IF", "X", "A", "C", "D", "E", "L", "F", "G", "H", "I", "J"} {
		if _, ok := v.Scalars[n]; ok {
			t.Errorf("%s assigned: %q", n, v.Scalars[n])
		}
		if _, ok := v.Arrays[n]; ok {
			t.Errorf("%s assigned: %q", n, v.Arrays[n])
		}
	}
	if len(v.Arrays["h"]) != 0 {
		t.Errorf("h assigned: %v", v.Arrays["h"])
	}
	if v.Get("K") != "ok" {
		t.Errorf("K = %q: the assignment next to a skipped one must still happen", v.Get("K"))
	}
	if !v.Exported["E"] {
		t.Errorf("export E lost its attribute")
	}
	// Every line is reported, at its own line.
	lines := map[int]bool{}
	for _, x := range w {
		lines[x.Line] = true
		if x.File != "evil.conf" {
			t.Errorf("warning names %q", x.File)
		}
	}
	for i := 1; i <= strings.Count(src, "\n")+1; i++ {
		if !lines[i] {
			t.Errorf("no warning for line %d: %s", i, strings.Split(src, "\n")[i-1])
		}
	}
	if t.Failed() {
		for _, x := range w {
			t.Log(x)
		}
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		src  string
		want []WarningKind
		msg  string // regexp on the first warning's String()
	}{
		{`T="$(cat /etc/secret)"`, []WarningKind{SkippedAssignment}, `^test\.conf:1: assignment to T skipped: it contains a \$\(command\) substitution`},
		{"\n\nT=`id`", []WarningKind{SkippedAssignment}, "^test\\.conf:3: .*`command` substitution"},
		{"f() {\n A=1\n}", []WarningKind{SkippedFunction}, `^test\.conf:1: function f\(\) skipped`},
		{"x\nif [ -z \"$A\" ]; then\n  A=1\n  B=2\nfi", []WarningKind{SkippedCommand, SkippedCommand}, `^test\.conf:1: command "x" skipped`},
		{"for i in 1 2; do A=$i; done", []WarningKind{SkippedCommand}, `for loop skipped.*not assigned: A$`},
		{"select i in 1 2; do A=$i; done", []WarningKind{SkippedCommand}, `select loop skipped`},
		{"B=${ touch /tmp/x;}", []WarningKind{SkippedAssignment}, `command\) substitution`},
		{"[ -n x ] && A=1 || B=2", []WarningKind{SkippedCommand}, `"\|\|" list skipped.*not assigned: A, B`},
		{"if x; then A=1 B=2 C=3 D=4 E=5 F=6; fi", []WarningKind{SkippedCommand}, `not assigned: A, B, C, D, E, \.\.\.$`},
		{`local A=1`, []WarningKind{IgnoredAttribute}, `local outside a function`},
		{`readonly A=1`, []WarningKind{IgnoredAttribute}, `readonly`},
		{`declare -i A=1+1`, []WarningKind{IgnoredAttribute}, `declare -i: attribute not applied`},
		{`declare -n R=A`, []WarningKind{SkippedCommand}, `declare -n skipped`},
		{`declare "A=1"`, []WarningKind{SkippedCommand}, `declare with a computed argument`},
		{`A=${NOPE:?is required}`, []WarningKind{SkippedAssignment}, `assignment to A skipped: .*is required`},
		{`A=$((1/0))`, []WarningKind{SkippedAssignment}, `assignment to A skipped`},
		{`A=${SEEDED//e/$SEEDED}`, []WarningKind{SkippedAssignment}, `fixed replacement`},
		{`h=(a [k]=b)`, nil, ``},
		{`declare -A g=(x)`, []WarningKind{SkippedAssignment}, `has no \[key\]`},
		{`h[""]=1`, []WarningKind{SkippedAssignment}, `bad array subscript`},
		{`unset -x A`, []WarningKind{SkippedCommand}, `unknown option`},
		{`. /etc/netdata/other.conf`, []WarningKind{SkippedCommand}, `other files are not read`},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			_, w := parse(t, tc.src)
			if !slices.Equal(kinds(w), tc.want) {
				t.Fatalf("warnings %v, want kinds %v", w, tc.want)
			}
			if len(w) > 0 && !regexp.MustCompile(tc.msg).MatchString(w[0].String()) {
				t.Errorf("warning %q does not match %q", w[0].String(), tc.msg)
			}
		})
	}
}

func TestSkippedAssignmentKeepsPrevious(t *testing.T) {
	v := seed()
	if _, err := Parse("a.conf", strings.NewReader(`MATRIX_ACCESSTOKEN=first`), v); err != nil {
		t.Fatal(err)
	}
	w, err := Parse("b.conf", strings.NewReader("MATRIX_ACCESSTOKEN=\"$(cat /etc/secret)\"\nrole_recipients_matrix[sysadmin]=`x`"), v)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Get("MATRIX_ACCESSTOKEN"); got != "first" {
		t.Errorf("MATRIX_ACCESSTOKEN = %q", got)
	}
	if len(w) != 2 || w[0].String() != "b.conf:1: assignment to MATRIX_ACCESSTOKEN skipped: it contains a $(command) substitution, which is never run" || w[1].Line != 2 {
		t.Errorf("warnings: %v", w)
	}
}

// TestWarningNamesAndOrigin: a warning names the variables it left alone
// (so a caller can tell a skipped MATRIX_ACCESSTOKEN from stock noise), and
// Origin says where each assigned variable was last assigned.
func TestWarningNamesAndOrigin(t *testing.T) {
	v := seed()
	src := "# comment\nmatrix_homeserver=\"https://hs\"\nMATRIX_ACCESSTOKEN=\"$(cat f)\"\n" +
		"if true; then A=1; B=2; fi\nmatrix_homeserver=again\nC=3; unset C\n"
	w, err := Parse("u.conf", strings.NewReader(src), v)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 2 || !slices.Equal(w[0].Names, []string{"MATRIX_ACCESSTOKEN"}) || !slices.Equal(w[1].Names, []string{"A", "B"}) {
		t.Errorf("warnings: %+v", w)
	}
	if got := v.Origin["matrix_homeserver"].String(); got != "u.conf:5" {
		t.Errorf("origin of matrix_homeserver: %q", got)
	}
	if _, ok := v.Origin["MATRIX_ACCESSTOKEN"]; ok {
		t.Error("a skipped assignment has an origin")
	}
	if _, ok := v.Origin["C"]; ok {
		t.Error("an unset variable has an origin")
	}
	if _, ok := v.Origin["HOME"]; ok {
		t.Error("a seeded variable has an origin")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src  string
		line int
		msg  string
	}{
		{`A="unterminated`, 1, "reached EOF without closing quote"},
		{"A=1\nB=2\nif true; then\n", 3, "`then` must be followed by a statement list"},
		{"A=1\n\nB=(a b\n", 3, "reached EOF without matching"},
		{"A=1\nfi\n", 2, "`fi` can only be used to end an `if`"},
		{"A=1\nB=${A\n", 2, "not a valid parameter expansion operator"},
		{"x=(\n[a]=1\n", 1, "reached EOF without matching"},
		{"A=1\nB=$((1 +))", 2, ""},
		{"A=1\nB=${(U)x}", 2, "parameter expansion flags are a zsh feature; tried parsing as bash"},
		{"\n\n\n" + strings.Repeat("(", maxOpeners+1), 4, "too many"},
		{strings.Repeat("A=1\n", 10) + strings.Repeat("#", MaxFileSize), 11, "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.src[:min(len(tc.src), 30)], func(t *testing.T) {
			v := seed()
			before := maps.Clone(v.Scalars)
			_, err := Parse("/etc/netdata/health_alarm_notify.conf", strings.NewReader(tc.src), v)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ParseError", err)
			}
			prefix := fmt.Sprintf("/etc/netdata/health_alarm_notify.conf:%d: ", tc.line)
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.msg) || pe.Line != tc.line {
				t.Errorf("err = %q, want prefix %q and %q", err, prefix, tc.msg)
			}
			if pe.Msg == "" || pe.Col < 1 {
				t.Errorf("incomplete error: %+v", pe)
			}
			if !maps.Equal(v.Scalars, before) {
				t.Errorf("a file that does not parse changed Vars: %v", v.Scalars)
			}
		})
	}
}

func TestHostile(t *testing.T) {
	t.Run("doubling hits the budget", func(t *testing.T) {
		src := "a=xxxxxxxxxxxxxxxx\n" + strings.Repeat("a=$a$a\n", 40) + "b=after\nc=${SEEDED}"
		v, w := parse(t, src)
		if len(v.Get("a")) > expandBudget {
			t.Errorf("a grew to %d bytes", len(v.Get("a")))
		}
		if v.Get("b") != "after" {
			t.Errorf("literal assignment after the budget was lost")
		}
		if len(w) == 0 || !strings.Contains(w[len(w)-1].Msg, "MiB") {
			t.Errorf("no budget warning: %v", w)
		}
	})
	t.Run("many copies", func(t *testing.T) {
		src := "a=" + strings.Repeat("x", 256<<10) + "\n"
		for i := range 100 {
			src += fmt.Sprintf("b%d=$a\n", i)
		}
		v, _ := parse(t, src)
		total := 0
		for _, s := range v.Scalars {
			total += len(s)
		}
		if total > 8<<20 {
			t.Errorf("%d bytes stored", total)
		}
	})
	t.Run("indirect names", func(t *testing.T) {
		src := strings.Repeat("x=\"${!S*}${!S*}${!S*}${!S*}\"\n", 1000)
		v := seed()
		for i := range 10000 {
			v.Scalars[fmt.Sprintf("S%05d", i)] = ""
		}
		if _, err := Parse("t", strings.NewReader(src), v); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("tilde user is not looked up", func(t *testing.T) {
		v, _ := parse(t, `A=~root/x B=~nosuchuser`)
		if v.Get("A") != "~root/x" || v.Get("B") != "~nosuchuser" {
			t.Errorf("A=%q B=%q", v.Get("A"), v.Get("B"))
		}
	})
	t.Run("deep but allowed nesting", func(t *testing.T) {
		src := "A=" + strings.Repeat("${X:-", maxOpeners) + "d" + strings.Repeat("}", maxOpeners)
		v, _ := parse(t, src)
		if v.Get("A") != "d" {
			t.Errorf("A = %q", v.Get("A"))
		}
	})
	t.Run("binary, Latin-1 and NUL", func(t *testing.T) {
		v, w := parse(t, "# caf\xe9 cr\xe8me\nA=$'a\\x00b'\nB=\"\xff\xfe\"\nC=caf\xe9'\xe9'\"$B\"\nh[\xe9-\xe8]=1\nif \xe9; then :; fi")
		if v.Get("A") != "a" || v.Get("B") != "\xff\xfe" || v.Get("C") != "caf\xe9\xe9\xff\xfe" || v.Index("h", "\xe9-\xe8") != "1" {
			t.Errorf("A=%q B=%q C=%q h=%q", v.Get("A"), v.Get("B"), v.Get("C"), v.Arrays["h"])
		}
		if len(w) != 1 || w[0].Line != 6 {
			t.Errorf("warnings %v", w)
		}
	})
	t.Run("IFS and special names", func(t *testing.T) {
		v, w := parse(t, `IFS=,; L=(a b); A="${L[*]}" B="$0$1$#$?$$" C=$RANDOM`)
		if v.Get("A") != "a,b" || v.Get("B") != "" || v.Get("C") != "" || len(w) != 0 {
			t.Errorf("A=%q B=%q C=%q %v", v.Get("A"), v.Get("B"), v.Get("C"), w)
		}
	})
	t.Run("literal Vars", func(t *testing.T) {
		v := &Vars{}
		if _, err := Parse("t", strings.NewReader("A=1 h[k]=2 L=(x)"), v); err != nil {
			t.Fatal(err)
		}
		if v.Get("A") != "1" || v.Index("h", "k") != "2" || v.Index("L", "0") != "x" {
			t.Errorf("%+v", v)
		}
	})
	t.Run("nil Vars", func(t *testing.T) {
		if _, err := Parse("t", strings.NewReader("A=1"), nil); err == nil {
			t.Error("no error")
		}
	})
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	stock := filepath.Join(dir, "stock.conf")
	user := filepath.Join(dir, "user.conf")
	if err := os.WriteFile(stock, []byte("A=stock\nB=stock\nC=${A}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(user, []byte("B=user\nD=$C+$B\nx"), 0o600); err != nil {
		t.Fatal(err)
	}
	v := seed()
	w, err := Load(v, stock, filepath.Join(dir, "missing.conf"), user)
	if err != nil {
		t.Fatal(err)
	}
	if v.Get("A") != "stock" || v.Get("B") != "user" || v.Get("D") != "stock+user" {
		t.Errorf("%v", v.Scalars)
	}
	if len(w) != 1 || w[0].File != user || w[0].Line != 3 {
		t.Errorf("warnings %v", w)
	}

	if _, err := Load(v, dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: err = %v, want one naming it", err)
	}
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("A=1\nB='"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(v, stock, bad); err == nil || !strings.HasPrefix(err.Error(), bad+":2: ") {
		t.Errorf("bad file: err = %v", err)
	}
	if os.Geteuid() != 0 {
		unreadable := filepath.Join(dir, "unreadable.conf")
		if err := os.WriteFile(unreadable, []byte("A=1"), 0o000); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(v, unreadable); err == nil || !strings.Contains(err.Error(), unreadable) {
			t.Errorf("unreadable: err = %v", err)
		}
	}
	if _, err := Parse("r.conf", failReader{}, v); err == nil || !strings.Contains(err.Error(), "r.conf") {
		t.Errorf("read error: %v", err)
	}
}
