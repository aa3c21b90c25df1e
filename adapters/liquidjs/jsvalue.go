package liquidjs

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds JavaScript's conversions as LiquidJS applies them to
// template values: String(v) (LiquidJS's stringify), Number(v), string
// lengths and indexes in UTF-16 code units, and JavaScript's white space.

// stringify is LiquidJS's stringify: nil is "", arrays are their elements
// stringified and concatenated, numbers as JavaScript prints them.
func stringify(v any) string {
	switch v := v.(type) {
	case nil, NullValue:
		return ""
	case string:
		return v
	case float64:
		return jsNumber(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		if v {
			return "true"
		}
		return "false"
	case *Object:
		if v == nil {
			return ""
		}
		return v.String()
	case []any:
		var b strings.Builder
		for _, e := range v {
			b.WriteString(stringify(e))
		}
		return b.String()
	case []string:
		return strings.Join(v, "")
	case map[string]any:
		return "[object Object]"
	case time.Time:
		// Date.prototype.toString, in the date's own zone.
		return v.Format("Mon Jan 02 2006 15:04:05 GMT-0700")
	case []byte:
		return string(v)
	}
	if f, ok := toFloat(v); ok {
		return jsNumber(f)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		var b strings.Builder
		for i := 0; i < rv.Len(); i++ {
			b.WriteString(stringify(rv.Index(i).Interface()))
		}
		return b.String()
	case reflect.String:
		return rv.String()
	case reflect.Map, reflect.Struct:
		return "[object Object]"
	}
	if s, ok := v.(interface{ String() string }); ok {
		return s.String()
	}
	return "[object Object]"
}

// toFloat converts Go numeric types to float64.
func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case float32:
		return float64(v), true
	case int32:
		return float64(v), true
	case uint:
		return float64(v), true
	case uint64:
		return float64(v), true
	case uint32:
		return float64(v), true
	case int8, int16, uint8, uint16:
		return reflect.ValueOf(v).Convert(reflect.TypeOf(float64(0))).Float(), true
	}
	return 0, false
}

var rDecimal = lazyRegexp(`^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$`)

// jsToNumber is JavaScript's Number(v) (NaN when it is not a number).
func jsToNumber(v any) float64 {
	switch v := v.(type) {
	case nil:
		return math.NaN() // undefined
	case NullValue:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case string:
		return stringToNumber(v)
	case *Object, map[string]any:
		return math.NaN()
	case []any:
		switch len(v) {
		case 0:
			return 0
		case 1:
			return stringToNumber(stringify(v[0]))
		}
		return math.NaN()
	case time.Time:
		return float64(v.UnixMilli())
	}
	if f, ok := toFloat(v); ok {
		return f
	}
	return math.NaN()
}

func stringToNumber(s string) float64 {
	s = jsTrim(s)
	if s == "" {
		return 0
	}
	switch s {
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	if len(s) > 2 && s[0] == '0' {
		base := 0
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			n, err := strconv.ParseUint(s[2:], base, 64)
			if err != nil || strings.ContainsAny(s[2:], "_+-") {
				return math.NaN()
			}
			return float64(n)
		}
	}
	if !rDecimal().MatchString(s) {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// Out of range: ParseFloat returns ±Inf or 0 with an error, as JS would.
		return f
	}
	return f
}

// toNumber is LiquidJS's toNumber: +v || 0.
func toNumber(v any) float64 {
	f := jsToNumber(v)
	if f != f {
		return 0
	}
	return f
}

// jsIsSpace is JavaScript's WhiteSpace and LineTerminator (String.prototype.trim).
func jsIsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

func jsTrim(s string) string      { return strings.TrimFunc(s, jsIsSpace) }
func jsTrimLeft(s string) string  { return strings.TrimLeftFunc(s, jsIsSpace) }
func jsTrimRight(s string) string { return strings.TrimRightFunc(s, jsIsSpace) }

// utf16Units is a string as JavaScript sees it.
func utf16Units(s string) []uint16 {
	if isASCII(s) {
		u := make([]uint16, len(s))
		for i := 0; i < len(s); i++ {
			u[i] = uint16(s[i])
		}
		return u
	}
	return utf16.Encode([]rune(s))
}

// fromUTF16 converts code units back; a lone surrogate becomes U+FFFD, as
// when a JavaScript string is written out as UTF-8.
func fromUTF16(u []uint16) string { return string(utf16.Decode(u)) }

// jsLength is String.prototype.length.
func jsLength(s string) int {
	if isASCII(s) {
		return len(s)
	}
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// jsSlice is String.prototype.slice(begin, end) with end clamped.
func jsSubstring(s string, begin, end int) string {
	u := utf16Units(s)
	if begin < 0 {
		begin = 0
	}
	if end > len(u) {
		end = len(u)
	}
	if begin >= end {
		return ""
	}
	return fromUTF16(u[begin:end])
}
