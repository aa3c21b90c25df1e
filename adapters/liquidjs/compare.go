package liquidjs

import (
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/osteele/liquid/render"
)

// literal is LiquidJS's blank and empty: they print as "" and compare as
// LiquidJS's BlankDrop and EmptyDrop.
type literal int

const (
	emptyLiteral literal = iota + 1
	blankLiteral
)

// String is how the literal prints: nothing.
func (literal) String() string { return "" }

// equals is EmptyDrop.equals / BlankDrop.equals.
func (l literal) equals(v any) bool {
	blank := l == blankLiteral
	switch x := v.(type) {
	case nil, NullValue:
		return blank
	case bool:
		return blank && !x
	case string:
		return x == "" || blank && strings.TrimFunc(x, jsIsSpace) == ""
	case []any:
		return len(x) == 0
	case *Object:
		return x.Len() == 0
	case map[string]any:
		return len(x) == 0
	}
	return false // another literal too
}

// jsEquals is LiquidJS's equals: blank/empty compare by their rules, arrays
// element by element, everything else as JavaScript's ===.
func jsEquals(a, b any) bool {
	if l, ok := a.(literal); ok {
		return l.equals(b)
	}
	if l, ok := b.(literal); ok {
		return l.equals(a)
	}
	switch x := a.(type) {
	case nil, NullValue:
		return isNil(b)
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, jsEquals)
	}
	if fa, ok := toFloat(a); ok {
		fb, ok := toFloat(b)
		return ok && fa == fb
	}
	// Strings, booleans, objects (by identity), other comparable Go values.
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}

// jsPrimitive is ToPrimitive for the relational operators.
func jsPrimitive(v any) any {
	switch x := v.(type) {
	case *Object, map[string]any:
		return "[object Object]"
	case []any:
		return jsString(x)
	case literal:
		return ""
	}
	return v
}

// jsLess is JavaScript's a < b, or a <= b with orEqual (false when either
// side is NaN): strings compare by UTF-16 code units, anything else as numbers.
func jsLess(a, b any, orEqual bool) bool {
	a, b = jsPrimitive(a), jsPrimitive(b)
	sa, okA := a.(string)
	sb, okB := b.(string)
	if okA && okB {
		c := slices.Compare(utf16Units(sa), utf16Units(sb))
		return c < 0 || orEqual && c == 0
	}
	fa, fb := jsToNumber(a), jsToNumber(b)
	return fa < fb || orEqual && fa == fb
}

// jsCompare applies a LiquidJS comparison operator.
func jsCompare(a any, op string, b any) (bool, error) {
	_, la := a.(literal)
	_, lb := b.(literal)
	switch {
	case op == "==":
		return jsEquals(a, b), nil
	case op == "!=":
		return !jsEquals(a, b), nil
	case la || lb:
		return false, nil // EmptyDrop's gt/lt/geq/leq are false
	case op == "<":
		return jsLess(a, b, false), nil
	case op == ">":
		return jsLess(b, a, false), nil
	case op == "<=":
		return jsLess(a, b, true), nil
	case op == ">=":
		return jsLess(b, a, true), nil
	}
	return false, fmt.Errorf("unknown operator %q", op)
}

// toEnumerable is LiquidJS's toEnumerable for {% for %}.
func toEnumerable(v any) any {
	switch x := v.(type) {
	case nil, NullValue, literal, bool:
		return []any{}
	case string:
		if x == "" {
			return []any{}
		}
		return []any{x}
	case []any, *Object:
		return v
	}
	if _, ok := toFloat(v); ok {
		return []any{}
	}
	return v // ranges and other iterables
}

// maxRange is the most elements a range may have. LiquidJS (with Kuma's
// unlimited memoryLimit) builds any range, and runs out of memory on a huge
// one; we fail the render instead.
const maxRange = 1 << 20

// jsRange is the value of LiquidJS's range "(low..high)": the array
// range(+low, +high + 1), the numbers from Number(low) on by steps of 1
// while below Number(high) + 1 (none when either is NaN).
func jsRange(low, high any) ([]any, error) {
	lo, hi := jsToNumber(low), jsToNumber(high)+1
	if lo != lo || hi != hi || lo >= hi {
		return []any{}, nil
	}
	if hi-lo > maxRange {
		return nil, fmt.Errorf("range (%s..%s) has more than %d elements", JSNumber(lo), JSNumber(hi-1), maxRange)
	}
	out := make([]any, 0, int(math.Ceil(hi-lo)))
	for i := lo; i < hi; i++ {
		if len(out) == maxRange { // (past 2^53, i+1 may round to i)
			return nil, fmt.Errorf("range (%s..%s) has more than %d elements", JSNumber(lo), JSNumber(hi-1), maxRange)
		}
		out = append(out, i)
	}
	return out, nil
}

func (e *Engine) registerTags() {
	e.cfg.AddFilter(cmpFilter, func(a any, op string, b any) (bool, error) { return jsCompare(a, op, b) })
	e.cfg.AddFilter(enumFilter, toEnumerable)
	e.cfg.AddFilter(truthyFilter, jsTruthy)
	e.cfg.AddFilter(exprFilter, evalExpr)
	e.cfg.AddFilter(pairFilter, pair)
	e.cfg.AddFilter(rangeFilter, jsRange)
	e.cfg.AddFilter(strFilter, braceDecoder.Replace)
	e.cfg.AddFilter(propFilter, jsProperty)
	// increment/decrement: counters start at 0; increment prints then adds,
	// decrement subtracts then prints.
	counter := func(delta float64) render.TagCompiler {
		return func(args string) (func(io.Writer, render.Context) error, error) {
			name := strings.TrimSpace(args)
			return func(w io.Writer, ctx render.Context) error {
				n, _ := toFloat(ctx.Get(name)) // 0 when unset
				ctx.Set(name, n+delta)
				_, err := io.WriteString(w, JSNumber(n+min(delta, 0)))
				return err
			}, nil
		}
	}
	e.cfg.AddTag("increment", counter(1))
	e.cfg.AddTag("decrement", counter(-1))
}
