package liquidjs

import (
	"reflect"
	"strconv"
	"strings"
)

// LiquidJS evaluates the value expression of an output, echo, assign, if,
// elsif, unless and case (before its filters) as a sequence of operands and
// operators, in postfix order with its precedences (Expression.evaluate):
// an operator takes what the stack has (undefined when empty), and the
// result is the first value left. So "x y" is x, "x ==" is false (undefined
// == x), "not x" is x's falsiness. osteele/liquid's grammar has only
// "operand (operator operand)*", without not, and no filters after a
// comparison; rewriteExpr hands what it lacks to exprFilter, which
// evaluates as LiquidJS does.

const (
	exprFilter = "__liquidjs_expr"
	pairFilter = "__liquidjs_pair"
)

var jsPrecedence = map[string]int{"==": 2, "!=": 2, ">": 2, "<": 2, ">=": 2, "<=": 2, "contains": 2, "not": 1, "and": 0, "or": 0}

// evalExpr is LiquidJS's Expression.evaluate over shape, the expression's
// tokens separated by blanks: "v" an operand (the next of operands), any
// other an operator.
func evalExpr(_ any, shape string, operands ...any) (any, error) {
	var postfix, ops []string
	for _, tok := range strings.Fields(shape) {
		if tok == "v" {
			postfix = append(postfix, tok)
			continue
		}
		for len(ops) > 0 && jsPrecedence[ops[len(ops)-1]] > jsPrecedence[tok] {
			postfix, ops = append(postfix, ops[len(ops)-1]), ops[:len(ops)-1]
		}
		ops = append(ops, tok)
	}
	for len(ops) > 0 {
		postfix, ops = append(postfix, ops[len(ops)-1]), ops[:len(ops)-1]
	}
	var stack []any
	pop := func() any { // undefined (nil) when empty, as JavaScript's pop
		if len(stack) == 0 {
			return nil
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return v
	}
	for _, tok := range postfix {
		var v any
		switch tok {
		case "v":
			v, operands = operands[0], operands[1:]
		case "not":
			v = !jsTruthy(pop())
		default:
			r, l := pop(), pop()
			switch tok {
			case "and":
				v = jsTruthy(l) && jsTruthy(r)
			case "or":
				v = jsTruthy(l) || jsTruthy(r)
			case "contains":
				v = jsContains(l, r)
			default:
				b, err := jsCompare(l, tok, r)
				if err != nil {
					return nil, err
				}
				v = b
			}
		}
		stack = append(stack, v)
	}
	if len(stack) == 0 {
		return nil, nil
	}
	return stack[0], nil
}

// jsTruthy is LiquidJS's isTruthy: only false, undefined and null are falsy.
func jsTruthy(v any) bool { return !isNil(v) && v != false }

// jsContains is LiquidJS's contains operator.
func jsContains(l, r any) bool {
	switch x := l.(type) {
	case []any:
		for _, e := range x {
			if jsEquals(e, r) {
				return true
			}
		}
		return false
	case string:
		s := "undefined" // String(r), for indexOf
		switch r.(type) {
		case nil:
		case NullValue:
			s = "null"
		case *Object, map[string]any:
			s = "[object Object]"
		default:
			s = jsString(r)
		}
		return strings.Contains(x, s)
	}
	if rv := reflect.ValueOf(l); rv.Kind() == reflect.Slice {
		for i := range rv.Len() {
			if jsEquals(rv.Index(i).Interface(), r) {
				return true
			}
		}
	}
	return false
}

// pair is a filter argument "key: value" where osteele's grammar takes no
// keyword (first): LiquidJS passes it as the array [key, value].
func pair(key any, value ...any) []any {
	if len(value) == 0 {
		return []any{key, nil}
	}
	return []any{key, value[0]}
}

// exprToken is a token of a value expression: an operand or an operator,
// from begin to end.
type exprToken struct {
	begin, end int
	op         string // "" for an operand
}

// rewriteExpr rewrites a filtered value (an output's expression, or the
// value of a tag), as checkValues has let it through: an expression of more
// than one token (LiquidJS's and/or group from the right, osteele's from
// the left; and osteele's grammar lacks not, and filters after an
// operator) becomes "nil | __liquidjs_expr: SHAPE, operands..."; a filter's
// first argument "key: value" becomes `("key" | __liquidjs_pair: value)`.
// Line breaks are kept, the ones it drops written after the expression.
func rewriteExpr(s string) string { return rewriteValue(s, false) }

// rewriteValue is rewriteExpr; any expression of more than one token goes
// to __liquidjs_expr unless osteele reads it (a condition, which
// rewriteCondition rewrites, whose every operand and operator osteele reads).
func rewriteValue(s string, condition bool) (out string) {
	defer func() {
		if recover() != nil {
			out = s // (checkValues has reported LiquidJS's error)
		}
	}()
	var pairs [][3]int // key begin, key end, value end
	r := &exprReader{jsTokenizer: jsTokenizer{in: s}, src: s, rewritten: true}
	r.onPair = func(first bool, kb, ke, ve int) {
		if first {
			pairs = append(pairs, [3]int{kb, ke, ve})
		}
	}
	var toks []exprToken
	for !r.end() {
		r.skipBlank()
		begin := r.p
		if r.readWord(jsOperators) {
			toks = append(toks, exprToken{begin, r.p, s[begin:r.p]})
		} else if r.readValue() {
			toks = append(toks, exprToken{begin: begin, end: r.p})
		} else {
			break
		}
	}
	exprEnd := r.p
	if len(toks) == 0 {
		return s
	}
	for r.readFilter() {
	}
	regular := len(toks)%2 == 1
	for i, t := range toks {
		regular = regular && (t.op == "") == (i%2 == 0) && t.op != "not"
	}
	var b strings.Builder
	last := 0
	if !regular || len(toks) > 1 && (!condition || strings.TrimSpace(s[exprEnd:]) != "") {
		var shape []string
		var args strings.Builder
		dropped := 0
		for _, t := range toks {
			if t.op != "" {
				shape = append(shape, t.op)
				dropped += strings.Count(s[last:t.end], "\n")
			} else {
				shape = append(shape, "v")
				dropped += strings.Count(s[last:t.begin], "\n")
				args.WriteString(", " + s[t.begin:t.end])
			}
			last = t.end
		}
		b.WriteString(s[:toks[0].begin] + "nil | " + exprFilter + ": " + strconv.Quote(strings.Join(shape, " ")) + args.String() + strings.Repeat("\n", dropped))
	}
	for _, p := range pairs {
		b.WriteString(s[last:p[0]])
		val := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s[p[1]:p[2]]), ":"))
		b.WriteString("(" + osteeleQuote(s[p[0]:p[1]]) + " | " + pairFilter)
		if val != "" {
			b.WriteString(": " + val)
		}
		b.WriteString(")" + strings.Repeat("\n", strings.Count(s[p[0]:p[2]], "\n")-strings.Count(val, "\n")))
		last = p[2]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// osteeleQuote is s as a double-quoted string literal of osteele's lexer.
func osteeleQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s) + `"`
}
