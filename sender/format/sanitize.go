package format

import (
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"
	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// MaxDepth is how deeply Sanitize lets elements nest. The Matrix spec asks
// clients to limit the depth they render (100 is its suggestion); deeper
// elements are dropped and their text kept.
const MaxDepth = 100

// The attribute values Matrix clients accept (Matrix spec, m.room.message
// "HTML"), and the colour forms Sanitize turns into one of them.
var (
	colorValue = regexp.MustCompile(`^\s*#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})\s*$`)
	mxcURI     = regexp.MustCompile(`^\s*mxc://[A-Za-z0-9.:\[\]-]+/[A-Za-z0-9_-]+\s*$`)
	langClass  = regexp.MustCompile(`^language-[A-Za-z0-9_+#.-]+$`)
	// codeClass is a class list with a language-* among other classes (as
	// highlighters write: "hljs language-go"); write keeps the language.
	codeClass  = regexp.MustCompile(`^(?:\s*[^\s]+\s+)*?language-[A-Za-z0-9_+#.-]+(?:\s+[^\s]+)*\s*$`)
	linkScheme = regexp.MustCompile(`(?i)^\s*(?:https?|ftp|mailto|magnet):`)
)

// policy is Matrix's allow-list for an org.matrix.custom.html body, as a
// bluemonday policy: the spec's elements and attributes, links only to
// http, https, ftp, mailto and magnet (write checks the rest with
// SafeHref, which keeps the href as written where bluemonday's own URL
// check would re-encode it), images only from mxc:// URIs. It also lets
// through what write converts: <font color> (deprecated in Matrix) and an
// <img>'s alt text. Elements outside the list are dropped and their text
// kept, except those whose content is not text for a reader (scripts,
// styles, embedded documents, form controls), which go whole.
var policy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol",
		"sup", "sub", "li", "b", "i", "u", "strong", "em", "s", "code", "hr", "br", "div", "table",
		"thead", "tbody", "tr", "th", "td", "caption", "pre", "span", "img", "details", "summary")
	p.AllowAttrs("data-mx-color", "data-mx-bg-color").Matching(colorValue).OnElements("span", "font")
	p.AllowAttrs("color").Matching(colorValue).OnElements("font")
	p.AllowAttrs("data-mx-spoiler").OnElements("span")
	p.AllowAttrs("href").Matching(linkScheme).OnElements("a")
	p.AllowAttrs("target").Matching(regexp.MustCompile(`^_blank$`)).OnElements("a")
	p.AllowAttrs("src").Matching(mxcURI).OnElements("img")
	p.AllowAttrs("alt").OnElements("img")
	p.AllowAttrs("start").Matching(regexp.MustCompile(`^-?[0-9]{1,9}$`)).OnElements("ol")
	p.AllowAttrs("class").Matching(codeClass).OnElements("code")

	p.SkipElementsContent(droppedTags...)
	return p
})

// Sanitize returns s cut down to what Matrix allows in formatted_body, for
// the default messages and user templates alike. Nothing is refused:
//
//   - policy (bluemonday) keeps Matrix's elements and attributes: others
//     are dropped and their text kept, except script, style, head, iframe,
//     svg and the like, whose content goes too; comments and doctypes go;
//     a link that is not http(s), ftp, mailto or magnet loses its href;
//     target is kept only as "_blank", ol start only as a number, code
//     class only as language-*;
//   - the result is parsed as a browser reads it (golang.org/x/net/html),
//     so it comes out well-formed: implied end tags written, stray ones
//     dropped, misnested ones resolved as HTML's parser resolves them;
//   - write then converts what Matrix spells otherwise: <font
//     color="#hex"> becomes <span data-mx-color="#hex">, colours become
//     #rrggbb (#rgb expanded, lower case), an <a> without a safe href keeps
//     only its text, an <img> without an mxc:// src becomes its alt text;
//     nesting deeper than MaxDepth becomes text; text and attribute values
//     are escaped, and invalid UTF-8 and NUL become U+FFFD.
func Sanitize(s string) string {
	clean := policy().Sanitize(validHTML(s))
	nodes, err := xhtml.ParseFragment(strings.NewReader(clean),
		&xhtml.Node{Type: xhtml.ElementNode, Data: "body", DataAtom: atom.Body})
	if err != nil { // the parser's own limit: more than 512 open elements
		return escape(s)
	}
	var b strings.Builder
	b.Grow(len(clean))
	for _, n := range nodes {
		write(&b, n, 0, "body")
	}
	// Again on the way out: a character reference (&#1;) decodes to one.
	return validHTML(b.String())
}

// voidTag reports HTML's void elements (no content, no end tag); Matrix
// allows br, hr and img.
func voidTag(name string) bool {
	switch name {
	case "br", "hr", "img", "area", "base", "col", "embed", "input", "link", "meta", "param", "source", "track", "wbr":
		return true
	}
	return false
}

// tablePart reports the elements that cannot hold text: an HTML parser
// moves text found there out of the table.
func tablePart(name string) bool {
	switch name {
	case "table", "thead", "tbody", "tr":
		return true
	}
	return false
}

// write writes n, depth elements deep inside an element named parent.
func write(b *strings.Builder, n *xhtml.Node, depth int, parent string) {
	switch n.Type {
	case xhtml.TextNode:
		b.WriteString(escape(n.Data))
		return
	case xhtml.ElementNode:
	default: // comments and doctypes: policy left none
		return
	}
	name, attrs := element(n)
	switch {
	case name == "":
		writeChildren(b, n, depth, parent)
		return
	case name == "img" && attrs == "":
		if alt, ok := attr(n, "alt"); ok {
			b.WriteString(escape(alt))
		}
		return
	case voidTag(name):
		b.WriteString("<" + name + attrs + ">")
		return
	case depth >= MaxDepth:
		if !tablePart(parent) {
			writeText(b, n)
		}
		return
	}
	b.WriteString("<" + name + attrs + ">")
	if name == "pre" {
		// An HTML parser drops a newline right after <pre>: double it so
		// that it survives being read again.
		var inner strings.Builder
		writeChildren(&inner, n, depth+1, name)
		if strings.HasPrefix(inner.String(), "\n") {
			b.WriteByte('\n')
		}
		b.WriteString(inner.String())
	} else {
		writeChildren(b, n, depth+1, name)
	}
	b.WriteString("</" + name + ">")
}

func writeChildren(b *strings.Builder, n *xhtml.Node, depth int, parent string) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		write(b, c, depth, parent)
	}
}

// writeText writes the text inside n.
func writeText(b *strings.Builder, n *xhtml.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == xhtml.TextNode {
			b.WriteString(escape(c.Data))
		} else {
			writeText(b, c)
		}
	}
}

// attr is the value of n's first attribute key (HTML ignores repeats).
func attr(n *xhtml.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// element is the tag written for an element that policy let through, and
// its attributes (each as ` key="value"`, in one fixed order); name is ""
// to write only its content. An <img> without a src has attrs "".
func element(n *xhtml.Node) (name, attrs string) {
	var b strings.Builder
	href := false
	// policy lets each of these through only on the elements that have it.
	for _, k := range []string{"data-mx-color", "data-mx-bg-color", "data-mx-spoiler", "href", "target", "src", "start", "class"} {
		v, ok := attr(n, k)
		switch k {
		case "data-mx-color", "data-mx-bg-color":
			c, valid := Color(v)
			if !(ok && valid) && k == "data-mx-color" && n.Data == "font" {
				// <font color> is deprecated in Matrix: span data-mx-color replaces it
				v, ok = attr(n, "color")
				c, valid = Color(v)
			}
			v, ok = c, ok && valid
		case "href":
			v, ok = SafeHref(v)
			href = ok
		case "src":
			v = strings.TrimSpace(v)
		case "class": // keep the language of a highlighter's class list
			i := slices.IndexFunc(strings.Fields(v), langClass.MatchString)
			if ok = i >= 0; ok {
				v = strings.Fields(v)[i]
			}
		}
		if ok {
			b.WriteString(" " + k + `="` + escape(v) + `"`)
		}
	}
	switch {
	case n.Data == "font" && b.Len() == 0, n.Data == "a" && !href:
		return "", ""
	case n.Data == "font":
		return "span", b.String()
	}
	return n.Data, b.String()
}

var crlf = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// escape is text or an attribute value as HTML, valid UTF-8 without NUL,
// line ends as \n (what an HTML parser reads a CR as).
func escape(s string) string { return html.EscapeString(crlf.Replace(Valid(s))) }

// Color is c as "#rrggbb" (lower case), the only colour form Matrix
// clients accept in data-mx-color and data-mx-bg-color; "#rgb" is
// expanded. ok is false for anything else (names, rgb(), CSS).
func Color(c string) (string, bool) {
	if !colorValue.MatchString(c) {
		return "", false
	}
	c = strings.ToLower(strings.TrimSpace(c))
	if len(c) == 4 {
		c = "#" + c[1:2] + c[1:2] + c[2:3] + c[2:3] + c[3:4] + c[3:4]
	}
	return c, true
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
