package liquidjs

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// LiquidJS reads a string literal, single- or double-quoted, with
// JavaScript-like backslash escapes (parseStringLiteral): \b \f \n \r \t \v,
// \uXXXX (up to four hex digits), octal \0 to \377 (up to three digits),
// and a backslash before any other character stands for that character
// ('a\'b' is "a'b", "a\x" is "ax"). osteele/liquid reads '...' without
// escapes (so 'a\'b' is 'a\' then junk) and "..." with \\ \" \n \t \r only
// (keeping the backslash of any other). normalizeStrings rewrites every
// literal that has a backslash into osteele's double-quoted form of
// LiquidJS's value.

// normalizeStrings rewrites the string literals of s (a tag or an output,
// or a line of {% liquid %}) that contain a backslash into osteele's
// double-quoted literal of the value LiquidJS reads. The line breaks a
// literal spans are written after it, so that the lines of what follows
// stay as they were. A literal not closed is left alone (LiquidJS has
// reported it, or reads it as osteele does).
func normalizeStrings(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	// LiquidJS's readQuoted: to the next unescaped quote, either kind.
	return replaceLiterals(s, 0, len(s), func(byte) bool { return true }, func(lit string) (string, bool) {
		if !strings.Contains(lit, `\`) {
			return "", false
		}
		return osteeleQuote(jsStringLiteral(lit)) + strings.Repeat("\n", strings.Count(lit, "\n")), true
	})
}

// replaceLiterals is s with the closed string literals that begin in
// s[from:to] replaced where replace says (ok), each literal given with its
// quotes. Inside a literal quoted with q, a backslash escapes the next
// character when escapes(q). Scanning stops at a literal not closed.
func replaceLiterals(s string, from, to int, escapes func(q byte) bool, replace func(lit string) (string, bool)) string {
	var b strings.Builder
	last := 0
	for i := from; i < to; i++ {
		q := s[i]
		if q != '"' && q != '\'' {
			continue
		}
		j := i + 1
		for j < len(s) && s[j] != q {
			if escapes(q) && s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(s) {
			break
		}
		if r, ok := replace(s[i : j+1]); ok {
			b.WriteString(s[last:i])
			b.WriteString(r)
			last = j + 1
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// jsStringLiteral is the value of the quoted literal lit (quotes included)
// as LiquidJS's parseStringLiteral reads it, in UTF-16 code units as
// JavaScript has them (a lone surrogate becomes U+FFFD).
func jsStringLiteral(lit string) string {
	body := lit[1 : len(lit)-1]
	var u []uint16
	isHex := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
	isOct := func(c byte) bool { return c >= '0' && c <= '7' }
	hexVal := func(c byte) uint16 {
		switch {
		case c >= 'a':
			return uint16(c) - 87
		case c >= 'A':
			return uint16(c) - 55
		}
		return uint16(c) - 48
	}
	appendRune := func(r rune) { u = utf16.AppendRune(u, r) }
	for i := 0; i < len(body); {
		if body[i] != '\\' {
			r, size := utf8.DecodeRuneInString(body[i:])
			appendRune(r)
			i += size
			continue
		}
		i++
		if i >= len(body) {
			// (A backslash before the closing quote escapes it, and the
			// literal goes on: not one that reaches here.)
			break
		}
		switch c := body[i]; {
		case strings.IndexByte("bfnrtv", c) >= 0:
			u = append(u, uint16("\b\f\n\r\t\v"[strings.IndexByte("bfnrtv", c)]))
			i++
		case c == 'u':
			var v uint16
			j := i + 1
			for ; j <= i+4 && j < len(body) && isHex(body[j]); j++ {
				v = v*16 + hexVal(body[j])
			}
			u = append(u, v)
			i = j
		case isOct(c):
			var v uint16
			j := i
			for ; j <= i+2 && j < len(body) && isOct(body[j]); j++ {
				v = v*8 + hexVal(body[j])
			}
			u = append(u, v)
			i = j
		default:
			r, size := utf8.DecodeRuneInString(body[i:])
			appendRune(r)
			i += size
		}
	}
	return string(utf16.Decode(u))
}

// strFilter decodes a string literal hideBraces encoded.
const strFilter = "__liquidjs_str"

var (
	braceEncoder = strings.NewReplacer("%", "%25", "}", "%7D")
	braceDecoder = strings.NewReplacer("%7D", "}", "%25", "%")
)

// hideBraces rewrites the string literals of out (an output "{{ ... }}" in
// osteele's syntax, as preprocess wrote it) that contain "}}": LiquidJS
// reads an output to the first "}}" outside a string, osteele's scanner to
// the first "}}" (its pattern ignores quotes), so {{ x | append: "}}" }}
// was cut short. Such a literal becomes ("ENCODED" | __liquidjs_str), its
// value with "%" and "}" percent-encoded, which __liquidjs_str decodes.
func hideBraces(out string) string {
	if strings.Count(out, "}}") < 2 {
		return out
	}
	// osteele's strings: "..." with backslash escapes, '...' without.
	return replaceLiterals(out, 2, len(out)-2, func(q byte) bool { return q == '"' }, func(lit string) (string, bool) {
		if !strings.Contains(lit, "}}") {
			return "", false
		}
		return "(" + osteeleQuote(braceEncoder.Replace(osteeleString(lit))) + " | " + strFilter + ")", true
	})
}

// osteeleString is the value of the literal lit (quotes included) as
// osteele's lexer reads it: '...' as it is, "..." with the escapes \\ \"
// \n \t \r (a backslash before any other character stays).
func osteeleString(lit string) string {
	body := lit[1 : len(lit)-1]
	if lit[0] == '\'' || !strings.Contains(body, `\`) {
		return body
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' || i+1 >= len(body) {
			b.WriteByte(body[i])
			continue
		}
		i++
		switch c := body[i]; c {
		case '\\', '"':
			b.WriteByte(c)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}
