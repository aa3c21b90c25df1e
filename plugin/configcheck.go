package main

import (
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// This file turns what BurntSushi/toml finds in a configuration file into
// errors a person reads: FILE:LINE, the key as written in its table, what was
// expected in words, and for an unknown key the nearest known one. Positions
// come from the library (ParseError.Position); nothing here parses TOML.

// decodeConfig decodes data, the TOML file at path, into v (a pointer to a
// struct with toml tags). A syntax error, a value of the wrong type, a value
// a field refuses (a duration that is not one) and a key v does not have are
// errors naming the file and line.
func decodeConfig(path string, data []byte, v any) error {
	md, err := toml.Decode(string(data), v)
	if err != nil {
		return explainDecodeError(path, data, reflect.TypeOf(v).Elem(), err)
	}
	var msgs []string
	var reported []toml.Key
	for _, k := range md.Undecoded() {
		if underAny(k, reported) {
			continue // inside an unknown table already reported
		}
		reported = append(reported, k)
		msgs = append(msgs, unknownKey(path, data, reflect.TypeOf(v).Elem(), k, md.Type(k...) == "Hash"))
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// underAny reports whether k lies inside one of tables.
func underAny(k toml.Key, tables []toml.Key) bool {
	return slices.ContainsFunc(tables, func(t toml.Key) bool { return len(k) > len(t) && slices.Equal(k[:len(t)], t) })
}

// explainDecodeError words err, the failed decode of data into a t.
func explainDecodeError(path string, data []byte, t reflect.Type, err error) error {
	var generic map[string]any
	if _, gerr := toml.Decode(string(data), &generic); gerr != nil {
		// The file itself is not TOML.
		var perr toml.ParseError
		if errors.As(gerr, &perr) {
			return fmt.Errorf("%s:%d: %s", path, perr.Position.Line, perr.Message)
		}
		return fmt.Errorf("%s: %w", path, gerr)
	}
	if key, msg := firstMismatch(nil, generic, t); key != nil {
		return fmt.Errorf("%s: %s %s", where(path, data, key), keyName(key), msg)
	}
	// A value the field refused (UnmarshalText): the library says where,
	// and LastKey splits at its dots (our keys are bare words).
	var perr toml.ParseError
	if errors.As(err, &perr) && perr.LastKey != "" {
		return fmt.Errorf("%s:%d: %s: %s", path, perr.Position.Line, keyName(strings.Split(perr.LastKey, ".")), perr.Message)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// where is "FILE:LINE" for key, or "FILE" when its line is unknown.
func where(path string, data []byte, key toml.Key) string {
	if line := keyLine(data, key); line > 0 {
		return fmt.Sprintf("%s:%d", path, line)
	}
	return path
}

// keyName is key as a person finds it in the file: "[matrix] concurrency",
// "[kuma.routes] ops", or "timezone" at the top level.
func keyName(key toml.Key) string {
	if len(key) == 1 {
		return key[0]
	}
	return fmt.Sprintf("[%s] %s", toml.Key(key[:len(key)-1]).String(), key[len(key)-1])
}

// unknownKey words a key the configuration does not have, with the nearest
// one that it has.
func unknownKey(path string, data []byte, t reflect.Type, key toml.Key, table bool) string {
	parent := t
	for _, k := range key[:len(key)-1] {
		if ft, ok := fieldType(parent, k); ok {
			parent = ft
		}
	}
	name := key[len(key)-1]
	suggestion := closest(name, fieldNames(parent))
	var b strings.Builder
	b.WriteString(where(path, data, key) + ": ")
	if table {
		fmt.Fprintf(&b, "unknown table [%s]", key.String())
		if suggestion != "" {
			fmt.Fprintf(&b, ", did you mean [%s]?", toml.Key(append(append([]string{}, key[:len(key)-1]...), suggestion)).String())
		}
		return b.String()
	}
	fmt.Fprintf(&b, "unknown key %q", name)
	if len(key) > 1 {
		fmt.Fprintf(&b, " in [%s]", toml.Key(key[:len(key)-1]).String())
	}
	if suggestion != "" {
		fmt.Fprintf(&b, ", did you mean %q?", suggestion)
	}
	return b.String()
}

// tomlName is the key a struct field is read from.
func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return cmp.Or(name, f.Name)
}

// fieldNames lists the keys of the table t (a struct).
func fieldNames(t reflect.Type) []string {
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for f := range t.Fields() {
		if f.IsExported() && tomlName(f) != "-" {
			out = append(out, tomlName(f))
		}
	}
	return out
}

// fieldType is the type the key name of table t decodes into, matched as
// the library matches it (exactly, else ignoring case).
func fieldType(t reflect.Type, name string) (reflect.Type, bool) {
	t = deref(t)
	switch t.Kind() {
	case reflect.Map:
		return t.Elem(), true
	case reflect.Struct:
		var fold reflect.Type
		for f := range t.Fields() {
			if !f.IsExported() {
				continue
			}
			if tomlName(f) == name {
				return f.Type, true
			}
			if fold == nil && strings.EqualFold(tomlName(f), name) {
				fold = f.Type
			}
		}
		return fold, fold != nil
	}
	return nil, false
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// firstMismatch walks the generic decode of the file (v, at key) along the
// type it must fit (t) and returns the first key whose value does not fit,
// with what was expected in words.
func firstMismatch(key toml.Key, v any, t reflect.Type) (toml.Key, string) {
	t = deref(t)
	var fits bool
	switch {
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		_, fits = v.(string)
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Map:
		var m map[string]any
		if m, fits = v.(map[string]any); fits {
			for name, sub := range m {
				if ft, ok := fieldType(t, name); ok {
					if k, msg := firstMismatch(append(slices.Clone(key), name), sub, ft); k != nil {
						return k, msg
					}
				}
			}
		}
	case t.Kind() == reflect.Slice:
		var list []any
		if list, fits = v.([]any); fits {
			for i, item := range list {
				if k, _ := firstMismatch(key, item, t.Elem()); k != nil {
					return key, fmt.Sprintf("must be %s: item %d is %s", expected(t), i+1, actual(item))
				}
			}
		}
	case t.Kind() == reflect.String:
		_, fits = v.(string)
	case t.Kind() == reflect.Bool:
		_, fits = v.(bool)
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64 || t.Kind() == reflect.Int32:
		_, fits = v.(int64)
	default:
		fits = true
	}
	if !fits {
		return key, fmt.Sprintf("must be %s, not %s", expected(t), actual(v))
	}
	return nil, ""
}

// expected words what a Go type takes in TOML.
func expected(t reflect.Type) string {
	t = deref(t)
	switch {
	case t == reflect.TypeFor[duration]():
		return `a duration in quotes, like "30s"`
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a number"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(expected(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct, reflect.Map:
		return "a table"
	}
	return t.String()
}

// actual words a TOML value's type.
func actual(v any) string {
	switch v := v.(type) {
	case string:
		return "a string (" + strconv.Quote(v) + ")"
	case int64:
		return "a number"
	case float64:
		return "a decimal number"
	case bool:
		return "true or false"
	case time.Time:
		return "a date"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "a list of tables"
	}
	return "a date" // toml.LocalDate, LocalTime, LocalDatetime
}

// refuse is a value that refuses to be decoded: decoding into a type made
// only of the path to one key, ending in refuse, makes the library report
// that key's position.
type refuse struct{}

// errRefused is refuse's error; ParseError keeps only its text.
var errRefused = errors.New("refused by keyLine")

func (refuse) UnmarshalTOML(any) error { return errRefused }

// keyLine returns the line where key is defined in data, 0 when the library
// cannot say (a key inside an array of tables).
func keyLine(data []byte, key toml.Key) int {
	t := reflect.TypeFor[refuse]()
	for i := len(key) - 1; i >= 0; i-- {
		if strings.ContainsAny(key[i], ",\"") {
			return 0 // not expressible as a toml tag
		}
		t = reflect.StructOf([]reflect.StructField{{Name: "K", Type: t, Tag: reflect.StructTag(`toml:` + strconv.Quote(key[i]))}})
	}
	_, err := toml.Decode(string(data), reflect.New(t).Interface())
	var perr toml.ParseError
	if errors.As(err, &perr) && perr.Message == errRefused.Error() {
		return perr.Position.Line
	}
	return 0
}
