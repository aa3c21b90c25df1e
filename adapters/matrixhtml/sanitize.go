package matrixhtml

import (
	"html"
	"net/url"
	"slices"
	"strconv"
	"strings"

	xhtml "golang.org/x/net/html"
)

// MaxDepth is how deeply Sanitize lets elements nest. The Matrix spec asks
// clients to limit the depth they render (100 is its suggestion); deeper
// tags are dropped and their text kept.
const MaxDepth = 100

// AllowedTag reports whether Matrix allows the element name (lower case):
// the elements Matrix clients render in an org.matrix.custom.html body
// (Matrix spec, m.room.message "HTML").
func AllowedTag(name string) bool {
	switch name {
	case "del", "h1", "h2", "h3", "h4", "h5", "h6",
		"blockquote", "p", "a", "ul", "ol", "sup", "sub",
		"li", "b", "i", "u", "strong", "em", "s",
		"code", "hr", "br", "div", "table", "thead",
		"tbody", "tr", "th", "td", "caption", "pre",
		"span", "img", "details", "summary":
		return true
	}
	return false
}

// voidTag reports the allowed elements that have no content and no end tag.
func voidTag(name string) bool { return name == "br" || name == "hr" || name == "img" }

// droppedTag reports the elements that lose their content too: code,
// styling, metadata, embedded documents and form controls, none of which
// is text for a reader.
func droppedTag(name string) bool {
	switch name {
	case "script", "style", "title", "head", "template",
		"iframe", "frameset", "frame", "noframes", "noembed",
		"noscript", "object", "applet", "svg", "math",
		"textarea", "select", "xmp", "plaintext", "canvas",
		"audio", "video":
		return true
	}
	return false
}

// AllowedAttr reports whether Matrix allows the attribute on the element
// (see element for values).
func AllowedAttr(tag, attr string) bool {
	switch tag {
	case "span":
		return attr == "data-mx-color" || attr == "data-mx-bg-color" || attr == "data-mx-spoiler"
	case "a":
		return attr == "href" || attr == "target"
	case "img":
		return attr == "src"
	case "ol":
		return attr == "start"
	case "code":
		return attr == "class"
	}
	return false
}

// all reports whether s is not empty and every byte of it is in set.
func all(s string, set func(byte) bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !set(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isHexColor reports whether c is "#" and n hex digits (^#[0-9a-fA-F]{n}$).
func isHexColor(c string, n int) bool {
	return len(c) == n+1 && c[0] == '#' && all(c[1:], isHex)
}

// isLangName reports whether s is a code block's language,
// ^[A-Za-z0-9_+#.-]+$.
func isLangName(s string) bool {
	return all(s, func(c byte) bool {
		return isAlnum(c) || c == '_' || c == '+' || c == '#' || c == '.' || c == '-'
	})
}

// isLangClass reports whether c is a code element's class,
// ^language-[A-Za-z0-9_+#.-]+$.
func isLangClass(c string) bool {
	name, ok := strings.CutPrefix(c, "language-")
	return ok && isLangName(name)
}

// isMxcURI reports whether s is a Matrix content URI,
// ^mxc://[A-Za-z0-9.:\[\]-]+/[A-Za-z0-9_-]+$.
func isMxcURI(s string) bool {
	rest, ok := strings.CutPrefix(s, "mxc://")
	if !ok {
		return false
	}
	server, media, ok := strings.Cut(rest, "/")
	return ok &&
		all(server, func(c byte) bool {
			return isAlnum(c) || c == '.' || c == ':' || c == '[' || c == ']' || c == '-'
		}) &&
		all(media, func(c byte) bool { return isAlnum(c) || c == '_' || c == '-' })
}

// Color is c as "#rrggbb" (lower case), the only colour form Matrix
// clients accept in data-mx-color and data-mx-bg-color; "#rgb" is
// expanded. ok is false for anything else (names, rgb(), CSS).
func Color(c string) (string, bool) {
	c = strings.TrimSpace(c)
	switch {
	case isHexColor(c, 6):
		return strings.ToLower(c), true
	case isHexColor(c, 3):
		c = strings.ToLower(c)
		return "#" + c[1:2] + c[1:2] + c[2:3] + c[2:3] + c[3:4] + c[3:4], true
	}
	return "", false
}

// SafeHref reports whether href is a link Matrix clients allow: an absolute
// http, https or ftp URL with a host, or a mailto or magnet URI. It
// returns the href with surrounding white space trimmed.
func SafeHref(href string) (string, bool) {
	href = strings.TrimSpace(href)
	u, err := url.Parse(href)
	if err != nil || href == "" {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ftp":
		if u.Host == "" {
			return "", false
		}
	case "mailto", "magnet":
		if u.Opaque == "" && u.RawQuery == "" {
			return "", false
		}
	default:
		return "", false
	}
	return href, true
}

// open is an element Sanitize has open: in is the input's tag name, out
// the element written ("" when the tag was dropped but its end tag must
// still match it, as for <a> without a safe href or <font> without a
// valid colour).
type open struct{ in, out string }

// Sanitize returns s cut down to what Matrix allows in formatted_body, for
// the default messages and user templates alike. Nothing is refused:
//
//   - elements outside the allow-list are dropped and their text kept,
//     except script, style, head, iframe, svg and the like, whose content
//     goes too; comments and doctypes are dropped;
//   - attributes outside the allow-list are removed; an <a> whose href is
//     not http(s), ftp, mailto or magnet loses the link and keeps its text;
//     target is kept only as "_blank"; an <img> whose src is not an mxc://
//     URI becomes its alt text; ol start must be a number; code class must
//     be language-*; data-mx-color and data-mx-bg-color must be #rrggbb
//     (#rgb is expanded); <font color="#hex"> becomes
//     <span data-mx-color="#hex">;
//   - the output is well-formed: every element is closed in order, stray
//     end tags are dropped, nesting stops at MaxDepth, text and attribute
//     values are escaped, and invalid UTF-8 and NUL become U+FFFD.
func Sanitize(s string) string {
	var out strings.Builder
	out.Grow(len(s))
	var stack []open
	depth := 0 // elements written and still open
	var dropped droppedContent

	z := xhtml.NewTokenizer(strings.NewReader(Valid(s)))
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			break
		}
		tok := z.Token()
		name := tok.Data
		if dropped.skip(tt, name) {
			continue
		}
		switch tt {
		case xhtml.TextToken:
			out.WriteString(escape(tok.Data))

		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			outName, attrs, ok := element(name, tok.Attr)
			if !ok {
				if name == "img" {
					for _, a := range tok.Attr {
						if a.Key == "alt" {
							out.WriteString(escape(a.Val))
						}
					}
				}
				// keep <a>/<font> on the stack so their end tag matches
				if (name == "a" || name == "font") && tt == xhtml.StartTagToken && len(stack) < 2*MaxDepth {
					stack = append(stack, open{in: name})
				}
				continue
			}
			// implied end tags, as an HTML parser reads them: <li>one<li>two
			// is two items, <p>a<div> closes the paragraph
			if i := impliedEnd(stack, outName); i >= 0 {
				depth -= closeFrom(&out, stack, i)
				stack = stack[:i]
			}
			if depth >= MaxDepth && !voidTag(outName) {
				continue
			}
			out.WriteString("<" + outName + attrs + ">")
			switch {
			case voidTag(outName):
			case tt == xhtml.SelfClosingTagToken:
				out.WriteString("</" + outName + ">")
			default:
				stack = append(stack, open{in: name, out: outName})
				depth++
			}

		case xhtml.EndTagToken:
			if name == "br" { // </br> is <br> in HTML
				out.WriteString("<br>")
				continue
			}
			for i := len(stack) - 1; i >= 0; i-- {
				if stack[i].in != name {
					continue
				}
				depth -= closeFrom(&out, stack, i)
				stack = stack[:i]
				break
			}
		}
	}
	closeFrom(&out, stack, 0)
	return out.String()
}

// closeFrom writes the end tags of stack[i:], innermost first, and returns
// how many it wrote.
func closeFrom(out *strings.Builder, stack []open, i int) int {
	n := 0
	for j := len(stack) - 1; j >= i; j-- {
		if stack[j].out != "" {
			out.WriteString("</" + stack[j].out + ">")
			n++
		}
	}
	return n
}

// closesP reports the elements whose start closes an open <p>.
func closesP(tag string) bool {
	switch tag {
	case "p", "div", "ul", "ol", "table", "blockquote",
		"pre", "hr", "details", "summary",
		"h1", "h2", "h3", "h4", "h5", "h6":
		return true
	}
	return false
}

// impliedEnd is the index in stack of the element that the start of tag
// closes (with everything inside it), as HTML's parser does for <li>,
// <td>/<th>, <tr> and <p>; -1 if none.
func impliedEnd(stack []open, tag string) int {
	var closes, stops []string
	switch {
	case tag == "li":
		closes, stops = []string{"li"}, []string{"ul", "ol", "table", "td", "th"}
	case tag == "td" || tag == "th":
		closes, stops = []string{"td", "th"}, []string{"tr", "table"}
	case tag == "tr":
		closes, stops = []string{"tr"}, []string{"table", "thead", "tbody"}
	case closesP(tag):
		closes, stops = []string{"p"}, []string{"table", "td", "th", "caption"}
	default:
		return -1
	}
	for i := len(stack) - 1; i >= 0; i-- {
		name := stack[i].out
		switch {
		case slices.Contains(closes, name):
			return i
		case slices.Contains(stops, name):
			return -1
		}
	}
	return -1
}

var crlf = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// escape is text or an attribute value as HTML, valid UTF-8 without NUL,
// line ends as \n (what an HTML parser reads a CR as).
func escape(s string) string { return html.EscapeString(crlf.Replace(Valid(s))) }

// element is the tag written for an input tag (name and filtered
// attributes, each as ` key="value"`), or ok false to drop it.
func element(name string, attrs []xhtml.Attribute) (out, attr string, ok bool) {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(" " + k + `="` + escape(v) + `"`) }
	seen := map[string]bool{}
	get := func(k string) (string, bool) {
		for _, a := range attrs {
			if a.Namespace == "" && a.Key == k {
				return a.Val, true
			}
		}
		return "", false
	}
	switch name {
	case "font":
		// <font color> is deprecated in Matrix; span data-mx-color is its
		// replacement.
		for _, k := range []string{"data-mx-color", "data-mx-bg-color"} {
			if v, ok := get(k); ok {
				if c, ok := Color(v); ok {
					add(k, c)
					seen[k] = true
				}
			}
		}
		if v, ok := get("color"); ok && !seen["data-mx-color"] {
			if c, ok := Color(v); ok {
				add("data-mx-color", c)
				seen["data-mx-color"] = true
			}
		}
		if len(seen) == 0 {
			return "", "", false
		}
		return "span", b.String(), true
	case "a":
		v, ok := get("href")
		href, safe := SafeHref(v)
		if !ok || !safe {
			return "", "", false
		}
		add("href", href)
		if t, ok := get("target"); ok && t == "_blank" {
			add("target", t)
		}
		return name, b.String(), true
	case "img":
		v, _ := get("src")
		if !isMxcURI(strings.TrimSpace(v)) {
			return "", "", false
		}
		add("src", strings.TrimSpace(v))
		return name, b.String(), true
	}
	if !AllowedTag(name) {
		return "", "", false
	}
	for _, a := range attrs {
		if a.Namespace != "" || !AllowedAttr(name, a.Key) || seen[a.Key] {
			continue
		}
		switch a.Key {
		case "data-mx-color", "data-mx-bg-color":
			c, ok := Color(a.Val)
			if !ok {
				continue
			}
			add(a.Key, c)
		case "data-mx-spoiler":
			add(a.Key, a.Val)
		case "start":
			n, err := strconv.Atoi(strings.TrimSpace(a.Val))
			if err != nil || n < -1e9 || n > 1e9 {
				continue
			}
			add(a.Key, strconv.Itoa(n))
		case "class":
			lang := ""
			for _, c := range strings.Fields(a.Val) {
				if isLangClass(c) {
					lang = c
					break
				}
			}
			if lang == "" {
				continue
			}
			add(a.Key, lang)
		default:
			continue
		}
		seen[a.Key] = true
	}
	return name, b.String(), true
}

// droppedContent skips what is inside an element dropped with its content
// (script, style, ...), counting nested tags of the same name.
type droppedContent struct {
	name  string
	depth int
}

// skip reports whether the token is, or is inside, such an element.
func (d *droppedContent) skip(tt xhtml.TokenType, name string) bool {
	if d.name != "" {
		switch {
		case tt == xhtml.StartTagToken && name == d.name:
			d.depth++
		case tt == xhtml.EndTagToken && name == d.name:
			if d.depth--; d.depth == 0 {
				d.name = ""
			}
		}
		return true
	}
	if droppedTag(name) && (tt == xhtml.StartTagToken || tt == xhtml.SelfClosingTagToken) {
		if tt == xhtml.StartTagToken {
			d.name, d.depth = name, 1
		}
		return true
	}
	return false
}
