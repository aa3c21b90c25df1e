package liquidjs

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Diagnostic is one finding of Lint.
type Diagnostic struct {
	Line, Col int    // 1-based; Col counts UTF-16 code units, as LiquidJS does
	Severity  string // "error" or "warning"
	Msg       string
	// NeverMatches marks Kuma's status trap: a comparison of status with 1
	// or 0, which can never be what it seems (serve and doctor list these).
	NeverMatches bool
}

func (d Diagnostic) String() string {
	return fmt.Sprintf("%d:%d: %s: %s", d.Line, d.Col, d.Severity, d.Msg)
}

// Severities.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// KumaVariables are the names Kuma's renderTemplate binds.
var KumaVariables = []string{"status", "name", "hostnameOrURL", "msg", "monitorJSON", "heartbeatJSON", "STATUS", "NAME", "HOSTNAME_OR_URL"}

// Lint checks a template: parse errors (errors, with line and column), and
// warnings for variables whose top-level name is neither in known nor
// defined by the template, for filters LiquidJS does not define (they pass
// their input through silently), and for Kuma's trap of comparing status
// (or STATUS) with 1 or 0: in Kuma status is "✅ Up" or "🔴 Down", so such a
// test is never what it seems; heartbeatJSON.status == 1 is. Only parse
// errors are errors. Diagnostics are sorted by position.
func Lint(name, source string, known []string) []Diagnostic {
	var diags []Diagnostic
	_, err := lintEngine().Parse(name, source)
	toks, _ := tokenize(source)
	if pp := checkPartials(name, source, toks); err == nil && pp != nil {
		err = pp
	}
	var pe *ParseError
	if errors.As(err, &pe) { // Parse's errors are all ParseErrors
		diags = append(diags, Diagnostic{Line: max(pe.Line, 1), Col: max(pe.Col, 1), Severity: SeverityError, Msg: pe.Msg})
	}
	l := &linter{src: source, defined: map[string]bool{}}
	for _, k := range slices.Concat(known, []string{"forloop", "tablerowloop"}) {
		l.defined[k] = true
	}
	l.scan(toks)
	// Definitions anywhere count (a loop may use a name assigned later).
	reported := map[string]bool{}
	for _, u := range l.uses {
		if l.defined[u.name] || reported[u.name] {
			continue
		}
		reported[u.name] = true
		diags = append(diags, Diagnostic{Line: u.line, Col: u.col, Severity: SeverityWarning,
			Msg: fmt.Sprintf("unknown variable %q (renders empty)", u.name)})
	}
	diags = append(diags, l.diags...)
	slices.SortStableFunc(diags, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return diags
}

// lintEngine parses for Lint; made on first use.
var lintEngine = sync.OnceValue(func() *Engine { return New(Options{Location: time.UTC}) })

type use struct {
	name      string
	line, col int
}

type linter struct {
	src     string
	defined map[string]bool
	uses    []use
	diags   []Diagnostic
	caseSub []string // subjects of open case tags
}

func (l *linter) warn(off int, format string, a ...any) {
	line, col := lineCol(l.src, off)
	l.diags = append(l.diags, Diagnostic{Line: line, Col: col, Severity: SeverityWarning, Msg: fmt.Sprintf(format, a...)})
}

// warnNever is warn for a comparison that can never match.
func (l *linter) warnNever(off int, format string, a ...any) {
	l.warn(off, format, a...)
	l.diags[len(l.diags)-1].NeverMatches = true
}

// scan checks the expressions of the template's tokens (those before a
// tokenizer error, if any).
func (l *linter) scan(toks []token) {
	for i := 0; i < len(toks); i++ {
		switch t := toks[i]; {
		case t.output:
			l.expr(t.args, t.argsAt)
		case t.name == "comment":
			for i+1 < len(toks) && (toks[i+1].output || toks[i+1].name != "endcomment") {
				i++
			}
		default:
			l.tag(t.name, t.args, t.argsAt)
		}
	}
}

func (l *linter) tag(name, args string, off int) {
	switch name {
	case "liquid":
		// One tag per line.
		lineOff := off
		for _, line := range strings.SplitAfter(args, "\n") {
			n, a, aOff := splitWord(line, lineOff)
			if n == "echo" {
				l.expr(a, aOff)
			} else if n != "" && n != "#" {
				l.tag(n, a, aOff)
			}
			lineOff += len(line)
		}
	case "echo":
		l.expr(args, off)
	case "if", "elsif", "unless":
		l.expr(args, off)
		l.statusTrap(args, off)
	case "case":
		l.expr(args, off)
		l.caseSub = append(l.caseSub, strings.TrimSpace(args))
	case "endcase":
		if len(l.caseSub) > 0 {
			l.caseSub = l.caseSub[:len(l.caseSub)-1]
		}
	case "when":
		l.expr(args, off)
		if len(l.caseSub) > 0 {
			if s := l.caseSub[len(l.caseSub)-1]; s == "status" || s == "STATUS" {
				for _, v := range strings.FieldsFunc(args, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
					if v == "or" {
						continue
					}
					if want, ok := trapLiteral(v); ok {
						l.warnNever(off, "in Kuma %s is \"✅ Up\" or \"🔴 Down\", never %s: this branch never runs; test heartbeatJSON.status == %s instead", s, v, want)
						break
					}
				}
			}
		}
	case "assign":
		lhs, rhs, ok := strings.Cut(args, "=")
		if v := strings.TrimSpace(lhs); v != "" {
			l.defined[strings.SplitN(v, ".", 2)[0]] = true
		}
		if ok {
			l.expr(rhs, off+len(lhs)+1)
		}
	case "capture", "increment", "decrement":
		if v := strings.TrimSpace(args); v != "" {
			l.defined[strings.Fields(v)[0]] = true
		}
	case "for", "tablerow":
		in := findWord(args, "in")
		if in < 0 {
			in = len(args)
		}
		if v := strings.TrimSpace(args[:in]); v != "" {
			l.defined[v] = true
		}
		if in < len(args) {
			l.expr(args[in+2:], off+in+2)
		}
	case "cycle":
		l.expr(args, off)
	}
}

// exprKeyword reports the words of an expression that are not variables:
// LiquidJS's word operators and literals, and for's in and reversed.
func exprKeyword(word string) bool {
	return word == "in" || word == "reversed" || slices.Contains(jsOperators, word) || slices.Contains(jsLiterals, word)
}

// expr records variable uses and filter names of an expression at off.
func (l *linter) expr(s string, off int) {
	afterPipe := false
	prevDot := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'':
			// (LiquidJS's strings have backslash escapes, both kinds.)
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return
			}
			i = j + 1
			prevDot = false
			continue
		case c == '|':
			afterPipe = true
			i++
			continue
		case c == '.':
			prevDot = true
			i++
			continue
		case c >= '0' && c <= '9':
			for i < len(s) && (isWordByte(s[i]) || s[i] == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9') {
				i++
			}
			prevDot = false
			continue
		case isWordByte(c):
			j := i
			for j < len(s) && (isWordByte(s[j]) || s[j] == '-' || s[j] == '?') {
				j++
			}
			word := s[i:j]
			k := j
			for k < len(s) && isSpaceByte(s[k]) {
				k++
			}
			isKeywordArg := k < len(s) && s[k] == ':'
			switch {
			case afterPipe:
				switch {
				case !slices.Contains(StandardFilters, word):
					l.warn(off+i, "unknown filter %q: LiquidJS passes the value through unchanged", word)
				case slices.Contains(UnsupportedFilters, word):
					l.warn(off+i, "filter %q is not implemented by matrix-notify: it passes the value through unchanged", word)
				}
				afterPipe = false
			case prevDot || isKeywordArg || exprKeyword(word):
			default:
				line, col := lineCol(l.src, off+i)
				l.uses = append(l.uses, use{word, line, col})
			}
			prevDot = false
			i = j
			continue
		case isSpaceByte(c):
			i++
			continue
		}
		prevDot = false
		i++
	}
}

// trapLiteral reports whether v is 1, 0, '1', '0', "1" or "0", and the
// heartbeatJSON.status number to suggest.
func trapLiteral(v string) (string, bool) {
	switch strings.TrimSpace(v) {
	case "1", "'1'", `"1"`:
		return "1", true
	case "0", "'0'", `"0"`:
		return "0", true
	}
	return "", false
}

// statusTrap warns about status == '1' and friends in a condition.
func (l *linter) statusTrap(args string, off int) {
	segs, offs, _ := splitLogic(args)
	for k, seg := range segs {
		pos, op := findOp(seg)
		if pos < 0 || op != "==" && op != "!=" && op != "<>" {
			continue
		}
		left, right := strings.TrimSpace(seg[:pos]), strings.TrimSpace(seg[pos+len(op):])
		subject, lit := left, right
		if right == "status" || right == "STATUS" {
			subject, lit = right, left
		}
		if subject != "status" && subject != "STATUS" {
			continue
		}
		want, ok := trapLiteral(lit)
		if !ok {
			continue
		}
		suggest := "heartbeatJSON.status == " + want
		if op != "==" {
			suggest = "heartbeatJSON.status != " + want
		}
		at := off + offs[k] + strings.Index(seg, subject)
		l.warnNever(at, "in Kuma %s is \"✅ Up\" or \"🔴 Down\", never %s: `%s %s %s` is always %v; use %s",
			subject, lit, subject, op, lit, op != "==", suggest)
	}
}
