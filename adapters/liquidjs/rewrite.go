package liquidjs

import (
	"strings"
)

// Rewrites of tag arguments that give osteele/liquid LiquidJS's semantics:
//
//   - in if/elsif/unless, every comparison `A op B` becomes
//     `A | __liquidjs_cmp: "op", B`, evaluated with JavaScript's == / < / >
//     and LiquidJS's blank, empty and nil; a bare operand `A` becomes
//     `A | __liquidjs_truthy` (JSON null is falsy); a chain of and/or is grouped
//     from the right (`a and b or c` is `a and (b or c)`), as LiquidJS
//     evaluates it;
//   - in for/tablerow, the collection goes through `| __liquidjs_enum`, which
//     is LiquidJS's toEnumerable (nil iterates nothing, so {% else %} shows;
//     a string is a one-element list).

const (
	cmpFilter    = "__liquidjs_cmp"
	enumFilter   = "__liquidjs_enum"
	truthyFilter = "__liquidjs_truthy"
	rangeFilter  = "__liquidjs_range"
)

// rewriteTag rewrites the arguments of tag (a whole "{% ... %}") if needed.
func rewriteTag(tag string) string {
	p, ok := splitTag(tag)
	if !ok {
		return tag
	}
	var args string
	switch p.name {
	case "if", "elsif", "unless":
		if args = rewriteValue(p.args, true); args != p.args {
			// (LiquidJS's truthiness, of the value after its filters.)
			args += " | " + truthyFilter + " "
		} else {
			args = rewriteCondition(p.args)
		}
	case "case":
		args = rewriteExpr(p.args)
	case "assign":
		name, value, ok := strings.Cut(p.args, "=")
		if !ok {
			return tag
		}
		args = mangleDefined(name) + "=" + rewriteExpr(value)
	case "capture":
		args = mangleDefined(p.args)
	case "for", "tablerow":
		args = rewriteLoop(p.args)
		if in := findWord(args, "in"); in > 0 {
			args = mangleDefined(args[:in-1]) + args[in-1:]
		}
	case "when", "cycle":
		args = p.args
	default:
		return tag
	}
	args = rewriteRanges(args)
	if args == p.args {
		return tag
	}
	return "{%" + p.l + p.lead + p.name + args + p.r + "%}"
}

// rewriteRanges rewrites every range "(A..B)" of s, an expression as
// osteele/liquid reads it, into "(A | __liquidjs_range: B)": osteele's
// range takes integers only (it fails on "(1..n)" when n is a number of
// the context, a float64) and is a value of its own that prints as "{1 3}",
// while LiquidJS's is the array range(+A, +B + 1) (jsRange). In osteele's
// grammar ".." outside a string is only ever the one of a range, and
// "(" cond ")" takes the filtered value.
func rewriteRanges(s string) string {
	if !strings.Contains(s, "..") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i+1 < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\'':
			// osteele's strings: "..." with backslash escapes, '...' without.
			for i++; i < len(s) && s[i] != c; i++ {
				if c == '"' && s[i] == '\\' {
					i++
				}
			}
		case c == '.' && s[i+1] == '.':
			b.WriteString(s[last:i] + " | " + rangeFilter + ": ")
			last = i + 2
			i++
		}
	}
	if last == 0 {
		return s
	}
	return b.String() + s[last:]
}

// scanTop calls f for each byte offset of s outside quotes and brackets.
// Strings are read as osteele reads them: "..." with backslash escapes,
// '...' without (normalizeStrings has written any with a backslash as
// "...").
func scanTop(s string, f func(i int) bool) {
	var quote byte
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' {
				i++ // (osteele's "..." has escapes: normalizeStrings wrote them)
			}
			continue
		case c == '"' || c == '\'':
			quote = c
			continue
		case c == '[' || c == '(':
			depth++
			continue
		case c == ']' || c == ')':
			if depth > 0 {
				depth--
			}
			continue
		}
		if depth == 0 && !f(i) {
			return
		}
	}
}

func isWordAt(s string, i int, w string) bool {
	if !strings.HasPrefix(s[i:], w) {
		return false
	}
	if i > 0 && !isSpaceByte(s[i-1]) {
		return false
	}
	j := i + len(w)
	return j == len(s) || isSpaceByte(s[j])
}

// splitLogic splits a condition at its top-level and/or: the operands,
// their offsets, and the operators.
func splitLogic(args string) (segs []string, offs []int, ops []string) {
	last := 0
	scanTop(args, func(i int) bool {
		for _, w := range []string{"and", "or"} {
			if isWordAt(args, i, w) {
				segs, offs, ops = append(segs, args[last:i]), append(offs, last), append(ops, w)
				last = i + len(w)
			}
		}
		return true
	})
	return append(segs, args[last:]), append(offs, last), ops
}

var cmpOps = []string{"==", "!=", "<>", ">=", "<=", ">", "<"}

// findOp is the first top-level comparison operator of seg and its offset,
// or -1.
func findOp(seg string) (pos int, op string) {
	pos = -1
	scanTop(seg, func(i int) bool {
		for _, o := range cmpOps {
			if strings.HasPrefix(seg[i:], o) {
				pos, op = i, o
				return false
			}
		}
		return true
	})
	return pos, op
}

func rewriteCondition(args string) string {
	segs, _, ops := splitLogic(args)
	changed := false
	for i, s := range segs {
		if r := rewriteComparison(s); r != s {
			segs[i] = r
			changed = true
		}
	}
	if !changed && len(ops) < 2 {
		return args
	}
	// Right-to-left grouping: s0 op0 (s1 op1 (s2 ...)).
	var b strings.Builder
	for i, s := range segs {
		if i > 0 {
			b.WriteString(ops[i-1])
			if i < len(segs)-1 {
				b.WriteString(" (")
			}
		}
		b.WriteString(s)
	}
	if len(segs) > 2 {
		b.WriteString(strings.Repeat(")", len(segs)-2))
	}
	return b.String()
}

// hasFilter reports whether s has a "|" outside strings and brackets (a
// "|" inside is one of a value preprocess wrote, such as
// (x | __liquidjs_prop: "1")).
func hasFilter(s string) bool {
	found := false
	scanTop(s, func(i int) bool {
		found = s[i] == '|'
		return !found
	})
	return found
}

func rewriteComparison(seg string) string {
	pos, op := findOp(seg)
	if pos < 0 {
		// A bare operand: LiquidJS's truthiness (null is falsy), which
		// osteele's if tag (nil and false only) lacks.
		t := strings.TrimSpace(seg)
		if t == "" || hasFilter(t) || findWord(t, "contains") >= 0 {
			return seg
		}
		return " " + t + " | " + truthyFilter + " "
	}
	left := strings.TrimSpace(seg[:pos])
	right := strings.TrimSpace(seg[pos+len(op):])
	if left == "" || right == "" || hasFilter(left) || hasFilter(right) {
		return seg
	}
	if op == "<>" {
		op = "!="
	}
	return " " + left + " | " + cmpFilter + ": \"" + op + "\", " + right + " "
}

func rewriteLoop(args string) string {
	// "var in EXPR modifiers..."
	in := findWord(args, "in")
	if in < 0 {
		return args
	}
	rest := args[in+2:]
	end := len(rest)
	first := len(rest) - len(strings.TrimLeft(rest, asciiSpace))
	scanTop(rest, func(i int) bool {
		if i > first && isSpaceByte(rest[i-1]) {
			for _, m := range []string{"limit", "offset", "cols", "reversed"} {
				if strings.HasPrefix(rest[i:], m) {
					end = i
					return false
				}
			}
		}
		return true
	})
	expr := strings.TrimRight(rest[:end], " \t\r\n")
	if strings.TrimSpace(expr) == "" {
		return args
	}
	// (The blanks after expr keep their line breaks: the lines of what
	// follows.)
	return args[:in+2] + expr + " | " + enumFilter + " " + rest[len(expr):]
}

// findWord is the offset of the first top-level word w of s, or -1.
func findWord(s, w string) int {
	pos := -1
	scanTop(s, func(i int) bool {
		if isWordAt(s, i, w) {
			pos = i
			return false
		}
		return true
	})
	return pos
}
