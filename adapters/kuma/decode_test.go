package kuma

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"matrix-notify/adapters/liquidjs"
)

// FuzzDecodeValue: decodeJSON accepts exactly what encoding/json's
// Unmarshal into an any accepts, gives liquidjs.DecodeJSON's value, and
// words a rejection as unmarshal does (a FieldError naming the field).
func FuzzDecodeValue(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*", "payload.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		``, ` `, `null`, `true`, `nul`, `truex`, `-0`, `01`, `1.`, `1e-400`, `1e400`, `-1e400`,
		strings.Repeat("9", 309) + "e99999", `"\ud83d"`, `"\u12"`, "\"a\x00b\"", "\"\xff\xfe\"", `"abc`,
		`[1,]`, `{"a":1,}`, `{"a":1} x`, `{"a":1}{}`, `{"a":1,"a":2,"b":{"a":null},"a":3}`,
		`{"msg":"m","heartbeat":{"status":0,"ping":1e400}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want any
		werr := json.Unmarshal(data, &want)
		got, err := decodeJSON(data, "body")
		if (err == nil) != (werr == nil) {
			t.Fatalf("decodeJSON error %v, encoding/json error %v", err, werr)
		}
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "body" || fe.Problem == "invalid JSON" {
				t.Fatalf("error %v", err)
			}
			return
		}
		if lj, _ := liquidjs.DecodeJSON(data); !reflect.DeepEqual(got, lj) {
			t.Fatalf("decoded %#v, liquidjs.DecodeJSON %#v", got, lj)
		}
	})
}

// TestDecodeDepth: encoding/json's nesting limit, 10000 open arrays and
// objects, is decodeJSON's (kept out of FuzzDecodeValue's seeds, which it
// slows).
func TestDecodeDepth(t *testing.T) {
	nest := func(n int) []byte { // n open: the object and n-1 arrays
		return []byte(`{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + "}")
	}
	for _, n := range []int{10000, 10001} {
		doc := nest(n)
		var v any
		werr := json.Unmarshal(doc, &v)
		if _, err := decodeJSON(doc, "body"); (err == nil) != (werr == nil) {
			t.Errorf("depth %d: decodeJSON error %v, encoding/json error %v", n, err, werr)
		}
		if (werr == nil) != (n <= 10000) {
			t.Errorf("depth %d: encoding/json error %v", n, werr)
		}
	}
}
