package liquidjs

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/osteele/liquid/values"
)

// Object is a JSON object that keeps its keys in document order, as a
// JavaScript object does. It is what DecodeJSON makes of a JSON object, and
// how Kuma's monitorJSON and heartbeatJSON reach templates: osteele/liquid
// sees it as a values.Value, so property access ({{ heartbeatJSON.status }},
// {{ monitorJSON.tags[0].name }}, obj["key"]), `size`, `for` loops (over
// [key, value] pairs, as LiquidJS) and comparisons work, while the `json`
// filter receives the Object itself and writes its keys in order.
//
// An Object is not safe for concurrent modification; templates only read it,
// so one Object may be rendered from many goroutines.
type Object struct {
	keys []string
	vals map[string]any
}

// NewObject returns an empty Object.
func NewObject() *Object { return &Object{vals: map[string]any{}} }

// Set sets key to v; a new key goes last, an existing key keeps its place.
func (o *Object) Set(key string, v any) {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

// Get returns the value of key and whether it is present.
func (o *Object) Get(key string) (any, bool) {
	if o == nil {
		return nil, false
	}
	v, ok := o.vals[key]
	return v, ok
}

// Keys returns the keys in order. The caller must not modify the slice.
func (o *Object) Keys() []string { return o.keys }

// String is how LiquidJS prints an object: {{ monitorJSON }} is "[object Object]".
func (o Object) String() string { return "[object Object]" }

// MarshalJSON writes the object with its keys in order, as JSON.stringify.
func (o *Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, o, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// --- values.Value: how osteele/liquid evaluates an Object -----------------

var _ values.Value = (*Object)(nil)

// Interface returns the Object itself, so that filters receive it whole.
func (o *Object) Interface() any { return o }

// Int is what osteele asks of a loop bound or index; an object is not one.
func (o *Object) Int() int { return 0 }

// Equal is JavaScript's identity of objects.
func (o *Object) Equal(v values.Value) bool {
	other, ok := v.Interface().(*Object)
	return ok && other == o
}

// Less is false: LiquidJS compares objects as NaN.
func (o *Object) Less(values.Value) bool { return false }

// Contains is false: LiquidJS's `obj contains "k"` is false for a plain
// object, which has no indexOf (osteele's maps test the key).
func (o *Object) Contains(values.Value) bool { return false }

// IndexValue is obj[key]; a number key is its JavaScript string form.
func (o *Object) IndexValue(k values.Value) values.Value {
	if v, ok := o.Get(propertyKey(k.Interface())); ok {
		return values.ValueOf(v)
	}
	return values.ValueOf(nil)
}

// PropertyValue is obj.key, with LiquidJS's size fallback.
func (o *Object) PropertyValue(k values.Value) values.Value {
	key := propertyKey(k.Interface())
	if v, ok := o.Get(key); ok {
		return values.ValueOf(v)
	}
	if key == "size" {
		return values.ValueOf(o.Len())
	}
	return values.ValueOf(nil)
}

// Test is JavaScript truthiness of an object: always true.
func (o *Object) Test() bool { return true }

// Len (the number of keys) and Index make an Object iterable by osteele's
// for tag: LiquidJS iterates an object as its [key, value] pairs in key order.
func (o *Object) Len() int { return len(o.keys) }

func (o *Object) Index(i int) any {
	k := o.keys[i]
	return []any{k, o.vals[k]}
}

func propertyKey(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case nil:
		return "undefined"
	default:
		return stringify(k)
	}
}

// --- decoding --------------------------------------------------------------

// DecodeJSON decodes one JSON value as JavaScript's JSON.parse would for a
// template: objects become *Object with their keys in document order (a
// repeated key keeps its first place and its last value, as in JS), arrays
// []any, numbers float64, strings, booleans, and null Null.
func DecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("liquidjs: trailing data after JSON value")
	}
	return v, nil
}

const maxJSONDepth = 10000

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("liquidjs: JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim: // '{' or '[': the Decoder returns a misplaced '}' or ']' as an error
		var o *Object
		arr := []any{}
		if t == '{' {
			o = NewObject()
		}
		for dec.More() {
			var key any
			if o != nil {
				if key, err = dec.Token(); err != nil { // a string: the Decoder checks
					return nil, err
				}
			}
			v, err := decodeValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			if k, ok := key.(string); ok {
				o.Set(k, v)
			} else {
				arr = append(arr, v)
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		if o != nil {
			return o, nil
		}
		return arr, nil
	case nil:
		return Null, nil
	default:
		return t, nil // float64, string, bool
	}
}

// JSNumber formats a float64 as JavaScript's Number.prototype.toString
// does (String(f)): how LiquidJS prints a number, and how Uptime Kuma's
// webhook text shows one.
func JSNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0" // -0 too
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	// Go writes 1e+21 and 1e-07; JavaScript 1e+21 and 1e-7.
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	return mant + "e" + exp[:1] + strings.TrimLeft(exp[1:], "0")
}

// NullValue is JSON's null as a template sees it. LiquidJS tells null (a
// JSON null: heartbeatJSON of a test notification, heartbeatJSON.ping of a
// DOWN beat) from undefined (a missing variable or key): `null < 100` is
// true and `undefined < 100` false, `{{ null | json }}` is "null" and
// `{{ undefined | json }}` is "". DecodeJSON returns Null for null; a Go nil in
// a context is undefined. Both print as "" and are falsy.
type NullValue struct{}

// Null is the JSON null.
var Null = NullValue{}

var _ values.Value = Null

func (NullValue) String() string { return "" }

func (NullValue) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// Interface returns Null itself, so that filters see null, not undefined.
func (NullValue) Interface() any { return Null }

func (NullValue) Int() int { return 0 }

// Equal: null equals null and undefined (LiquidJS's nil literal is a
// NullDrop, equal to both).
func (NullValue) Equal(v values.Value) bool {
	x := v.Interface()
	return x == nil || x == Null
}

func (NullValue) Less(values.Value) bool { return false }

func (NullValue) Contains(values.Value) bool { return false }

// IndexValue and PropertyValue are null: LiquidJS reads any property of
// null as null.
func (NullValue) IndexValue(values.Value) values.Value { return Null }

func (NullValue) PropertyValue(values.Value) values.Value { return Null }

func (NullValue) Test() bool { return false }

func isNil(v any) bool { return v == nil || v == Null }
