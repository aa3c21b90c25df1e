package netdata

import (
	"strconv"
	"strings"
)

// This file reproduces the few bash semantics alarm-notify.sh's derived
// fields depend on (it runs with LC_ALL=C: strings are bytes).

// URLEncode is alarm-notify.sh's urlencode under LC_ALL=C: every byte except
// [-_.~a-zA-Z0-9] becomes %xx in lower case hex, multibyte UTF-8 byte by
// byte ("é" is "%c3%a9"), invalid UTF-8 likewise.
func URLEncode(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// ifsFields splits s like an unquoted expansion with the default IFS
// (space, tab, newline). Pathname expansion, which bash would also apply,
// is not reproduced.
func ifsFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' })
}

// bashArith returns the value bash's $(( s )) gives for the first word of
// an unquoted expansion (duration4human ${duration}): an integer constant
// (decimal; octal with a leading 0; hex with 0x; base#digits), 64-bit
// wrapping like bash; a variable name evaluates to 0 (alarm-notify.sh has
// none by those names that a duration could name usefully). Anything else
// is an arithmetic syntax error in bash, after which duration4human leaves
// REPLY stale (duration_txt would become url_value_string); we return 0
// instead, as documented on Fields.
func bashArith(s string) int64 {
	words := ifsFields(s)
	if len(words) == 0 {
		return 0
	}
	w := words[0]
	neg := false
	for len(w) > 0 && (w[0] == '-' || w[0] == '+') {
		if w[0] == '-' {
			neg = !neg
		}
		w = w[1:]
	}
	v, ok := bashConst(w) // a variable name is no constant: 0
	if !ok {
		return 0
	}
	if neg {
		return -v
	}
	return v
}

// bashConst parses an integer constant as bash's strlong does, wrapping on
// overflow.
func bashConst(s string) (int64, bool) {
	base := int64(10)
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		base, s = 16, s[2:]
		if s == "" {
			return 0, false
		}
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	default:
		if i := strings.IndexByte(s, '#'); i > 0 {
			b, err := strconv.Atoi(s[:i])
			if err != nil || b < 2 || b > 64 {
				return 0, false
			}
			base, s = int64(b), s[i+1:]
			if s == "" {
				return 0, false
			}
		}
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d int64
		switch {
		case c >= '0' && c <= '9':
			d = int64(c - '0')
		case c >= 'a' && c <= 'z':
			d = int64(c-'a') + 10
		case c >= 'A' && c <= 'Z':
			d = int64(c - 'A')
			if base <= 36 {
				d += 10
			} else {
				d += 36
			}
		case c == '@':
			d = 62
		case c == '_':
			d = 63
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		v = v*base + d // wraps like bash's intmax_t arithmetic
	}
	return v, true
}

// testGT is `[ ${a} -gt ${b} ]` with both unquoted, as bash's test builtin
// sees the words: with one word each, true when both are decimal integers
// (optional sign and surrounding blanks; no octal or hex) and a > b; with
// both empty, `[ -gt ]` tests a non-empty string: true; with only b empty,
// `[ a -gt ]` is true for a = "-n" (and false for the other unary
// operators, as no file is named "-gt"). Everything else is a test error,
// i.e. false.
func testGT(a, b string) bool {
	wa, wb := ifsFields(a), ifsFields(b)
	switch {
	case len(wa) == 0 && len(wb) == 0:
		return true
	case len(wa) == 1 && len(wb) == 0:
		return wa[0] == "-n"
	case len(wa) != 1 || len(wb) != 1:
		return false
	}
	x, err1 := strconv.ParseInt(wa[0], 10, 64)
	y, err2 := strconv.ParseInt(wb[0], 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	return x > y
}

// Duration4Human is alarm-notify.sh's duration4human applied to the
// unquoted expansion of s (see bashArith for non-numeric input). Hours are
// rounded up when minutes ≥ 30 (with days), minutes when seconds ≥ 30 (with
// hours); the plural is used only above 1 ("0 second", "-5 second").
func Duration4Human(s string) string {
	return duration4human(bashArith(s))
}

func duration4human(s int64) string {
	d, h, m := s/86400, s%86400/3600, s%3600/60
	s %= 60
	unit := func(n int64, word string) string {
		if n > 1 {
			word += "s"
		}
		return strconv.FormatInt(n, 10) + " " + word
	}
	switch {
	case d > 0:
		if m >= 30 {
			h++
		}
		if h > 0 {
			return unit(d, "day") + " and " + unit(h, "hour")
		}
		return unit(d, "day")
	case h > 0:
		if s >= 30 {
			m++
		}
		if m > 0 {
			return unit(h, "hour") + " and " + unit(m, "minute")
		}
		return unit(h, "hour")
	case m > 0:
		if s > 0 {
			return unit(m, "minute") + " and " + unit(s, "second")
		}
		return unit(m, "minute")
	}
	return unit(s, "second")
}

// lowerASCII is ${x,,} under LC_ALL=C.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
