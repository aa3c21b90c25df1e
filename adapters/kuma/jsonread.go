package kuma

// A JSON reader for webhook bodies. Decoding one with encoding/json took
// several passes, each building values only to drop them: the document
// into an any to check its shape, again into raw members, each member again
// into an any, and once more as a token stream for the ordered object
// templates see. With the reader it is one pass that checks the document
// and finds its members, then for heartbeat and monitor one that builds the
// object templates see and one that decodes only the few fields the
// package checks.
//
// It accepts exactly what encoding/json's Unmarshal into an any accepts,
// nesting limit and float64 range included, and decodes to the same values
// (FuzzReader checks both against encoding/json and liquidjs.DecodeJSON).
// It does not explain what it rejects: invalidJSON asks encoding/json, so
// the error texts stay encoding/json's.

import (
	"errors"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"matrix-notify/adapters/liquidjs"
)

// errRejected is the reader's only error; see invalidJSON for the message
// users get.
var errRejected = errors.New("kuma: not valid JSON")

// maxDepth is encoding/json's limit on open objects and arrays.
const maxDepth = 10000

// reader reads JSON values from data, starting at off.
type reader struct {
	data  []byte
	off   int
	depth int // objects and arrays open at off
	// text is data as a string, when set: decoded strings with no escapes
	// are then slices of it, one copy of data rather than one per string.
	text string
	// ordered decodes as templates see JSON (objects as *liquidjs.Object in
	// key order, null as liquidjs.Null, as liquidjs.DecodeJSON does);
	// otherwise as encoding/json into an any (map[string]any, nil).
	ordered bool
}

// members are the JSON texts of a document's members, nil when absent.
type members struct{ msg, heartbeat, monitor []byte }

// splitDocument checks that doc is one JSON value; if that is an object it
// returns the texts of its members msg, heartbeat and monitor (of a
// repeated key the last, as encoding/json). top is the value's first byte.
func splitDocument(doc []byte) (top byte, m members, err error) {
	r := reader{data: doc}
	top = r.next()
	if top != '{' {
		return top, m, r.whole(r.skip)
	}
	err = r.whole(func() error {
		return r.object(func(key []byte) error {
			r.space()
			start := r.off
			if err := r.skip(); err != nil {
				return err
			}
			switch string(unquote(key)) {
			case "msg":
				m.msg = doc[start:r.off]
			case "heartbeat":
				m.heartbeat = doc[start:r.off]
			case "monitor":
				m.monitor = doc[start:r.off]
			}
			return nil
		})
	})
	return top, m, err
}

// validJSON reports whether data is one JSON value.
func validJSON(data []byte) bool {
	r := reader{data: data}
	return r.whole(r.skip) == nil
}

// decodeValue decodes data, one JSON value, as the reader's ordered says.
func decodeValue(data []byte, ordered bool) (any, error) {
	r := reader{data: data, ordered: ordered, text: string(data)}
	var v any
	err := r.whole(func() (err error) {
		v, err = r.value()
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// objectFields decodes the members of the JSON object data named in keys,
// as encoding/json would into an any (a repeated key's last value wins);
// the other members are only checked.
func objectFields(data []byte, keys []string) (map[string]any, error) {
	r := reader{data: data}
	m := map[string]any{}
	err := r.whole(func() error {
		if r.next() != '{' {
			return errRejected
		}
		return r.object(func(key []byte) error {
			i := slices.Index(keys, string(unquote(key)))
			if i < 0 {
				return r.skip()
			}
			v, err := r.value()
			m[keys[i]] = v
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// whole runs read, which reads one value, and checks that only whitespace
// surrounds it.
func (r *reader) whole(read func() error) error {
	if err := read(); err != nil {
		return err
	}
	if r.space(); r.off != len(r.data) {
		return errRejected
	}
	return nil
}

func (r *reader) space() {
	for r.off < len(r.data) {
		switch r.data[r.off] {
		case ' ', '\t', '\n', '\r':
			r.off++
		default:
			return
		}
	}
}

// next skips whitespace and returns the byte there, 0 at the end (a NUL
// there is invalid JSON too).
func (r *reader) next() byte {
	if r.space(); r.off < len(r.data) {
		return r.data[r.off]
	}
	return 0
}

// skip checks the value at off and moves past it, building nothing.
func (r *reader) skip() error {
	switch r.next() {
	case '{':
		return r.object(func([]byte) error { return r.skip() })
	case '[':
		return r.array(r.skip)
	case '"':
		_, err := r.str()
		return err
	case 't':
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	}
	_, err := r.number(false)
	return err
}

// value decodes the value at off and moves past it.
func (r *reader) value() (any, error) {
	switch r.next() {
	case '{':
		if r.ordered {
			o := liquidjs.NewObject()
			return o, r.object(func(key []byte) error {
				v, err := r.value()
				o.Set(r.string(key), v) // a repeated key keeps its place, as in JS
				return err
			})
		}
		m := map[string]any{}
		return m, r.object(func(key []byte) error {
			v, err := r.value()
			m[r.string(key)] = v
			return err
		})
	case '[':
		a := []any{}
		err := r.array(func() error {
			v, err := r.value()
			a = append(a, v)
			return err
		})
		return a, err
	case '"':
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		return r.string(s), nil
	case 't':
		return true, r.literal("true")
	case 'f':
		return false, r.literal("false")
	case 'n':
		if r.ordered {
			return liquidjs.Null, r.literal("null")
		}
		return nil, r.literal("null")
	}
	return r.number(true)
}

// object reads the object at off. For each member it calls each with the
// key's text (between the quotes, still escaped) and off at the value,
// which each must read.
func (r *reader) object(each func(key []byte) error) error {
	if err := r.open(); err != nil {
		return err
	}
	if r.next() == '}' {
		return r.close()
	}
	for {
		if r.next() != '"' {
			return errRejected
		}
		key, err := r.str()
		if err != nil {
			return err
		}
		if r.next() != ':' {
			return errRejected
		}
		r.off++
		if err := each(key); err != nil {
			return err
		}
		switch r.next() {
		case ',':
			r.off++
		case '}':
			return r.close()
		default:
			return errRejected
		}
	}
}

// array reads the array at off, calling each with off at every element,
// which each must read.
func (r *reader) array(each func() error) error {
	if err := r.open(); err != nil {
		return err
	}
	if r.next() == ']' {
		return r.close()
	}
	for {
		if err := each(); err != nil {
			return err
		}
		switch r.next() {
		case ',':
			r.off++
		case ']':
			return r.close()
		default:
			return errRejected
		}
	}
}

// open moves past a '{' or '['.
func (r *reader) open() error {
	r.off++
	if r.depth++; r.depth > maxDepth {
		return errRejected
	}
	return nil
}

// close moves past a '}' or ']'.
func (r *reader) close() error {
	r.off++
	r.depth--
	return nil
}

// literal moves past lit (true, false or null), which must be at off.
func (r *reader) literal(lit string) error {
	end := r.off + len(lit)
	if end > len(r.data) || string(r.data[r.off:end]) != lit {
		return errRejected
	}
	r.off = end
	return nil
}

// number reads the number at off, as RFC 8259 spells numbers, and converts
// it if convert is set. A number beyond float64's range is rejected, as by
// encoding/json (into an any); only one with an exponent or over 308 digits
// can be, so others are converted only when asked.
func (r *reader) number(convert bool) (float64, error) {
	d, start := r.data, r.off
	i := start
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		i = digits(d, i)
	default:
		return 0, errRejected
	}
	if i < len(d) && d[i] == '.' {
		j := digits(d, i+1)
		if j == i+1 {
			return 0, errRejected
		}
		i = j
	}
	exp := i < len(d) && (d[i] == 'e' || d[i] == 'E')
	if exp {
		if i++; i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := digits(d, i)
		if j == i {
			return 0, errRejected
		}
		i = j
	}
	r.off = i
	if !convert && !exp && i-start <= 308 {
		return 0, nil
	}
	f, err := strconv.ParseFloat(string(d[start:i]), 64)
	if err != nil {
		return 0, errRejected
	}
	return f, nil
}

// digits returns the index of the first non-digit at or after i.
func digits(d []byte, i int) int {
	for i < len(d) && '0' <= d[i] && d[i] <= '9' {
		i++
	}
	return i
}

// str reads the string at off and returns its text between the quotes,
// escapes checked but not decoded (see unquote).
func (r *reader) str() ([]byte, error) {
	d := r.data
	start := r.off + 1
	for i := start; i < len(d); {
		switch c := d[i]; {
		case c == '"':
			r.off = i + 1
			return d[start:i], nil
		case c == '\\':
			if i+1 == len(d) {
				return nil, errRejected
			}
			switch d[i+1] {
			case 'b', 'f', 'n', 'r', 't', '\\', '/', '"':
				i += 2
			case 'u':
				if getu4(d[i:]) < 0 {
					return nil, errRejected
				}
				i += 6
			default:
				return nil, errRejected
			}
		case c < ' ':
			return nil, errRejected
		default:
			i++
		}
	}
	return nil, errRejected
}

// string is the string whose text, as str returned it, is s.
func (r *reader) string(s []byte) string {
	if r.text != "" && len(s) > 0 && plainLen(s) == len(s) {
		start := cap(r.data) - cap(s) // s is r.data[start:end]
		return r.text[start : start+len(s)]
	}
	return string(unquote(s))
}

// unquote decodes the escapes of a string's text that str checked, as
// encoding/json does: a UTF-16 surrogate pair is one rune, a lone surrogate
// and each byte of invalid UTF-8 become U+FFFD. It returns s itself when
// nothing changes.
func unquote(s []byte) []byte {
	i := plainLen(s)
	if i == len(s) {
		return s
	}
	b := make([]byte, i, len(s)+utf8.UTFMax)
	copy(b, s)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := getu4(s[i:])
				i += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[i:])); dec != unicode.ReplacementChar {
						b = utf8.AppendRune(b, dec)
						i += 6
						continue
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default: // '"', '\\', '/'
				b = append(b, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			rr, size := utf8.DecodeRune(s[i:]) // RuneError for a bad byte
			b = utf8.AppendRune(b, rr)
			i += size
		}
	}
	return b
}

// plainLen is the length of the start of a string's text that unquote
// leaves as it is: up to an escape or invalid UTF-8.
func plainLen(s []byte) int {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '\\' {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		rr, size := utf8.DecodeRune(s[i:])
		if rr == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	return i
}

// getu4 decodes the \uXXXX escape s starts with, -1 if it does not.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
