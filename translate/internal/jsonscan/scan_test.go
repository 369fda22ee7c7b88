package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// validDoc reports whether b is one JSON value with optional surrounding
// whitespace, according to Value.
func validDoc(b []byte) bool {
	e := Value(b, 0, nil)
	return e >= 0 && SkipSpace(b, e) == len(b)
}

func TestValueAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	docs := []string{
		``, ` `, `{}`, `[]`, `{ }`, `[ ]`, `null`, `true`, `false`, `nul`, `tru`, `falsey`,
		`0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-1.50e400`,
		`12345678901234567890`, `"`, `""`, `"abc`, `"a\"b"`, `"\u00e9"`, `"\u00g9"`, `"\x"`, `"\/"`,
		"\"a\tb\"", "\"a\x01b\"", "\"\x7f\"", "\"é\"", "\"\xff\"", `"0123456789abcdef\"0123"`,
		`{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `[1,]`, `[,1]`, `[1 2]`,
		`[1,[2,{"x":[3]}]]`, `{"a":[}`, `[}`, `{]`, `{"a":{"b":{"c":[]}}}`, `[[[]]]]`, `[[[]]`,
		" \t\r\n[ 1 , 2 ] \n", `1 2`, `{"a":1}}`, `"\ud800"`, `"\uD83D\uDE00"`,
	}
	for _, d := range docs {
		if got, want := validDoc([]byte(d)), json.Valid([]byte(d)); got != want {
			t.Errorf("valid(%q) = %v, encoding/json says %v", d, got, want)
		}
	}
}

func TestStringFindsSpecialsAtEveryOffset(t *testing.T) {
	t.Parallel()
	// The eight-byte fast path must stop at a special byte wherever it is.
	for n := range 24 {
		for _, special := range []string{`"`, `\n`, "\x1f"} {
			body := strings.Repeat("a", n) + special + "bcdefghijklmnop\""
			b := []byte(`"` + body)
			end, esc := String(b, 0)
			switch special {
			case `"`:
				if end != n+2 || esc {
					t.Errorf("n=%d quote: end=%d esc=%v", n, end, esc)
				}
			case `\n`:
				if end != len(b) || !esc {
					t.Errorf("n=%d escape: end=%d esc=%v", n, end, esc)
				}
			default:
				if end != -1 {
					t.Errorf("n=%d control: end=%d, want -1", n, end)
				}
			}
		}
	}
}

func TestValueDepth(t *testing.T) {
	t.Parallel()
	for _, depth := range []int{1, 63, 64, 255, 256, 257, 1000, 100_000} {
		doc := []byte(strings.Repeat(`[{"a":`, depth) + "1" + strings.Repeat(`}]`, depth))
		st := Stats{}
		if e := Value(doc, 0, &st); e != len(doc) {
			t.Fatalf("depth %d: end %d, want %d", depth, e, len(doc))
		}
		if st.MaxDepth != 2*depth {
			t.Errorf("depth %d: MaxDepth %d", depth, st.MaxDepth)
		}
		// A mismatched closer deep down is still found.
		bad := []byte(strings.Repeat(`[{"a":`, depth) + "1" + "]" + strings.Repeat(`}]`, depth)[1:])
		if e := Value(bad, 0, nil); e != -1 {
			t.Errorf("depth %d: mismatched closer accepted (end %d)", depth, e)
		}
	}
}

func TestDetectBinary(t *testing.T) {
	t.Parallel()
	cases := []struct {
		doc      string
		count, n int
	}{
		{`{"$binary":"AQID"}`, 1, 4},
		{`[{"$binary":"AQID"},{"x":{"$binary":""}}]`, 2, 4},
		{`{ "\u0024binary" : "AA==" }`, 1, 4},
		{`{"$binary":"AQID","x":1}`, 0, 0},
		{`{"x":1,"$binary":"AQID"}`, 0, 0},
		{`{"$binary":1}`, 0, 0},
		{`{"$binar":"AQID"}`, 0, 0},
		{`"{\"$binary\":\"AQID\"}"`, 0, 0},
	}
	for _, c := range cases {
		st := Stats{DetectBinary: true}
		if e := Value([]byte(c.doc), 0, &st); e != len(c.doc) {
			t.Fatalf("%s: end %d", c.doc, e)
		}
		if st.Binary != c.count || st.BinaryLen != c.n {
			t.Errorf("%s: Binary=%d BinaryLen=%d, want %d %d", c.doc, st.Binary, st.BinaryLen, c.count, c.n)
		}
	}
}

func TestEqual(t *testing.T) {
	t.Parallel()
	cases := []struct {
		raw, s string
		want   bool
	}{
		{`event`, "event", true},
		{`even`, "event", false},
		{`\u0065vent`, "event", true},
		{`\u0065ven`, "event", false},
		{`\u0065vents`, "event", false},
		{`a\"b`, `a"b`, true},
		{`\\\/\b\f\n\r\t`, "\\/\b\f\n\r\t", true},
		{`\u00e9`, "é", true},
		{`\ud83d\ude00`, "😀", true},
		{`\ud83d`, "\uFFFD", false},
		{`\ude00\ud83d`, "", false},
	}
	for _, c := range cases {
		esc := strings.Contains(c.raw, `\`)
		if got := Equal([]byte(c.raw), esc, c.s); got != c.want {
			t.Errorf("Equal(%s, %q) = %v, want %v", c.raw, c.s, got, c.want)
		}
	}
}

func TestUint(t *testing.T) {
	t.Parallel()
	const max = 1<<53 - 1
	cases := []struct {
		tok string
		v   uint64
		ok  bool
	}{
		{"0", 0, true}, {"7", 7, true}, {"9007199254740991", max, true},
		{"9007199254740992", 0, false}, {"18446744073709551616", 0, false}, {"99999999999999999999999", 0, false},
		{"", 0, false}, {"-1", 0, false}, {"01", 0, false}, {"1.0", 0, false}, {"1e2", 0, false}, {`"1"`, 0, false},
	}
	for _, c := range cases {
		v, ok := Uint([]byte(c.tok), max)
		if v != c.v || ok != c.ok {
			t.Errorf("Uint(%q) = %d, %v; want %d, %v", c.tok, v, ok, c.v, c.ok)
		}
	}
	if _, ok := Uint([]byte("9"), 5); ok {
		t.Error("Uint(9, max 5) accepted")
	}
}

// wantString is what a JSON decoder must read back from AppendString(s):
// s with each byte of an invalid UTF-8 sequence replaced by U+FFFD.
func wantString(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	out := AppendString([]byte("x"), s)
	if out[0] != 'x' {
		t.Fatalf("prefix lost")
	}
	out = out[1:]
	if !utf8.Valid(out) || !json.Valid(out) {
		t.Fatalf("AppendString(%q) = %q: not valid UTF-8 JSON", s, out)
	}
	var got string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("AppendString(%q) = %q: %v", s, out, err)
	}
	if want := wantString(s); got != want {
		t.Fatalf("AppendString(%q) reads back %q, want %q", s, got, want)
	}
	if b := AppendBytes(nil, []byte(s)); string(b) != string(out) {
		t.Fatalf("string and []byte forms differ: %q vs %q", out, b)
	}
}

func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", "quote\"back\\slash", "ctl\x00\x01\x1f\x7f", "\b\f\n\r\t", "é😀\u2028",
		"bad\xffbytes\xc3", "\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80 too big", "\xc0\xaf overlong",
		strings.Repeat("abcdefgh", 9) + "\"" + strings.Repeat("é", 9),
	} {
		checkAppendString(t, s)
	}
}

func FuzzValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `"\u00e9"`, `-1.5e3`, `[`, `{"$binary":"AQ=="}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validDoc(b), json.Valid(b); got != want {
			t.Fatalf("valid(%q) = %v, encoding/json says %v", b, got, want)
		}
		st := Stats{DetectBinary: true}
		Value(b, 0, &st)
		if len(b) >= 2 && b[0] == '"' {
			if end, esc := String(b, 0); end > 0 {
				raw := b[1 : end-1]
				dec := AppendUnescaped(nil, raw)
				if !Equal(raw, esc, string(dec)) && utf8.Valid(dec) && !strings.Contains(string(raw), `\u`) {
					t.Fatalf("Equal(%q, its own decoding %q) = false", raw, dec)
				}
			}
		}
		checkAppendString(t, string(b))
	})
}
