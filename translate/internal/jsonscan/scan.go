// Package jsonscan is a small, allocation-free JSON scanner for the
// translate package: it validates and skips values, scans strings and
// numbers, compares string contents with their escapes decoded, and writes
// JSON string literals. It never decodes a value into Go types, so callers
// can splice the bytes of a value through unchanged.
//
// Functions that scan take the input and a start index and return the index
// just past what they scanned, or -1 when the input is not valid JSON there.
// Strings are checked for JSON syntax (quotes, escapes, control characters),
// not for UTF-8 validity, like encoding/json's Valid.
package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"unicode/utf8"
	"unsafe"
)

// smallStackWords is the number of words of nesting levels that Value tracks
// without allocating (64 levels per word); deeper values spill to the heap.
const smallStackWords = 4

// SWAR constants: one bit per byte of a little-endian word.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// Stats collects facts about a value scanned by Value. The zero value is
// ready to use.
type Stats struct {
	// DetectBinary, set by the caller, asks Value to count objects whose
	// first member is "$binary" with a string value and that end right after
	// it (an object with "$binary" as its only key).
	DetectBinary bool
	// Binary is the number of such objects found.
	Binary int
	// BinaryLen is the total length of their raw string contents (escapes
	// included), an upper bound for the base64 text they hold.
	BinaryLen int
	// MaxDepth is the deepest container nesting seen (0 for a scalar).
	MaxDepth int
}

// IsSpace reports whether c is JSON whitespace.
func IsSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace (len(b) when there is none).
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		if c := b[i]; c > ' ' || !IsSpace(c) {
			return i
		}
		i++
	}
	return i
}

// TrimSpace returns b without leading and trailing JSON whitespace.
func TrimSpace(b []byte) []byte {
	i := SkipSpace(b, 0)
	j := len(b)
	for j > i && IsSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// stringSpecial returns a mask whose lowest set bit marks the first byte of
// x (little-endian) that is '"', '\\' or a control character. Bytes of 0x80
// and above (UTF-8 sequences) are never marked. Higher bits may be false
// positives; only the lowest one is exact.
func stringSpecial(x uint64) uint64 {
	// A byte is zero in x^c when it equals c; it is below 0x20 when
	// subtracting 0x20 borrows. XOR with an ASCII constant keeps each byte's
	// top bit, so one &^ x drops bytes of 0x80 and above for all three
	// tests.
	q := x ^ (lsb * '"')
	s := x ^ (lsb * '\\')
	return ((q - lsb) | (s - lsb) | (x - lsb*0x20)) &^ x & msb
}

// String scans the JSON string whose opening quote is b[i]. It returns the
// index just past the closing quote and whether the string holds escapes,
// or -1 when the string is malformed or unterminated.
func String(b []byte, i int) (end int, escaped bool) {
	n := len(b)
	j := i + 1
	for {
		for j+8 <= n {
			if m := stringSpecial(binary.LittleEndian.Uint64(b[j:])); m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				break
			}
			j += 8
		}
		if j >= n {
			return -1, escaped
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1, escaped
		case c == '\\':
			escaped = true
			if j+1 >= n {
				return -1, escaped
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > n || hex4(b[j+2:j+6]) < 0 {
					return -1, escaped
				}
				j += 6
			default:
				return -1, escaped
			}
		case c < 0x20:
			return -1, escaped
		default:
			j++
		}
	}
}

// hex4 decodes four hex digits, or returns -1.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// Number scans the JSON number that starts at b[i] and returns the index
// just past it, or -1. It does not look at the byte after the number.
func Number(b []byte, i int) int {
	n := len(b)
	if i < n && b[i] == '-' {
		i++
	}
	if i >= n {
		return -1
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i++
		for i < n && isDigit(b[i]) {
			i++
		}
	default:
		return -1
	}
	if i < n && b[i] == '.' {
		i++
		if i >= n || !isDigit(b[i]) {
			return -1
		}
		for i < n && isDigit(b[i]) {
			i++
		}
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= n || !isDigit(b[i]) {
			return -1
		}
		for i < n && isDigit(b[i]) {
			i++
		}
	}
	return i
}

// literal scans true, false or null at b[i].
func literal(b []byte, i int) int {
	var lit string
	switch b[i] {
	case 't':
		lit = "true"
	case 'f':
		lit = "false"
	case 'n':
		lit = "null"
	default:
		return -1
	}
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// Scalar scans one string, number or literal at b[i] (no leading
// whitespace) and returns the index past it, or -1.
func Scalar(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		e, _ := String(b, i)
		return e
	case c == 't' || c == 'f' || c == 'n':
		return literal(b, i)
	default:
		return Number(b, i)
	}
}

// IsStringOrNumber reports whether tok is exactly one JSON string or number.
func IsStringOrNumber(tok []byte) bool {
	if len(tok) == 0 {
		return false
	}
	var e int
	if tok[0] == '"' {
		e, _ = String(tok, 0)
	} else {
		e = Number(tok, 0)
	}
	return e == len(tok)
}

// bitStack records, per nesting level, whether the container is an object.
// The first levels live in a fixed array so that ordinary values never
// allocate.
type bitStack struct {
	small [smallStackWords]uint64
	big   []uint64
}

func (s *bitStack) set(level int, obj bool) {
	var w *uint64
	if word := level >> 6; word < smallStackWords {
		w = &s.small[word]
	} else {
		word -= smallStackWords
		for len(s.big) <= word {
			s.big = append(s.big, 0)
		}
		w = &s.big[word]
	}
	if obj {
		*w |= 1 << (level & 63)
	} else {
		*w &^= 1 << (level & 63)
	}
}

func (s *bitStack) obj(level int) bool {
	var w uint64
	if word := level >> 6; word < smallStackWords {
		w = s.small[word]
	} else {
		w = s.big[word-smallStackWords]
	}
	return w>>(level&63)&1 == 1
}

// Value validates the JSON value that starts at b[i] (leading whitespace
// allowed) and returns the index just past it, or -1 when it is not valid
// JSON. Nesting depth is not limited (st.MaxDepth reports it). st may be nil.
func Value(b []byte, i int, st *Stats) int {
	detect := st != nil && st.DetectBinary
	end, maxDepth, bins, binLen := value(b, i, detect)
	if st != nil {
		st.MaxDepth = max(st.MaxDepth, maxDepth)
		st.Binary += bins
		st.BinaryLen += binLen
	}
	return end
}

// States of the $binary detection in value.
const (
	binNone   = iota
	binFirst  // an object just opened: its first key may be "$binary"
	binKey    // the first key was "$binary": its value must be a string
	binString // it was: the object must end now
)

// value is Value's scanner: one loop over the tokens, with strings scanned
// inline (keys and values alike), since call overhead per token dominates
// with the short strings of typical payloads.
func value(b []byte, i int, detect bool) (end, maxDepth, bins, binLen int) {
	n := len(b)
	var stack bitStack
	depth := 0
	inObj := false   // the innermost open container is an object
	wantKey := false // the next token must be an object key
	bin, binStrLen := binNone, 0
	for {
		// A value (or, with wantKey, a key) is expected at i.
		i = SkipSpace(b, i)
		if i >= n {
			return -1, maxDepth, bins, binLen
		}
		c := b[i]
		if c == '"' {
			start := i
			j := i + 1
			escaped := false
		str:
			for {
				for j+8 <= n {
					if m := stringSpecial(binary.LittleEndian.Uint64(b[j:])); m != 0 {
						j += bits.TrailingZeros64(m) >> 3
						break
					}
					j += 8
				}
				if j >= n {
					return -1, maxDepth, bins, binLen
				}
				switch c := b[j]; {
				case c == '"':
					j++
					break str
				case c == '\\':
					escaped = true
					if j+1 >= n {
						return -1, maxDepth, bins, binLen
					}
					switch b[j+1] {
					case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
						j += 2
					case 'u':
						if j+6 > n || hex4(b[j+2:j+6]) < 0 {
							return -1, maxDepth, bins, binLen
						}
						j += 6
					default:
						return -1, maxDepth, bins, binLen
					}
				case c < 0x20:
					return -1, maxDepth, bins, binLen
				default:
					j++
				}
			}
			i = j
			if wantKey {
				wantKey = false
				if bin == binFirst {
					bin = binNone
					if Equal(b[start+1:j-1], escaped, "$binary") {
						bin = binKey
					}
				}
				i = SkipSpace(b, i)
				if i >= n || b[i] != ':' {
					return -1, maxDepth, bins, binLen
				}
				i++
				continue
			}
			if bin == binKey {
				bin, binStrLen = binString, j-start-2
			}
		} else if wantKey {
			return -1, maxDepth, bins, binLen
		} else if c == '{' || c == '[' {
			bin = binNone
			inObj = c == '{'
			stack.set(depth, inObj)
			depth++
			maxDepth = max(maxDepth, depth)
			i = SkipSpace(b, i+1)
			if i >= n {
				return -1, maxDepth, bins, binLen
			}
			if c == '{' {
				if b[i] != '}' {
					wantKey = true
					if detect {
						bin = binFirst
					}
					continue
				}
			} else if b[i] != ']' {
				continue
			}
			// An empty container: it ends here.
			depth--
			if depth > 0 {
				inObj = stack.obj(depth - 1)
			}
			i++
		} else {
			bin = binNone
			if c == 't' || c == 'f' || c == 'n' {
				i = literal(b, i)
			} else {
				i = Number(b, i)
			}
			if i < 0 {
				return -1, maxDepth, bins, binLen
			}
		}
		// A value ended at i: close containers until one continues.
		for {
			if depth == 0 {
				return i, maxDepth, bins, binLen
			}
			i = SkipSpace(b, i)
			if i >= n {
				return -1, maxDepth, bins, binLen
			}
			c := b[i]
			if c == ',' {
				bin = binNone
				wantKey = inObj
				i++
				break
			}
			if (inObj && c == '}') || (!inObj && c == ']') {
				if bin == binString {
					bins++
					binLen += binStrLen
				}
				bin = binNone
				depth--
				if depth > 0 {
					inObj = stack.obj(depth - 1)
				}
				i++
				continue
			}
			return -1, maxDepth, bins, binLen
		}
	}
}

// decodeEscape decodes the escape sequence at raw[j] (a backslash) and
// returns the rune and the length of the sequence. It returns size 0 when
// the escape is malformed and r == -1 for a lone surrogate.
func decodeEscape(raw []byte, j int) (r rune, size int) {
	if j+1 >= len(raw) {
		return 0, 0
	}
	switch raw[j+1] {
	case '"', '\\', '/':
		return rune(raw[j+1]), 2
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		if j+6 > len(raw) {
			return 0, 0
		}
		r = hex4(raw[j+2 : j+6])
		if r < 0 {
			return 0, 0
		}
		if r < 0xD800 || r > 0xDFFF {
			return r, 6
		}
		if r >= 0xDC00 || j+12 > len(raw) || raw[j+6] != '\\' || raw[j+7] != 'u' {
			return -1, 6
		}
		lo := hex4(raw[j+8 : j+12])
		if lo < 0xDC00 || lo > 0xDFFF {
			return -1, 6
		}
		return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12
	}
	return 0, 0
}

// Equal reports whether the contents of a JSON string, raw (without its
// quotes, as scanned by String), equal s once escapes are decoded. escaped
// is String's second result; when false the bytes are compared directly. A
// lone surrogate escape never equals anything.
func Equal(raw []byte, escaped bool, s string) bool {
	if !escaped {
		return string(raw) == s
	}
	if len(raw) < len(s) {
		// Escapes only ever make the raw text longer than what it decodes to.
		return false
	}
	k := 0
	for j := 0; j < len(raw); {
		c := raw[j]
		if c != '\\' {
			if k >= len(s) || s[k] != c {
				return false
			}
			k++
			j++
			continue
		}
		r, size := decodeEscape(raw, j)
		if size == 0 || r < 0 {
			return false
		}
		j += size
		var buf [utf8.UTFMax]byte
		w := utf8.EncodeRune(buf[:], r)
		if len(s)-k < w || string(buf[:w]) != s[k:k+w] {
			return false
		}
		k += w
	}
	return k == len(s)
}

// AppendUnescaped appends the decoded contents of a JSON string, raw
// (without its quotes), to dst. Lone surrogates and malformed escapes become
// U+FFFD.
func AppendUnescaped(dst, raw []byte) []byte {
	for j := 0; j < len(raw); {
		c := raw[j]
		if c != '\\' {
			dst = append(dst, c)
			j++
			continue
		}
		r, size := decodeEscape(raw, j)
		if size == 0 {
			return utf8.AppendRune(dst, utf8.RuneError)
		}
		if r < 0 {
			r = utf8.RuneError
		}
		dst = utf8.AppendRune(dst, r)
		j += size
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// AppendString appends s to dst as a JSON string literal. It escapes '"',
// '\\' and control characters, and replaces each byte of an invalid UTF-8
// sequence with U+FFFD, so the result is always valid JSON and valid UTF-8.
func AppendString(dst []byte, s string) []byte {
	// The bytes are only read.
	return appendString(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// AppendBytes is AppendString for a byte slice.
func AppendBytes(dst, s []byte) []byte {
	return appendString(dst, s)
}

func appendString(dst, s []byte) []byte {
	dst = slices.Grow(dst, len(s)+2)
	dst = append(dst, '"')
	start := 0
	n := len(s)
	for i := 0; i < n; {
		// Fast path: find the next byte that is special or not ASCII,
		// eight bytes at a time.
		for i+8 <= n {
			x := binary.LittleEndian.Uint64(s[i:])
			if m := stringSpecial(x) | x&msb; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= n {
			break
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			if size := runeLen(s, i); size > 0 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// runeLen returns the length of the valid UTF-8 sequence that starts at
// s[i] (a byte >= 0x80), or 0 when it is invalid (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
func runeLen(s []byte, i int) int {
	n := len(s) - i
	c := s[i]
	cont := func(k int, lo, hi byte) bool { return k < n && lo <= s[i+k] && s[i+k] <= hi }
	switch {
	case 0xC2 <= c && c <= 0xDF:
		if cont(1, 0x80, 0xBF) {
			return 2
		}
	case c == 0xE0:
		if cont(1, 0xA0, 0xBF) && cont(2, 0x80, 0xBF) {
			return 3
		}
	case 0xE1 <= c && c <= 0xEC, c == 0xEE, c == 0xEF:
		if cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) {
			return 3
		}
	case c == 0xED:
		if cont(1, 0x80, 0x9F) && cont(2, 0x80, 0xBF) {
			return 3
		}
	case c == 0xF0:
		if cont(1, 0x90, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) {
			return 4
		}
	case 0xF1 <= c && c <= 0xF3:
		if cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) {
			return 4
		}
	case c == 0xF4:
		if cont(1, 0x80, 0x8F) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) {
			return 4
		}
	}
	return 0
}

// Uint parses tok as a non-negative JSON integer (digits only: no sign,
// fraction or exponent) that is at most max. ok is false otherwise.
func Uint(tok []byte, max uint64) (v uint64, ok bool) {
	if len(tok) == 0 || len(tok) > 20 || (tok[0] == '0' && len(tok) > 1) {
		return 0, false
	}
	for _, c := range tok {
		if !isDigit(c) {
			return 0, false
		}
		d := uint64(c - '0')
		if d > max || v > (max-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
