// Package liquidjs is a Liquid engine that renders as Uptime Kuma's LiquidJS
// (npm liquidjs ~10.26.0) does, built on github.com/osteele/liquid v1.9.2.
//
// Kuma renders with `new Liquid({root: "./no-such-directory-uptime-kuma",
// relativeReference: false, dynamicPartials: false})`: no strict variables,
// no strict filters (an unknown filter passes its input through), no output
// escaping, dates in the process's time zone. This engine does the same,
// with LiquidJS's versions of date, json, strip_newlines, newline_to_br, the
// string and math filters, the {% liquid %} and {% echo %} tags, inline
// comments {% # ... %}, and the literals blank, empty and null.
//
// Parse once with Engine.Parse; a *Template renders concurrently.
// scripts/liquidjs/render.js renders the corpus in testdata/templates with
// the real LiquidJS; TestLiquidJSOracle compares, and
// testdata/templates/known-differences.txt lists what still differs and why.
package liquidjs

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/osteele/liquid/filters"
	"github.com/osteele/liquid/parser"
	"github.com/osteele/liquid/render"
	"github.com/osteele/liquid/tags"
)

// Options configures an Engine.
type Options struct {
	// Location is the zone dates are shown in: Kuma's process zone. The
	// caller passes the TOML `timezone` key when set; nil means time.Local
	// (the TZ environment variable).
	Location *time.Location
	// Now is the clock of "now" and "today"; nil means time.Now.
	Now func() time.Time
}

// Engine parses templates. It is safe for concurrent use once made.
type Engine struct {
	cfg      render.Config
	loc      *time.Location
	zoneName string
	nowFn    func() time.Time
}

// New makes an engine with LiquidJS's filters and tags.
func New(opts Options) *Engine {
	e := &Engine{loc: opts.Location, nowFn: opts.Now}
	if e.loc == nil {
		e.loc = time.Local
	}
	if e.nowFn == nil {
		e.nowFn = time.Now
	}
	e.zoneName = zoneDisplayName(e.loc)
	e.cfg = render.NewConfig()
	e.cfg.LaxFilters = true // unknown filters pass the value through, as LiquidJS
	e.cfg.TemplateStore = noTemplates{}
	filters.AddStandardFilters(&e.cfg)
	tags.AddStandardTags(&e.cfg)
	e.registerFilters()
	e.registerTags()
	return e
}

// lazyRegexp is regexp.MustCompile(expr), run on the first call: most runs
// never render a template, and a process runs once per alarm.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// noTemplates makes {% include %} and {% render %} fail as in Kuma, whose
// root is a directory that does not exist.
type noTemplates struct{}

func (noTemplates) ReadTemplate(name string) ([]byte, error) {
	return nil, fmt.Errorf("ENOENT: Failed to lookup %q in \"./no-such-directory-uptime-kuma\"", name)
}

// Template is a parsed template. Render is safe for concurrent use.
type Template struct {
	name string
	root render.Node
	e    *Engine
}

// ParseError is a template that does not parse.
type ParseError struct {
	Name      string
	Line, Col int // 1-based; 0 when unknown
	Msg       string
}

// ErrPanic is wrapped by the error of a Render that panicked inside
// osteele/liquid or a filter (and was recovered): a bug, not a template error.
var ErrPanic = errors.New("liquidjs: internal panic")

func (e *ParseError) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.Name, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Name, e.Msg)
}

// Parse parses source; name is used in errors ("name:LINE:COL: message").
func (e *Engine) Parse(name, source string) (t *Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			// osteele's expression parser panics on some invalid input
			// ("syntax error in identifier ۟", a number literal out of
			// range): the template does not parse.
			t, err = nil, &ParseError{Name: name, Msg: fmt.Sprint(r)}
		}
	}()
	// What LiquidJS rejects for the template's shape, first, at its
	// position: osteele/liquid accepts some of it (an output not closed is
	// text to it) and places the rest differently.
	// checkBlocks also rewrites, in a copy of the same length, the filters
	// LiquidJS accepts and osteele's grammar lacks ("x | ", "f: ").
	toks, serr := tokenize(source)
	rewritten := []byte(source)
	if serr == nil {
		serr = checkBlocks(source, toks, rewritten)
	}
	if serr != nil {
		return nil, positioned(name, source, serr)
	}
	src := preprocess(string(rewritten), toks)
	root, perr := e.cfg.Compile(src, parser.SourceLoc{LineNo: 1})
	if perr != nil {
		return nil, newParseError(name, source, src, perr)
	}
	return &Template{name: name, root: root, e: e}, nil
}

var rLiquidError = lazyRegexp(`(?s)^Liquid error(?: \(line (\d+)\))?: (.*?)(?: in (\{[{%].*))?$`)

func newParseError(name, orig, src string, perr parser.Error) *ParseError {
	pe := &ParseError{Name: name, Line: perr.LineNumber(), Msg: perr.Error()}
	m := rLiquidError().FindStringSubmatch(perr.Error())
	if m == nil {
		return pe
	}
	pe.Msg = m[2]
	if before, _, ok := strings.Cut(pe.Msg, " in "); ok && strings.Contains(pe.Msg, "__liquidjs_") {
		pe.Msg = before // quotes our rewrite of the expression: the tag, quoted below, says it
	}
	if tok := m[3]; tok != "" {
		if strings.Contains(tok, "__liquidjs_") {
			// The tag as we rewrote it means nothing to the user: quote
			// their own tag instead, or none.
			if o := cmp.Or(originalTag(orig, pe.Line, tok), originalOutput(orig, pe.Line, tok)); o != "" {
				tok = o
			} else {
				return pe
			}
		}
		pe.Col = columnOf(src, pe.Line, tok)
		if pe.Col == 0 {
			pe.Col = columnOf(orig, pe.Line, tok)
		}
		if pe.Col > 0 && strings.HasPrefix(pe.Msg, "syntax error") && !rForTag().MatchString(tok) {
			// (LiquidJS's for tag says "illegal tag" at the tag itself.)
			pe.Col += argsOffset(tok)
		}
		pe.Msg += " in " + strconv.Quote(shorten(tok, 60))
	}
	return pe
}

// argsOffset is where the arguments of the tag tok (or the expression of
// the output tok) start, in UTF-16 units from its start, as LiquidJS's
// TagToken reads it: an expression that does not parse is an error there
// (or, for LiquidJS, sometimes further in).
func argsOffset(tok string) int {
	if len(tok) < 4 {
		return 0
	}
	l, r := 2, len(tok)-2
	if tok[l] == '-' {
		l++
	}
	if r-1 >= l && tok[r-1] == '-' {
		r--
	}
	for l < r && isSpaceByte(tok[l]) {
		l++
	}
	for r > l && isSpaceByte(tok[r-1]) {
		r--
	}
	i := l
	if strings.HasPrefix(tok, "{%") {
		for i < r && (isWordByte(tok[i]) || tok[i] == '-') {
			i++
		}
		for i < r && isSpaceByte(tok[i]) {
			i++
		}
	}
	return jsLength(tok[:max(min(i, r), l)])
}

var rForTag = lazyRegexp(`^\{%-?\s*for\s`)

var rTagKeyword = lazyRegexp(`^\{%-?\s*(\w+)`)

// originalTag returns the first tag on line (1-based) of orig whose keyword
// originalOutput is the user's output ({{ ... }}) on line of orig that
// rewritten, an output, stands for: the only one there, else "".
func originalOutput(orig string, line int, rewritten string) string {
	lines := strings.Split(orig, "\n")
	if !strings.HasPrefix(rewritten, "{{") || line < 1 || line > len(lines) {
		return ""
	}
	text := lines[line-1]
	start := strings.Index(text, "{{")
	if start < 0 || strings.Count(text, "{{") != 1 {
		return ""
	}
	end := strings.Index(text[start:], "}}")
	if end < 0 {
		return ""
	}
	return text[start : start+end+2]
}

// is the same as rewritten's ("{% if ... %}"), or "".
func originalTag(orig string, line int, rewritten string) string {
	m := rTagKeyword().FindStringSubmatch(rewritten)
	lines := strings.Split(orig, "\n")
	if m == nil || line < 1 || line > len(lines) {
		return ""
	}
	text := lines[line-1]
	for off := 0; off < len(text); {
		i := strings.Index(text[off:], "{%")
		if i < 0 {
			return ""
		}
		start := off + i
		if km := rTagKeyword().FindStringSubmatch(text[start:]); km != nil && km[1] == m[1] {
			if end := strings.Index(text[start:], "%}"); end >= 0 {
				return text[start : start+end+2]
			}
			return text[start:]
		}
		off = start + 2
	}
	return ""
}

// columnOf finds tok starting on line (1-based) and returns its 1-based
// column in characters, or 0.
func columnOf(src string, line int, tok string) int {
	lines := strings.SplitAfter(src, "\n")
	if line < 1 || line > len(lines) {
		return 0
	}
	start := len(strings.Join(lines[:line-1], ""))
	if i := strings.Index(src[start:], tok); i >= 0 && i <= len(strings.TrimSuffix(lines[line-1], "\n")) {
		return jsLength(src[start:start+i]) + 1
	}
	return 0
}

func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// Render renders the template with ctx, as LiquidJS renders a context
// object. ctx is not modified. The literals blank, empty and null are bound
// unless ctx defines them.
func (t *Template) Render(ctx map[string]any) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("%s: %w: %v", t.name, ErrPanic, r)
		}
	}()
	vars := make(map[string]any, len(ctx)+3)
	vars["blank"] = blankLiteral
	vars["empty"] = emptyLiteral
	vars["null"] = nil
	maps.Copy(vars, ctx)
	var buf bytes.Buffer
	if rerr := render.Render(t.root, &buf, vars, t.e.cfg); rerr != nil {
		return "", fmt.Errorf("%s: %w", t.name, rerr)
	}
	return buf.String(), nil
}
