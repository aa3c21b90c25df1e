package matrixhtml

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// The patterns the plain-code matchers implement. checkAttr uses them too,
// as an independent check of Sanitize's output.
var (
	hexColor3 = regexp.MustCompile(`^#[0-9a-fA-F]{3}$`)
	hexColor6 = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	langClass = regexp.MustCompile(`^language-[A-Za-z0-9_+#.-]+$`)
	mxcURI    = regexp.MustCompile(`^mxc://[A-Za-z0-9.:\[\]-]+/[A-Za-z0-9_-]+$`)
	mdLang    = regexp.MustCompile(`^[A-Za-z0-9_+#.-]+$`)
)

// TestMatchers checks each plain-code matcher against its pattern on
// chosen strings and on random ones built from the characters that matter.
func TestMatchers(t *testing.T) {
	matchers := []struct {
		name string
		re   *regexp.Regexp
		f    func(string) bool
		pre  []string // prefixes that make random strings likely to match
	}{
		{"isHexColor3", hexColor3, func(s string) bool { return isHexColor(s, 3) }, []string{"#", "#a", "#aB"}},
		{"isHexColor6", hexColor6, func(s string) bool { return isHexColor(s, 6) }, []string{"#", "#a0f", "#a0fBC"}},
		{"isLangClass", langClass, isLangClass, []string{"language-", "language", "language-c"}},
		{"isMxcURI", mxcURI, isMxcURI, []string{"mxc://", "mxc://a", "mxc://a.b:8/", "mxc:/", "mxc://[::1]:8/"}},
		{"isLangName", mdLang, isLangName, []string{""}},
	}
	fixed := []string{
		"", "#", "#abc", "#ABC", "#abcd", "#abcdef", "#ABCDEF", "#abcdeg", "#abc\n", "#abcdef\n", "\n#abc",
		"language-go", "language-", "language-c++", "language-c#", "language-a b", "language-é", "xlanguage-go",
		"mxc://example.org/abc", "mxc://example.org/", "mxc:///abc", "mxc://ex/ab/c", "mxc://[::1]:8448/a_b-c",
		"mxc://example.org/abc\n", "MXC://example.org/abc", "mxc://ex ample/abc", "go", "c++", "a\xffb", "\x00",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "#aAfFgG09_+.-:/[] \n\t\x00\xff\xc3\xa9languemxc"
	for _, m := range matchers {
		check := func(s string) {
			if got, want := m.f(s), m.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, pattern says %v", m.name, s, got, want)
			}
		}
		for _, s := range fixed {
			check(s)
		}
		for range 20000 {
			b := []byte(m.pre[rng.IntN(len(m.pre))])
			for n := rng.IntN(10); n > 0; n-- {
				b = append(b, alphabet[rng.IntN(len(alphabet))])
			}
			check(string(b))
		}
	}
}
