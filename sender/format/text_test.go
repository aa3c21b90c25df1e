package format

import "testing"

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{`<script>"x" & 'y'</script>`, "&lt;script&gt;&#34;x&#34; &amp; &#39;y&#39;&lt;/script&gt;"},
		{"a\r\nb\rc\nd", "a<br>b<br>c<br>d"},
		{"bad \xff utf8 \x00 nul", "bad \ufffd utf8 \ufffd nul"},
		{"emoji 🔥", "emoji 🔥"},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsHTTPURL(t *testing.T) {
	for in, want := range map[string]bool{
		"https://example.org/x?y=1": true, "HTTP://example.org": true, "http://": false,
		"javascript:alert(1)": false, "ftp://example.org": false, "/relative": false, "": false,
		"https://exa mple.org": false, "https://example.org/#a\rb": false, "https://example.org/#a\x7fb": false,
		"https://example.org/#a\tb": false,
	} {
		if got := IsHTTPURL(in); got != want {
			t.Errorf("IsHTTPURL(%q) = %v, want %v", in, got, want)
		}
	}
}
