package translate

import (
	"bytes"
	"encoding/base64"
	"strconv"

	"github.com/sio-gateway/gateway/translate/internal/jsonscan"
)

// Binary values in the two directions. Client → upstream, an object whose
// only member is "$binary" with a string value becomes a Socket.IO
// placeholder and its decoded bytes an attachment. Upstream → client, a
// placeholder (an object with "_placeholder":true, the test socket.io-parser
// makes) becomes {"$binary":"<standard base64>"}. Both walkers run only on
// values already validated by jsonscan.Value, and only when there is binary
// data, so the common path never pays for them.

const (
	binaryKey      = "$binary"
	placeholderKey = "_placeholder"
	numKey         = "num"
)

// binaryDecoder copies client arguments to dst, replacing $binary objects
// with placeholders. Bytes between replacements are copied verbatim: from
// is the first source byte not yet copied.
type binaryDecoder struct {
	t     *Translator
	src   []byte
	dst   []byte
	from  int
	atts  [][]byte
	arena []byte // backing store shared by the decoded attachments
	err   string // the FrameError message when the walk failed
}

// substituteBinary appends src[from:to] — one value, or values separated by
// commas — to p with $binary objects replaced. count and binLen are the
// number of $binary objects and the length of their strings, as counted by
// jsonscan.Value, so that one arena holds every attachment. It returns a
// non-empty message when the frame must be refused.
func (t *Translator) substituteBinary(p, src []byte, from, to, count, binLen int) ([]byte, [][]byte, string) {
	w := binaryDecoder{
		t:     t,
		src:   src,
		dst:   p,
		from:  from,
		atts:  make([][]byte, 0, count),
		arena: make([]byte, 0, base64.RawStdEncoding.DecodedLen(binLen)),
	}
	for i := from; i < to; {
		i = w.value(jsonscan.SkipSpace(src, i), 1)
		if w.err != "" {
			return p, nil, w.err
		}
		i = jsonscan.SkipSpace(src, i)
		if i < to && src[i] == ',' {
			i++
		}
	}
	w.dst = append(w.dst, src[w.from:to]...)
	return w.dst, w.atts, ""
}

// value walks the value at src[i] (depth counts its enclosing containers,
// the payload array being 1) and returns the index past it.
func (w *binaryDecoder) value(i, depth int) int {
	if depth > MaxDepth+1 {
		w.err = w.t.msgTooDeep
		return i
	}
	switch w.src[i] {
	case '{':
		return w.object(i, depth+1)
	case '[':
		return w.array(i, depth+1)
	}
	return jsonscan.Scalar(w.src, i)
}

func (w *binaryDecoder) array(s, depth int) int {
	src := w.src
	i := jsonscan.SkipSpace(src, s+1)
	if src[i] == ']' {
		return i + 1
	}
	for {
		i = w.value(i, depth)
		if w.err != "" {
			return i
		}
		i = jsonscan.SkipSpace(src, i)
		if src[i] != ',' {
			return i + 1
		}
		i = jsonscan.SkipSpace(src, i+1)
	}
}

func (w *binaryDecoder) object(s, depth int) int {
	src := w.src
	i := jsonscan.SkipSpace(src, s+1)
	if src[i] == '}' {
		return i + 1
	}
	members := 0
	var bin []byte // the raw contents of a first member "$binary":"…"
	binEsc := false
	for {
		ke, kesc := jsonscan.String(src, i)
		key := src[i+1 : ke-1]
		vs := jsonscan.SkipSpace(src, jsonscan.SkipSpace(src, ke)+1)
		members++
		var ve int
		if src[vs] == '"' {
			var vesc bool
			ve, vesc = jsonscan.String(src, vs)
			if members == 1 && jsonscan.Equal(key, kesc, binaryKey) {
				bin, binEsc = src[vs+1:ve-1], vesc
			}
		} else {
			ve = w.value(vs, depth)
			if w.err != "" {
				return ve
			}
			// With attachments, socket.io-parser treats every object with
			// "_placeholder":true as a reference to one; a client's own would
			// be replaced by an attachment, or kill the upstream connection
			// when its num is out of range.
			if string(src[vs:ve]) == "true" && jsonscan.Equal(key, kesc, placeholderKey) {
				w.err = w.t.msgPlaceholder
				return ve
			}
		}
		i = jsonscan.SkipSpace(src, ve)
		if src[i] == ',' {
			i = jsonscan.SkipSpace(src, i+1)
			continue
		}
		i++ // '}'
		break
	}
	if members != 1 || bin == nil {
		return i
	}
	if len(w.atts) >= w.t.maxAtts {
		w.err = w.t.msgTooMany
		return i
	}
	att, ok := w.decodeBase64(bin, binEsc)
	if !ok {
		w.err = w.t.msgBase64
		return i
	}
	w.dst = append(w.dst, src[w.from:s]...)
	w.dst = append(w.dst, `{"_placeholder":true,"num":`...)
	w.dst = strconv.AppendInt(w.dst, int64(len(w.atts)), 10)
	w.dst = append(w.dst, '}')
	w.atts = append(w.atts, att)
	w.from = i
	return i
}

// decodeBase64 decodes the contents of a $binary string into the arena. It
// accepts the standard and the URL-safe alphabets (RFC 4648 §4 and §5),
// each with or without padding; line breaks are ignored. Mixed alphabets,
// wrong padding and other bytes are refused.
func (w *binaryDecoder) decodeBase64(raw []byte, escaped bool) ([]byte, bool) {
	if escaped {
		// Rare (for example "\/" from encoders that escape slashes); the
		// decoded text is shorter than raw, so binLen still bounds it.
		raw = jsonscan.AppendUnescaped(nil, raw)
	}
	url := bytes.ContainsAny(raw, "-_")
	t := bytes.TrimRight(raw, "\r\n")
	padded := len(t) > 0 && t[len(t)-1] == '='
	var enc *base64.Encoding
	switch {
	case url && padded:
		enc = base64.URLEncoding
	case url:
		enc = base64.RawURLEncoding
	case padded:
		enc = base64.StdEncoding
	default:
		enc = base64.RawStdEncoding
	}
	need := enc.DecodedLen(len(raw))
	if cap(w.arena)-len(w.arena) < need {
		w.arena = make([]byte, 0, need)
	}
	buf := w.arena[len(w.arena) : len(w.arena)+need]
	m, err := enc.Decode(buf, raw)
	if err != nil {
		return nil, false
	}
	w.arena = w.arena[:len(w.arena)+m]
	return buf[:m:m], true
}

// placeholderEncoder copies upstream arguments to dst, replacing
// placeholders with {"$binary":"…"}. from is the first source byte not yet
// copied.
type placeholderEncoder struct {
	src  []byte
	dst  []byte
	from int
	atts [][]byte
}

func (w *placeholderEncoder) value(i, depth int) (int, error) {
	switch w.src[i] {
	case '{':
		return w.object(i, depth+1)
	case '[':
		return w.array(i, depth+1)
	}
	return jsonscan.Scalar(w.src, i), nil
}

func (w *placeholderEncoder) array(s, depth int) (int, error) {
	if depth > MaxDepth+1 {
		return s, ErrTooDeep
	}
	src := w.src
	i := jsonscan.SkipSpace(src, s+1)
	if src[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = w.value(i, depth); err != nil {
			return i, err
		}
		i = jsonscan.SkipSpace(src, i)
		if src[i] != ',' {
			return i + 1, nil
		}
		i = jsonscan.SkipSpace(src, i+1)
	}
}

// object walks the object at src[s]. Like socket.io-parser's
// reconstructPacket, an object whose "_placeholder" member is true (the last
// one, if repeated) is a placeholder as a whole, whatever else it holds; its
// "num" must be an index of the attachments.
func (w *placeholderEncoder) object(s, depth int) (int, error) {
	if depth > MaxDepth+1 {
		return s, ErrTooDeep
	}
	src := w.src
	// Where this object starts in dst, had it been copied verbatim: the
	// copy is rolled back to here when the object turns out to be a
	// placeholder after inner placeholders were already written.
	outAt := len(w.dst) + (s - w.from)
	i := jsonscan.SkipSpace(src, s+1)
	if src[i] == '}' {
		return i + 1, nil
	}
	isPlaceholder := false
	var num []byte
	for {
		ke, kesc := jsonscan.String(src, i)
		key := src[i+1 : ke-1]
		vs := jsonscan.SkipSpace(src, jsonscan.SkipSpace(src, ke)+1)
		ve, err := w.value(vs, depth)
		if err != nil {
			return ve, err
		}
		if jsonscan.Equal(key, kesc, placeholderKey) {
			isPlaceholder = string(src[vs:ve]) == "true"
		} else if jsonscan.Equal(key, kesc, numKey) {
			num = src[vs:ve]
		}
		i = jsonscan.SkipSpace(src, ve)
		if src[i] == ',' {
			i = jsonscan.SkipSpace(src, i+1)
			continue
		}
		i++ // '}'
		break
	}
	if !isPlaceholder {
		return i, nil
	}
	k, ok := jsonscan.Uint(num, uint64(len(w.atts)-1))
	if !ok || len(w.atts) == 0 {
		return i, ErrInvalidPlaceholder
	}
	if outAt <= len(w.dst) {
		w.dst = w.dst[:outAt]
	} else {
		w.dst = append(w.dst, src[w.from:s]...)
	}
	w.dst = append(w.dst, `{"$binary":"`...)
	w.dst = base64.StdEncoding.AppendEncode(w.dst, w.atts[k])
	w.dst = append(w.dst, `"}`...)
	w.from = i
	return i, nil
}
