package liquidjs

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// LiquidJS's names (of variables, properties and filters) are runs of its
// word characters: letters, digits, "_", "-", "?" and any character above
// ASCII but a few blanks. osteele's lexer reads a name only when it starts
// with a letter or "_", goes on with letters, digits, marks, "_" and "-",
// and ends with at most one "?"; and "in", "and", "or" and "contains" are
// keywords to it. So LiquidJS reads x.1 (property "1"), arr.-1 (the last
// element), a?b and "-" (a variable; {{ x - }} is x followed by the
// undefined variable "-") where osteele fails. preprocess rewrites them
// (propertyEdits): a property osteele cannot read becomes
// (value | __liquidjs_prop: "name"), which reads it as LiquidJS does; a
// variable it cannot read becomes __liquidjs_v_HEX (mangle), where it is
// used and where assign, capture, for and tablerow define it (rewriteTag);
// Kuma's context has no such variable. A filter, which no filter is, is
// blanked (readFilter), as LiquidJS passes the value through.

const propFilter = "__liquidjs_prop"

// osteeleName reports whether osteele's lexer reads name as one name:
// a property (after a ".") or, with variable, a variable or filter.
func osteeleName(name string, property bool) bool {
	core := strings.TrimSuffix(name, "?")
	if core == "" || !property && slices.Contains([]string{"in", "and", "or", "contains"}, name) {
		return false
	}
	for i, r := range core {
		switch {
		case r == utf8.RuneError:
			return false
		case r >= utf8.RuneSelf:
			// (osteele checks a variable's with unicode, a property's not.)
			if !property && !unicode.IsLetter(r) && (i == 0 || !unicode.IsDigit(r) && !unicode.IsMark(r)) {
				return false
			}
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r == '-' || r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	return true
}

// mangle is the variable name osteele reads for name, one it cannot.
func mangle(name string) string {
	return fmt.Sprintf("__liquidjs_v_%x", name)
}

// mangleDefined is the name a tag defines (with its blanks) written as
// mangle has it, when osteele cannot read it.
func mangleDefined(s string) string {
	name := strings.TrimSpace(s)
	if name == "" || osteeleName(name, false) || strings.ContainsAny(name, " \t\n\r\"'") {
		return s
	}
	i := strings.Index(s, name)
	return s[:i] + mangle(name) + s[i+len(name):]
}

// edit replaces src[at:end] with text (an insertion when end is at).
type edit struct {
	at, end int
	text    string
}

// propertyEdits are the edits of src (the template, as checkBlocks
// rewrote it) that make the names of tag (or of the lines of a {% liquid %}
// tag) that osteele cannot read ones it can (see above). A tag LiquidJS
// does not parse (in a comment, a when after an else) has none.
func propertyEdits(src string, tag token) []edit {
	var edits []edit
	onName := func(prop bool, valueBegin, begin, end int) {
		name := src[begin:end]
		switch {
		case osteeleName(name, prop):
		case prop:
			edits = append(edits, edit{valueBegin, valueBegin, "("},
				edit{begin - 1, end, " | " + propFilter + ": " + osteeleQuote(name) + ")"})
		default:
			edits = append(edits, edit{begin, end, mangle(name)})
		}
	}
	if tag.name == "liquid" {
		lines, err := liquidLines(src, tag)
		if err != nil {
			return nil
		}
		for _, line := range lines {
			n := len(edits)
			if readValues(src, line, nil, onName) != nil {
				edits = edits[:n]
			}
		}
	} else if readValues(src, tag, nil, onName) != nil {
		return nil
	}
	return edits
}

// applyEdits is s, the text of src from off, with edits applied.
func applyEdits(s string, off int, edits []edit) string {
	if len(edits) == 0 {
		return s
	}
	slices.SortStableFunc(edits, func(a, b edit) int {
		if a.at != b.at {
			return a.at - b.at
		}
		return (a.end - a.at) - (b.end - b.at) // insertions first
	})
	var b strings.Builder
	last := 0
	for _, e := range edits {
		b.WriteString(s[last : e.at-off])
		b.WriteString(e.text)
		last = e.end - off
	}
	return b.String() + s[last:]
}

// jsProperty is LiquidJS's readProperty(obj, key) for a key that is not
// an ordinary name: a negative index of an array counts from its end, and
// an array or a string has its elements (characters, in UTF-16 code units)
// at their indexes; an object has its members.
func jsProperty(obj any, key string) any {
	switch o := obj.(type) {
	case nil, NullValue:
		return obj
	case string:
		u := utf16Units(o)
		if i, ok := arrayIndex(key); ok && i < len(u) {
			return fromUTF16(u[i : i+1])
		}
		return nil
	case *Object:
		v, _ := o.Get(key)
		return v
	case map[string]any:
		return o[key]
	}
	rv := reflect.ValueOf(obj)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil
	}
	i, ok := arrayIndex(key)
	if n := jsToNumber(key); n < 0 {
		// obj[obj.length + +key]
		f := float64(rv.Len()) + n
		i, ok = int(f), f >= 0 && f == math.Trunc(f)
	}
	if ok && i < rv.Len() {
		return rv.Index(i).Interface()
	}
	return nil
}

// arrayIndex is key as an array index ("0", "1"... without leading zeros).
func arrayIndex(key string) (int, bool) {
	i, err := strconv.Atoi(key)
	return i, err == nil && i >= 0 && strconv.Itoa(i) == key
}
