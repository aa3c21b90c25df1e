package liquidjs

import (
	"strings"
)

// preprocess rewrites the LiquidJS syntax osteele/liquid v1.9.2 lacks into
// syntax it has, before parsing, keeping line numbers (and, except inside
// {% liquid %}, columns):
//
//	{% echo expr %}      -> {{      expr }}   (same length)
//	{% # a comment %}    -> {{ nil         }} (same length, renders nothing)
//	{% liquid            -> one {% tag %} or {{ expr }} per line, the line
//	   assign x = 1         breaks kept inside the delimiters so that they
//	   echo x %}            print nothing
//	{{ x                 -> {{ x | upcase
//	   | upcase }}           }}         (an output's line breaks moved to
//	                                    its end, see oneLine)
//
// and the tags rewriteTag rewrites. toks are src's tokens: {% raw %}
// bodies, which have none, are left alone.
func preprocess(src string, toks []token) string {
	var b strings.Builder
	last := 0
	for _, t := range toks {
		b.WriteString(src[last:t.begin])
		tag := src[t.begin:t.end]
		if t.output || stringTags[t.name] || t.name == "liquid" {
			tag = applyEdits(tag, t.begin, propertyEdits(src, t))
		}
		if t.output || stringTags[t.name] {
			tag = normalizeStrings(tag)
		}
		switch {
		case t.output:
			tag = hideBraces(oneLine(rewriteOutput(tag)))
		case t.name == "echo":
			tag = hideBraces(oneLine(rewriteOutput(rewriteEcho(tag))))
		case t.name == "#":
			tag = rewriteComment(tag)
		case t.name == "liquid":
			tag = rewriteLiquid(tag)
		default:
			tag = rewriteTag(tag)
		}
		b.WriteString(tag)
		last = t.end
	}
	return b.String() + src[last:]
}

// stringTags are the tags whose arguments are value expressions, in which
// normalizeStrings rewrites string literals.
var stringTags = map[string]bool{
	"echo": true, "if": true, "elsif": true, "unless": true, "case": true, "when": true,
	"assign": true, "for": true, "tablerow": true, "cycle": true,
}

// tagParts splits "{%- name args -%}" into its pieces.
type tagParts struct {
	l, r string // the trim marks, "-" or ""
	lead string // white space before the name
	name string
	args string // everything between the name and the closing trim/delimiter
}

func splitTag(tag string) (p tagParts, ok bool) {
	inner := tag[2 : len(tag)-2]
	if strings.HasPrefix(inner, "-") {
		p.l, inner = "-", inner[1:]
	}
	if strings.HasSuffix(inner, "-") {
		p.r, inner = "-", inner[:len(inner)-1]
	}
	name, args, at := splitWord(inner, 0)
	p.lead, p.name, p.args = inner[:at-len(name)], name, args
	return p, name != ""
}

// splitWord returns the first word of s (a tag name, or "#"), the rest, and
// the rest's offset.
func splitWord(s string, off int) (string, string, int) {
	n := len(s) - len(strings.TrimLeft(s, asciiSpace))
	if n < len(s) && s[n] == '#' {
		return "#", s[n+1:], off + n + 1
	}
	m := n
	for m < len(s) && isWordByte(s[m]) {
		m++
	}
	return s[n:m], s[m:], off + m
}

const asciiSpace = " \t\n\r\f\v"

func isSpaceByte(c byte) bool { return strings.IndexByte(asciiSpace, c) >= 0 }

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func rewriteEcho(tag string) string {
	p, _ := splitTag(tag)
	if strings.TrimSpace(p.args) == "" {
		return "{{" + p.l + p.lead + "nil " + p.args + p.r + "}}"
	}
	return "{{" + p.l + p.lead + "    " + p.args + p.r + "}}"
}

func rewriteComment(tag string) string {
	p, _ := splitTag(tag)
	// Keep the line breaks, blank the rest.
	body := p.lead + " " + p.args
	var b strings.Builder
	b.WriteString("{{" + p.l + " nil")
	for i := 4; i < len(body); i++ {
		if body[i] == '\n' {
			b.WriteByte('\n')
		} else if body[i] < 0x80 || body[i] >= 0xc0 {
			b.WriteByte(' ')
		}
	}
	b.WriteString(" " + p.r + "}}")
	return b.String()
}

func rewriteLiquid(tag string) string {
	p, _ := splitTag(tag)
	var b strings.Builder
	closer, open := "", p.l // of the tag written last; after the first's delimiter
	pending := strings.Count(p.lead, "\n")
	for idx, line := range strings.Split(p.args, "\n") {
		if idx > 0 {
			pending++
		}
		s := strings.TrimSpace(line)
		// (A line "-" that checkBlocks let through is followed by a
		// comment line, and LiquidJS reads it as a comment too.)
		if s == "" || s[0] == '#' || s == "-" {
			continue
		}
		// LiquidJS reads a line as a tag's content: a "-" at either end
		// is a trim mark, which a line has no use for.
		if strings.HasSuffix(s, "-") {
			s = strings.TrimSpace(s[:len(s)-1])
		}
		if strings.HasPrefix(s, "-") {
			s = strings.TrimSpace(s[1:])
		}
		if s == "" || s[0] == '#' {
			continue
		}
		b.WriteString(closer)
		open += strings.Repeat("\n", pending)
		pending = 0
		word := s
		if i := strings.IndexAny(s, " \t"); i >= 0 {
			word = s[:i]
		}
		if stringTags[word] {
			s = normalizeStrings(s)
		}
		if word == "echo" {
			expr := rewriteRanges(rewriteExpr(strings.TrimSpace(strings.TrimPrefix(s, "echo"))))
			if expr == "" {
				expr = "nil"
			}
			o := hideBraces("{{" + open + " " + expr + " }}")
			b.WriteString(o[:len(o)-2])
			closer = "}}"
		} else {
			t := rewriteTag("{% " + s + " %}")
			b.WriteString("{%" + open + t[2:len(t)-2])
			closer = "%}"
		}
		open = ""
	}
	nl := strings.Repeat("\n", pending)
	if closer == "" {
		return "{%" + p.l + " comment %}" + nl + "{% endcomment " + p.r + "%}"
	}
	b.WriteString(nl + p.r + closer)
	return b.String()
}

// oneLine rewrites the output out ("{{ ... }}") so that no line break is
// inside its expression, which osteele/liquid's scanner requires (its
// pattern for an output, "{{-?\s*(.+?)\s*-?}}", does not cross lines, so
// "{{ x\n | upcase }}" was text to it), while LiquidJS reads line breaks
// as blanks: a line break outside a string becomes a blank, and is written
// again before the closing delimiter, where the scanner skips it, so that
// the lines of what follows stay as they were; one inside a string becomes
// the escape "\n" of a double-quoted string (a single-quoted string, which
// osteele reads without escapes, is written double-quoted), and is written
// again before the closing delimiter too. Strings are read as osteele's
// lexer reads them: "..." with backslash escapes, '...' without.
func oneLine(out string) string {
	if !strings.Contains(out, "\n") {
		return out
	}
	end := len(out) - 2
	if out[end-1] == '-' && end-1 > 2 {
		end--
	}
	var b strings.Builder
	b.WriteString(out[:2])
	breaks := 0
	for i := 2; i < end; i++ {
		switch c := out[i]; {
		case c == '\n':
			b.WriteByte(' ')
			breaks++
		case c == '"' || c == '\'':
			j := i + 1
			for j < end && out[j] != c {
				if c == '"' && out[j] == '\\' {
					j++
				}
				j++
			}
			if j >= end { // not closed: osteele fails on it either way
				j = end - 1
			}
			b.WriteString(oneLineString(out[i : j+1]))
			breaks += strings.Count(out[i:j+1], "\n")
			i = j
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString(strings.Repeat("\n", breaks))
	b.WriteString(out[end:])
	return b.String()
}

// oneLineString is the string literal lit (quotes included, as osteele's
// lexer delimits it) with its line breaks escaped, double-quoted.
func oneLineString(lit string) string {
	if !strings.Contains(lit, "\n") {
		return lit
	}
	if lit[0] == '"' {
		// (An escaped line break, backslash and break, is a line break for
		// LiquidJS too.)
		var b strings.Builder
		for i := 0; i < len(lit); i++ {
			switch {
			case lit[i] == '\n':
				b.WriteString(`\n`)
			case lit[i] == '\\' && i+1 < len(lit) && lit[i+1] == '\n':
				b.WriteString(`\n`)
				i++
			case lit[i] == '\\' && i+1 < len(lit):
				b.WriteString(lit[i : i+2])
				i++
			default:
				b.WriteByte(lit[i])
			}
		}
		return b.String()
	}
	body := strings.TrimSuffix(lit[1:], "'")
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(body) + `"`
}

// rewriteOutput is the output out ("{{ ... }}") with its expression
// rewritten by rewriteExpr.
func rewriteOutput(out string) string {
	l, r := 2, len(out)-2
	if out[l] == '-' {
		l++
	}
	if r-1 > l && out[r-1] == '-' {
		r--
	}
	if l >= r {
		return out
	}
	return out[:l] + rewriteRanges(rewriteExpr(out[l:r])) + out[r:]
}
