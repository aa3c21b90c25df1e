package format

import (
	"slices"
	"strconv"
	"strings"

	xhtml "golang.org/x/net/html"
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

// openLink is an open <a>: where its text starts in the output, and its
// href if Sanitize would keep it.
type openLink struct {
	start int
	href  string
}

// PlainText is the plain-text body for an HTML message, for when a user
// gives only an HTML template: the text content with entities decoded and
// white space collapsed (kept inside <pre>); <br> is a newline; <p>,
// <div>, headings, <li>, <tr> and other blocks are lines of their own (at
// most one blank line in a row); list items start "- " (or "N. " in an
// <ol>); table cells are separated by " | "; <hr> is a line "---"; a link is
// "text (url)" when its text is not the URL itself (only for links
// Sanitize keeps); an image is its alt text; script, style and the like
// are dropped. Invalid UTF-8 and NUL become U+FFFD.
func PlainText(s string) string {
	var w plainWriter
	w.lineStart = true
	var (
		lists     []list
		links     []openLink
		pre       int
		cellCount []int // cells so far in each open <tr>
		dropped   droppedContent
	)
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
			w.text(Valid(tok.Data), pre > 0)
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			selfClosing := tt == xhtml.SelfClosingTagToken
			switch name {
			case "br":
				w.newline()
				continue
			case "hr":
				w.softNewline()
				w.text("---", false)
				w.newline()
				continue
			case "img":
				for _, a := range tok.Attr {
					if a.Key == "alt" {
						w.text(Valid(a.Val), pre > 0)
					}
				}
				continue
			case "ul", "ol":
				if !selfClosing {
					l := list{ordered: name == "ol", n: 1}
					for _, a := range tok.Attr {
						if n, err := strconv.Atoi(strings.TrimSpace(a.Val)); a.Key == "start" && err == nil {
							l.n = n
						}
					}
					lists = append(lists, l)
				}
			case "pre":
				if !selfClosing {
					pre++
				}
			case "a":
				if !selfClosing {
					href := ""
					for _, a := range tok.Attr {
						if a.Key == "href" {
							href, _ = SafeHref(a.Val)
						}
					}
					links = append(links, openLink{w.b.Len(), href})
				}
			case "tr":
				if !selfClosing {
					cellCount = append(cellCount, 0)
				}
			case "td", "th":
				if n := len(cellCount); n > 0 {
					if cellCount[n-1] > 0 {
						w.text(" | ", false)
						w.space = true
					}
					cellCount[n-1]++
				}
			}
			if blockTag(name) {
				w.softNewline()
			}
			if name == "li" {
				prefix := "- "
				if n := len(lists); n > 0 && lists[n-1].ordered {
					prefix = strconv.Itoa(lists[n-1].n) + ". "
					lists[n-1].n++
				}
				w.text(prefix, false)
				w.space = true
			}
		case xhtml.EndTagToken:
			switch name {
			case "br":
				w.newline()
				continue
			case "ul", "ol":
				if n := len(lists); n > 0 {
					lists = lists[:n-1]
				}
			case "pre":
				if pre > 0 {
					pre--
				}
			case "tr":
				if n := len(cellCount); n > 0 {
					cellCount = cellCount[:n-1]
				}
			case "a":
				if n := len(links); n > 0 {
					l := links[n-1]
					links = links[:n-1]
					if l.href != "" {
						// white space is collapsed, so a text much longer
						// than the href is neither empty nor the href (and
						// long nested links cost no more than their length)
						text := w.b.String()[min(l.start, w.b.Len()):]
						if len(text) <= len(l.href)+8 {
							text = strings.TrimSpace(text)
						}
						switch {
						case text == "":
							w.text(l.href, false)
						case !sameLink(text, l.href):
							w.text(" ("+l.href+")", false)
						}
					}
				}
			}
			if blockTag(name) {
				w.softNewline()
			}
		}
	}
	return strings.Trim(w.b.String(), "\n")
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

// droppedContent skips what is inside an element dropped with its content,
// counting nested tags of the same name.
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
