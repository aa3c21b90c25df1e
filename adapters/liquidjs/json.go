package liquidjs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"
)

// jsonStringify is JSON.stringify(v, null, space) for the values a template
// sees. *Object keeps its key order; a plain Go map has none, so its keys are
// sorted (documented difference: JS would use insertion order). Nothing is
// HTML-escaped. space is a number of spaces (at most 10) or a string (its
// first 10 characters), as in JavaScript; anything else means no indent.
func jsonStringify(v any, space any) (string, error) {
	if v == nil {
		return "", nil // JSON.stringify(undefined) is undefined, printed as ""
	}
	var b bytes.Buffer
	if err := writeJSON(&b, v, 0); err != nil {
		return "", err
	}
	indent := jsonIndent(space)
	if indent == "" {
		return b.String(), nil
	}
	// encoding/json's indentation is JSON.stringify's: one member a line,
	// "key": value, and {} and [] kept empty.
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", indent); err != nil {
		return "", err
	}
	return out.String(), nil
}

func jsonIndent(space any) string {
	if s, ok := space.(string); ok {
		u := utf16Units(s)
		return fromUTF16(u[:min(len(u), 10)])
	}
	f, ok := toFloat(space)
	if !ok || f != f || f < 1 {
		return ""
	}
	return strings.Repeat(" ", int(math.Min(10, f)))
}

var errCycle = errors.New("converting circular structure to JSON")

// writeJSON writes v compact, as JSON.stringify(v).
func writeJSON(b *bytes.Buffer, v any, depth int) error {
	if depth > 1000 {
		return errCycle
	}
	switch v := v.(type) {
	case nil, NullValue:
		b.WriteString("null")
	case string:
		writeJSONString(b, v)
	case bool:
		fmt.Fprint(b, v)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b.WriteString("null")
		} else {
			b.WriteString(JSNumber(v))
		}
	case literal:
		b.WriteString("{}") // blank and empty are objects (drops) in LiquidJS
	case time.Time:
		writeJSONString(b, v.UTC().Format("2006-01-02T15:04:05.000Z"))
	case *Object:
		if v == nil {
			b.WriteString("null")
			return nil
		}
		return writeJSONObject(b, v.keys, v.vals, depth)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return writeJSONObject(b, keys, v, depth)
	default:
		if f, ok := toFloat(v); ok {
			return writeJSON(b, f, depth)
		}
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Slice, reflect.Array:
			b.WriteByte('[')
			for i := 0; i < rv.Len(); i++ {
				if i > 0 {
					b.WriteByte(',')
				}
				if err := writeJSON(b, rv.Index(i).Interface(), depth+1); err != nil {
					return err
				}
			}
			b.WriteByte(']')
			return nil
		}
		// Anything else: encoding/json's view of it, re-read in order.
		var raw bytes.Buffer
		enc := json.NewEncoder(&raw)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return err
		}
		dv, err := DecodeJSON(raw.Bytes())
		if err != nil {
			return err
		}
		return writeJSON(b, dv, depth+1)
	}
	return nil
}

func writeJSONObject(b *bytes.Buffer, keys []string, vals map[string]any, depth int) error {
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, k)
		b.WriteByte(':')
		if err := writeJSON(b, vals[k], depth+1); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// writeJSONString quotes s as JSON.stringify: only '"', '\\' and control
// characters are escaped (no HTML escaping, U+2028/2029 as is); invalid UTF-8
// becomes U+FFFD.
func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			if esc := strings.IndexRune("\b\f\n\r\t", r); esc >= 0 {
				b.WriteByte('\\')
				b.WriteByte("bfnrt"[esc])
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
