package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// frame builds one frame; mask nil sends it unmasked.
func frame(fin bool, op byte, payload []byte, mask []byte) []byte {
	b0 := op
	if fin {
		b0 |= finBit
	}
	out := []byte{b0}
	var mb byte
	if mask != nil {
		mb = maskBit
	}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, mb|byte(n))
	case n <= 0xffff:
		out = binary.BigEndian.AppendUint16(append(out, mb|126), uint16(n))
	default:
		out = binary.BigEndian.AppendUint64(append(out, mb|127), uint64(n))
	}
	if mask == nil {
		return append(out, payload...)
	}
	out = append(out, mask...)
	for i, c := range payload {
		out = append(out, c^mask[i%4])
	}
	return out
}

var key = []byte{0x11, 0x22, 0x33, 0x44}

// recorder is a Handler that records control frames and can park.
type recorder struct {
	controls  []string
	parkIdle  bool // BeforeRead(idle) returns errParked
	timeouts  int
	reads     int
	idleReads int
}

var errParked = errors.New("parked")

func (h *recorder) BeforeRead(idle bool) error {
	if idle {
		h.idleReads++
		if h.parkIdle {
			return errParked
		}
	}
	return nil
}
func (h *recorder) AfterRead() { h.reads++ }
func (h *recorder) ReadTimeout(idle bool, err error) error {
	h.timeouts++
	return err
}
func (h *recorder) Control(op byte, p []byte) error {
	h.controls = append(h.controls, string(rune('0'+op))+":"+string(p))
	if op == OpClose {
		return io.EOF
	}
	return nil
}

// tcpPair returns a loopback TCP connection's two ends.
func tcpPair(t *testing.T) (*net.TCPConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); c.Close() })
	return s.(*net.TCPConn), c
}

// ends returns a connection to read from and the peer to write to: over
// TCP (RawConn reads) and over a pipe (plain reads, as for TLS).
func ends(t *testing.T, kind string) (net.Conn, net.Conn) {
	if kind == "tcp" {
		return tcpPair(t)
	}
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestReadMessage(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 10_000) // 160 KB: many reads
	for _, kind := range []string{"tcp", "pipe"} {
		t.Run(kind, func(t *testing.T) {
			conn, peer := ends(t, kind)
			h := &recorder{}
			r := NewReader(conn, h, NewBufferPool(512), true, 1<<20)
			if (r.RawConn() != nil) != (kind == "tcp") {
				t.Fatalf("RawConn() = %v for %s", r.RawConn(), kind)
			}
			var stream []byte
			stream = append(stream, frame(true, OpText, []byte("hello"), key)...)
			stream = append(stream, frame(false, OpBinary, []byte("ab"), key)...)
			stream = append(stream, frame(true, OpPing, []byte("p"), key)...)
			stream = append(stream, frame(false, OpContinuation, []byte("cd"), key)...)
			stream = append(stream, frame(true, OpContinuation, []byte("ef"), key)...)
			stream = append(stream, frame(true, OpText, big, key)...)
			stream = append(stream, frame(true, OpPong, nil, key)...)
			stream = append(stream, frame(true, OpText, nil, key)...)
			stream = append(stream, frame(true, OpClose, []byte{3, 232}, key)...)
			go func() {
				// Dribble the first bytes to split headers across reads.
				for i := 0; i < 20; i++ {
					peer.Write(stream[i : i+1])
				}
				peer.Write(stream[20:])
			}()
			want := []struct {
				op  byte
				msg []byte
			}{{OpText, []byte("hello")}, {OpBinary, []byte("abcdef")}, {OpText, big}, {OpText, nil}}
			for i, w := range want {
				op, msg, err := r.ReadMessage(nil)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if op != w.op || !bytes.Equal(msg, w.msg) {
					t.Fatalf("message %d: op %d, %d bytes %.20q; want op %d, %d bytes", i, op, len(msg), msg, w.op, len(w.msg))
				}
			}
			if _, _, err := r.ReadMessage(nil); err != io.EOF {
				t.Fatalf("after close frame: %v, want the Control error", err)
			}
			if got := len(h.controls); got != 3 || h.controls[0] != "9:p" || h.controls[2] != "8:\x03\xe8" {
				t.Fatalf("controls %q", h.controls)
			}
		})
	}
}

func TestProtocolErrors(t *testing.T) {
	cases := []struct {
		name   string
		server bool
		in     []byte
	}{
		{"unmasked_client_frame", true, frame(true, OpText, []byte("x"), nil)},
		{"masked_server_frame", false, frame(true, OpText, []byte("x"), key)},
		{"reserved_bits", true, append([]byte{finBit | 0x40 | OpText}, frame(true, OpText, []byte("x"), key)[1:]...)},
		{"reserved_opcode", true, frame(true, 0x3, []byte("x"), key)},
		{"fragmented_control", true, frame(false, OpPing, nil, key)},
		{"oversized_control", true, frame(true, OpPing, make([]byte, 126), key)},
		{"lone_continuation", true, frame(true, OpContinuation, []byte("x"), key)},
		{"message_inside_message", true, append(frame(false, OpText, []byte("x"), key), frame(true, OpText, []byte("y"), key)...)},
		{"one_byte_close", true, frame(true, OpClose, []byte{1}, key)},
		{"length_msb", false, []byte{finBit | OpText, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, peer := tcpPair(t)
			r := NewReader(conn, &recorder{}, NewBufferPool(256), tc.server, 0)
			peer.Write(tc.in)
			_, _, err := r.ReadMessage(nil)
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("err %v, want a *ProtocolError", err)
			}
		})
	}
}

func TestLimit(t *testing.T) {
	conn, peer := tcpPair(t)
	r := NewReader(conn, &recorder{}, NewBufferPool(256), false, 10)
	// Fragments count together: 6 + 6 > 10.
	peer.Write(append(frame(false, OpText, []byte("123456"), nil), frame(true, OpContinuation, []byte("123456"), nil)...))
	if _, _, err := r.ReadMessage(nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
}

// TestIdle: between messages the Reader holds no buffer, can be left
// through BeforeRead, and resumes where it was.
func TestIdle(t *testing.T) {
	conn, peer := tcpPair(t)
	h := &recorder{}
	r := NewReader(conn, h, NewBufferPool(256), true, 0)
	// Two messages in one write: the second stays pending after the first.
	peer.Write(append(frame(true, OpText, []byte("one"), key), frame(true, OpText, []byte("two"), key)...))
	if _, msg, err := r.ReadMessage(nil); err != nil || string(msg) != "one" {
		t.Fatalf("first: %q %v", msg, err)
	}
	h.parkIdle = true
	if r.Pending() == 0 {
		t.Fatal("second message not pending")
	}
	if _, msg, err := r.ReadMessage(nil); err != nil || string(msg) != "two" {
		t.Fatalf("second (pending, no read needed): %q %v", msg, err)
	}
	if r.buf != nil {
		t.Fatal("buffer held between messages with nothing pending")
	}
	if _, _, err := r.ReadMessage(nil); err != errParked {
		t.Fatalf("idle read: %v, want the BeforeRead error", err)
	}
	h.parkIdle = false
	peer.Write(frame(true, OpText, []byte("three"), key))
	if _, msg, err := r.ReadMessage(nil); err != nil || string(msg) != "three" {
		t.Fatalf("after resuming: %q %v", msg, err)
	}
}

// TestReadTimeout: a deadline reaches ReadTimeout with idle set between
// messages, and the Reader reads on when it returns nil.
func TestReadTimeout(t *testing.T) {
	conn, peer := tcpPair(t)
	h := &timeoutOnce{conn: conn}
	r := NewReader(conn, h, NewBufferPool(256), true, 0)
	conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	go func() {
		time.Sleep(100 * time.Millisecond)
		peer.Write(frame(true, OpText, []byte("late"), key))
	}()
	if _, msg, err := r.ReadMessage(nil); err != nil || string(msg) != "late" {
		t.Fatalf("%q %v", msg, err)
	}
	if !h.idle || !errors.Is(h.err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadTimeout(idle=%v, %v)", h.idle, h.err)
	}
}

type timeoutOnce struct {
	recorder
	conn net.Conn
	idle bool
	err  error
}

func (h *timeoutOnce) ReadTimeout(idle bool, err error) error {
	h.idle, h.err = idle, err
	return h.conn.SetReadDeadline(time.Time{})
}

func TestPrepend(t *testing.T) {
	conn, peer := tcpPair(t)
	r := NewReader(conn, &recorder{}, NewBufferPool(256), false, 0)
	f := frame(true, OpText, []byte("split"), nil)
	r.Prepend(f[:3])
	peer.Write(f[3:])
	if _, msg, err := r.ReadMessage(nil); err != nil || string(msg) != "split" {
		t.Fatalf("%q %v", msg, err)
	}
}

func TestUnmask(t *testing.T) {
	k := [4]byte{1, 2, 3, 4}
	for pos := range 4 {
		for n := range 20 {
			p := bytes.Repeat([]byte{0xff}, n)
			Unmask(p, k, pos)
			for i, c := range p {
				if c != 0xff^k[(pos+i)%4] {
					t.Fatalf("pos %d len %d: byte %d = %#x", pos, n, i, c)
				}
			}
		}
	}
}

// FuzzReadMessage feeds arbitrary bytes: the Reader returns messages or an
// error, never panics, and never returns more than the limit.
func FuzzReadMessage(f *testing.F) {
	f.Add(frame(true, OpText, []byte("hi"), key), true)
	f.Add(append(frame(false, OpText, []byte("a"), nil), frame(true, OpContinuation, []byte("b"), nil)...), false)
	f.Add(frame(true, OpPing, []byte("x"), key), true)
	f.Fuzz(func(t *testing.T, in []byte, server bool) {
		a, b := net.Pipe()
		defer a.Close()
		go func() { b.Write(in); b.Close() }()
		r := NewReader(a, &recorder{}, NewBufferPool(256), server, 1000)
		for {
			_, msg, err := r.ReadMessage(nil)
			if err != nil {
				return
			}
			if len(msg) > 1000 {
				t.Fatalf("%d bytes over the limit", len(msg))
			}
		}
	})
}
