package kuma

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var fixtureDir = filepath.Join("..", "..", "testdata", "kuma")

func readFixture(t testing.TB, kase, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, kase, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustDecode(t testing.TB, body string) Payload {
	t.Helper()
	p, err := DecodeJSON([]byte(body))
	if err != nil {
		t.Fatalf("DecodeJSON: %v", err)
	}
	return p
}

// obj builds a JSON object text from alternating keys and values, in order.
func obj(kv ...any) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv[i])
		b.Write(k)
		b.WriteByte(':')
		if raw, ok := kv[i+1].(json.RawMessage); ok {
			b.Write(raw)
			continue
		}
		v, err := json.Marshal(kv[i+1])
		if err != nil {
			panic(err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// parseFormatted parses a formatted_body as XML (after closing the void <br>),
// which fails on unbalanced or unescaped markup, and returns its text with
// <br> as "\n" and the elements it met.
func parseFormatted(t testing.TB, s string) (text string, elems []string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader("<root>" + strings.ReplaceAll(s, "<br>", "<br/>") + "</root>"))
	dec.Strict = true
	var b strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("formatted_body is not well-formed: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Local == "br" {
				b.WriteByte('\n')
			}
			if tok.Name.Local != "root" {
				elems = append(elems, tok.Name.Local)
			}
		case xml.CharData:
			b.Write(tok)
		}
	}
	return b.String(), elems
}

type rawMsg = json.RawMessage

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
