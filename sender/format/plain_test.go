package format

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPlainText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"a <b>bold</b> c", "a bold c"},
		{"  lots \n\t of   space  ", "lots of space"},
		{"a<br>b<br/>c", "a\nb\nc"},
		{"a<br><br>b", "a\n\nb"},
		{"a<br><br><br><br>b", "a\n\nb"},
		{"<p>one</p><p>two</p>", "one\ntwo"},
		{"<div>a</div>b<div>c</div>", "a\nb\nc"},
		{"x<p>para</p>y", "x\npara\ny"},
		{"<ul><li>a</li><li>b</li></ul>", "- a\n- b"},
		{"<ol start=\"3\"><li>a<li>b</ol>", "3. a\n4. b"},
		{"<ol><li>a<ul><li>n</ul><li>b</ol>", "1. a\n- n\n2. b"},
		{"<table><tr><th>h1</th><th>h2</th></tr><tr><td>a</td><td>b</td></tr></table>", "h1 | h2\na | b"},
		{`<a href="https://e.org/x">the page</a>`, "the page (https://e.org/x)"},
		{`<a href="https://e.org/x">https://e.org/x</a>`, "https://e.org/x"},
		{`<a href="https://e.org/">https://e.org</a>`, "https://e.org"},
		{`<a href="mailto:a@b.org">a@b.org</a>`, "a@b.org"},
		{`<a href="https://e.org/"></a>`, "https://e.org/"},
		{`<a href="javascript:alert(1)">click</a>`, "click"},
		{`<a href="https://e.org/"><b>bold</b> link</a> after`, "bold link (https://e.org/) after"},
		{"&lt;b&gt; &amp; &quot;q&quot; &#39;s&#39; &copy; &#x1F534;", "<b> & \"q\" 's' © 🔴"},
		{"<script>alert(1)</script>text<style>p{}</style>", "text"},
		{"<pre>  keep\n    indent</pre>after", "  keep\n    indent\nafter"},
		{"<h1>Title</h1>body", "Title\nbody"},
		{"a<hr>b", "a\n---\nb"},
		{`<img src="mxc://h/x" alt="logo"> text`, "logo text"},
		{"<!-- comment -->x", "x"},
		{"bad \xff \x00", "bad \ufffd \ufffd"},
		{"<p>  padded  </p>", "padded"},
		{"🔴 web1 is critical - <b>disk</b><br>chart<br><i>info</i>", "🔴 web1 is critical - disk\nchart\ninfo"},
	}
	for _, tt := range tests {
		if got := PlainText(tt.in); got != tt.want {
			t.Errorf("PlainText(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// TestPlainTextCorpus: the hostile corpus gives valid UTF-8 text without
// markup from dropped elements, and no panic.
func TestPlainTextCorpus(t *testing.T) {
	for _, file := range corpus(t) {
		in, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got := PlainText(string(in))
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Errorf("%s: invalid UTF-8 or NUL", file)
		}
		for _, gone := range []string{"document.cookie", "display:none", "not markup", "hidden</b>", "svg text"} {
			if strings.Contains(got, gone) {
				t.Errorf("%s: %q survived:\n%s", file, gone, got)
			}
		}
	}
}
