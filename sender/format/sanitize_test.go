package format

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	xhtml "golang.org/x/net/html"
)

// -update rewrites the golden files under testdata/.
var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// What Matrix allows (Matrix spec, m.room.message "HTML"), written out
// here again as an independent check of Sanitize's output.
var (
	matrixTags = strings.Fields(`del h1 h2 h3 h4 h5 h6 blockquote p a ul ol sup sub li b i u strong em s
		code hr br div table thead tbody tr th td caption pre span img details summary`)
	matrixAttrs = map[string][]string{
		"span": {"data-mx-color", "data-mx-bg-color", "data-mx-spoiler"},
		"a":    {"href", "target"},
		"img":  {"src"},
		"ol":   {"start"},
		"code": {"class"},
	}
	hexColor6     = regexp.MustCompile(`^#[0-9a-f]{6}$`)
	mxcPattern    = regexp.MustCompile(`^mxc://[A-Za-z0-9.:\[\]-]+/[A-Za-z0-9_-]+$`)
	langClassAttr = regexp.MustCompile(`^language-[A-Za-z0-9_+#.-]+$`)
)

// checkMatrixHTML re-parses s and returns what in it Matrix does not allow:
// a tag or attribute outside the allow-list, an attribute value Sanitize
// would not keep, a comment or doctype, an end tag that does not close the
// innermost open element, an element left open, nesting beyond MaxDepth,
// invalid UTF-8 or NUL.
func checkMatrixHTML(s string) error {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return fmt.Errorf("invalid UTF-8 or NUL")
	}
	var stack []string
	z := xhtml.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			break
		}
		raw := string(z.Raw())
		tok := z.Token()
		switch tt {
		case xhtml.TextToken:
			if strings.ContainsAny(raw, "<>") {
				return fmt.Errorf("unescaped markup in text %q", raw)
			}
		case xhtml.StartTagToken:
			if !slices.Contains(matrixTags, tok.Data) {
				return fmt.Errorf("tag %q", tok.Data)
			}
			seen := map[string]bool{}
			for _, a := range tok.Attr {
				if a.Namespace != "" || !slices.Contains(matrixAttrs[tok.Data], a.Key) {
					return fmt.Errorf("attribute %s on %s", a.Key, tok.Data)
				}
				if seen[a.Key] {
					return fmt.Errorf("duplicate attribute %s on %s", a.Key, tok.Data)
				}
				seen[a.Key] = true
				if err := checkAttr(tok.Data, a.Key, a.Val); err != nil {
					return err
				}
			}
			if tok.Data == "img" && !seen["src"] {
				return fmt.Errorf("img without src")
			}
			if tok.Data == "a" && !seen["href"] {
				return fmt.Errorf("a without href")
			}
			if !voidTag(tok.Data) {
				stack = append(stack, tok.Data)
				if len(stack) > MaxDepth {
					return fmt.Errorf("nesting deeper than %d", MaxDepth)
				}
			}
		case xhtml.EndTagToken:
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				return fmt.Errorf("end tag </%s> does not close %v", tok.Data, stack)
			}
			stack = stack[:len(stack)-1]
		default:
			return fmt.Errorf("token %v %q", tt, raw)
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("left open: %v", stack)
	}
	return nil
}

func checkAttr(tag, key, val string) error {
	bad := func() error { return fmt.Errorf("%s %s=%q", tag, key, val) }
	switch key {
	case "data-mx-color", "data-mx-bg-color":
		if !hexColor6.MatchString(val) {
			return bad()
		}
	case "href":
		if h, ok := SafeHref(val); !ok || h != val {
			return bad()
		}
		scheme, _, _ := strings.Cut(strings.ToLower(val), ":")
		switch scheme {
		case "http", "https", "ftp", "mailto", "magnet":
		default:
			return bad()
		}
	case "target":
		if val != "_blank" {
			return bad()
		}
	case "src":
		if !mxcPattern.MatchString(val) {
			return bad()
		}
	case "start":
		if _, err := strconv.Atoi(val); err != nil {
			return bad()
		}
	case "class":
		if !langClassAttr.MatchString(val) {
			return bad()
		}
	}
	return nil
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain text", "plain text"},
		{"a & b < c", "a &amp; b &lt; c"},
		{`<b>bold</b> <i>it</i>`, `<b>bold</b> <i>it</i>`},
		{`<B onclick="x()">b</B>`, `<b>b</b>`},
		{`<script>alert(1)</script>x`, `x`},
		{`<style>p{}</style><p>x</p>`, `<p>x</p>`},
		{`<blink>text</blink>`, `text`},
		{`<font color="#FF0000">red</font>`, `<span data-mx-color="#ff0000">red</span>`},
		{`<font color="#f00">red</font>`, `<span data-mx-color="#ff0000">red</span>`},
		{`<font color="red">red</font>`, `red`},
		{`<font color="red"><b>x</b></font>y`, `<b>x</b>y`},
		{`<span data-mx-color="red" data-mx-bg-color="#000000">x</span>`, `<span data-mx-bg-color="#000000">x</span>`},
		{`<span data-mx-spoiler="why">x</span>`, `<span data-mx-spoiler="why">x</span>`},
		{`<span data-mx-spoiler>x</span>`, `<span data-mx-spoiler="">x</span>`},
		{`<a href="javascript:alert(1)">x</a>`, `x`},
		{`<a href="javascript:alert(1)"><b>x</b></a>y`, `<b>x</b>y`},
		{`<a href="https://e.org/?a=1&amp;b=2" target="_blank">x</a>`, `<a href="https://e.org/?a=1&amp;b=2" target="_blank">x</a>`},
		{`<a href=" https://e.org/ " target="_self">x</a>`, `<a href="https://e.org/">x</a>`},
		{`<a href="mailto:a@b.org">m</a>`, `<a href="mailto:a@b.org">m</a>`},
		{`<a href="/rel">r</a>`, `r`},
		{`<a>no href</a>`, `no href`},
		{`<img src="mxc://hs.example/AbC_-1" alt="a">`, `<img src="mxc://hs.example/AbC_-1">`},
		{`<img src="https://e.org/x.png" alt="the logo">`, `the logo`},
		{`<img src="mxc://hs/../x">`, ``},
		{`<ol start="3"><li>x</li></ol>`, `<ol start="3"><li>x</li></ol>`},
		{`<ol start="three"><li>x</li></ol>`, `<ol><li>x</li></ol>`},
		{`<code class="language-go">x</code>`, `<code class="language-go">x</code>`},
		{`<code class="hl language-go">x</code>`, `<code class="language-go">x</code>`},
		{`<code class="evil">x</code>`, `<code>x</code>`},
		{`<b><i>x</b>y</i>`, `<b><i>x</i></b><i>y</i>`}, // as a browser reads it
		{`<b>open`, `<b>open</b>`},
		{`</b>stray`, `stray`},
		{`a<br>b<br/>c</br>d`, `a<br>b<br>c<br>d`},
		{`<b/>x`, `<b>x</b>`}, // "/>" closes only void elements
		{`<hr>`, `<hr>`},
		{`<!-- c -->x<!DOCTYPE html>`, `x`},
		{`<p title="&quot;">"q" 'a'</p>`, `<p>&#34;q&#34; &#39;a&#39;</p>`},
		{"bad \xff \x00", "bad \ufffd \ufffd"},
		{"a\r\nb\rc&#xD;d", "a\nb\nc\nd"},
		{`<svg><svg></svg><b>in</b></svg>out`, `out`},
		{`<textarea><b>x</b></textarea>y`, `y`},
		{`<details><summary>s</summary>d</details>`, `<details><summary>s</summary>d</details>`},
		{`<table><tr><td>c</td></tr></table>`, `<table><tbody><tr><td>c</td></tr></tbody></table>`},
		{`<ul><li>one<li>two</ul>`, `<ul><li>one</li><li>two</li></ul>`},
		{`<ul><li>a<ul><li>b</ul><li>c</ul>`, `<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>`},
		{`<p>a<p>b<div>c</div>`, `<p>a</p><p>b</p><div>c</div>`},
		{`<p><b>a<h1>t</h1>`, `<p><b>a</b></p><h1><b>t</b></h1>`},
		{`<table><tr><td>a<td>b<tr><th>c</table>`, `<table><tbody><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></tbody></table>`},
		{`<p><table><tr><td><p>x<div>y</div></td></tr></table>`, `<p></p><table><tbody><tr><td><p>x</p><div>y</div></td></tr></tbody></table>`},
		{`<pre>` + "\n\nx</pre>", "<pre>\n\nx</pre>"},
		{`<pre><code>` + "\nx</code></pre>", "<pre><code>\nx</code></pre>"},
		{`<font color="#abc" data-mx-bg-color="#ABCDEF">x</font>`, `<span data-mx-color="#aabbcc" data-mx-bg-color="#abcdef">x</span>`},
		{`<a target="_blank" href="javascript:x">x</a>`, `x`},
		{`<img alt="alt" src="https://e.org/x.png">`, `alt`},
		{`<a href="HTTPS://e.org/ü?q=a b">x</a>`, `<a href="HTTPS://e.org/ü?q=a b">x</a>`}, // as written
		{`x</p>`, `x<p></p>`},
		{`<div>` + strings.Repeat("<b>", MaxDepth) + "<table><tr><td>x<i>y</i></td></tr></table></div>", `<div>` + strings.Repeat("<b>", MaxDepth-1) + "xy" + strings.Repeat("</b>", MaxDepth-1) + "</div>"},
		// A cell past MaxDepth would put its text straight into a <tr>,
		// where a parser moves it out of the table: it goes.
		{`<div>` + strings.Repeat("<b>", MaxDepth-4) + "<table><tr><td>x</td></tr></table></div>",
			`<div>` + strings.Repeat("<b>", MaxDepth-4) + "<table><tbody><tr></tr></tbody></table>" + strings.Repeat("</b>", MaxDepth-4) + "</div>"},
		{strings.Repeat("<b>", MaxDepth+5) + "x", strings.Repeat("<b>", MaxDepth) + "x" + strings.Repeat("</b>", MaxDepth)},
	}
	for _, tt := range tests {
		got := Sanitize(tt.in)
		if got != tt.want {
			t.Errorf("Sanitize(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		if err := checkMatrixHTML(got); err != nil {
			t.Errorf("Sanitize(%q) = %q: %v", tt.in, got, err)
		}
		if again := Sanitize(got); again != got {
			t.Errorf("Sanitize(%q) = %q, not idempotent: %q", tt.in, got, again)
		}
	}
}

func TestColor(t *testing.T) {
	for in, want := range map[string]string{
		"#ff0000": "#ff0000", "#FF00aa": "#ff00aa", " #abc ": "#aabbcc", "red": "", "#ff00": "",
		"#ff00000": "", "rgb(1,2,3)": "", "": "", "#gggggg": "", "ff0000": "",
	} {
		got, ok := Color(in)
		if got != want || ok != (want != "") {
			t.Errorf("Color(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestSafeHref(t *testing.T) {
	for in, want := range map[string]bool{
		"https://e.org": true, "HTTP://E.ORG/x": true, "ftp://e.org/f": true, "mailto:a@b": true,
		"magnet:?xt=urn:btih:x": true, "https://": false, "javascript:x": false, "data:text/html,x": false,
		"/rel": false, "//e.org": false, "": false, "mailto:": false, "java\tscript:x": false,
		"vbscript:x": false, "file:///etc/passwd": false, "https://e.org/\x00": false,
	} {
		if _, ok := SafeHref(in); ok != want {
			t.Errorf("SafeHref(%q) = %v, want %v", in, ok, want)
		}
	}
}

func corpus(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "html", "*.html"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	return files
}

// TestSanitizeCorpus runs the hostile corpus (testdata/html/*.html)
// against its golden output (*.golden), checks the output only holds what
// Matrix allows, and that sanitizing it again changes nothing.
func TestSanitizeCorpus(t *testing.T) {
	for _, file := range corpus(t) {
		in, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got := Sanitize(string(in))
		if err := checkMatrixHTML(got); err != nil {
			t.Errorf("%s: %v\n%s", file, err, got)
		}
		if again := Sanitize(got); again != got {
			t.Errorf("%s: not idempotent:\n%s\n%s", file, got, again)
		}
		golden := strings.TrimSuffix(file, ".html") + ".golden"
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s:\n%s", file, golden, got)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, file := range corpus(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(`<a href="https://x"><font color="#fff"><b>x`)
	f.Fuzz(func(t *testing.T, s string) {
		got := Sanitize(s)
		if err := checkMatrixHTML(got); err != nil {
			t.Fatalf("Sanitize(%q) = %q: %v", s, got, err)
		}
		if again := Sanitize(got); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, got, again)
		}
		if err := checkMatrixHTML(TruncateHTML(got, len(got)/2)); err != nil {
			t.Fatalf("TruncateHTML(%q): %v", got, err)
		}
		if p := PlainText(s); !utf8.ValidString(p) || strings.ContainsRune(p, 0) {
			t.Fatalf("PlainText(%q) = %q", s, p)
		}
		c := Content{MsgType: "m.text", Body: Valid(s), Format: FormatHTML, FormattedBody: got}
		limit := 300 + len(s)/3
		fit := Fit(c, limit)
		if n := JSONSize(fit); n > limit {
			t.Fatalf("Fit(%q, %d): %d bytes", s, limit, n)
		}
		if err := checkMatrixHTML(fit.FormattedBody); err != nil || !utf8.ValidString(fit.Body) {
			t.Fatalf("Fit(%q, %d): %v %q", s, limit, err, fit.FormattedBody)
		}
	})
}
