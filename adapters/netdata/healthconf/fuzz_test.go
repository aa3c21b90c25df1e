package healthconf

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// FuzzParse: no input panics, and every error is a *ParseError whose text
// starts with "file:line: ".
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"A=1",
		`A="x $B ${C:-d} ${D:=e}" F='g' H=$'\x41\n'`,
		`role_recipients_matrix[sysadmin]="${DEFAULT_RECIPIENT_MATRIX}"`,
		`declare -A h=([a]=1 [b-c]=2); h+=([d]=3); L=(a b); L[5]+=x; unset 'h[a]'`,
		"custom_sender() {\n  local msg=\"${host}\"\n  touch /tmp/x\n}\n",
		"MATRIX_ACCESSTOKEN=\"$(cat /etc/secret)\" X=`id` Y=<(id)",
		"if true; then A=1; fi; for i in 1; do B=$i; done; a && b || c | d",
		"export https_proxy=\"http://p:3128\"; export -n X; readonly R=1; local L=1; declare -i I=1+1",
		`A=${X//a/b} B=${X#*/} C=${X:1:2} D=${#X} E=$((1+2*3)) F=${!X*} G=${X@Q} H=${X^^}`,
		`: ${A:=1}; A+=x; A=~/x B=a\ b\$c`,
		"# caf\xe9\nA=caf\xe9",
		"A=\"unterminated",
	} {
		f.Add([]byte(s))
	}
	prefix := regexp.MustCompile(`^fuzz\.conf:[1-9][0-9]*: `)
	f.Fuzz(func(t *testing.T, data []byte) {
		v := NewVars()
		v.Scalars["SEEDED"] = "x"
		v.Arrays["role_recipients_matrix"] = map[string]string{}
		w, err := Parse("fuzz.conf", bytes.NewReader(data), v)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !prefix.MatchString(err.Error()) {
				t.Fatalf("error %q is not a file:line: error", err)
			}
			return
		}
		for _, x := range w {
			if x.File != "fuzz.conf" || x.Line < 1 || !strings.HasPrefix(x.String(), "fuzz.conf:") {
				t.Fatalf("bad warning %+v", x)
			}
		}
		for name, arr := range v.Arrays {
			if arr == nil {
				t.Fatalf("nil array %s", name)
			}
			if _, ok := v.Scalars[name]; ok {
				t.Fatalf("%s is both scalar and array", name)
			}
		}
	})
}
