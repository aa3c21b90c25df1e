package kuma

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"matrix-notify/adapters/liquidjs"
)

// FuzzReader: the reader accepts exactly what encoding/json's Unmarshal
// into an any accepts, and decodes it to the same value; ordered, to what
// liquidjs.DecodeJSON makes of it. splitDocument finds the members a
// map[string]json.RawMessage gets, and objectFields the values of the any.
func FuzzReader(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*", "payload.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		``, ` `, `null`, `true`, `false`, `nul`, `truex`, `0`, `-0`, `-`, `01`, `1.`, `.5`, `+1`, `1e`, `1E+2`, `1e-400`,
		`1e400`, `-1e400`, strings.Repeat("9", 308), strings.Repeat("9", 309) + "e99999", `123456789012345678901234567890`,
		`""`, `"\""`, `"\/\\\b\f\n\r\t"`, `"\u00e9\u00E9"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`,
		`"\ud83d\ud83d\ude00"`, `"\u12"`, `"\x"`, `"\'"`, "\"a\x00b\"", "\"\t\"", "\"\xff\xfe\"", "\"\xed\xa0\x80\"",
		"\"\u2028\"", `"\u0000"`, `"abc`, `[]`, `[1,]`, `[,1]`, `[1 2]`, ` [ 1 , "a" , null ] `, `{}`, `{"a":1,}`,
		`{"a" 1}`, `{a:1}`, `{"a":1} x`, `{"a":1}{}`, `{"a":1,"a":2,"b":{"a":null},"a":3}`, "{\"a\":1}\x00",
		"\t\r\n{\"msg\":\"m\"}\n", `{"m\u0073g":"x","heartbeat":{"st\u0061tus":1,"status":2},"monitor":null}`,
		`{"msg":{"msg":1},"heartbeat":[],"monitor":"x","msg":"y"}`,
		`{"msg":"m","heartbeat":{"status":0,"ping":1e400}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want any
		werr := json.Unmarshal(data, &want)
		got, err := decodeValue(data, false)
		if (err == nil) != (werr == nil) {
			t.Fatalf("reader error %v, encoding/json error %v", err, werr)
		}
		if validJSON(data) != (werr == nil) {
			t.Fatalf("validJSON %v, encoding/json error %v", validJSON(data), werr)
		}
		top, m, serr := splitDocument(data)
		if (serr == nil) != (werr == nil) {
			t.Fatalf("splitDocument error %v, encoding/json error %v", serr, werr)
		}
		if werr != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded\n got %#v\nwant %#v", got, want)
		}
		ordered, err := decodeValue(data, true)
		lj, lerr := liquidjs.DecodeJSON(data)
		if err != nil || lerr != nil || !reflect.DeepEqual(ordered, lj) {
			t.Fatalf("ordered\n got %#v (%v)\nwant %#v (%v)", ordered, err, lj, lerr)
		}

		obj, isObj := want.(map[string]any)
		if isObj != (top == '{') {
			t.Fatalf("top %q for %T", top, want)
		}
		if !isObj {
			return
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		for name, got := range map[string][]byte{"msg": m.msg, "heartbeat": m.heartbeat, "monitor": m.monitor} {
			if (got == nil) != (raw[name] == nil) || !bytes.Equal(got, raw[name]) {
				t.Errorf("member %s: got %q, want %q", name, got, raw[name])
			}
		}
		keys := append(append([]string{"a", "msg"}, heartbeatFields...), monitorFields...)
		fields, err := objectFields(data, keys)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			v, ok := obj[k]
			if fv, fok := fields[k]; fok != ok || !reflect.DeepEqual(fv, v) {
				t.Errorf("field %s: got %#v (%v), want %#v (%v)", k, fv, fok, v, ok)
			}
		}
	})
}

// TestReaderDepth: encoding/json's nesting limit, 10000 open arrays and
// objects, is the reader's (kept out of FuzzReader's seeds, which it slows).
func TestReaderDepth(t *testing.T) {
	nest := func(n int) []byte { // n open: the object and n-1 arrays
		return []byte(`{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + "}")
	}
	for _, n := range []int{maxDepth, maxDepth + 1} {
		doc := nest(n)
		var v any
		werr := json.Unmarshal(doc, &v)
		if _, err := decodeValue(doc, true); (err == nil) != (werr == nil) {
			t.Errorf("depth %d: reader error %v, encoding/json error %v", n, err, werr)
		}
		if _, _, err := splitDocument(doc); (err == nil) != (werr == nil) {
			t.Errorf("depth %d: splitDocument error %v, encoding/json error %v", n, err, werr)
		}
		if (werr == nil) != (n <= maxDepth) {
			t.Errorf("depth %d: encoding/json error %v", n, werr)
		}
	}
}
