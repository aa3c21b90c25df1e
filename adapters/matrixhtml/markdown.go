package matrixhtml

import (
	"html"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Markdown is src, the subset of Markdown people write in alert templates,
// as Matrix HTML: paragraphs (a single newline is <br>, a blank line starts
// a new paragraph), **bold** and __bold__, *italic* and _italic_ (an
// underscore inside a word is text), `code`, ``` fenced blocks, [text](url)
// links (http, https and mailto only; any other link keeps just its text),
// bare http(s) URLs, # headings, "- "/"* " and "1. " lists, "> " quotes and
// ~~strike~~. Everything else is text, escaped: raw HTML shows as written.
// A backslash before punctuation makes it literal. A document that is one
// paragraph is returned without <p>. The output is well-formed and already
// what Sanitize would make of it.
func Markdown(src string) string {
	src = crlf.Replace(Valid(src))
	blocks := mdBlocks(strings.Split(src, "\n"), 0, false)
	if len(blocks) == 1 && blocks[0].para {
		return blocks[0].inline
	}
	var b strings.Builder
	for _, bl := range blocks {
		b.WriteString(bl.html)
	}
	return b.String()
}

// Nesting limits keep the output well inside MaxDepth: blocks (quotes and
// lists) nest up to mdMaxBlockDepth elements, inline markup mdMaxInline.
const (
	mdMaxBlockDepth = 60
	mdMaxInline     = 20
	mdMaxScan       = 1024 // how far an opener looks for its closer, in bytes
)

// mdBlock is one rendered block; a paragraph keeps its inline HTML too.
type mdBlock struct {
	html, inline string
	para         bool
}

// The block patterns, compiled on first use: most runs never render
// Markdown, and a process runs once per alarm.
var (
	mdHeading = lazyRegexp(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	mdFence   = lazyRegexp("^( {0,3})(`{3,})[ \t]*([^`]*)$")
	mdBullet  = lazyRegexp(`^( {0,3})([-*+])(?:[ \t]+(.*))?$`)
	mdOrdered = lazyRegexp(`^( {0,3})([0-9]{1,9})([.)])(?:[ \t]+(.*))?$`)
	mdQuote   = lazyRegexp(`^ {0,3}>[ \t]?(.*)$`)
)

// lazyRegexp is regexp.MustCompile(expr), run on the first call.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// mdItem is a list item's first line.
type mdItem struct {
	ordered bool
	marker  string // "-", "*", "+", "." or ")"
	num     int
	indent  int // where the item's content starts
	content string
}

func listItem(line string) (mdItem, bool) {
	if m := mdBullet().FindStringSubmatch(line); m != nil {
		return mdItem{marker: m[2], indent: len(m[1]) + 2, content: m[3]}, true
	}
	if m := mdOrdered().FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[2])
		return mdItem{ordered: true, marker: m[3], num: n, indent: len(m[1]) + len(m[2]) + 2, content: m[4]}, true
	}
	return mdItem{}, false
}

// startsBlock reports whether line ends a paragraph by starting another
// block. Lists interrupt a paragraph only with content and, numbered,
// when they start at 1 (as in CommonMark).
func startsBlock(line string, depth int) bool {
	if mdFence().MatchString(line) || mdHeading().MatchString(line) {
		return true
	}
	if depth+2 > mdMaxBlockDepth {
		return false
	}
	if mdQuote().MatchString(line) {
		return true
	}
	if it, ok := listItem(line); ok && !isBlank(it.content) && (!it.ordered || it.num == 1) {
		return true
	}
	return false
}

// indentOf is the width of line's leading white space, a tab as 4.
func indentOf(line string) int {
	n := 0
	for _, r := range line {
		switch r {
		case ' ':
			n++
		case '\t':
			n += 4 - n%4
		default:
			return n
		}
	}
	return n
}

// dedent removes up to n columns of leading white space.
func dedent(line string, n int) string {
	col := 0
	for i, r := range line {
		if col >= n || (r != ' ' && r != '\t') {
			return line[i:]
		}
		if r == '\t' {
			col += 4 - col%4
		} else {
			col++
		}
	}
	return ""
}

// mdBlocks renders lines as blocks; depth counts the block elements open
// around them. tight leaves paragraphs without <p> (list items).
func mdBlocks(lines []string, depth int, tight bool) []mdBlock {
	var out []mdBlock
	add := func(s string) { out = append(out, mdBlock{html: s}) }
	for i := 0; i < len(lines); {
		line := lines[i]
		if isBlank(line) {
			i++
			continue
		}
		// fenced code
		if m := mdFence().FindStringSubmatch(line); m != nil {
			ind, fence := len(m[1]), m[2]
			var code []string
			for i++; i < len(lines); i++ {
				l := strings.TrimRight(lines[i], " \t")
				if t := strings.TrimLeft(l, " "); len(l)-len(t) <= 3 && strings.HasPrefix(t, fence) && strings.Trim(t, "`") == "" {
					i++
					break
				}
				code = append(code, dedent(lines[i], ind))
			}
			class := ""
			if f := strings.Fields(m[3]); len(f) > 0 && isLangName(f[0]) {
				class = ` class="language-` + html.EscapeString(f[0]) + `"`
			}
			add("<pre><code" + class + ">" + html.EscapeString(strings.Join(code, "\n")) + "</code></pre>")
			continue
		}
		// heading
		if m := mdHeading().FindStringSubmatch(line); m != nil {
			h := "h" + strconv.Itoa(len(m[1]))
			add("<" + h + ">" + mdInline(strings.TrimSpace(m[2]), 0, false) + "</" + h + ">")
			i++
			continue
		}
		// quote
		if depth+1 <= mdMaxBlockDepth && mdQuote().MatchString(line) {
			var inner []string
			for ; i < len(lines); i++ {
				m := mdQuote().FindStringSubmatch(lines[i])
				if m == nil {
					break
				}
				inner = append(inner, m[1])
			}
			var b strings.Builder
			for _, bl := range mdBlocks(inner, depth+1, false) {
				b.WriteString(bl.html)
			}
			add("<blockquote>" + b.String() + "</blockquote>")
			continue
		}
		// list
		if first, ok := listItem(line); ok && depth+2 <= mdMaxBlockDepth {
			var b strings.Builder
			for i < len(lines) {
				it, ok := listItem(lines[i])
				if !ok || it.ordered != first.ordered || it.marker != first.marker {
					break
				}
				item := []string{it.content}
				for i++; i < len(lines); i++ {
					l := lines[i]
					if isBlank(l) {
						// a blank line ends the list unless the next line
						// is another of its items
						j := i
						for j < len(lines) && isBlank(lines[j]) {
							j++
						}
						if j < len(lines) {
							if next, ok := listItem(lines[j]); ok && next.ordered == first.ordered && next.marker == first.marker {
								i = j
							}
						}
						break
					}
					if indentOf(l) >= 2 {
						item = append(item, dedent(l, min(indentOf(l), it.indent)))
						continue
					}
					if _, ok := listItem(l); ok || startsBlock(l, depth+2) {
						break
					}
					item = append(item, l) // lazy continuation
				}
				b.WriteString("<li>")
				for _, bl := range mdBlocks(item, depth+2, true) {
					b.WriteString(bl.html)
				}
				b.WriteString("</li>")
			}
			tag := "ul"
			if first.ordered {
				tag = "ol"
				if first.num != 1 {
					tag += ` start="` + strconv.Itoa(first.num) + `"`
				}
			}
			add("<" + tag + ">" + b.String() + "</" + tag[:2] + ">")
			continue
		}
		// paragraph
		para := []string{strings.TrimSpace(line)}
		for i++; i < len(lines) && !isBlank(lines[i]) && !startsBlock(lines[i], depth); i++ {
			para = append(para, strings.TrimSpace(lines[i]))
		}
		in := mdInline(strings.Join(para, "\n"), 0, false)
		if tight {
			if len(out) > 0 && out[len(out)-1].para {
				in = "<br>" + in
			}
			out = append(out, mdBlock{html: in, inline: in, para: true})
		} else {
			out = append(out, mdBlock{html: "<p>" + in + "</p>", inline: in, para: true})
		}
	}
	return out
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func runeBefore(s string, i int) rune {
	if i <= 0 {
		return ' '
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return r
}

func runeAt(s string, i int) rune {
	if i >= len(s) {
		return ' '
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return r
}

// runLen is the length of the run of byte c at s[i:].
func runLen(s string, i int, c byte) int {
	n := 0
	for i+n < len(s) && s[i+n] == c {
		n++
	}
	return n
}

// closer finds the closing delimiter for an opener of n bytes of c that
// ends at from: a run of c (of at least n, and for n == 1 not exactly 2)
// not preceded by white space, whose last n bytes close. It returns where
// they start, or -1.
func closer(s string, from int, c byte, n int) int {
	end := min(len(s), from+mdMaxScan)
	var unclosed map[int]bool // backtick runs with no closing run before end
	for j := from; j < end; {
		if s[j] == '\\' {
			j += 2
			continue
		}
		if s[j] == '`' { // code spans hide delimiters
			k := runLen(s, j, '`')
			if !unclosed[k] {
				if e := codeEnd(s, j+k, k, end); e >= 0 {
					j = e + k
					continue
				}
				if unclosed == nil {
					unclosed = map[int]bool{}
				}
				unclosed[k] = true
			}
			j += k
			continue
		}
		if s[j] != c {
			j++
			continue
		}
		k := runLen(s, j, c)
		ok := k >= n && !(n == 1 && k == 2) && j > from && !unicode.IsSpace(runeBefore(s, j))
		if ok && c == '_' && isWordRune(runeAt(s, j+k)) {
			ok = false
		}
		if ok {
			return j + k - n
		}
		j += k
	}
	return -1
}

// mdInline renders a paragraph's text; depth counts the inline elements
// open around it, noLinks is set inside a link's text.
func mdInline(s string, depth int, noLinks bool) string {
	var b, text strings.Builder
	flush := func() {
		b.WriteString(html.EscapeString(text.String()))
		text.Reset()
	}
	wrap := func(tag, inner string) {
		flush()
		b.WriteString("<" + tag + ">" + inner + "</" + tag + ">")
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && strings.IndexByte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", s[i+1]) >= 0:
			text.WriteByte(s[i+1])
			i += 2
			continue

		case c == '\n':
			flush()
			b.WriteString("<br>")
			i++
			continue

		case c == '`':
			k := runLen(s, i, '`')
			if end := codeEnd(s, i+k, k, i+k+mdMaxScan); end >= 0 {
				code := strings.ReplaceAll(s[i+k:end], "\n", " ")
				if len(code) > 2 && code[0] == ' ' && code[len(code)-1] == ' ' && strings.TrimSpace(code) != "" {
					code = code[1 : len(code)-1]
				}
				flush()
				b.WriteString("<code>" + html.EscapeString(code) + "</code>")
				i = end + k
				continue
			}
			text.WriteString(s[i : i+k])
			i += k
			continue

		case (c == '*' || c == '_' || c == '~') && depth < mdMaxInline:
			k := runLen(s, i, c)
			if c == '_' && isWordRune(runeBefore(s, i)) {
				text.WriteString(s[i : i+k])
				i += k
				continue
			}
			var tries []int // opener widths, strongest first
			switch {
			case c == '~' && k >= 2:
				tries = []int{2}
			case c != '~' && k >= 2:
				tries = []int{2, 1}
			case c != '~':
				tries = []int{1}
			}
			done := false
			for _, n := range tries {
				from := i + n
				if unicode.IsSpace(runeAt(s, from)) || from >= len(s) {
					continue
				}
				j := closer(s, from, c, n)
				if j < 0 {
					continue
				}
				tag := map[int]string{1: "em", 2: "strong"}[n]
				if c == '~' {
					tag = "del"
				}
				wrap(tag, mdInline(s[from:j], depth+1, noLinks))
				i, done = j+n, true
				break
			}
			if !done {
				text.WriteByte(c)
				i++
			}
			continue

		case c == '[' && !noLinks && depth < mdMaxInline:
			if label, href, end, ok := mdLink(s, i); ok {
				inner := mdInline(label, depth+1, true)
				if u, safe := mdHref(href); safe {
					flush()
					b.WriteString(`<a href="` + html.EscapeString(u) + `">` + inner + "</a>")
				} else {
					flush()
					b.WriteString(inner)
				}
				i = end
				continue
			}

		case (c == 'h' || c == 'H') && !noLinks && !isWordRune(runeBefore(s, i)):
			if u := mdAutolink(s[i:]); u != "" {
				flush()
				e := html.EscapeString(u)
				b.WriteString(`<a href="` + e + `">` + e + "</a>")
				i += len(u)
				continue
			}
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		text.WriteString(s[i : i+w])
		i += w
	}
	flush()
	return b.String()
}

// mdLink reads "[label](href)" at s[i:], returning where it ends.
func mdLink(s string, i int) (label, href string, end int, ok bool) {
	depth := 0
	limit := min(len(s), i+mdMaxScan)
	j := i
	for ; j < limit; j++ {
		switch s[j] {
		case '\\':
			j++
			continue
		case '[':
			depth++
		case ']':
			depth--
		}
		if depth == 0 {
			break
		}
	}
	if depth != 0 || j+1 >= len(s) || s[j+1] != '(' {
		return "", "", 0, false
	}
	label = s[i+1 : j]
	k, parens := j+2, 1
	for ; k < limit && k < len(s); k++ {
		switch s[k] {
		case '\n':
			return "", "", 0, false
		case '(':
			parens++
		case ')':
			parens--
		}
		if parens == 0 {
			break
		}
	}
	if parens != 0 || k >= len(s) {
		return "", "", 0, false
	}
	href = strings.TrimSpace(s[j+2 : k])
	if strings.HasPrefix(href, "<") {
		if e := strings.IndexByte(href, '>'); e > 0 {
			href = href[1:e]
		}
	} else if f := strings.Fields(href); len(f) > 0 {
		href = f[0] // drop a "title"
	}
	return label, href, k + 1, true
}

// mdHref is href if it is an http(s) or mailto link.
func mdHref(href string) (string, bool) {
	u, ok := SafeHref(href)
	if !ok {
		return "", false
	}
	if IsHTTPURL(u) || strings.HasPrefix(strings.ToLower(u), "mailto:") {
		return u, true
	}
	return "", false
}

// mdAutolink is the http(s) URL at the start of s, without trailing
// punctuation, or "".
func mdAutolink(s string) string {
	l := strings.ToLower(s[:min(len(s), 8)])
	if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
		return ""
	}
	end := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '<' || r == '>' || r == '`' })
	if end < 0 {
		end = len(s)
	}
	u := s[:end]
	for len(u) > 0 {
		last := u[len(u)-1]
		if strings.IndexByte(".,;:!?'\"*_~", last) >= 0 {
			u = u[:len(u)-1]
			continue
		}
		if last == ')' && strings.Count(u, "(") < strings.Count(u, ")") {
			u = u[:len(u)-1]
			continue
		}
		break
	}
	if !IsHTTPURL(u) {
		return ""
	}
	if _, ok := SafeHref(u); !ok {
		return ""
	}
	return u
}

// codeEnd is where the run of exactly k backticks that closes a code span
// opened before from starts, looking no further than end, or -1.
func codeEnd(s string, from, k, end int) int {
	end = min(end, len(s))
	for j := from; j < end; {
		if s[j] != '`' {
			j++
			continue
		}
		r := runLen(s, j, '`')
		if r == k {
			return j
		}
		j += r
	}
	return -1
}
