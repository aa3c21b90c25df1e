package healthconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

const (
	// MaxFileSize is the largest file Parse accepts. The stock file is
	// under 50 KiB; the bound exists because the bash parser recurses,
	// and its stack use grows with the input (see maxOpeners).
	MaxFileSize = 512 << 10

	// maxOpeners bounds the number of '(', '{' and '[' in a file. The
	// parser nests one level per bracket at worst, using about 4 KiB of
	// stack each; a few hundred thousand of them overflow Go's 1 GB stack
	// limit, which is a fatal error, not a recoverable panic. Counting
	// every bracket (quoted or not, closed or not) is crude but cannot be
	// fooled; the stock file has about 500.
	maxOpeners = 16384

	// maxGlobalReplLen bounds the replacement text of ${x//pattern/text}:
	// it is the one expansion whose output can be many times larger than
	// the values it reads, which the expansion budget does not see.
	maxGlobalReplLen = 16
)

// WarningKind tells what a Warning is about, so a caller can, for example,
// keep quiet about the stock file's custom_sender function.
type WarningKind int

const (
	// SkippedCommand: a command, pipeline, conditional, loop or other
	// compound statement was not run; assignments inside it were not
	// evaluated.
	SkippedCommand WarningKind = iota + 1
	// SkippedFunction: a function definition was ignored.
	SkippedFunction
	// SkippedAssignment: an assignment was not evaluated (it needs a
	// command substitution, its expansion failed, ...); the variable keeps
	// its previous value.
	SkippedAssignment
	// IgnoredAttribute: the value was assigned but an attribute bash would
	// apply (local, readonly, declare -i/-l/-u, ...) was not.
	IgnoredAttribute
)

// Warning reports something in a file that bash would have done and Parse
// did not.
type Warning struct {
	File string
	Line int
	Kind WarningKind
	Msg  string
	// Names are the variables the file meant to assign that were left
	// alone (a SkippedAssignment's one, those of a SkippedCommand), so a
	// caller can tell a skipped MATRIX_ACCESSTOKEN from stock noise.
	Names []string
}

func (w Warning) String() string { return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg) }

// ParseError is returned for a file that is not valid bash (or is too
// large to be a health_alarm_notify.conf). Its Error is "file:line: msg".
type ParseError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// errNoExec is what command and process substitutions evaluate to. They are
// found and skipped before expansion; this is the second line of defence.
var errNoExec = errors.New("command substitution is never run")

// Load parses each file in order into vars, as alarm-notify.sh sources the
// stock file and then the user's: later assignments win. A file that does
// not exist is skipped silently, as alarm-notify.sh only sources files that
// are present. Load stops at the first file that cannot be read or parsed;
// the files before it have been applied.
func Load(vars *Vars, paths ...string) ([]Warning, error) {
	var warns []Warning
	for _, path := range paths {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return warns, fmt.Errorf("loading netdata health config: %w", err)
		}
		w, err := Parse(path, f, vars)
		_ = f.Close() // read-only: a close error tells nothing more
		warns = append(warns, w...)
		if err != nil {
			return warns, err
		}
	}
	return warns, nil
}

// Parse reads one health_alarm_notify.conf from src and evaluates its
// assignments into vars, which holds what earlier files (and the caller's
// seed: process environment, alarm-notify.sh's defaults) assigned. name is
// used in errors and warnings.
//
// A file that does not parse changes nothing and returns a *ParseError.
// Otherwise every statement is either evaluated or reported as a Warning;
// nothing is ever executed.
func Parse(name string, src io.Reader, vars *Vars) ([]Warning, error) {
	if vars == nil {
		return nil, errors.New("healthconf: Parse needs non-nil Vars")
	}
	data, err := io.ReadAll(io.LimitReader(src, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", name, err)
	}
	p := &parser{file: name, src: data}
	if !utf8.Valid(data) {
		// The parser rejects invalid UTF-8 anywhere, even in comments,
		// and bash does not care: a Latin-1 comment must not break a
		// config. See escapeInvalid.
		p.src, p.escaped = escapeInvalid(data), true
	}
	if len(data) > MaxFileSize {
		return nil, p.errorAt(MaxFileSize, fmt.Sprintf("file is larger than %d KiB, too large for a health_alarm_notify.conf", MaxFileSize>>10))
	}
	if off := tooManyOpeners(data); off >= 0 {
		return nil, p.errorAt(off, fmt.Sprintf("more than %d brackets, too many for a health_alarm_notify.conf", maxOpeners))
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(bytes.NewReader(p.src), name)
	if err != nil {
		return nil, p.parseError(err)
	}

	vars.init()
	p.vars = vars
	p.env = &env{v: vars, budget: expandBudget}
	p.cfg = &expand.Config{
		Env:       p.env,
		CmdSubst:  func(io.Writer, *syntax.CmdSubst) error { return errNoExec },
		ProcSubst: func(*syntax.ProcSubst) (string, error) { return "", errNoExec },
		// ReadDir2 stays nil: no globbing, no file system access.
	}
	p.stmts(f.Stmts)
	return p.warns, nil
}

// tooManyOpeners returns the offset of the first bracket over maxOpeners,
// or -1.
func tooManyOpeners(data []byte) int {
	n := 0
	for i, c := range data {
		if c == '(' || c == '{' || c == '[' {
			if n++; n > maxOpeners {
				return i
			}
		}
	}
	return -1
}

type parser struct {
	file  string
	src   []byte
	vars  *Vars
	env   *env
	cfg   *expand.Config
	warns []Warning
	// escaped is set when src went through escapeInvalid, so values
	// must go through unescape.
	escaped bool

	lineStarts []int // offsets where lines begin; built on first use
}

// lineCol turns a byte offset into 1-based line and column. It counts from
// the source rather than trusting syntax.Pos, whose line field saturates.
func (p *parser) lineCol(off int) (line, col int) {
	if p.lineStarts == nil {
		p.lineStarts = []int{0}
		for i, c := range p.src {
			if c == '\n' {
				p.lineStarts = append(p.lineStarts, i+1)
			}
		}
	}
	off = max(0, min(off, len(p.src)))
	i := sort.SearchInts(p.lineStarts, off+1) - 1
	return i + 1, off - p.lineStarts[i] + 1
}

func (p *parser) posLine(pos syntax.Pos) (line, col int) {
	if !pos.IsValid() {
		return max(int(pos.Line()), 1), int(pos.Col())
	}
	return p.lineCol(int(pos.Offset()))
}

func (p *parser) errorAt(off int, msg string) *ParseError {
	line, col := p.lineCol(off)
	return &ParseError{File: p.file, Line: line, Col: col, Msg: msg}
}

func (p *parser) parseError(err error) error {
	var pe syntax.ParseError
	if errors.As(err, &pe) {
		line, col := p.posLine(pe.Pos)
		return &ParseError{File: p.file, Line: line, Col: col, Msg: pe.Text}
	}
	var le syntax.LangError
	if errors.As(err, &le) {
		line, col := p.posLine(le.Pos)
		le.Filename = ""
		msg := strings.TrimPrefix(le.Error(), le.Pos.String()+": ")
		return &ParseError{File: p.file, Line: line, Col: col, Msg: msg}
	}
	// The parser reads from memory, so this is not expected; keep the
	// file:line shape anyway.
	return &ParseError{File: p.file, Line: 1, Col: 1, Msg: err.Error()}
}

func (p *parser) warn(pos syntax.Pos, kind WarningKind, format string, args ...any) {
	p.warnNames(pos, kind, nil, format, args...)
}

// warnNames is warn for a statement that left the variables names alone.
func (p *parser) warnNames(pos syntax.Pos, kind WarningKind, names []string, format string, args ...any) {
	line, _ := p.posLine(pos)
	p.warns = append(p.warns, Warning{File: p.file, Line: line, Kind: kind, Msg: fmt.Sprintf(format, args...), Names: names})
}

func (p *parser) stmts(list []*syntax.Stmt) {
	for _, st := range list {
		p.stmt(st)
	}
}

func (p *parser) stmt(st *syntax.Stmt) {
	switch {
	case st.Background || st.Coprocess:
		// bash runs it in a subshell: even its assignments vanish.
		p.skip(st, "background command")
		return
	case len(st.Redirs) > 0:
		// Even `X=1 >file` would create the file.
		p.skip(st, "command with a redirection")
		return
	}
	switch c := st.Cmd.(type) {
	case nil:
	case *syntax.CallExpr:
		if len(c.Args) == 0 {
			for _, a := range c.Assigns {
				p.assign(a, declOpts{})
			}
			return
		}
		p.command(st, c)
	case *syntax.DeclClause:
		p.decl(st, c)
	case *syntax.FuncDecl:
		name := "(anonymous)"
		if c.Name != nil {
			name = c.Name.Value
		}
		p.warn(st.Pos(), SkippedFunction, "function %s() skipped: functions are never run", name)
	case *syntax.Block:
		// { ...; } runs in the current shell: its assignments count.
		p.stmts(c.Stmts)
	default:
		p.skip(st, describe(c))
	}
}

func describe(c syntax.Command) string {
	switch c := c.(type) {
	case *syntax.IfClause:
		return "if statement"
	case *syntax.WhileClause:
		if c.Until {
			return "until loop"
		}
		return "while loop"
	case *syntax.ForClause:
		if c.Select {
			return "select loop"
		}
		return "for loop"
	case *syntax.CaseClause:
		return "case statement"
	case *syntax.Subshell:
		return "subshell"
	case *syntax.BinaryCmd:
		return fmt.Sprintf("%q list", c.Op.String())
	case *syntax.ArithmCmd:
		return "arithmetic command"
	case *syntax.TestClause:
		return "[[ test ]]"
	case *syntax.LetClause:
		return "let command"
	case *syntax.TimeClause:
		return "time command"
	case *syntax.CoprocClause:
		return "coproc"
	}
	return fmt.Sprintf("%T", c)
}

// skip reports a statement that is not run, naming the variables it would
// have assigned: those are the surprises (a token set inside an if).
func (p *parser) skip(st *syntax.Stmt, what string) {
	const maxNames = 5
	var names []string
	seen := map[string]bool{}
	syntax.Walk(st, func(n syntax.Node) bool {
		if a, ok := n.(*syntax.Assign); ok && a.Name != nil && !seen[a.Name.Value] {
			seen[a.Name.Value] = true
			names = append(names, a.Name.Value)
		}
		return true
	})
	msg := what + " skipped: commands are never run"
	if len(names) > 0 {
		msg += "; not assigned: " + strings.Join(names[:min(len(names), maxNames)], ", ")
		if len(names) > maxNames {
			msg += ", ..."
		}
	}
	p.warnNames(st.Pos(), SkippedCommand, names, "%s", msg)
}

// command handles a simple command: only the few builtins whose whole effect
// is on variables are honoured.
func (p *parser) command(st *syntax.Stmt, c *syntax.CallExpr) {
	name := c.Args[0].Lit()
	if len(c.Assigns) > 0 {
		// X=1 cmd: X is only for cmd's environment.
		p.skip(st, fmt.Sprintf("command %q", name))
		return
	}
	switch name {
	case ":", "true":
		// `: ${VAR:=default}` is a common way to set a default.
		for _, w := range c.Args[1:] {
			if why := unsafe(w); why != "" {
				p.warn(w.Pos(), SkippedAssignment, "%s arguments skipped: %s", name, why)
				return
			}
		}
		for _, w := range c.Args[1:] {
			if _, err := p.literal(w); err != nil {
				p.warn(w.Pos(), SkippedAssignment, "%s argument skipped: %v", name, err)
			}
		}
	case "unset":
		p.unset(st, c.Args[1:])
	case "source", ".":
		p.skip(st, fmt.Sprintf("%q (other files are not read)", name))
	default:
		if name == "" {
			name = "computed command name"
		}
		p.skip(st, fmt.Sprintf("command %q", name))
	}
}

func (p *parser) unset(st *syntax.Stmt, args []*syntax.Word) {
	funcs := false
	var targets []string
	for _, w := range args {
		if why := unsafe(w); why != "" {
			p.warn(w.Pos(), SkippedCommand, "unset skipped: %s", why)
			return
		}
		s, err := p.literal(w)
		if err != nil {
			p.warn(w.Pos(), SkippedCommand, "unset skipped: %v", err)
			return
		}
		switch {
		case s == "-f":
			funcs = true
		case s == "-v", s == "-n":
			funcs = false
		case strings.HasPrefix(s, "-"):
			p.warn(w.Pos(), SkippedCommand, "unset %s skipped: unknown option", s)
			return
		case !funcs:
			targets = append(targets, s)
		}
	}
	for _, t := range targets {
		if syntax.ValidName(t) {
			p.vars.unset(t)
			continue
		}
		name, key, ok := strings.Cut(t, "[")
		if ok && syntax.ValidName(name) && strings.HasSuffix(key, "]") {
			delete(p.vars.Arrays[name], strings.TrimSuffix(key, "]"))
			continue
		}
		p.warn(st.Pos(), SkippedCommand, "unset %q skipped: not a variable name", t)
	}
}

// declOpts are the attributes of a declare/export/readonly statement.
type declOpts struct {
	assoc, indexed   bool
	export, unexport bool
}

func (p *parser) decl(st *syntax.Stmt, c *syntax.DeclClause) {
	variant := c.Variant.Value
	switch variant {
	case "local":
		p.warn(st.Pos(), IgnoredAttribute, "local outside a function ignored, as bash refuses it")
		return
	case "nameref":
		p.skip(st, "nameref")
		return
	}
	o := declOpts{export: variant == "export"}
	var ignored []string
	for _, a := range c.Args {
		if a.Name != nil {
			continue
		}
		flag := ""
		if a.Value != nil {
			flag = a.Value.Lit()
		}
		if len(flag) < 2 || (flag[0] != '-' && flag[0] != '+') {
			// declare "$x", declare 'X=1': which names it assigns is
			// only known by evaluating it.
			p.skip(st, variant+" with a computed argument")
			return
		}
		on := flag[0] == '-'
		for _, f := range flag[1:] {
			switch {
			case f == 'A' && variant != "export":
				o.assoc = on
			case f == 'a' && variant != "export":
				o.indexed = on
			case f == 'x' && variant != "export":
				o.export, o.unexport = on, !on
			case f == 'n' && variant == "export":
				o.export, o.unexport = !on, on
			case f == 'g':
				// Global is the only scope here.
			case f == 'r' || f == 'i' || f == 'l' || f == 'u' || f == 't':
				if on {
					ignored = append(ignored, "-"+string(f))
				}
			default:
				// -f, -F, -p, -n (nameref) and unknown flags: no
				// effect on values we model, or one we can't model.
				p.skip(st, fmt.Sprintf("%s %s", variant, flag))
				return
			}
		}
	}
	if variant == "readonly" {
		ignored = append(ignored, "readonly")
	}
	if len(ignored) > 0 {
		p.warn(st.Pos(), IgnoredAttribute, "%s %s: attribute not applied, values kept as written", variant, strings.Join(ignored, " "))
	}
	for _, a := range c.Args {
		if a.Name == nil {
			continue
		}
		name := a.Name.Value
		switch {
		case o.export:
			p.vars.Exported[name] = true
		case o.unexport:
			delete(p.vars.Exported, name)
		}
		if a.Naked {
			if o.assoc || o.indexed || a.Index != nil {
				p.vars.array(name, o.indexed)
			}
			continue
		}
		p.assign(a, o)
	}
}

// assign evaluates one NAME=value, NAME+=value, NAME[key]=value or
// NAME=(...). Nothing is changed unless the whole value evaluates.
func (p *parser) assign(a *syntax.Assign, o declOpts) {
	name := a.Name.Value
	if why := unsafe(a); why != "" {
		p.warnNames(a.Pos(), SkippedAssignment, []string{name}, "assignment to %s skipped: %s", name, why)
		return
	}
	var err error
	switch {
	case a.Array != nil:
		err = p.assignArray(name, a, o)
	case a.Index != nil:
		err = p.assignElem(name, a, o)
	default:
		var val string
		if val, err = p.literal(a.Value); err == nil {
			if o.assoc || o.indexed {
				p.vars.array(name, o.indexed)
			}
			p.vars.setScalar(name, val, a.Append)
		}
	}
	if err != nil {
		p.warnNames(a.Pos(), SkippedAssignment, []string{name}, "assignment to %s skipped: %v", name, err)
		return
	}
	line, _ := p.posLine(a.Pos())
	p.vars.Origin[name] = Origin{File: p.file, Line: line}
}

func (p *parser) assignElem(name string, a *syntax.Assign, o declOpts) error {
	indexed := o.indexed
	if _, ok := p.vars.Arrays[name]; ok {
		indexed = p.vars.Indexed[name]
	}
	key, err := p.key(name, a.Index, indexed)
	if err != nil {
		return err
	}
	val, err := p.literal(a.Value)
	if err != nil {
		return err
	}
	arr := p.vars.array(name, indexed)
	if a.Append {
		val = arr[key] + val
	}
	arr[key] = val
	return nil
}

func (p *parser) assignArray(name string, a *syntax.Assign, o declOpts) error {
	arr, exists := p.vars.Arrays[name]
	numeric := true // every element has an integer literal key, or none
	for _, el := range a.Array.Elems {
		if w, ok := el.Index.(*syntax.Word); el.Index != nil && (!ok || !isDigits(w.Lit())) {
			numeric = false
		}
	}
	var indexed bool
	switch {
	case o.assoc:
	case o.indexed:
		indexed = true
	case exists:
		indexed = p.vars.Indexed[name]
	default:
		// (a b c) and ([2]=x y) are lists, as in bash. ([k]=v ...) is
		// what alarm-notify.sh's declare -A arrays (HANGOUTS_WEBHOOK_URI,
		// ...) are given, so it is associative even when the caller did
		// not declare it: bash would evaluate k as arithmetic, to 0.
		indexed = numeric
		for _, el := range a.Array.Elems {
			indexed = indexed || (el.Index == nil && el.Value != nil)
		}
	}

	next := 0
	switch {
	case a.Append && exists:
		arr = maps.Clone(arr)
		next = p.vars.nextIndex(name)
	case a.Append && !exists:
		arr = map[string]string{}
		if s, ok := p.vars.Scalars[name]; ok {
			arr["0"], next = s, 1
		}
	default:
		arr = map[string]string{}
	}
	for _, el := range a.Array.Elems {
		if el.Index == nil && el.Value == nil {
			continue
		}
		// Elements are not split or globbed, unlike bash's: what is
		// written is what is stored, which is what a config means.
		val, err := p.literal(el.Value)
		if err != nil {
			return err
		}
		if el.Index == nil {
			if !indexed {
				return fmt.Errorf("element %q of associative array has no [key]", val)
			}
			arr[strconv.Itoa(next)] = val
			next++
			continue
		}
		key, err := p.key(name, el.Index, indexed)
		if err != nil {
			return err
		}
		if indexed {
			n, _ := strconv.Atoi(key)
			next = n + 1
		}
		arr[key] = val
	}
	p.vars.setArray(name, arr, indexed)
	return nil
}

// key evaluates a subscript: arithmetic for indexed arrays, a word for
// associative ones.
func (p *parser) key(name string, idx syntax.ArithmExpr, indexed bool) (string, error) {
	if indexed {
		n, err := eval(p, func() (int, error) { return expand.Arithm(p.cfg, idx) })
		if err != nil {
			return "", err
		}
		if n < 0 {
			// a[-1] counts from the end, as in bash.
			if n += p.vars.nextIndex(name); n < 0 {
				return "", errors.New("bad array subscript")
			}
		}
		return strconv.Itoa(n), nil
	}
	var key string
	if w, ok := idx.(*syntax.Word); ok {
		k, err := p.literal(w)
		if err != nil {
			return "", err
		}
		key = k
	} else {
		// The parser reads [sys-admin] as arithmetic (sys minus admin);
		// for an associative array bash takes the text.
		start, end := int(idx.Pos().Offset()), int(idx.End().Offset())
		if !idx.Pos().IsValid() || !idx.End().IsValid() || start > end || end > len(p.src) {
			return "", errors.New("unsupported subscript")
		}
		expands := false
		syntax.Walk(idx, func(n syntax.Node) bool {
			switch n.(type) {
			case *syntax.ParamExp, *syntax.ArithmExp, *syntax.CmdSubst, *syntax.ProcSubst, *syntax.DblQuoted, *syntax.SglQuoted:
				expands = true
			}
			return !expands
		})
		if expands {
			return "", errors.New("subscript mixing operators and expansions or quotes is not supported; quote the whole key")
		}
		key = p.unescape(string(p.src[start:end]))
	}
	if key == "" {
		return "", errors.New("bad array subscript")
	}
	return key, nil
}

var errBudget = fmt.Errorf("expansions read more than %d MiB of variables", expandBudget>>20)

// literal expands a word the way bash expands an assignment's value: no
// word splitting, no globbing.
func (p *parser) literal(w *syntax.Word) (string, error) {
	if w == nil {
		return "", nil
	}
	unquoteLits(w)
	s, err := eval(p, func() (string, error) { return expand.Literal(p.cfg, w) })
	return p.unescape(s), err
}

// unquoteLits does the quote removal expand.Literal leaves out: in an
// unquoted part such as a\ b\$c, bash drops each backslash and keeps the
// character after it. The escaped text becomes a single-quoted part, which
// expand takes verbatim; the text before the first backslash stays a
// literal so that a leading ~ is still expanded. The word is changed in
// place; doing it twice changes nothing more.
func unquoteLits(w *syntax.Word) {
	if w == nil {
		return
	}
	var parts []syntax.WordPart // nil until a part changes
	for k, part := range w.Parts {
		switch part := part.(type) {
		case *syntax.Lit:
			i := strings.IndexByte(part.Value, '\\')
			if i < 0 {
				break
			}
			if parts == nil {
				parts = append(make([]syntax.WordPart, 0, len(w.Parts)+1), w.Parts[:k]...)
			}
			var sb strings.Builder
			rest := part.Value[i:]
			for j := 0; j < len(rest); j++ {
				if rest[j] == '\\' && j+1 < len(rest) {
					j++
				}
				sb.WriteByte(rest[j])
			}
			if i > 0 {
				parts = append(parts, &syntax.Lit{ValuePos: part.ValuePos, ValueEnd: part.ValueEnd, Value: part.Value[:i]})
			}
			parts = append(parts, &syntax.SglQuoted{Left: part.ValuePos, Right: part.ValueEnd, Value: sb.String()})
			continue
		case *syntax.ParamExp:
			// ${X:-a\ b} unquoted: the operand is unquoted too.
			if part.Exp != nil {
				unquoteLits(part.Exp.Word)
			}
		}
		if parts != nil {
			parts = append(parts, part)
		}
	}
	if parts != nil {
		w.Parts = parts
	}
}

// escapeInvalid replaces each byte that is not part of valid UTF-8 with a
// rune from the end of Unicode's last private use plane (U+10FF80 to
// U+10FFFF), which the parser accepts and unescapeInvalid turns back into
// the byte.
func escapeInvalid(data []byte) []byte {
	out := make([]byte, 0, len(data)+len(data)/8)
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, escapeBase+rune(data[0]))
		} else {
			out = append(out, data[:size]...)
		}
		data = data[size:]
	}
	return out
}

const escapeBase = 0x10FF00

func (p *parser) unescape(s string) string {
	if !p.escaped {
		return s
	}
	var sb strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r >= escapeBase+0x80 && r <= escapeBase+0xFF {
			sb.WriteByte(byte(r - escapeBase))
		} else {
			sb.WriteString(s[:size])
		}
		s = s[size:]
	}
	return sb.String()
}

// eval runs one expansion through p.cfg: it fails with errBudget if it was
// refused a lookup (it saw unset variables, not the truth), and a panic
// inside mvdan.cc/sh/v3/expand (which has a few "can't happen" panics) is
// a skipped assignment rather than a crash of whoever reads the config.
func eval[T any](p *parser, expansion func() (T, error)) (v T, err error) {
	denied := p.env.denied
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("expansion failed: %v", r)
		}
	}()
	v, err = expansion()
	if err == nil && p.env.denied != denied {
		err = errBudget
	}
	return v, err
}

// unsafe says why a node cannot be evaluated without running something (or
// without unbounded memory), or "" if it can.
func unsafe(n syntax.Node) string {
	why := ""
	syntax.Walk(n, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CmdSubst:
			if n.Backquotes {
				why = "it contains a `command` substitution, which is never run"
			} else {
				why = "it contains a $(command) substitution, which is never run"
			}
		case *syntax.ProcSubst:
			why = "it contains a process substitution, which is never run"
		case *syntax.ParamExp:
			if n.Repl != nil && n.Repl.All && n.Repl.With != nil {
				if l, ok := plainLen(n.Repl.With); !ok || l > maxGlobalReplLen {
					why = fmt.Sprintf("${x//pattern/replacement} is only supported with a fixed replacement of at most %d bytes", maxGlobalReplLen)
				}
			}
		}
		return why == ""
	})
	return why
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// plainLen returns the length of a word made only of literal text.
func plainLen(w *syntax.Word) (int, bool) {
	n := 0
	for _, part := range w.Parts {
		switch part := part.(type) {
		case *syntax.Lit:
			n += len(part.Value)
		case *syntax.SglQuoted:
			n += len(part.Value)
		case *syntax.DblQuoted:
			for _, q := range part.Parts {
				lit, ok := q.(*syntax.Lit)
				if !ok {
					return 0, false
				}
				n += len(lit.Value)
			}
		default:
			return 0, false
		}
	}
	return n, true
}
