package socketio

import (
	"strings"
	"testing"
)

// benchPayload returns a JSON array whose Socket.IO text (with header) is
// size bytes: ["chat",{"text":"xxxx…"}] for events, [{"text":"xxxx…"}] for
// acks.
func benchPayload(size int, ack bool, hdr int) []byte {
	head, tail := `["chat",{"text":"`, `"}]`
	if ack {
		head = `[{"text":"`
	}
	n := size - hdr - len(head) - len(tail)
	return []byte(head + strings.Repeat("x", n) + tail)
}

var benchCases = []struct {
	name string
	size int
	ack  bool
	nsp  string
}{
	{"event-70B", 70, false, "/"},
	{"event-1KiB", 1024, false, "/"},
	{"ack-70B", 70, true, "/"},
	{"ack-1KiB", 1024, true, "/"},
	{"event-70B-nsp", 70, false, "/admin"},
}

// BenchmarkEncode measures Send of a text EVENT or ACK into a reusable
// in-memory writer: header, size and state checks, locking, writing.
func BenchmarkEncode(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			ws := &memWS{discard: true}
			c := newMemConn(ws, 4, bc.nsp)
			p := Packet{Type: PacketEvent, Namespace: bc.nsp}
			if bc.ack {
				p.Type, p.ID, p.HasID = PacketAck, 12, true
			}
			hdr := len(appendHeader(nil, p.Type, 0, bc.nsp, p.ID, p.HasID))
			p.Data = benchPayload(bc.size, bc.ack, hdr)
			b.SetBytes(int64(hdr + len(p.Data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Send(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode measures Read of a text EVENT or ACK from bytes: message
// buffer from the pool, Engine.IO and Socket.IO decoding, namespace lookup
// and bookkeeping.
func BenchmarkDecode(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			typ := PacketEvent
			if bc.ack {
				typ = PacketAck
			}
			hdr := appendHeader(nil, typ, 0, bc.nsp, 12, bc.ack)
			frame := append(hdr, benchPayload(bc.size, bc.ack, len(hdr))...)
			ws := &memWS{in: []memFrame{{typ: 1, data: frame}}, loop: true}
			c := newMemConn(ws, 4, bc.nsp)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				p, err := c.Read()
				if err != nil || p.Type != typ {
					b.Fatal(p, err)
				}
			}
		})
	}
}

// BenchmarkDecodeCSR is BenchmarkDecode with a recovery offset to strip.
func BenchmarkDecodeCSR(b *testing.B) {
	frame := []byte(`42["chat",{"text":"hello there, how are you doing?"},"Q8L2bxV"]`)
	ws := &memWS{in: []memFrame{{typ: 1, data: frame}}, loop: true}
	c := newMemConn(ws, 4, "/")
	c.findNameLocked("/").pid = "20Us"
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Read(); err != nil {
			b.Fatal(err)
		}
	}
}
