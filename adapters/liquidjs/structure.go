package liquidjs

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file reads a template into tokens as LiquidJS 10.26's tokenizer does
// (readTopLevelToken, readToDelimiter, readEndrawOrRawContent), which
// Engine.Parse rewrites and Lint checks, and finds the errors LiquidJS
// raises for the shape of a template where osteele/liquid is more lenient
// or places them elsewhere: an output or a tag that is not closed ("Hello
// {{ name }" renders as text in osteele/liquid, and fails in Kuma), a raw
// block not closed, a tag LiquidJS does not know or meets where no open
// block takes it (a stray endif, else or when), and a block not closed.
// Offsets are bytes of the template; columns count UTF-16 code units, as
// LiquidJS's offsets do.

// LiquidJS's character classes (TYPES in its tokenizer), for the ASCII
// range; above it, a few blanks are listed and every other character is a
// word character (but two quotation marks, punctuation).
const (
	jsWord  = 1
	jsBlank = 4
	jsQuote = 8
)

var jsTypes = [128]uint8{0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 4, 4, 4, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 2, 8, 0, 0, 0, 0, 8, 0, 0, 0, 64, 0, 65, 0, 0, 33, 33, 33, 33, 33, 33, 33, 33, 33, 33, 0, 0, 2, 2, 2, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}

func jsType(c rune) uint8 {
	if c < 128 {
		return jsTypes[c]
	}
	switch c {
	case 160, 5760, 6158, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288:
		return jsBlank
	case 8220, 8221:
		return 128 // punctuation
	}
	return jsWord
}

func jsIsBlank(c rune) bool { return jsType(c)&jsBlank != 0 }

// jsTokenizer is LiquidJS's Tokenizer, reduced to what finds tokens. Only
// the delimiters and quotes it looks for are ASCII, so it steps bytewise
// but where it reads blanks and words.
type jsTokenizer struct {
	in         string
	p          int
	rawBeginAt int
}

// peek is the character at p and its type.
func (t *jsTokenizer) peek() (rune, int, uint8) {
	if t.p >= len(t.in) {
		return 0, 0, 0
	}
	r, size := utf8.DecodeRuneInString(t.in[t.p:])
	return r, size, jsType(r)
}

func (t *jsTokenizer) skipBlank() {
	for _, size, typ := t.peek(); typ&jsBlank != 0; _, size, typ = t.peek() {
		t.p += size
	}
}

func (t *jsTokenizer) match(s string) bool { return strings.HasPrefix(t.in[min(t.p, len(t.in)):], s) }

// rmatch reports whether s ends at p.
func (t *jsTokenizer) rmatch(s string) bool {
	return t.p <= len(t.in) && strings.HasSuffix(t.in[:t.p], s)
}

func (t *jsTokenizer) readQuoted() bool {
	t.skipBlank()
	begin := t.p
	if _, _, typ := t.peek(); typ&jsQuote == 0 {
		return false
	}
	t.p++
	escaped := false
	for t.p < len(t.in) {
		t.p++
		if t.in[t.p-1] == t.in[begin] && !escaped {
			break
		}
		escaped = !escaped && t.in[t.p-1] == '\\'
	}
	return true
}

// readTo is LiquidJS's readTo and readToDelimiter: it moves p past the next
// end (reading quoted strings whole when quoted) and returns p, or -1.
// (readToDelimiter first skips blanks; its every caller starts at a
// non-blank.)
func (t *jsTokenizer) readTo(end string, quoted bool) int {
	for t.p < len(t.in) {
		if quoted && (t.in[t.p] == '"' || t.in[t.p] == '\'') {
			t.readQuoted()
			continue
		}
		t.p++
		if t.rmatch(end) {
			return t.p
		}
	}
	return -1
}

func (t *jsTokenizer) readIdentifier() string {
	t.skipBlank()
	begin := t.p
	for _, size, typ := t.peek(); typ&jsWord != 0; _, size, typ = t.peek() {
		t.p += size
	}
	return t.in[begin:t.p]
}

// snapshot is the rest of the input from begin, shortened to 32 UTF-16
// code units, as a JSON string.
func (t *jsTokenizer) snapshot(begin int) string {
	rest := utf16Units(t.in[begin:])
	if len(rest) > 32 {
		rest = append(rest[:29], '.', '.', '.')
	}
	return strconv.Quote(fromUTF16(rest))
}

// token is a tag or an output, from begin to end. A tag has a name and
// arguments: the text after the name, from argsAt, trailing blanks trimmed;
// an output's arguments are its expression.
type token struct {
	begin, end int
	output     bool
	name, args string
	argsAt     int
}

// structureError is a LiquidJS error at offset pos.
type structureError struct {
	msg string
	pos int
}

// content is the content of a token, from l to r inside its delimiters,
// without its trim marks and blanks, as LiquidJS's DelimitedToken has it.
func (t *jsTokenizer) content(l, r int) (int, int) {
	if l < len(t.in) && t.in[l] == '-' {
		l++
	}
	if r-1 >= l && t.in[r-1] == '-' {
		r--
	}
	r = max(r, l)
	trimmed := strings.TrimLeftFunc(t.in[l:r], jsIsBlank)
	l = r - len(trimmed)
	return l, l + len(strings.TrimRightFunc(trimmed, jsIsBlank))
}

// newTag reads a TagToken's name and arguments as LiquidJS's TagToken does.
func (t *jsTokenizer) newTag(begin, end int) (token, *structureError) {
	return t.readTag(begin, end, begin+2, end-2, "illegal tag syntax, tag name expected")
}

// readTag reads the name and arguments of the tag from begin to end whose
// content, trim marks included, is from l to r; noName is the error of a
// tag without a name.
func (t *jsTokenizer) readTag(begin, end, l, r int, noName string) (token, *structureError) {
	l, r = t.content(l, r)
	sub := &jsTokenizer{in: t.in[:r], p: l}
	tag := token{begin: begin, end: end}
	// LiquidJS looks for "#" past an empty content's end too: a line "-"
	// of {% liquid %} followed by a line "#..." is an inline comment.
	if l < len(t.in) && t.in[l] == '#' {
		tag.name = "#"
		sub.p++
	} else {
		tag.name = sub.readIdentifier()
	}
	if tag.name == "" {
		return tag, &structureError{noName, sub.p}
	}
	tag.argsAt, tag.args = sub.p, t.in[min(sub.p, r):r]
	return tag, nil
}

// tokenize returns the tokens of src and LiquidJS's tokenizer error, if any,
// with the tokens before it.
func tokenize(src string) ([]token, *structureError) {
	t := &jsTokenizer{in: src, rawBeginAt: -1}
	var toks []token
	for t.p < len(src) {
		switch {
		case t.rawBeginAt > -1:
			tag, err := t.readEndrawOrRawContent()
			if err != nil {
				return toks, err
			}
			if tag != nil {
				toks = append(toks, *tag)
			}
		case t.match("{%"):
			begin := t.p
			if t.readTo("%}", false) == -1 {
				return toks, &structureError{"tag " + t.snapshot(begin) + " not closed", begin}
			}
			tag, err := t.newTag(begin, t.p)
			if err != nil {
				return toks, err
			}
			if tag.name == "raw" {
				t.rawBeginAt = begin
			}
			toks = append(toks, tag)
		case t.match("{{"):
			begin := t.p
			if t.readTo("}}", true) == -1 {
				return toks, &structureError{"output " + t.snapshot(begin) + " not closed", begin}
			}
			l, r := t.content(begin+2, t.p-2)
			toks = append(toks, token{begin: begin, end: t.p, output: true, argsAt: l, args: src[l:r]})
		default:
			for t.p < len(src) && !t.match("{%") && !t.match("{{") {
				t.p++
			}
		}
	}
	return toks, nil
}

// readEndrawOrRawContent reads a raw block's content (no tag) or its endraw
// tag.
func (t *jsTokenizer) readEndrawOrRawContent() (*token, *structureError) {
	begin := t.p
	leftPos := t.readTo("{%", false) - 2
	for t.p < len(t.in) {
		if t.readIdentifier() != "endraw" {
			leftPos = t.readTo("{%", false) - 2
			continue
		}
		for ; t.p <= len(t.in); t.p++ {
			if t.rmatch("%}") {
				if begin != leftPos {
					t.p = leftPos
					return nil, nil
				}
				t.rawBeginAt = -1
				tag, err := t.newTag(begin, t.p)
				return &tag, err
			}
			if t.rmatch("{%") {
				break
			}
		}
	}
	return nil, &structureError{"raw " + t.snapshot(t.rawBeginAt) + " not closed", begin}
}

// jsTags are LiquidJS's tags (Kuma's engine adds none); a block's value
// lists the tags its parse stream takes, the last one ending it.
var jsTags = map[string][]string{
	"assign": nil, "include": nil, "render": nil, "decrement": nil, "increment": nil, "cycle": nil,
	"layout": nil, "break": nil, "continue": nil, "echo": nil, "liquid": nil, "#": nil,
	"if":       {"elsif", "else", "endif"},
	"unless":   {"elsif", "else", "endunless"},
	"for":      {"else", "endfor"},
	"case":     {"when", "else", "endcase"},
	"capture":  {"endcapture"},
	"tablerow": {"endtablerow"},
	"block":    {"endblock"},
	"comment":  {"endcomment"}, // skips everything up to its end
	"raw":      {"endraw"},     // the tokenizer made sure of its end
}

// checkBlocks follows LiquidJS's parser over the tokens: a tag that no open
// block takes must be a known one; a block must be closed; value
// expressions must be ones (checkValues), in {% liquid %} too. out, when
// not nil, is a copy of src where checkValues rewrites filters for
// osteele/liquid.
func checkBlocks(src string, toks []token, out []byte) *structureError {
	type frame struct {
		tag     token
		takes   []string
		hasElse bool
	}
	var stack []frame
	for _, tag := range toks {
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			end := top.takes[len(top.takes)-1]
			if (top.tag.name == "comment" || top.tag.name == "raw") && tag.name != end {
				continue
			}
			if slices.Contains(top.takes, tag.name) {
				if top.tag.name == "if" || top.tag.name == "for" {
					if args := strings.TrimLeftFunc(tag.args, jsIsBlank); (tag.name == "else" || tag.name == end) && args != "" {
						return &structureError{"unexpected " + strconv.Quote(string([]rune(args))), top.tag.begin}
					}
				}
				if top.tag.name == "if" {
					switch {
					case tag.name == "elsif" && top.hasElse:
						return &structureError{"unexpected elsif after else", top.tag.begin}
					case tag.name == "else" && top.hasElse:
						return &structureError{"duplicated else", top.tag.begin}
					}
				}
				// (LiquidJS reads no when, and no elsif of an unless,
				// after an else.)
				if err := checkValues(src, tag, out); err != nil && !top.hasElse {
					return err
				}
				if tag.name == "else" {
					top.hasElse = true
				}
				if tag.name == end {
					stack = stack[:len(stack)-1]
				}
				continue
			}
		}
		block, known := jsTags[tag.name]
		if !known && !tag.output {
			return &structureError{"tag " + strconv.Quote(string([]rune(tag.name))) + " not found", tag.begin}
		}
		err := checkValues(src, tag, out)
		if tag.name == "liquid" {
			var lines []token
			if lines, err = liquidLines(src, tag); err == nil {
				err = checkBlocks(src, lines, out)
			}
		}
		if err != nil {
			return err
		}
		if block != nil {
			stack = append(stack, frame{tag: tag, takes: block})
		}
	}
	if len(stack) > 0 {
		open := stack[len(stack)-1].tag
		return &structureError{"tag " + string([]rune(src[open.begin:open.end])) + " not closed", open.begin}
	}
	return nil
}

// checkPartials returns the error of the first include, render or layout
// tag: Kuma's engine has no partial files, so LiquidJS fails on every one
// (when it renders: Engine.Parse leaves them to Render, which fails as
// LiquidJS does; Lint reports them).
func checkPartials(name, src string, toks []token) *ParseError {
	for _, tag := range toks {
		if !tag.output && (tag.name == "include" || tag.name == "render" || tag.name == "layout") {
			return positioned(name, src, &structureError{"tag " + strconv.Quote(tag.name) + " reads a partial file, and Kuma's engine has none: LiquidJS fails with ENOENT", tag.begin})
		}
	}
	return nil
}

// positioned is err as a ParseError, at LiquidJS's line and column.
func positioned(name, src string, err *structureError) *ParseError {
	line, col := lineCol(src, err.pos)
	return &ParseError{Name: name, Line: line, Col: col, Msg: err.msg}
}

// lineCol is the line and column of the byte offset off of src, 1-based,
// the column in UTF-16 code units.
func lineCol(src string, off int) (int, int) {
	before := src[:min(off, len(src))]
	return 1 + strings.Count(before, "\n"), 1 + jsLength(before[strings.LastIndexByte(before, '\n')+1:])
}
