package sender

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// The bucket codec. A bucket is decoded on every Get, Put and Delete, and
// encoded on every change: with encoding/json that was most of the store's
// CPU (reflection, a scan of the whole value before decoding it, a slice
// grown state by state). What the store writes is always of one shape
// (compact, the keys of alertBucket and alertEntry in order, each once), so
// a parser made for that shape decodes it, and encoding/json decides
// whatever it does not take on; appendAlertBucket writes that shape.

// bucketBufPool holds the buffers a bucket is read into and encoded in.
var bucketBufPool = sync.Pool{New: func() any { return new([]byte) }}

// getBucketBuf returns a pooled buffer of at least n bytes' capacity.
func getBucketBuf(n int) *[]byte {
	buf := bucketBufPool.Get().(*[]byte)
	if cap(*buf) < n {
		*buf = make([]byte, 0, max(n, 4096))
	}
	return buf
}

// putBucketBuf returns buf to the pool, unless it grew large (a bucket of
// many states: keep the memory of the common case only).
func putBucketBuf(buf *[]byte) {
	if cap(*buf) <= 64<<10 {
		bucketBufPool.Put(buf)
	}
}

// decodeAlertBucket decodes the first JSON value of data into a bucket as
// json.NewDecoder(bytes.NewReader(data)).Decode does: what follows the
// value is not looked at. With only, the states may be only the first of
// that ref (the fast parser keeps no other). The fast parser accepts only
// what it decodes to the same bucket as encoding/json
// (FuzzDecodeAlertBucket checks it): JSON with the known keys, each once,
// and values of their types (no null); given anything else (another key or
// case, a duplicate, a syntax error) it gives up, and encoding/json decodes
// the value, with its errors.
func decodeAlertBucket(data []byte, only *AlertRef) (alertBucket, error) {
	if b, ok := parseAlertBucket(data, only); ok {
		return b, nil
	}
	var b alertBucket
	err := json.NewDecoder(bytes.NewReader(data)).Decode(&b)
	return b, err
}

// parseAlertBucket is the fast parser of decodeAlertBucket, ok false when
// it gives up. With only, the states are only the first of that ref, if
// any (nil if none).
func parseAlertBucket(data []byte, only *AlertRef) (b alertBucket, ok bool) {
	p := bucketParser{data: data, text: string(data)}
	if only != nil {
		p.only, p.onlyOne = *only, true
	}
	return p.bucket()
}

// bucketParser is the fast parser of decodeAlertBucket: each method parses
// a value at i, or reports false. text is data as a string: the strings it
// decodes are parts of it, one allocation for them all (a state kept keeps
// its bucket's text).
type bucketParser struct {
	data []byte
	text string
	i    int
	// only and onlyOne: parseAlertBucket's only (a copy: escape analysis
	// would put a pointer kept here on the heap).
	only    AlertRef
	onlyOne bool
}

// The keys of the objects of a bucket, in the order appendAlertBucket
// writes them.
var (
	alertBucketKeys = []string{"v", "states"}
	alertEntryKeys  = []string{"source", "alert", "room", "root", "latest", "root_content", "content",
		"created", "updated"}
	alertContentKeys = []string{"msgtype", "body", "format", "formatted_body", "m.mentions", "m.relates_to",
		"m.new_content"}
)

func (p *bucketParser) bucket() (b alertBucket, ok bool) {
	ok = p.object(alertBucketKeys, func(k int) bool {
		if k == 0 {
			return p.smallInt(&b.Version)
		}
		return p.states(&b.States)
	})
	return b, ok
}

func (p *bucketParser) states(out *[]alertEntry) bool {
	if !p.next('[') {
		return false
	}
	if p.onlyOne {
		return p.onlyState(out)
	}
	// Room for every state, and the one a Put may add (a state takes 200
	// bytes or more).
	states := make([]alertEntry, 0, len(p.data)/200+1)
	if !p.next(']') {
		for {
			states = append(states, alertEntry{})
			if !p.entry(&states[len(states)-1]) {
				return false
			}
			if p.next(',') {
				continue
			}
			if !p.next(']') {
				return false
			}
			break
		}
	}
	*out = states
	return true
}

// onlyState parses the states after the '[' as states does, keeping only
// the first of p.only.
func (p *bucketParser) onlyState(out *[]alertEntry) bool {
	var found []alertEntry
	if !p.next(']') {
		for {
			var e alertEntry
			if !p.entry(&e) {
				return false
			}
			if found == nil && e.is(p.only) {
				found = []alertEntry{e}
			}
			if p.next(',') {
				continue
			}
			if !p.next(']') {
				return false
			}
			break
		}
	}
	*out = found
	return true
}

func (p *bucketParser) entry(e *alertEntry) bool {
	return p.object(alertEntryKeys, func(k int) bool {
		switch k {
		case 0:
			return p.str(&e.Source)
		case 1:
			return p.str(&e.Alert)
		case 2:
			return p.str(&e.Room)
		case 3:
			return p.str(&e.Root)
		case 4:
			return p.str(&e.Latest)
		case 5:
			return p.content(&e.RootContent)
		case 6:
			return p.content(&e.Content)
		case 7:
			return p.timestamp(&e.Created)
		default:
			return p.timestamp(&e.Updated)
		}
	})
}

func (p *bucketParser) content(c *Content) bool {
	return p.object(alertContentKeys, func(k int) bool {
		switch k {
		case 0:
			return p.str(&c.MsgType)
		case 1:
			return p.str(&c.Body)
		case 2:
			return p.str(&c.Format)
		case 3:
			return p.str(&c.FormattedBody)
		case 4:
			return parseBucketRare(p, &c.Mentions)
		case 5:
			return parseBucketRare(p, &c.RelatesTo)
		default:
			return parseBucketRare(p, &c.NewContent)
		}
	})
}

// object parses an object whose keys are among keys, each at most once,
// field parsing the value of keys[k].
func (p *bucketParser) object(keys []string, field func(k int) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	var seen uint32
	for {
		key, ok := p.key()
		if !ok {
			return false
		}
		k := -1
		for j, name := range keys {
			if string(key) == name {
				k = j
				break
			}
		}
		if k < 0 || seen&(1<<k) != 0 {
			return false
		}
		seen |= 1 << k
		if !p.next(':') || !field(k) {
			return false
		}
		if !p.next(',') {
			return p.next('}')
		}
	}
}

// ws skips white space.
func (p *bucketParser) ws() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space, and c if it comes next.
func (p *bucketParser) next(c byte) bool {
	p.ws()
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

// quoted returns the content of the string at i, raw, and whether it holds
// an escape or a byte past ASCII. A control character is a syntax error.
func (p *bucketParser) quoted() (raw []byte, escaped, wide, ok bool) {
	if !p.next('"') {
		return nil, false, false, false
	}
	start := p.i
	// Most strings are plain ASCII: find the quote, check what it closes.
	end := bytes.IndexByte(p.data[start:], '"')
	if end >= 0 && bucketPlainASCII(p.data[start:start+end]) {
		p.i = start + end + 1
		return p.data[start : start+end], false, false, true
	}
	for i := start; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '"':
			p.i = i + 1
			return p.data[start:i], escaped, wide, true
		case c == '\\':
			escaped = true
			i++ // what is escaped, a quote included
		case c < 0x20:
			return nil, false, false, false
		case c >= utf8.RuneSelf:
			wide = true
		}
	}
	return nil, false, false, false
}

// bucketPlainASCII reports whether s is ASCII without control characters or
// backslashes, eight bytes at a time.
func bucketPlainASCII(s []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; len(s) >= 8; s = s[8:] {
		w := binary.LittleEndian.Uint64(s)
		bs := w ^ ('\\' * ones) // a zero byte where s has a backslash
		if (w|(w-0x20*ones)|(bs-ones)&^bs)&highs != 0 {
			return false
		}
	}
	for _, c := range s {
		if c < 0x20 || c >= utf8.RuneSelf || c == '\\' {
			return false
		}
	}
	return true
}

// key parses a key: one without escapes (no known key needs them).
func (p *bucketParser) key() ([]byte, bool) {
	raw, escaped, _, ok := p.quoted()
	return raw, ok && !escaped
}

// str parses a string. One with escapes or invalid UTF-8 is decoded by
// encoding/json, the rest taken as they are (as encoding/json does).
func (p *bucketParser) str(s *string) bool {
	p.ws()
	start := p.i
	raw, escaped, wide, ok := p.quoted()
	switch {
	case !ok:
		return false
	case escaped || wide && !utf8.Valid(raw):
		var v string // not s: see parseBucketRare
		if json.Unmarshal(p.data[start:p.i], &v) != nil {
			return false
		}
		*s = v
		return true
	}
	*s = p.text[p.i-1-len(raw) : p.i-1]
	return true
}

// timestamp parses a time as encoding/json does: time.Time.UnmarshalJSON
// given the literal, escapes and all (so an escape is an error).
func (p *bucketParser) timestamp(t *time.Time) bool {
	p.ws()
	start := p.i
	if _, escaped, _, ok := p.quoted(); !ok || escaped {
		return false
	}
	return t.UnmarshalJSON(p.data[start:p.i]) == nil
}

// smallInt parses a small non-negative integer.
func (p *bucketParser) smallInt(n *int) bool {
	p.ws()
	start := p.i
	for p.i < len(p.data) && '0' <= p.data[p.i] && p.data[p.i] <= '9' {
		p.i++
	}
	digits := p.data[start:p.i]
	if len(digits) == 0 || len(digits) > 9 || digits[0] == '0' && len(digits) > 1 {
		return false
	}
	v := 0
	for _, c := range digits {
		v = v*10 + int(c-'0')
	}
	*n = v
	return true
}

// parseBucketRare decodes the value at i into *dst with encoding/json: the
// rare parts of a content (mentions, relations), each met once (*dst is
// nil). Decoded apart, not into *dst, which escape analysis would then put
// on the heap with all that holds it.
func parseBucketRare[T any](p *bucketParser, dst **T) bool {
	p.ws()
	start := p.i
	if !p.skip() {
		return false
	}
	var v *T
	if json.Unmarshal(p.data[start:p.i], &v) != nil {
		return false
	}
	*dst = v
	return true
}

// skip moves past the value at i: to the end of the string, or of the
// bracket that closes the one at i, or of a literal. What it skips is not
// checked (parseBucketRare's json.Unmarshal does): if it is valid JSON, it
// is the whole value.
func (p *bucketParser) skip() bool {
	depth := 0
	for p.i < len(p.data) {
		switch c := p.data[p.i]; c {
		case '"':
			if _, _, _, ok := p.quoted(); !ok {
				return false
			}
		case '{', '[':
			depth++
			p.i++
		case '}', ']':
			if depth == 0 {
				return false
			}
			depth--
			p.i++
		default:
			if depth == 0 { // a literal: true, false, null, a number
				start := p.i
				for p.i < len(p.data) && isBucketLiteralByte(p.data[p.i]) {
					p.i++
				}
				return p.i > start
			}
			p.i++
		}
		if depth == 0 {
			return true
		}
	}
	return false
}

func isBucketLiteralByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// appendAlertBucket appends b encoded as json.Marshal encodes it (the same
// bytes: TestAppendAlertBucket, FuzzAppendAlertBucket). It reports false if
// it could not (a time out of RFC 3339's range): json.Marshal then says
// why.
func appendAlertBucket(dst []byte, b *alertBucket) ([]byte, bool) {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(b.Version), 10)
	dst = append(dst, `,"states":`...)
	if b.States == nil {
		return append(dst, "null}"...), true
	}
	dst = append(dst, '[')
	for i := range b.States {
		e := &b.States[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"source":`...)
		dst = appendBucketString(dst, e.Source)
		dst = append(dst, `,"alert":`...)
		dst = appendBucketString(dst, e.Alert)
		dst = append(dst, `,"room":`...)
		dst = appendBucketString(dst, e.Room)
		dst = append(dst, `,"root":`...)
		dst = appendBucketString(dst, e.Root)
		dst = append(dst, `,"latest":`...)
		dst = appendBucketString(dst, e.Latest)
		var ok bool
		if e.RootContent != (Content{}) {
			dst = append(dst, `,"root_content":`...)
			if dst, ok = appendBucketContent(dst, &e.RootContent); !ok {
				return dst, false
			}
		}
		if e.Content != (Content{}) {
			dst = append(dst, `,"content":`...)
			if dst, ok = appendBucketContent(dst, &e.Content); !ok {
				return dst, false
			}
		}
		dst = append(dst, `,"created":"`...)
		if dst, ok = appendBucketTime(dst, e.Created); !ok {
			return dst, false
		}
		dst = append(dst, `","updated":"`...)
		if dst, ok = appendBucketTime(dst, e.Updated); !ok {
			return dst, false
		}
		dst = append(dst, `"}`...)
	}
	return append(dst, "]}"...), true
}

func appendBucketTime(dst []byte, t time.Time) ([]byte, bool) {
	out, err := t.AppendText(dst)
	if err != nil {
		return dst, false
	}
	return out, true
}

// appendBucketContent appends c; its rare parts (mentions, relations) by
// json.Marshal.
func appendBucketContent(dst []byte, c *Content) ([]byte, bool) {
	dst = append(dst, `{"msgtype":`...)
	dst = appendBucketString(dst, c.MsgType)
	dst = append(dst, `,"body":`...)
	dst = appendBucketString(dst, c.Body)
	if c.Format != "" {
		dst = append(dst, `,"format":`...)
		dst = appendBucketString(dst, c.Format)
	}
	if c.FormattedBody != "" {
		dst = append(dst, `,"formatted_body":`...)
		dst = appendBucketString(dst, c.FormattedBody)
	}
	for _, part := range []struct {
		key string
		v   any
		set bool
	}{
		{`,"m.mentions":`, c.Mentions, c.Mentions != nil},
		{`,"m.relates_to":`, c.RelatesTo, c.RelatesTo != nil},
		{`,"m.new_content":`, c.NewContent, c.NewContent != nil},
	} {
		if !part.set {
			continue
		}
		data, err := json.Marshal(part.v)
		if err != nil {
			return dst, false
		}
		dst = append(append(dst, part.key...), data...)
	}
	return append(dst, '}'), true
}

// appendBucketString appends s quoted as encoding/json quotes it (HTML
// characters escaped, invalid UTF-8 replaced, U+2028 and U+2029 escaped).
func appendBucketString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
