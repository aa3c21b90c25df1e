package matrixhtml

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMarkdown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"a\nb", "a<br>b"},
		{"a\n\nb", "<p>a</p><p>b</p>"},
		{"a\r\nb\r\n\r\nc", "<p>a<br>b</p><p>c</p>"},
		{"a  \n  b", "a<br>b"},
		{"**bold** and __bold__", "<strong>bold</strong> and <strong>bold</strong>"},
		{"*it* and _it_", "<em>it</em> and <em>it</em>"},
		{"snake_case_name and a_b_", "snake_case_name and a_b_"},
		{"_a b_c_", "<em>a b_c</em>"},
		{"***both***", "<strong><em>both</em></strong>"},
		{"*a **b** c*", "<em>a <strong>b</strong> c</em>"},
		{"**a *b***", "<strong>a <em>b</em></strong>"},
		{"~~gone~~ ~one~", "<del>gone</del> ~one~"},
		{"`x < y`", "<code>x &lt; y</code>"},
		{"``a ` b``", "<code>a ` b</code>"},
		{"`**not bold**`", "<code>**not bold**</code>"},
		{"**a `b**` c**", "<strong>a <code>b**</code> c</strong>"},
		{"```go\nif a < b {\n\treturn\n}\n```\nafter", `<pre><code class="language-go">if a &lt; b {` + "\n\treturn\n}</code></pre><p>after</p>"},
		{"```\nunclosed *x*", "<pre><code>unclosed *x*</code></pre>"},
		{"```bad\"lang\n<b>\n```", "<pre><code>&lt;b&gt;</code></pre>"},
		{"[docs](https://e.org/a?b=1&c=2)", `<a href="https://e.org/a?b=1&amp;c=2">docs</a>`},
		{"[**bold** link](http://e.org \"title\")", `<a href="http://e.org"><strong>bold</strong> link</a>`},
		{"[mail](mailto:ops@e.org)", `<a href="mailto:ops@e.org">mail</a>`},
		{"[x](javascript:alert(1))", "x"},
		{"[x](JaVaScRiPt:alert(1)) [y](data:text/html,<b>) [z](ftp://e.org) [r](/rel)", "x y z r"},
		{"[a [b] c](https://e.org/(x))", `<a href="https://e.org/(x)">a [b] c</a>`},
		{"[no link] (https://e.org)", `[no link] (<a href="https://e.org">https://e.org</a>)`},
		{"[https://e.org](https://e.org)", `<a href="https://e.org">https://e.org</a>`},
		{"see https://e.org/x_y?a=1&b=2.", `see <a href="https://e.org/x_y?a=1&amp;b=2">https://e.org/x_y?a=1&amp;b=2</a>.`},
		{"(https://e.org/wiki/A_(b))", `(<a href="https://e.org/wiki/A_(b)">https://e.org/wiki/A_(b)</a>)`},
		{"xhttps://e.org https:// http://", "xhttps://e.org https:// http://"},
		{"# Title\n## Sub ##\n####### seven\n#tag", "<h1>Title</h1><h2>Sub</h2><p>####### seven<br>#tag</p>"},
		{"- a\n- b\n* c", "<ul><li>a</li><li>b</li></ul><ul><li>c</li></ul>"},
		{"Disks:\n- /  *90%*\n- /var", "<p>Disks:</p><ul><li>/  <em>90%</em></li><li>/var</li></ul>"},
		{"1. one\n2. two", "<ol><li>one</li><li>two</li></ol>"},
		{"3. three\n4. four", `<ol start="3"><li>three</li><li>four</li></ol>`},
		{"- a\n  - nested\n- b", "<ul><li>a<ul><li>nested</li></ul></li><li>b</li></ul>"},
		{"- a\n\n- b", "<ul><li>a</li><li>b</li></ul>"},
		{"- a\nlazy", "<ul><li>a<br>lazy</li></ul>"},
		{"> quoted\n> **more**\n>\n> para", "<blockquote><p>quoted<br><strong>more</strong></p><p>para</p></blockquote>"},
		{"> > deep", "<blockquote><blockquote><p>deep</p></blockquote></blockquote>"},
		{"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"<b onclick=x>hi</b> &amp; \"q\" 'a'", "&lt;b onclick=x&gt;hi&lt;/b&gt; &amp;amp; &#34;q&#34; &#39;a&#39;"},
		{"**unbalanced *markers _here ~~and [link(", "**unbalanced *markers _here ~~and [link("},
		{"** not bold **", "** not bold **"},
		{"\\*literal\\* \\_x\\_ \\\\", "*literal* _x_ \\"},
		{"🔴 **web1** is ✅ _up_ 👍🏽", "🔴 <strong>web1</strong> is ✅ <em>up</em> 👍🏽"},
		{"bad \xff \x00", "bad \ufffd \ufffd"},
		{"1 * 2 * 3", "1 * 2 * 3"},
		{"2*3*4", "2<em>3</em>4"},
	}
	for _, tt := range tests {
		got := Markdown(tt.in)
		if got != tt.want {
			t.Errorf("Markdown(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		if s := Sanitize(got); s != got {
			t.Errorf("Markdown(%q) = %q, Sanitize changes it to %q", tt.in, got, s)
		}
	}
}

// TestMarkdownDeep: nesting beyond the limits stays text and within
// MaxDepth, so Sanitize keeps everything.
func TestMarkdownDeep(t *testing.T) {
	for _, in := range []string{
		strings.Repeat(">", 500) + " x",
		strings.Repeat("- ", 300) + "x",
		strings.Repeat("**", 300) + "x" + strings.Repeat("**", 300),
		strings.Repeat("[", 300) + "x" + strings.Repeat("](https://e.org)", 300),
		strings.Repeat("*a ", 5000),
		strings.Repeat("`", 5000) + strings.Repeat("*x", 3000),
	} {
		got := Markdown(in)
		if s := Sanitize(got); s != got {
			t.Errorf("Markdown(%.40q...): Sanitize changes it", in)
		}
		if err := checkMatrixHTML(got); err != nil {
			t.Errorf("Markdown(%.40q...): %v", in, err)
		}
	}
}

func FuzzMarkdown(f *testing.F) {
	for _, tt := range []string{
		"**bold** _it_ `code` ~~del~~ [l](https://e.org) https://e.org/x",
		"# h\n- a\n  - b\n1. c\n> q\n```go\nx\n```",
		"<script>alert(1)</script>[x](javascript:alert(1))",
		"***a**b*c_d_ ``e`` [f [g]](mailto:a@b) \\*",
		"a\r\nb\r\rc 🔴",
	} {
		f.Add(tt)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Markdown(s)
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Fatalf("Markdown(%q) = %q: invalid text", s, got)
		}
		if again := Sanitize(got); again != got {
			t.Fatalf("Markdown(%q) = %q, Sanitize gives %q", s, got, again)
		}
		if err := checkMatrixHTML(got); err != nil {
			t.Fatalf("Markdown(%q) = %q: %v", s, got, err)
		}
	})
}
