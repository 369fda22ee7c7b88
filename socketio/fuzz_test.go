package socketio

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// FuzzDecodePacket: decoding never panics, and whatever decodes re-encodes
// to a text that decodes to the same packet.
func FuzzDecodePacket(f *testing.F) {
	for _, g := range goldens {
		f.Add(g.frames[0].data[1:])
	}
	for _, s := range []string{``, `2`, `51-`, `510-[]`, `511-[]`, `0/,`, `2/a,1["x"]`, `29007199254740992["x"]`, `2/`, `5/a,1-`, `6001-7[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePacket(b, DefaultMaxAttachments)
		if err != nil {
			return
		}
		if p.id > MaxAckID || (p.typ.binary() && (p.attachments < 1 || p.attachments > DefaultMaxAttachments)) {
			t.Fatalf("parsePacket(%q) accepted %+v", b, p)
		}
		nsp := "/"
		if p.nsp != nil {
			nsp = string(p.nsp)
		}
		enc := appendHeader(nil, p.typ, p.attachments, nsp, p.id, p.hasID)
		enc = append(enc, p.data...)
		q, err := parsePacket(enc[1:], DefaultMaxAttachments)
		if err != nil {
			t.Fatalf("re-encoded %q as %q, which does not decode: %v", b, enc, err)
		}
		if q.typ != p.typ || !bytes.Equal(q.nsp, p.nsp) || q.id != p.id || q.hasID != p.hasID ||
			q.attachments != p.attachments || !bytes.Equal(q.data, p.data) {
			t.Fatalf("round trip of %q: %+v became %+v", b, p, q)
		}
	})
}

// FuzzSplitOffset: the backwards scan agrees with a full JSON parse on every
// valid array, and never panics on anything else.
func FuzzSplitOffset(f *testing.F) {
	for _, s := range []string{
		`["news","hello","Q8L2bxV"]`, `["only"]`, `["e",1]`, `["e","a\"b"]`, `["e","a\\"]`,
		`["e",",\"]"]`, `[ "a" , "b" ]`, `["e",{"a":"b"}]`, `"]`, `]`, ``, `["a","\u0022"]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		comma, off, ok := splitOffset(b)
		var arr []json.RawMessage
		if json.Unmarshal(b, &arr) != nil || !json.Valid(b) {
			if ok && (comma < 1 || comma >= len(b)) {
				t.Fatalf("splitOffset(%q) comma %d out of range", b, comma)
			}
			return
		}
		var last string
		wantOK := len(arr) >= 2 && json.Unmarshal(arr[len(arr)-1], &last) == nil && bytes.HasPrefix(bytes.TrimSpace(arr[len(arr)-1]), []byte(`"`))
		if ok != wantOK {
			t.Fatalf("splitOffset(%s) ok = %v, want %v", b, ok, wantOK)
		}
		if !ok {
			return
		}
		// A text frame is valid UTF-8 (RFC 6455); json replaces invalid
		// bytes, offsetString keeps them.
		if got := offsetString(off); got != last && utf8.Valid(b) {
			t.Fatalf("splitOffset(%s) offset %q, want %q", b, got, last)
		}
		stripped := append(append([]byte(nil), b[:comma]...), ']')
		var rest []json.RawMessage
		if err := json.Unmarshal(stripped, &rest); err != nil || len(rest) != len(arr)-1 {
			t.Fatalf("splitOffset(%s) left %s (%v)", b, stripped, err)
		}
		for i := range rest {
			if !bytes.Equal(rest[i], arr[i]) {
				t.Fatalf("splitOffset(%s) changed element %d: %s", b, i, rest[i])
			}
		}
	})
}

// FuzzRead plays arbitrary frames to a Conn's reader (both Engine.IO
// revisions, with a recovery pid on "/"): it never panics, and it ends with
// a *TransportError.
func FuzzRead(f *testing.F) {
	sep := []byte{0xff, 0xfe}
	for _, g := range goldens {
		var b []byte
		for i, fr := range g.frames {
			if i > 0 {
				b = append(b, sep...)
			}
			if fr.typ == websocket.BinaryMessage {
				b = append(b, 'B')
			} else {
				b = append(b, 'T')
			}
			b = append(b, fr.data...)
		}
		f.Add(b, g.eio == 3)
	}
	f.Add([]byte("T2\xff\xfeT42[\"a\",\"b\"]\xff\xfeT41/admin,"), false)
	f.Fuzz(func(t *testing.T, b []byte, eio3 bool) {
		var frames []memFrame
		for _, part := range bytes.Split(b, sep) {
			if len(part) == 0 {
				continue
			}
			typ := websocket.TextMessage
			if part[0] == 'B' {
				typ = websocket.BinaryMessage
			}
			frames = append(frames, memFrame{typ, part[1:]})
		}
		eio := 4
		if eio3 {
			eio = 3
		}
		ws := &memWS{in: frames}
		c := newMemConn(ws, eio, "/")
		c.findNameLocked("/").pid = "P"
		c.nsps = append(c.nsps, &nsState{name: "/admin", state: nsConnecting})
		for i := 0; i <= len(frames); i++ {
			p, err := c.Read()
			if err != nil {
				if _, ok := err.(*TransportError); !ok {
					t.Fatalf("Read error %T %v", err, err)
				}
				return
			}
			if int(p.Type) >= packetTypeCount {
				t.Fatalf("Read returned type %d", p.Type)
			}
		}
		t.Fatalf("reader did not end after %d frames", len(frames))
	})
}
