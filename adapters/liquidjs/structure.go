package liquidjs

import (
	"strconv"
	"unicode/utf16"
)

// This file finds the errors LiquidJS raises for the shape of a template,
// where osteele/liquid is more lenient or places them elsewhere: an output
// or a tag that is not closed ("Hello {{ name }" renders as text in
// osteele/liquid, and fails in Kuma), a raw block not closed, a tag LiquidJS
// does not know or meets where no open block takes it (a stray endif, else
// or when), and a block not closed. Messages and positions are LiquidJS
// 10.26's: its tokenizer (readTopLevelToken, readToDelimiter,
// readEndrawOrRawContent) and its block tags' parse streams are followed
// step by step, on the template as UTF-16 code units, which is what
// LiquidJS's offsets, and so its columns, count.

// JavaScript's string is UTF-16: every index below is a code unit.
type utf16Text []uint16

// LiquidJS's character classes (TYPES in its tokenizer), for the ASCII
// range; above it, a few blanks and quotes are listed and every other
// character is a word character.
const (
	jsWord  = 1
	jsBlank = 4
	jsQuote = 8
)

var jsTypes = [128]uint8{0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 4, 4, 4, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 2, 8, 0, 0, 0, 0, 8, 0, 0, 0, 64, 0, 65, 0, 0, 33, 33, 33, 33, 33, 33, 33, 33, 33, 33, 0, 0, 2, 2, 2, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}

func jsType(c uint16) uint8 {
	if c < 128 {
		return jsTypes[c]
	}
	switch c {
	case 160, 5760, 6158, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288:
		return jsBlank
	case 8220, 8221:
		return 128 // punctuation
	}
	return 0
}

func jsIsWord(c uint16) bool {
	if c >= 128 {
		return jsType(c) == 0
	}
	return jsTypes[c]&jsWord != 0
}

// jsTokenizer is LiquidJS's Tokenizer, reduced to what finds tokens.
type jsTokenizer struct {
	in         utf16Text
	p          int
	rawBeginAt int
}

func (t *jsTokenizer) n() int { return len(t.in) }

func (t *jsTokenizer) peekType() uint8 {
	if t.p >= t.n() {
		return 0
	}
	return jsType(t.in[t.p])
}

func (t *jsTokenizer) skipBlank() {
	for t.peekType()&jsBlank != 0 {
		t.p++
	}
}

// match reports whether s (ASCII) starts at p; rmatch whether it ends there.
func (t *jsTokenizer) match(s string) bool {
	for i := 0; i < len(s); i++ {
		if t.p+i >= t.n() || t.in[t.p+i] != uint16(s[i]) {
			return false
		}
	}
	return true
}

func (t *jsTokenizer) rmatch(s string) bool {
	for i := 0; i < len(s); i++ {
		j := t.p - 1 - i
		if j < 0 || j >= t.n() || t.in[j] != uint16(s[len(s)-1-i]) {
			return false
		}
	}
	return true
}

func (t *jsTokenizer) readTo(end string) int {
	for t.p < t.n() {
		t.p++
		if t.rmatch(end) {
			return t.p
		}
	}
	return -1
}

func (t *jsTokenizer) readQuoted() {
	t.skipBlank()
	begin := t.p
	if t.peekType()&jsQuote == 0 {
		return
	}
	t.p++
	escaped := false
	for t.p < t.n() {
		t.p++
		if t.in[t.p-1] == t.in[begin] && !escaped {
			break
		}
		if escaped {
			escaped = false
		} else if t.in[t.p-1] == '\\' {
			escaped = true
		}
	}
}

func (t *jsTokenizer) readToDelimiter(delim string, respectQuoted bool) int {
	t.skipBlank()
	for t.p < t.n() {
		if respectQuoted && t.peekType()&jsQuote != 0 {
			t.readQuoted()
			continue
		}
		t.p++
		if t.rmatch(delim) {
			return t.p
		}
	}
	return -1
}

func (t *jsTokenizer) readIdentifier() string {
	t.skipBlank()
	begin := t.p
	for t.p < t.n() && jsIsWord(t.in[t.p]) {
		t.p++
	}
	return string(utf16.Decode(t.in[begin:t.p]))
}

// snapshot is the rest of the input from begin, shortened to 32 characters,
// as a JSON string.
func (t *jsTokenizer) snapshot(begin int) string {
	rest := t.in[begin:]
	if len(rest) > 32 {
		rest = append(append(utf16Text{}, rest[:29]...), '.', '.', '.')
	}
	return strconv.Quote(string(utf16.Decode(rest)))
}

// jsTag is a tag token: its name, the text after the name, where it is.
type jsTag struct {
	name, args string
	begin, end int
	// nameAt is where its name was looked for (an empty name's error is
	// placed there).
	nameAt int
}

// structureError is a LiquidJS error at offset pos.
type structureError struct {
	msg string
	pos int
}

// newTag reads a TagToken's name and arguments as LiquidJS's TagToken does.
func (t *jsTokenizer) newTag(begin, end int) (jsTag, *structureError) {
	l, r := begin+2, end-2
	if l < t.n() && t.in[l] == '-' {
		l++
	}
	if r-1 >= 0 && r-1 < t.n() && r-1 >= l && t.in[r-1] == '-' {
		r--
	}
	for l < r && jsType(t.in[l])&jsBlank != 0 {
		l++
	}
	for r > l && jsType(t.in[r-1])&jsBlank != 0 {
		r--
	}
	sub := &jsTokenizer{in: t.in[:max(r, 0)], p: l}
	tag := jsTag{begin: begin, end: end}
	sub.skipBlank()
	tag.nameAt = sub.p
	if sub.p < sub.n() && sub.in[sub.p] == '#' {
		tag.name = "#"
		sub.p++
	} else {
		tag.name = sub.readIdentifier()
	}
	if tag.name == "" {
		return tag, &structureError{"illegal tag syntax, tag name expected", sub.p}
	}
	sub.skipBlank()
	if sub.p < r {
		tag.args = string(utf16.Decode(t.in[sub.p:r]))
	}
	return tag, nil
}

// tokenize returns the tag tokens of in, or LiquidJS's tokenizer error.
func tokenize(in utf16Text) ([]jsTag, *structureError) {
	t := &jsTokenizer{in: in, rawBeginAt: -1}
	var tags []jsTag
	for t.p < t.n() {
		switch {
		case t.rawBeginAt > -1:
			tag, err := t.readEndrawOrRawContent()
			if err != nil {
				return nil, err
			}
			if tag != nil {
				tags = append(tags, *tag)
			}
		case t.match("{%"):
			begin := t.p
			if t.readToDelimiter("%}", false) == -1 {
				return nil, &structureError{"tag " + t.snapshot(begin) + " not closed", begin}
			}
			tag, err := t.newTag(begin, t.p)
			if err != nil {
				return nil, err
			}
			if tag.name == "raw" {
				t.rawBeginAt = begin
			}
			tags = append(tags, tag)
		case t.match("{{"):
			begin := t.p
			if t.readToDelimiter("}}", true) == -1 {
				return nil, &structureError{"output " + t.snapshot(begin) + " not closed", begin}
			}
		default:
			for t.p < t.n() && !t.match("{%") && !t.match("{{") {
				t.p++
			}
		}
	}
	return tags, nil
}

// readEndrawOrRawContent reads a raw block's content (no tag) or its endraw
// tag.
func (t *jsTokenizer) readEndrawOrRawContent() (*jsTag, *structureError) {
	begin := t.p
	leftPos := t.readTo("{%") - 2
	for t.p < t.n() {
		if t.readIdentifier() != "endraw" {
			leftPos = t.readTo("{%") - 2
			continue
		}
		for t.p <= t.n() {
			if t.rmatch("%}") {
				end := t.p
				if begin == leftPos {
					t.rawBeginAt = -1
					tag, err := t.newTag(begin, end)
					if err != nil {
						return nil, err
					}
					return &tag, nil
				}
				t.p = leftPos
				return nil, nil
			}
			if t.rmatch("{%") {
				break
			}
			t.p++
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

// checkBlocks follows LiquidJS's parser over the tags: a tag that no open
// block takes must be a known one; a block must be closed.
func checkBlocks(in utf16Text, tags []jsTag) *structureError {
	type frame struct {
		tag     jsTag
		takes   []string
		hasElse bool
	}
	var stack []frame
	for _, tag := range tags {
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			end := top.takes[len(top.takes)-1]
			if (top.tag.name == "comment" || top.tag.name == "raw") && tag.name != end {
				continue
			}
			if takes(top.takes, tag.name) {
				if top.tag.name == "if" || top.tag.name == "for" {
					if (tag.name == "else" || tag.name == end) && tag.args != "" {
						return &structureError{"unexpected " + strconv.Quote(tag.args), top.tag.begin}
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
		if !known {
			return &structureError{"tag " + strconv.Quote(tag.name) + " not found", tag.begin}
		}
		if block != nil {
			stack = append(stack, frame{tag: tag, takes: block})
		}
	}
	if len(stack) > 0 {
		open := stack[len(stack)-1].tag
		return &structureError{"tag " + string(utf16.Decode(in[open.begin:open.end])) + " not closed", open.begin}
	}
	return nil
}

func takes(list []string, name string) bool {
	for _, s := range list {
		if s == name {
			return true
		}
	}
	return false
}

// checkPartials returns the error of the first include, render or layout
// tag: Kuma's engine has no partial files, so LiquidJS fails on every one
// (when it renders: Engine.Parse leaves them to Render, which fails as
// LiquidJS does; Lint reports them).
func checkPartials(name, source string) *ParseError {
	in := utf16Text(utf16.Encode([]rune(source)))
	tags, err := tokenize(in)
	if err != nil {
		return nil
	}
	for _, tag := range tags {
		if tag.name == "include" || tag.name == "render" || tag.name == "layout" {
			return positioned(name, in, &structureError{"tag " + strconv.Quote(tag.name) + " reads a partial file, and Kuma's engine has none: LiquidJS fails with ENOENT", tag.begin})
		}
	}
	return nil
}

// checkStructure returns LiquidJS's error for the shape of source, with its
// line and column (counting UTF-16 code units, as LiquidJS does), or nil.
func checkStructure(name, source string) *ParseError {
	in := utf16Text(utf16.Encode([]rune(source)))
	tags, err := tokenize(in)
	if err == nil {
		err = checkBlocks(in, tags)
	}
	if err == nil {
		return nil
	}
	return positioned(name, in, err)
}

// positioned is err as a ParseError, at LiquidJS's line and column.
func positioned(name string, in utf16Text, err *structureError) *ParseError {
	line, col := 1, 1
	for _, c := range in[:min(err.pos, len(in))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &ParseError{Name: name, Line: line, Col: col, Msg: err.msg}
}
