package healthconf

import (
	"bytes"
	"errors"
	"os"
	"reflect"
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

// FuzzDecodeCachePayload: the cache's payload decoder never panics on
// damaged input (the checksum makes that unlikely, not impossible), checking
// and decoding agree, and what decodes re-encodes to a payload that decodes
// to the same Vars.
func FuzzDecodeCachePayload(f *testing.F) {
	vars := NewVars()
	warns, err := Parse("f.conf", strings.NewReader("A=1\nB=(x y)\ndeclare -A h=([a]=1)\nexport E=2\nfoo() { :; }\n"), vars)
	if err != nil {
		f.Fatal(err)
	}
	var key [32]byte
	file := encodeCache(key, warns, vars)
	payload := file[len(cacheFormat)+len(key) : len(file)-32]
	f.Add(payload)
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add(payload[:len(payload)/2])
	f.Fuzz(func(t *testing.T, payload []byte) {
		_, checked := decodePayload(string(payload), nil)
		got := NewVars()
		ws, decoded := decodePayload(string(payload), got)
		if checked != decoded {
			t.Fatalf("check says %v, decode says %v", checked, decoded)
		}
		if !decoded {
			return
		}
		again := NewVars()
		re := encodeCache(key, ws, got)
		if _, ok := decodePayload(string(re[len(cacheFormat)+len(key):len(re)-32]), again); !ok {
			t.Fatal("re-encoded payload does not decode")
		}
		if !reflect.DeepEqual(got.Scalars, again.Scalars) || len(got.Arrays) != len(again.Arrays) {
			t.Fatalf("round trip changed the vars: %v / %v", got.Scalars, again.Scalars)
		}
	})
}

// FuzzElfGoBuildID: reading the build ID note from any bytes never panics.
func FuzzElfGoBuildID(f *testing.F) {
	if exe, err := os.ReadFile("/proc/self/exe"); err == nil && len(exe) > 8<<10 {
		f.Add(exe[:8<<10])
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		elfGoBuildID(data)
	})
}
