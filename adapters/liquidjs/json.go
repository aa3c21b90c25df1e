package liquidjs

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
	indent := jsonIndent(space)
	var b bytes.Buffer
	if err := writeJSON(&b, v, indent, "", 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

func jsonIndent(space any) string {
	switch s := space.(type) {
	case nil:
		return ""
	case string:
		u := utf16Units(s)
		if len(u) > 10 {
			u = u[:10]
		}
		return fromUTF16(u)
	case bool:
		return ""
	}
	f, ok := toFloat(space)
	if !ok || f != f {
		return ""
	}
	n := int(math.Min(10, math.Trunc(f)))
	if n < 1 {
		return ""
	}
	return strings.Repeat(" ", n)
}

var errCycle = errors.New("converting circular structure to JSON")

func writeJSON(b *bytes.Buffer, v any, indent, cur string, depth int) error {
	if depth > 1000 {
		return errCycle
	}
	switch v := v.(type) {
	case nil, NullValue:
		b.WriteString("null")
	case string:
		writeJSONString(b, v)
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b.WriteString("null")
		} else {
			b.WriteString(jsNumber(v))
		}
	case float32:
		return writeJSON(b, float64(v), indent, cur, depth)
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case time.Time:
		writeJSONString(b, v.UTC().Format("2006-01-02T15:04:05.000Z"))
	case *Object:
		if v == nil {
			b.WriteString("null")
			return nil
		}
		keys := v.Keys()
		return writeJSONObject(b, keys, func(k string) any { return v.vals[k] }, indent, cur, depth)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return writeJSONObject(b, keys, func(k string) any { return v[k] }, indent, cur, depth)
	case []any:
		return writeJSONArray(b, len(v), func(i int) any { return v[i] }, indent, cur, depth)
	case []string:
		return writeJSONArray(b, len(v), func(i int) any { return v[i] }, indent, cur, depth)
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Slice, reflect.Array:
			return writeJSONArray(b, rv.Len(), func(i int) any { return rv.Index(i).Interface() }, indent, cur, depth)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
			reflect.Float32, reflect.Float64:
			f, _ := toFloat(v)
			return writeJSON(b, f, indent, cur, depth)
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
		return writeJSON(b, dv, indent, cur, depth+1)
	}
	return nil
}

func writeJSONObject(b *bytes.Buffer, keys []string, get func(string) any, indent, cur string, depth int) error {
	if len(keys) == 0 {
		b.WriteString("{}")
		return nil
	}
	inner := cur + indent
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if indent != "" {
			b.WriteByte('\n')
			b.WriteString(inner)
		}
		writeJSONString(b, k)
		b.WriteByte(':')
		if indent != "" {
			b.WriteByte(' ')
		}
		if err := writeJSON(b, get(k), indent, inner, depth+1); err != nil {
			return err
		}
	}
	if indent != "" {
		b.WriteByte('\n')
		b.WriteString(cur)
	}
	b.WriteByte('}')
	return nil
}

func writeJSONArray(b *bytes.Buffer, n int, get func(int) any, indent, cur string, depth int) error {
	if n == 0 {
		b.WriteString("[]")
		return nil
	}
	inner := cur + indent
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		if indent != "" {
			b.WriteByte('\n')
			b.WriteString(inner)
		}
		if err := writeJSON(b, get(i), indent, inner, depth+1); err != nil {
			return err
		}
	}
	if indent != "" {
		b.WriteByte('\n')
		b.WriteString(cur)
	}
	b.WriteByte(']')
	return nil
}

const hexDigits = "0123456789abcdef"

// writeJSONString quotes s as JSON.stringify: only '"', '\\' and control
// characters are escaped (no HTML escaping, U+2028/2029 as is); invalid UTF-8
// becomes U+FFFD.
func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				if c < 0x20 {
					b.WriteString(`\u00`)
					b.WriteByte(hexDigits[c>>4])
					b.WriteByte(hexDigits[c&0xf])
				} else {
					b.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\ufffd")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}
