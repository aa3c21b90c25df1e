package format

import (
	"bytes"
	"html"
	"reflect"
	"strings"
	"sync"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	ghtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Markdown is src, Markdown as people write it in alert templates, as
// Matrix HTML: CommonMark (goldmark) with GitHub's strikethrough, tables
// and bare links, and a single newline as a line break, as in a chat.
// Raw HTML is text: it shows as written. Links keep their href only when
// it is http, https or mailto; any other keeps just its text. A document
// that is one paragraph is returned without <p>. The output has been
// through Sanitize.
func Markdown(src string) string {
	source := []byte(Valid(src))
	md := markdown()
	doc := md.Parser().Parse(text.NewReader(source))
	var b bytes.Buffer
	if p := doc.FirstChild(); p != nil && p.NextSibling() == nil && p.Kind() == ast.KindParagraph {
		for c := p.FirstChild(); c != nil; c = c.NextSibling() {
			_ = md.Renderer().Render(&b, source, c) // a bytes.Buffer does not fail
		}
	} else {
		_ = md.Renderer().Render(&b, source, doc)
	}
	return strings.TrimSuffix(Sanitize(b.String()), "\n")
}

// markdown is the goldmark converter Markdown uses, built on first use.
var markdown = sync.OnceValue(func() goldmark.Markdown {
	return goldmark.New(
		goldmark.WithParser(parser.NewParser(
			parser.WithBlockParsers(without(parser.DefaultBlockParsers(), parser.NewHTMLBlockParser())...),
			parser.WithInlineParsers(without(parser.DefaultInlineParsers(), parser.NewRawHTMLParser())...),
			parser.WithParagraphTransformers(parser.DefaultParagraphTransformers()...),
		)),
		goldmark.WithExtensions(extension.Strikethrough, extension.Table, extension.Linkify),
		goldmark.WithRendererOptions(
			ghtml.WithHardWraps(),
			renderer.WithNodeRenderers(util.Prioritized(matrixLinks{}, 100)), // before goldmark's (1000)
		),
	)
})

// without is parsers less the one of drop's type: leaving out goldmark's
// HTML parsers makes raw HTML plain text, escaped when rendered.
func without(parsers []util.PrioritizedValue, drop any) []util.PrioritizedValue {
	var out []util.PrioritizedValue
	for _, p := range parsers {
		if reflect.TypeOf(p.Value) != reflect.TypeOf(drop) {
			out = append(out, p)
		}
	}
	return out
}

// matrixLinks renders links and autolinks whose target Matrix clients open
// safely as <a>, and any other as its text alone (goldmark's own renderer
// would keep the <a> with an empty href).
type matrixLinks struct{}

func (matrixLinks) RegisterFuncs(r renderer.NodeRendererFuncRegisterer) {
	r.Register(ast.KindLink, renderLink)
	r.Register(ast.KindAutoLink, renderAutoLink)
}

func renderLink(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if href, ok := mdHref(string(node.(*ast.Link).Destination)); ok {
		if entering {
			_, _ = w.WriteString(`<a href="` + html.EscapeString(href) + `">`)
		} else {
			_, _ = w.WriteString("</a>")
		}
	}
	return ast.WalkContinue, nil
}

func renderAutoLink(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.AutoLink)
	url, label := string(n.URL(source)), html.EscapeString(string(n.Label(source)))
	if n.AutoLinkType == ast.AutoLinkEmail && !strings.HasPrefix(strings.ToLower(url), "mailto:") {
		url = "mailto:" + url
	}
	if href, ok := mdHref(url); ok {
		_, _ = w.WriteString(`<a href="` + html.EscapeString(href) + `">` + label + "</a>")
	} else {
		_, _ = w.WriteString(label)
	}
	return ast.WalkContinue, nil
}

// mdHref is href, trimmed, if it is an http(s) or mailto link.
func mdHref(href string) (string, bool) {
	u, ok := SafeHref(href)
	return u, ok && (IsHTTPURL(u) || strings.HasPrefix(strings.ToLower(u), "mailto:"))
}
