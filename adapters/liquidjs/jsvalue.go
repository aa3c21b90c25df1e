package liquidjs

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf16"
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
	case bool:
		return strconv.FormatBool(v)
	case *Object, map[string]any:
		return "[object Object]"
	}
	if f, ok := toFloat(v); ok {
		return JSNumber(f)
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

// toFloat is the value of Go's numeric types (JavaScript has one: a double).
func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64, int32, int16, int8, uint, uint64, uint32, uint16, uint8, float32:
		return reflect.ValueOf(v).Convert(reflect.TypeFor[float64]()).Float(), true
	}
	return 0, false
}

var rDecimal = lazyRegexp(`^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$`)

// jsToNumber is JavaScript's Number(v) (NaN when it is not a number).
func jsToNumber(v any) float64 {
	switch v := v.(type) {
	case NullValue:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case string:
		return stringToNumber(v)
	case []any:
		switch len(v) {
		case 0:
			return 0
		case 1:
			return stringToNumber(stringify(v[0]))
		}
	}
	if f, ok := toFloat(v); ok {
		return f
	}
	return math.NaN() // undefined, objects
}

func stringToNumber(s string) float64 {
	s = strings.TrimFunc(s, jsIsSpace)
	switch s {
	case "":
		return 0
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	if len(s) > 2 && s[0] == '0' {
		if base := map[byte]int{'x': 16, 'X': 16, 'o': 8, 'O': 8, 'b': 2, 'B': 2}[s[1]]; base != 0 {
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
	// Out of range, ParseFloat returns ±Inf or 0 (with an error), as JS would.
	f, _ := strconv.ParseFloat(s, 64)
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

// utf16Units is a string as JavaScript sees it.
func utf16Units(s string) []uint16 { return utf16.Encode([]rune(s)) }

// fromUTF16 converts code units back; a lone surrogate becomes U+FFFD, as
// when a JavaScript string is written out as UTF-8.
func fromUTF16(u []uint16) string { return string(utf16.Decode(u)) }

// jsLength is String.prototype.length: UTF-16 code units, which columns
// count too (in LiquidJS's errors, an emoji counts 2).
func jsLength(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
