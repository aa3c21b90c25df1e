package liquidjs

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"

	"github.com/osteele/liquid/values"
)

// Filters with LiquidJS's semantics. osteele/liquid's own versions follow
// Ruby (integer division, rune counts, sorted JSON, no "now"...); these
// replace them for every filter an alert template is likely to use.

// StandardFilters is the set of filter names LiquidJS 10.26 defines; a name
// outside it is an unknown filter, which LiquidJS and this engine pass
// through silently and Lint warns about.
var StandardFilters = []string{
	"escape", "xml_escape", "escape_once", "newline_to_br", "strip_html",
	"abs", "at_least", "at_most", "ceil", "divided_by", "floor", "minus", "plus", "modulo", "times", "round",
	"url_decode", "url_encode", "cgi_escape", "uri_escape", "slugify",
	"join", "last", "first", "reverse", "sort", "sort_natural", "size", "map", "sum", "compact", "concat",
	"push", "unshift", "pop", "shift", "slice", "where", "reject", "where_exp", "reject_exp",
	"group_by", "group_by_exp", "has", "has_exp", "find_index", "find_index_exp", "find", "find_exp",
	"uniq", "sample",
	"date", "date_to_xmlschema", "date_to_rfc822", "date_to_string", "date_to_long_string",
	"append", "prepend", "lstrip", "downcase", "upcase", "remove", "remove_first", "remove_last",
	"rstrip", "split", "strip", "strip_newlines", "capitalize", "replace", "replace_first", "replace_last",
	"truncate", "truncatewords", "normalize_whitespace", "number_of_words", "array_to_sentence_string",
	"base64_encode", "base64_decode", "sha256", "hmac_sha256",
	"default", "raw", "jsonify", "to_integer", "json", "inspect",
}

// UnsupportedFilters are LiquidJS filters this engine does not implement:
// it passes their input through unchanged (LaxFilters), where LiquidJS would
// apply them. Lint warns about them.
var UnsupportedFilters = []string{
	"group_by", "group_by_exp", "where_exp", "reject", "reject_exp", "has", "has_exp",
	"find_index", "find_index_exp", "find", "find_exp", "push", "unshift", "pop", "shift", "sample",
	"slugify", "uri_escape", "number_of_words", "array_to_sentence_string", "hmac_sha256",
}

// osteeleOnlyFilters are osteele/liquid filters LiquidJS lacks: LiquidJS
// passes the value through, so this engine does too.
var osteeleOnlyFilters = []string{"handle", "handleize", "pluralize", "type"}

func (e *Engine) registerFilters() {
	add := e.cfg.AddFilter
	for _, name := range osteeleOnlyFilters {
		add(name, func(v any, _ ...any) any { return v })
	}

	// dates
	add("date", func(v any, args ...any) (any, error) {
		format := DefaultDateFormat
		if len(args) > 0 && args[0] != nil {
			format = stringify(args[0])
		}
		return e.formatDate(v, format, arg(args, 1))
	})
	add("date_to_xmlschema", func(v any) (any, error) { return e.formatDate(v, "%Y-%m-%dT%H:%M:%S%:z", nil) })
	add("date_to_rfc822", func(v any) (any, error) { return e.formatDate(v, "%a, %d %b %Y %H:%M:%S %z", nil) })
	add("date_to_string", func(v any, args ...any) (any, error) { return e.stringifyDate(v, "%b", args) })
	add("date_to_long_string", func(v any, args ...any) (any, error) { return e.stringifyDate(v, "%B", args) })

	// JSON
	jsonFilter := func(v any, args ...any) (any, error) { return jsonStringify(v, arg(args, 0)) }
	add("json", jsonFilter)
	add("jsonify", jsonFilter)
	add("inspect", jsonFilter)

	// String in, string out.
	str := func(name string, f func(string) string) { add(name, func(v any) string { return f(stringify(v)) }) }
	str("strip_newlines", stripNewlines.Replace)
	str("newline_to_br", newlinesToBR.Replace)
	str("strip_html", stripHTML)
	str("normalize_whitespace", func(s string) string { return rJSSpaces().ReplaceAllString(s, " ") })
	str("escape", html.EscapeString)
	str("xml_escape", html.EscapeString)
	str("escape_once", func(s string) string { return html.EscapeString(htmlUnescaper.Replace(s)) })
	// encodeURIComponent with %20 as +; cgi_escape escapes !'()* as well.
	str("url_encode", func(s string) string { return uriMarks.Replace(url.QueryEscape(s)) })
	str("cgi_escape", url.QueryEscape)
	add("url_decode", func(v any) (string, error) {
		s, err := url.PathUnescape(stringify(v))
		if err != nil {
			return "", errors.New("URIError: URI malformed")
		}
		return strings.ReplaceAll(s, "+", " "), nil
	})
	str("base64_encode", func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) })
	str("base64_decode", func(s string) string {
		b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return ""
		}
		return string(b)
	})
	str("sha256", func(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) })

	// strings
	// String and arguments in, string out.
	str2 := func(name string, f func(s, a, b string) string) {
		add(name, func(v any, args ...any) string {
			return f(stringify(v), stringify(arg(args, 0)), stringify(arg(args, 1)))
		})
	}
	// LiquidJS's append and prepend assert that they have one argument
	// (`{{ x | append }}`, `append: "a", "b"`): a render error.
	one := func(name string, f func(s, a string) string) {
		add(name, func(v any, args ...any) (string, error) {
			if len(args) != 1 {
				return "", errors.New(name + " expect 2 arguments")
			}
			return f(stringify(v), stringify(args[0])), nil
		})
	}
	one("append", func(s, a string) string { return s + a })
	one("prepend", func(s, a string) string { return a + s })
	str2("remove", func(s, a, _ string) string { return jsReplaceAll(s, a, "") })
	str2("remove_first", func(s, a, _ string) string { return strings.Replace(s, a, "", 1) })
	str2("remove_last", func(s, a, _ string) string { return replaceLast(s, a, "") })
	str2("replace", jsReplaceAll)
	str2("replace_first", func(s, a, b string) string { return strings.Replace(s, a, b, 1) })
	str2("replace_last", replaceLast)
	str("downcase", jsLower)
	str("upcase", jsUpper)
	str("capitalize", func(s string) string {
		if s == "" {
			return ""
		}
		r, size := utf8.DecodeRuneInString(s)
		rest := jsLower(s[size:])
		if r < 0x10000 {
			return jsUpper(string(r)) + rest
		}
		return string(r) + rest
	})
	add("strip", func(v any, args ...any) string { return stripChars(stringify(v), arg(args, 0), true, true) })
	add("lstrip", func(v any, args ...any) string { return stripChars(stringify(v), arg(args, 0), true, false) })
	add("rstrip", func(v any, args ...any) string { return stripChars(stringify(v), arg(args, 0), false, true) })
	add("split", func(v any, args ...any) []any {
		parts := jsSplit(stringify(v), stringify(arg(args, 0)))
		for len(parts) > 0 && parts[len(parts)-1] == "" {
			parts = parts[:len(parts)-1]
		}
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out
	})
	add("truncate", func(v any, args ...any) any {
		s, l, o := stringify(v), jsToNumber(argOr(args, 0, 50.0)), stringify(argOr(args, 1, "..."))
		if float64(jsLength(s)) <= l {
			return v
		}
		end := l - float64(jsLength(o))
		if end != end || end < 0 {
			end = 0
		}
		u := utf16Units(s)
		return fromUTF16(u[:min(int(end), len(u))]) + o
	})
	add("truncatewords", func(v any, args ...any) string {
		words, o := jsToNumber(argOr(args, 0, 15.0)), stringify(argOr(args, 1, "..."))
		arr := rJSSpaces().Split(stringify(v), -1) // str.split(/\s+/)
		if words <= 0 {
			words = 1
		}
		n := len(arr)
		if words < float64(n) {
			n = int(words)
		}
		ret := strings.Join(arr[:n], " ")
		if float64(len(arr)) >= words {
			ret += o
		}
		return ret
	})
	add("size", func(v any) any {
		switch x := v.(type) {
		case string:
			return jsLength(x)
		case []any:
			return len(x)
		case *Object:
			if n, ok := x.Get("length"); ok && n != nil && n != false && n != "" && n != 0.0 {
				return n
			}
			return 0
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			return rv.Len()
		}
		return 0
	})
	add("slice", func(v any, args ...any) any {
		if isNil(v) {
			return []any{}
		}
		begin := int(toNumber(arg(args, 0)))
		length := int(toNumber(argOr(args, 1, 1.0)))
		if arr, ok := v.([]any); ok {
			return append([]any{}, jsSlice(arr, begin, length)...)
		}
		return fromUTF16(jsSlice(utf16Units(stringify(v)), begin, length))
	})
	add("first", func(v any) any { return endOf(v, false) })
	add("last", func(v any) any { return endOf(v, true) })
	add("join", func(v any, args ...any) string {
		sep := stringify(argOr(args, 0, " "))
		arr := toArray(v)
		parts := make([]string, len(arr))
		for i, x := range arr {
			parts[i] = jsString(x)
		}
		return strings.Join(parts, sep)
	})
	add("default", func(v any, args ...any) any {
		def := arg(args, 0)
		switch x := v.(type) {
		case string:
			if x == "" {
				return def
			}
			return v
		case []any:
			if len(x) == 0 {
				return def
			}
			return v
		case bool:
			if !x {
				for _, a := range args[min(1, len(args)):] {
					if kw, ok := a.(map[string]any); ok {
						if af, ok := kw["allow_false"]; ok && af != nil && af != false {
							return false
						}
					}
				}
				return def
			}
		case nil, NullValue:
			return def
		}
		return v
	})
	add("map", func(v any, args ...any) []any {
		prop := stringify(arg(args, 0))
		arr := toArray(v)
		out := make([]any, len(arr))
		for i, x := range arr {
			out[i] = getProperty(x, prop)
		}
		return out
	})
	add("where", func(v any, args ...any) []any {
		prop := stringify(arg(args, 0))
		out := []any{}
		for _, x := range toArray(v) {
			p := getProperty(x, prop)
			if len(args) < 2 {
				if !isNil(p) && p != false {
					out = append(out, x)
				}
			} else if jsEquals(p, args[1]) {
				out = append(out, x)
			}
		}
		return out
	})
	add("reverse", func(v any) []any {
		out := append([]any{}, toArray(v)...)
		slices.Reverse(out)
		return out
	})
	add("concat", func(v any, args ...any) []any {
		out := append([]any{}, toArray(v)...)
		return append(out, toArray(arg(args, 0))...)
	})
	add("sum", func(v any, args ...any) float64 {
		total := 0.0
		for _, x := range toArray(v) {
			if len(args) > 0 && args[0] != nil {
				x = getProperty(x, stringify(args[0]))
			}
			if f := jsToNumber(x); f == f {
				total += f
			}
		}
		return total
	})
	// sort_natural is LiquidJS's caseInsensitiveCompare: String(x) lowered,
	// by UTF-16 code units, null and undefined last (osteele's panics on
	// anything but strings).
	add("sort_natural", func(v any, args ...any) []any {
		out := append([]any{}, toArray(v)...)
		key := func(x any) any {
			if len(args) > 0 && args[0] != nil {
				return getProperty(x, stringify(args[0]))
			}
			return x
		}
		slices.SortStableFunc(out, func(a, b any) int {
			ka, kb := key(a), key(b)
			if isNil(ka) || isNil(kb) {
				return boolInt(isNil(ka)) - boolInt(isNil(kb))
			}
			return slices.Compare(utf16Units(jsLower(stringify(ka))), utf16Units(jsLower(stringify(kb))))
		})
		return out
	})
	add("compact", func(v any) []any {
		out := []any{}
		for _, x := range toArray(v) {
			if !isNil(x) {
				out = append(out, x)
			}
		}
		return out
	})
	add("to_integer", jsToNumber)

	// math, with JavaScript numbers (toNumber: +v || 0)
	num1 := func(f func(float64) float64) func(any) float64 {
		return func(v any) float64 { return f(toNumber(v)) }
	}
	num2 := func(f func(a, b float64) float64) func(any, ...any) float64 {
		return func(v any, args ...any) float64 {
			if len(args) == 0 {
				return f(toNumber(v), math.NaN())
			}
			return f(toNumber(v), toNumber(args[0]))
		}
	}
	add("abs", num1(math.Abs))
	add("ceil", num1(math.Ceil))
	add("floor", num1(math.Floor))
	// A missing bound (NaN) leaves the value.
	bound := func(f func(a, b float64) float64) func(any, ...any) float64 {
		return num2(func(a, b float64) float64 {
			if b != b {
				return a
			}
			return f(a, b)
		})
	}
	add("at_least", bound(math.Max))
	add("at_most", bound(math.Min))
	add("plus", num2(func(a, b float64) float64 { return a + b }))
	add("minus", num2(func(a, b float64) float64 { return a - b }))
	add("times", num2(func(a, b float64) float64 { return a * b }))
	add("modulo", num2(math.Mod))
	divide := num2(func(a, b float64) float64 { return a / b })
	add("divided_by", func(v any, args ...any) float64 {
		if toNumber(arg(args, 1)) != 0 { // integer division
			return math.Floor(divide(v, args...))
		}
		return divide(v, args...)
	})
	add("round", func(v any, args ...any) float64 {
		x := toNumber(v)
		amp := math.Pow(10, toNumber(arg(args, 0)))
		scaled := math.Abs(x * amp)
		r := math.Floor(scaled + 0.5)
		sign := 0.0
		switch {
		case x > 0:
			sign = 1
		case x < 0:
			sign = -1
		}
		return sign * r / amp
	})
}

func arg(args []any, i int) any { return argOr(args, i, nil) }

// argOr is args[i], or def when it is missing or nil.
func argOr(args []any, i int, def any) any {
	if i >= 0 && i < len(args) && args[i] != nil {
		return args[i]
	}
	return def
}

func (e *Engine) formatDate(v any, format string, tz any) (any, error) {
	d, err := e.parseDate(v, tz)
	if d == nil || err != nil {
		return v, err
	}
	return strftime(d, format), nil
}

func (e *Engine) stringifyDate(v any, month string, args []any) (any, error) {
	d, err := e.parseDate(v, nil)
	if d == nil || err != nil {
		return v, err
	}
	if arg(args, 0) == "ordinal" {
		day := d.disp.Day()
		if arg(args, 1) == "US" {
			return strftime(d, fmt.Sprintf("%s %d%%q, %%Y", month, day)), nil
		}
		return strftime(d, fmt.Sprintf("%d%%q %s %%Y", day, month)), nil
	}
	return strftime(d, "%d "+month+" %Y"), nil
}

var (
	// the matches of /\r?\n/g, replaced
	stripNewlines = strings.NewReplacer("\r\n", "", "\n", "")
	newlinesToBR  = strings.NewReplacer("\r\n", "<br />\n", "\n", "<br />\n")
	rJSSpaces     = lazyRegexp(`[\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}]+`)
	uriMarks      = strings.NewReplacer("%21", "!", "%27", "'", "%28", "(", "%29", ")", "%2A", "*")
	htmlUnescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'")
)

// jsSplit is String.prototype.split with a string separator.
func jsSplit(s, sep string) []string {
	if sep == "" {
		u := utf16Units(s)
		out := make([]string, len(u))
		for i := range u {
			out[i] = string(utf16.Decode(u[i : i+1]))
		}
		return out
	}
	return strings.Split(s, sep)
}

func jsReplaceAll(s, pattern, repl string) string {
	return strings.Join(jsSplit(s, pattern), repl)
}

func replaceLast(s, pattern, repl string) string {
	i := strings.LastIndex(s, pattern)
	if i < 0 {
		return s
	}
	return s[:i] + repl + s[i+len(pattern):]
}

// stripChars is LiquidJS's strip/lstrip/rstrip: white space, or the given
// characters (as UTF-16 units).
func stripChars(s string, chars any, left, right bool) string {
	if chars == nil || chars == false || chars == "" || chars == 0.0 {
		if left {
			s = strings.TrimLeftFunc(s, jsIsSpace)
		}
		if right {
			s = strings.TrimRightFunc(s, jsIsSpace)
		}
		return s
	}
	set := utf16Units(stringify(chars))
	u := utf16Units(s)
	i, j := 0, len(u)
	for left && i < j && slices.Contains(set, u[i]) {
		i++
	}
	for right && j > i && slices.Contains(set, u[j-1]) {
		j--
	}
	return fromUTF16(u[i:j])
}

// jsSlice is Array.prototype.slice(begin, begin+length) (and String's,
// on UTF-16 code units).
func jsSlice[T any](s []T, begin, length int) []T {
	if begin < 0 {
		begin += len(s)
	}
	rel := func(i int) int {
		if i < 0 {
			return max(0, i+len(s))
		}
		return min(i, len(s))
	}
	b, e := rel(begin), rel(begin+length)
	return s[b:max(b, e)]
}

// endOf is LiquidJS's first or last: of an array or of a string's UTF-16
// code units; "" for anything else.
func endOf(v any, last bool) any {
	arr, isArr := v.([]any)
	s, isStr := v.(string)
	u := utf16Units(s)
	n := max(len(arr), len(u))
	switch {
	case !isArr && !isStr:
		return ""
	case n == 0:
		return nil
	case last:
		n--
	default:
		n = 0
	}
	if isArr {
		return arr[n]
	}
	return fromUTF16(u[n : n+1])
}

// toArray is LiquidJS's toArray.
func toArray(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil, NullValue:
		return nil
	case string:
		if x == "" {
			return nil
		}
		return []any{x}
	case *Object:
		out := make([]any, 0, x.Len())
		for i := 0; i < x.Len(); i++ {
			out = append(out, x.Index(i))
		}
		return out
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out
	}
	return []any{v}
}

// jsString is String(v) as Array.prototype.join applies it to elements.
func jsString(v any) string {
	switch x := v.(type) {
	case nil, NullValue:
		return ""
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = jsString(e)
		}
		return strings.Join(parts, ",")
	}
	return stringify(v)
}

// stripHTML is LiquidJS's strip_html: <script>, <style> and comment blocks
// go whole, any other <...> goes; an unclosed opener ends the stripping.
func stripHTML(str string) string {
	blocks := [][2]string{{"<script", "</script>"}, {"<style", "</style>"}, {"<!--", "-->"}, {"<", ">"}}
	dead := map[string]bool{}
	var out strings.Builder
	i := 0
	for i < len(str) {
		lt := strings.IndexByte(str[i:], '<')
		if lt < 0 {
			out.WriteString(str[i:])
			return out.String()
		}
		lt += i
		out.WriteString(str[i:lt])
		i = lt
		for _, bl := range blocks {
			if dead[bl[0]] || !strings.HasPrefix(str[lt:], bl[0]) {
				continue
			}
			if e := strings.Index(str[lt+len(bl[0]):], bl[1]); e >= 0 {
				i = lt + len(bl[0]) + e + len(bl[1])
				break
			}
			dead[bl[0]] = true
		}
		if i == lt {
			out.WriteString(str[lt:])
			return out.String()
		}
	}
	return out.String()
}

// jsUpper and jsLower are toUpperCase/toLowerCase: Unicode's full case
// mappings (ß is SS), which strings.ToUpper lacks.
func jsUpper(s string) string { return cases.Upper(language.Und).String(s) }

func jsLower(s string) string { return cases.Lower(language.Und).String(s) }

// getProperty reads a dotted property path as LiquidJS's _getFromScope.
func getProperty(v any, path string) any {
	for _, key := range strings.Split(path, ".") {
		switch x := v.(type) {
		case values.Value: // *Object, Null
			v = x.PropertyValue(values.ValueOf(key)).Interface()
		case map[string]any:
			v = x[key]
		case []any:
			v = map[string]any{"size": len(x), "first": arg(x, 0), "last": arg(x, len(x)-1)}[key]
		case string:
			v = map[string]any{"size": jsLength(x)}[key]
		default:
			return nil
		}
	}
	return v
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
