package format

import (
	"slices"
	"strconv"
	"strings"

	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// blockTag reports the elements that start and end a line in PlainText.
func blockTag(name string) bool {
	switch name {
	case "p", "div", "li", "tr", "h1", "h2", "h3",
		"h4", "h5", "h6", "blockquote", "ul", "ol",
		"table", "thead", "tbody", "tfoot", "caption", "pre",
		"details", "summary", "section", "article", "header",
		"footer", "dl", "dt", "dd", "figure", "address",
		"hr":
		return true
	}
	return false
}

// plainWriter collapses white space into single spaces, except inside
// <pre>, and knows whether it is at the start of a line.
type plainWriter struct {
	b         strings.Builder
	lists     []list // the open <ul> and <ol>, innermost last
	lineStart bool
	space     bool // white space seen since the last text
	newlines  int  // newlines at the end of b
}

func (w *plainWriter) text(s string, pre bool) {
	for _, r := range s {
		if pre {
			w.b.WriteRune(r)
			if r == '\n' {
				w.lineStart, w.newlines = true, w.newlines+1
			} else {
				w.lineStart, w.newlines = false, 0
			}
			continue
		}
		switch r {
		case ' ', '\t', '\n', '\r', '\f':
			w.space = true
			continue
		}
		if w.space && !w.lineStart {
			w.b.WriteByte(' ')
		}
		w.space = false
		w.b.WriteRune(r)
		w.lineStart, w.newlines = false, 0
	}
}

// newline ends the line; at most one blank line in a row.
func (w *plainWriter) newline() {
	w.space = false
	if w.newlines >= 2 || w.b.Len() == 0 {
		w.lineStart = true
		return
	}
	w.b.WriteByte('\n')
	w.lineStart, w.newlines = true, w.newlines+1
}

// softNewline ends the line unless it is empty.
func (w *plainWriter) softNewline() {
	if !w.lineStart {
		w.newline()
	}
}

// list is an open <ul> or <ol> and its next item number.
type list struct {
	ordered bool
	n       int
}

// PlainText is the plain-text body for an HTML message, for when a user
// gives only an HTML template: the text content with entities decoded and
// white space collapsed (kept inside <pre>); <br> is a newline; <p>,
// <div>, headings, <li>, <tr> and other blocks are lines of their own (at
// most one blank line in a row); list items start "- " (or "N. " in an
// <ol>); table cells are separated by " | "; <hr> is a line "---"; a link is
// "text (url)" when its text is not the URL itself (only for links
// Sanitize keeps); an image is its alt text; script, style and the like
// are dropped. Invalid UTF-8 and NUL become U+FFFD. s is read as a browser
// reads it (golang.org/x/net/html), so implied and misnested tags end where
// a browser ends them.
func PlainText(s string) string {
	nodes, err := xhtml.ParseFragment(strings.NewReader(Valid(s)),
		&xhtml.Node{Type: xhtml.ElementNode, Data: "body", DataAtom: atom.Body})
	if err != nil { // the parser's own limit: more than 512 open elements (Sanitize's output nests MaxDepth at most)
		return ""
	}
	w := plainWriter{lineStart: true}
	for _, n := range nodes {
		w.node(n, false)
	}
	return strings.Trim(w.b.String(), "\n")
}

// node writes n, inside a <pre> if pre.
func (w *plainWriter) node(n *xhtml.Node, pre bool) {
	if n.Type == xhtml.TextNode {
		w.text(Valid(n.Data), pre)
		return
	}
	if n.Type != xhtml.ElementNode || droppedTag(n.Data) {
		return
	}
	switch n.Data {
	case "br":
		w.newline()
		return
	case "hr":
		w.softNewline()
		w.text("---", false)
		w.newline()
		return
	case "img":
		if alt, ok := attr(n, "alt"); ok {
			w.text(Valid(alt), pre)
		}
		return
	case "pre":
		pre = true
	case "ul", "ol":
		l := list{ordered: n.Data == "ol", n: 1}
		if v, ok := attr(n, "start"); ok {
			if start, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				l.n = start
			}
		}
		w.lists = append(w.lists, l)
		defer func() { w.lists = w.lists[:len(w.lists)-1] }()
	case "td", "th":
		for c := n.PrevSibling; c != nil; c = c.PrevSibling {
			if c.Type == xhtml.ElementNode && (c.Data == "td" || c.Data == "th") {
				w.text(" | ", false)
				w.space = true
				break
			}
		}
	case "a":
		v, _ := attr(n, "href")
		if href, ok := SafeHref(v); ok {
			defer w.link(w.b.Len(), href)
		}
	}
	block := blockTag(n.Data)
	if block {
		w.softNewline()
	}
	if n.Data == "li" {
		prefix := "- "
		if i := len(w.lists) - 1; i >= 0 && w.lists[i].ordered {
			prefix = strconv.Itoa(w.lists[i].n) + ". "
			w.lists[i].n++
		}
		w.text(prefix, false)
		w.space = true
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.node(c, pre)
	}
	if block {
		w.softNewline()
	}
}

// link ends a link whose text starts at start: its href follows in
// parentheses unless the text is the href itself, or stands for an empty
// text.
func (w *plainWriter) link(start int, href string) {
	// White space is collapsed, so a text much longer than the href is
	// neither empty nor the href (and long nested links cost no more than
	// their length).
	text := w.b.String()[min(start, w.b.Len()):]
	if len(text) <= len(href)+8 {
		text = strings.TrimSpace(text)
	}
	switch {
	case text == "":
		w.text(href, false)
	case !sameLink(text, href):
		w.text(" ("+href+")", false)
	}
}

// sameLink reports whether a link's text is its URL (so "text (url)" would
// repeat it): equal, or equal without the mailto: scheme or a trailing
// slash.
func sameLink(text, href string) bool {
	norm := func(s string) string {
		s = strings.TrimPrefix(s, "mailto:")
		return strings.TrimSuffix(s, "/")
	}
	return text == href || norm(text) == norm(href)
}

// droppedTags are the elements whose content is not text for a reader
// (code, styling, metadata, embedded documents, form controls): Sanitize's
// policy and PlainText drop them whole.
var droppedTags = []string{"script", "style", "title", "head", "template", "iframe", "frameset",
	"frame", "noframes", "noembed", "noscript", "object", "applet", "svg", "math", "textarea",
	"select", "xmp", "plaintext", "canvas", "audio", "video"}

func droppedTag(name string) bool { return slices.Contains(droppedTags, name) }
