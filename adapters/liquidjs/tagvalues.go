package liquidjs

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// This file reads the value expressions of outputs and tags as LiquidJS
// 10.26's parser does (Tokenizer.readFilteredValue, readValue, readHashes,
// and the constructors of the tags that call them), to raise LiquidJS's
// parse errors for them: "invalid value expression" for a value that does
// not start as one, and the errors of ranges, brackets and filters.
// osteele/liquid rejects most of these templates too, but accepts some and
// then panics or misbehaves: its lexer reads "%assign ", "%loop ", "{%when "
// and "{%cycle " as statement markers, so {% if %assign x %} or
// {% case {%when 0 %} parse into a nil expression.

// exprReader is LiquidJS's Tokenizer over a tag's arguments (or an output's
// expression): in ends where the tag's content ends (LiquidJS's N), src is
// the whole template, which LiquidJS's read() looks into past N.
type exprReader struct {
	jsTokenizer
	src string
	// out, when not nil, is a copy of src (the same length) where the
	// reader rewrites the filters LiquidJS reads but osteele/liquid's
	// grammar lacks into ones it has (see readFilter); nil: none.
	out []byte
	// onPair, when not nil, is told of each filter argument "key: value":
	// whether it is the filter's first, and the offsets of the key's
	// begin and end and the value's end.
	onPair func(first bool, keyBegin, keyEnd, valueEnd int)
	// onName, when not nil, is told of each variable name (prop false)
	// and property name after a "." (prop true) the reader reads: its
	// begin and end, and where the value it is part of begins.
	onName func(prop bool, valueBegin, begin, end int)
	// rewritten: the input is preprocess's rewrite, in which a property
	// osteele cannot read is "(value | __liquidjs_prop: "name")" (see
	// propertyEdits): readRange reads it as the value it stands for.
	rewritten bool
}

// blank blanks out[from:to], keeping line breaks, so that lines and the
// offsets of everything else stay as they were.
func (r *exprReader) blank(from, to int) {
	if r.out == nil {
		return
	}
	for i := from; i < to && i < len(r.out); i++ {
		if r.out[i] != '\n' {
			r.out[i] = ' '
		}
	}
}

// fail stops the reading with LiquidJS's error at p (a TokenizationError);
// checkValues recovers it.
func (r *exprReader) fail(msg string) { panic(&structureError{msg, r.p}) }

func (r *exprReader) end() bool { return r.p >= len(r.in) }

// at is the byte n after p ("" past N, as LiquidJS's peek(n)).
func (r *exprReader) at(n int) byte {
	if r.p+n < len(r.in) {
		return r.in[r.p+n]
	}
	return 0
}

// wordAt reports whether the character n bytes after p is a word character.
func (r *exprReader) wordAt(n int) bool {
	if r.p+n >= len(r.in) {
		return false
	}
	c, _ := utf8.DecodeRuneInString(r.in[r.p+n:])
	return jsType(c)&jsWord != 0
}

// read is LiquidJS's read(): the character at p, even past N, and p moves on.
func (r *exprReader) read() byte {
	var c byte
	if r.p < len(r.src) {
		c = r.src[r.p]
	}
	r.p++
	return c
}

var (
	jsOperators = []string{"==", "!=", ">", "<", ">=", "<=", "contains", "not", "and", "or"}
	jsLiterals  = []string{"true", "false", "nil", "null", "empty", "blank"}
)

// matchTrie is LiquidJS's: the end of the longest of keys at p, but
// not a key ending in a word character that a word character follows; or -1.
func (r *exprReader) matchTrie(keys []string) int {
	i, found := r.p, ""
	for i < len(r.in) && slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, r.in[r.p:i+1]) }) {
		i++
		if slices.Contains(keys, r.in[r.p:i]) {
			found = r.in[r.p:i]
		}
	}
	if found == "" || jsType(rune(found[len(found)-1]))&jsWord != 0 && r.wordAt(i-r.p) {
		return -1
	}
	return i
}

// readWord reads an operator (keys jsOperators) or a literal (jsLiterals).
func (r *exprReader) readWord(keys []string) bool {
	r.skipBlank()
	end := r.matchTrie(keys)
	if end >= 0 {
		r.p = end
	}
	return end >= 0
}

func (r *exprReader) readValue() bool {
	r.skipBlank()
	begin := r.p
	variable := r.readWord(jsLiterals) || r.readQuoted() || r.readRange() || r.readNumber()
	return r.readProperties(!variable, begin) || variable
}

func (r *exprReader) readValueOrThrow() {
	if !r.readValue() {
		r.fail("unexpected token " + r.snapshot(r.p) + ", value expected")
	}
}

func (r *exprReader) readRange() bool {
	r.skipBlank()
	if r.at(0) != '(' {
		return false
	}
	r.p++
	r.readValueOrThrow()
	r.skipBlank()
	if r.rewritten && r.match("| "+propFilter+": ") {
		r.p += len("| " + propFilter + ": ")
		r.readQuoted()
		if r.skipBlank(); r.read() != ')' {
			r.fail("invalid range syntax")
		}
		return true
	}
	if dot := r.read(); dot != '.' || r.read() != '.' { // (reads the second only after a first)
		r.fail("invalid range syntax")
	}
	r.readValueOrThrow()
	r.skipBlank()
	if r.read() != ')' {
		r.fail("invalid range syntax")
	}
	return true
}

func (r *exprReader) readNumber() bool {
	r.skipBlank()
	n, digits, dot := 0, false, false
	if r.at(0) == '-' || r.at(0) == '+' {
		n++
	}
	for ; ; n++ {
		if c := r.at(n); c >= '0' && c <= '9' {
			digits = true
		} else if c != '.' || r.at(n+1) == '.' {
			break
		} else if dot || !digits {
			return false
		} else {
			dot = true
		}
	}
	if !digits || r.wordAt(n) {
		return false
	}
	r.p += n
	return true
}

// readProperties reads [value], .name and, first, a name, of the value
// that begins at valueBegin; it reports whether it read any.
func (r *exprReader) readProperties(first bool, valueBegin int) bool {
	for n := 0; ; n++ {
		begin := r.p
		switch {
		case r.at(0) == '[':
			r.p++
			r.readValue()
			if r.readTo("]", false) == -1 {
				r.fail("[ not closed")
			}
		case first && n == 0 && r.readIdentifier() != "":
			if r.onName != nil {
				r.onName(false, valueBegin, begin, r.p)
			}
		case r.at(0) == '.' && r.at(1) != '.':
			r.p++
			if r.readIdentifier() == "" {
				return n > 0
			}
			if r.onName != nil {
				r.onName(true, valueBegin, begin+1, r.p)
			}
		default:
			return n > 0
		}
	}
}

// readFilteredValue reads an expression and its filters.
func (r *exprReader) readFilteredValue() {
	tokens := false
	for !r.end() && (r.readWord(jsOperators) || r.readValue()) {
		tokens = true
	}
	if !tokens {
		r.fail("invalid value expression: " + r.snapshot(r.p))
	}
	for r.readFilter() {
	}
}

// readFilter reads a filter as LiquidJS does, and has out rewrite what
// LiquidJS accepts and osteele/liquid's grammar (`| name` or
// `| name: arg, arg, key: arg`) does not:
//
//   - a "|" with nothing after it: LiquidJS reads no filter, so it is blanked;
//   - a filter whose name osteele cannot read ("| 1", "| -f", "| a?b"): no
//     filter has such a name, so LiquidJS passes the value through
//     (strictFilters is off in Kuma), and it is blanked whole;
//   - arguments that are empty (": " alone, ", ," or a trailing ","): LiquidJS
//     skips them, so their ":" or "," is blanked;
//   - blanks before the ":" ("name : arg"): the ":" moves to the name.
func (r *exprReader) readFilter() bool {
	r.skipBlank()
	if r.end() {
		return false
	}
	pipe := r.p
	if r.read() != '|' {
		r.fail(`expected "|" before filter`)
	}
	name := r.readIdentifier()
	if name == "" {
		if !r.end() {
			r.fail("expected filter name")
		}
		r.blank(pipe, r.p)
		return false
	}
	nameEnd := r.p
	r.skipBlank()
	switch {
	case r.at(0) == ':':
		var seps []int    // the ":" and the ","s
		var filled []bool // whether an argument follows each
		for next := true; next; next = r.at(0) == ',' {
			seps = append(seps, r.p)
			r.p++
			r.skipBlank()
			keyBegin := r.p
			// (The names of a key "name: value" are not names: onName
			// hears of them only when no ":" follows.)
			onName, names := r.onName, [][4]int(nil)
			if onName != nil {
				r.onName = func(prop bool, valueBegin, begin, end int) {
					names = append(names, [4]int{map[bool]int{true: 1}[prop], valueBegin, begin, end})
				}
			}
			arg := r.readValue()
			keyEnd := r.p
			r.onName = onName
			if r.skipBlank(); onName != nil && r.at(0) != ':' {
				for _, n := range names {
					onName(n[0] == 1, n[1], n[2], n[3])
				}
			}
			if arg {
				if r.skipBlank(); r.at(0) == ':' {
					r.p++
					r.readValue()
					if r.onPair != nil {
						r.onPair(!slices.Contains(filled, true), keyBegin, keyEnd, r.p)
					}
				}
			}
			filled = append(filled, arg)
			if r.skipBlank(); !r.end() && r.at(0) != ',' && r.at(0) != '|' {
				r.fail("unexpected character " + r.snapshot(r.p))
			}
		}
		r.fixArguments(nameEnd, seps, filled)
	case r.at(0) != '|' && !r.end():
		r.fail(`expected ":" after filter name`)
	}
	if !osteeleName(name, false) {
		r.blank(pipe, r.p)
	}
	return true
}

// fixArguments has out keep a filter's ":" (right after the name, at
// nameEnd) only when an argument follows, and a "," only between two
// arguments; seps are the offsets of the ":" and the ","s, filled whether
// an argument follows each.
func (r *exprReader) fixArguments(nameEnd int, seps []int, filled []bool) {
	if r.out == nil {
		return
	}
	if !slices.Contains(filled, true) {
		for _, at := range seps {
			r.blank(at, at+1)
		}
		return
	}
	if colon := seps[0]; colon > nameEnd {
		// ":" then the blanks, their line breaks kept.
		copy(r.out[nameEnd+1:colon+1], r.src[nameEnd:colon])
		r.out[nameEnd] = ':'
		r.blank(nameEnd+1, colon+1)
	}
	seen := filled[0]
	for k := 1; k < len(seps); k++ {
		if !filled[k] || !seen {
			r.blank(seps[k], seps[k]+1)
		}
		seen = seen || filled[k]
	}
}

// readHashes reads for's and tablerow's "name: value" arguments, and has
// out blank what osteele's loop grammar rejects and LiquidJS ignores: the
// commas between them, names other than limit, offset, cols and reversed
// (with their values), and whatever follows the last ("| f", "== 2").
func (r *exprReader) readHashes() {
	for {
		if r.skipBlank(); r.at(0) == ',' {
			r.blank(r.p, r.p+1)
			r.p++
		}
		begin := r.p
		name := r.readIdentifier()
		if name == "" {
			r.blank(r.p, len(r.in))
			return
		}
		if r.skipBlank(); r.at(0) == ':' {
			r.p++
			r.readValue()
		}
		if !slices.Contains([]string{"limit", "offset", "cols", "reversed"}, name) {
			r.blank(begin, r.p)
		}
	}
}

// checkValues reads the value expressions of tag (an output, or a tag
// LiquidJS has parsed as far as its name) as LiquidJS parses them, and
// returns LiquidJS's error. out, when not nil, is a copy of src where it
// rewrites the tag's filters for osteele/liquid (see readFilter). A case's when and an unless's elsif after an
// else are not read (LiquidJS skips them): the caller does not pass them.
func checkValues(src string, tag token, out []byte) (err *structureError) {
	return readValues(src, tag, out, nil)
}

// readValues is checkValues, which tells onName (when not nil) of the
// names it reads (see exprReader.onName).
func readValues(src string, tag token, out []byte, onName func(prop bool, valueBegin, begin, end int)) (err *structureError) {
	r := &exprReader{jsTokenizer: jsTokenizer{in: src[:tag.argsAt+len(tag.args)], p: tag.argsAt}, src: src, out: out, onName: onName}
	defer func() {
		if v := recover(); v != nil {
			e, ok := v.(*structureError)
			if !ok {
				panic(v)
			}
			err = e
		}
	}()
	r.skipBlank()
	text := func() string { return string([]rune(src[tag.begin:tag.end])) }
	switch tag.name {
	case "", "if", "elsif", "unless", "case": // "": an output
		r.readFilteredValue()
	case "echo":
		if !r.end() {
			r.readFilteredValue()
		}
	case "assign":
		if r.readIdentifier() == "" {
			r.fail("expected variable name")
		}
		if r.skipBlank(); r.at(0) != '=' {
			r.fail(`expected "="`)
		}
		r.p++
		r.readFilteredValue()
	case "when":
		for !r.end() {
			r.readValueOrThrow()
			if r.skipBlank(); r.at(0) == ',' {
				r.readTo(",", false)
			} else {
				r.readTo("or", false)
			}
		}
	case "for", "tablerow":
		variable, in := r.readIdentifier(), r.readIdentifier()
		if !r.readValue() || in != "in" || variable == "" && tag.name == "for" {
			return &structureError{"illegal tag: " + text(), tag.begin}
		}
		r.readHashes()
	case "cycle":
		candidates := 0
		group := r.readValue()
		if r.skipBlank(); group && r.at(0) == ':' {
			r.p++
		} else if group {
			candidates++
		}
		for !r.end() {
			if r.readValue() {
				candidates++
			}
			r.readTo(",", false)
		}
		if candidates == 0 {
			r.fail(`empty candidates: "` + text() + `"`)
		}
	}
	return nil
}

// liquidLines are the tags of the lines of the {% liquid %} tag, as
// LiquidJS's readLiquidTagTokens reads them, or the error of a line that
// has no tag name.
func liquidLines(src string, tag token) ([]token, *structureError) {
	t := &jsTokenizer{in: src[:tag.argsAt+len(tag.args)], p: tag.argsAt}
	var lines []token
	for t.skipBlank(); t.p < len(t.in); t.skipBlank() {
		begin := t.p
		t.readTo("\n", false)
		line, err := t.readTag(begin, t.p, begin, t.p, "illegal liquid tag syntax")
		if err != nil {
			return nil, err
		}
		lines = append(lines, line)
	}
	return lines, nil
}
