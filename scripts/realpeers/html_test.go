package realpeers

import (
	"io"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Tags and attributes the Matrix spec allows in formatted_body.
var matrixTags = map[string]bool{
	"del": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "blockquote": true,
	"p": true, "a": true, "ul": true, "ol": true, "sup": true, "sub": true, "li": true, "b": true, "i": true,
	"u": true, "strong": true, "em": true, "s": true, "code": true, "hr": true, "br": true, "div": true,
	"table": true, "thead": true, "tbody": true, "tr": true, "th": true, "td": true, "caption": true,
	"pre": true, "span": true, "img": true, "details": true, "summary": true, "mx-reply": true,
}

var matrixAttrs = map[string]bool{
	"data-mx-color": true, "data-mx-bg-color": true, "data-mx-spoiler": true, "href": true, "target": true,
	"src": true, "start": true, "class": true, "alt": true, "title": true, "width": true, "height": true,
}

// checkMatrixHTML fails the test for a tag or attribute Matrix does not
// allow, or a link that is not http(s), mailto, ftp or magnet.
func checkMatrixHTML(t *testing.T, s string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				t.Errorf("formatted_body does not tokenize: %v", z.Err())
			}
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		if !matrixTags[tok.Data] {
			t.Errorf("formatted_body uses <%s>, which Matrix does not allow:\n%s", tok.Data, s)
		}
		for _, a := range tok.Attr {
			if !matrixAttrs[a.Key] {
				t.Errorf("formatted_body: <%s %s=...> is not allowed:\n%s", tok.Data, a.Key, s)
			}
			if a.Key == "href" {
				ok := false
				for _, p := range []string{"http://", "https://", "mailto:", "ftp://", "magnet:"} {
					ok = ok || strings.HasPrefix(a.Val, p)
				}
				if !ok {
					t.Errorf("formatted_body: link %q", a.Val)
				}
			}
		}
	}
}

// htmlText is the text a client shows for formatted_body.
func htmlText(t *testing.T, s string) string {
	t.Helper()
	nodes, err := html.ParseFragment(strings.NewReader(s), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil {
		t.Fatalf("formatted_body does not parse: %v", err)
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		if n.Type == html.ElementNode && n.Data == "br" {
			b.WriteString("\n")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	for _, n := range nodes {
		walk(n)
	}
	return b.String()
}
