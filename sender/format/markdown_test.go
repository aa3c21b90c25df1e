package format

import (
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func TestMarkdown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"a\nb", "a<br>\nb"}, // a newline is a line break, as in a chat
		{"a\n\nb", "<p>a</p>\n<p>b</p>"},
		{"a\r\nb\r\n\r\nc", "<p>a<br>\nb</p>\n<p>c</p>"},
		{"a  \n  b", "a<br>\nb"},
		{"**bold** and __bold__", "<strong>bold</strong> and <strong>bold</strong>"},
		{"*it* and _it_", "<em>it</em> and <em>it</em>"},
		{"snake_case_name and a_b_", "snake_case_name and a_b_"},
		{"_a b_c_", "<em>a b_c</em>"},
		{"***both***", "<em><strong>both</strong></em>"},
		{"*a **b** c*", "<em>a <strong>b</strong> c</em>"},
		{"**a *b***", "<strong>a <em>b</em></strong>"},
		{"~~gone~~ ~one~", "<del>gone</del> <del>one</del>"}, // GFM: one tilde strikes too
		{"`x < y`", "<code>x &lt; y</code>"},
		{"``a ` b``", "<code>a ` b</code>"},
		{"`**not bold**`", "<code>**not bold**</code>"},
		{"**a `b**` c**", "<strong>a <code>b**</code> c</strong>"},
		{"```go\nif a < b {\n\treturn\n}\n```\nafter", `<pre><code class="language-go">if a &lt; b {` + "\n\treturn\n}\n</code></pre>\n<p>after</p>"},
		{"```\nunclosed *x*", "<pre><code>unclosed *x*\n</code></pre>"},
		{"```bad\"lang\n<b>\n```", "<pre><code>&lt;b&gt;\n</code></pre>"},
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
		{"# Title\n## Sub ##\n####### seven\n#tag", "<h1>Title</h1>\n<h2>Sub</h2>\n<p>####### seven<br>\n#tag</p>"},
		{"- a\n- b\n* c", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<ul>\n<li>c</li>\n</ul>"},
		{"Disks:\n- /  *90%*\n- /var", "<p>Disks:</p>\n<ul>\n<li>/  <em>90%</em></li>\n<li>/var</li>\n</ul>"},
		{"1. one\n2. two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>"},
		{"3. three\n4. four", `<ol start="3">` + "\n<li>three</li>\n<li>four</li>\n</ol>"},
		{"- a\n  - nested\n- b", "<ul>\n<li>a\n<ul>\n<li>nested</li>\n</ul>\n</li>\n<li>b</li>\n</ul>"},
		{"- a\n\n- b", "<ul>\n<li>\n<p>a</p>\n</li>\n<li>\n<p>b</p>\n</li>\n</ul>"}, // a loose list
		{"- a\nlazy", "<ul>\n<li>a<br>\nlazy</li>\n</ul>"},
		{"> quoted\n> **more**\n>\n> para", "<blockquote>\n<p>quoted<br>\n<strong>more</strong></p>\n<p>para</p>\n</blockquote>"},
		{"> > deep", "<blockquote>\n<blockquote>\n<p>deep</p>\n</blockquote>\n</blockquote>"},
		{"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"<b onclick=x>hi</b> &amp; \"q\" 'a'", "&lt;b onclick=x&gt;hi&lt;/b&gt; &amp; &#34;q&#34; &#39;a&#39;"}, // an entity is its character
		{"**unbalanced *markers _here ~~and [link(", "**unbalanced *markers _here ~~and [link("},
		{"** not bold **", "** not bold **"},
		{"\\*literal\\* \\_x\\_ \\\\", "*literal* _x_ \\"},
		{"🔴 **web1** is ✅ _up_ 👍🏽", "🔴 <strong>web1</strong> is ✅ <em>up</em> 👍🏽"},
		{"bad \xff \x00", "bad \ufffd \ufffd"},
		{"1 * 2 * 3", "1 * 2 * 3"},
		{"2*3*4", "2<em>3</em>4"},
		{"| a | b |\n|---|:-:|\n| 1 | 2 |", "<table>\n<thead>\n<tr>\n<th>a</th>\n<th>b</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>1</td>\n<td>2</td>\n</tr>\n</tbody>\n</table>"},
		{"www.e.org and ops@e.org", `<a href="http://www.e.org">www.e.org</a> and <a href="mailto:ops@e.org">ops@e.org</a>`},
		{"<https://e.org/a> <javascript:alert(1)>", `<a href="https://e.org/a">https://e.org/a</a> javascript:alert(1)`},
		{"![logo](https://e.org/l.png) ![m](mxc://hs.example/AbC)", `logo <img src="mxc://hs.example/AbC">`},
		{"<div>\n**x**\n</div>", "&lt;div&gt;<br>\n<strong>x</strong><br>\n&lt;/div&gt;"},
		{"Status:\n    **Down**", "Status:<br>\n<strong>Down</strong>"},                   // indented, but inside a paragraph
		{"Status:\n\n    **Down**", "<p>Status:</p>\n<pre><code>**Down**\n</code></pre>"}, // CommonMark: after a blank line, code
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

// TestMarkdownConcurrent: serve renders many alerts at once through the
// one goldmark converter and bluemonday policy (run with -race).
func TestMarkdownConcurrent(t *testing.T) {
	const in = "# h\n**b** [l](https://e.org) www.e.org\n\n| a |\n|---|\n| 1 |\n<font color=red>x</font>"
	want := Markdown(in)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if got := Markdown(in); got != want {
					t.Errorf("Markdown = %q, want %q", got, want)
				}
			}
		})
	}
	wg.Wait()
}
