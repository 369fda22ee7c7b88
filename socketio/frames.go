package socketio

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/wsframe"
)

// Reading WebSocket frames
//
// gorilla does the handshake and writes; the Conn reads frames itself with
// a wsframe.Reader, which holds a buffer only while bytes are pending and
// lets a reader stop between messages (ReadIdle) with nothing held. What
// gorilla's reader did besides is done here: pings are answered with
// pongs, a close frame is answered and ends the Conn, and the read limit
// is enforced.

// ErrIdle is returned by ReadIdle when no packet began within the quiet
// period. The Conn is intact.
var ErrIdle = errors.New("socketio: no packet within the quiet period")

// ReadIdle is Read, except that when no packet begins within quiet it
// returns ErrIdle and holds nothing: no goroutine waits in the Conn and no
// buffer is borrowed. A caller that wants no goroutine per quiet Conn
// waits for SyscallConn to become readable, or for HeartbeatDeadline,
// whichever comes first, and calls ReadIdle again (the heartbeat, too,
// needs a reader to be answered or to time out).
//
// Conns whose frames are not read by this package (a Conn over a test
// double) never return ErrIdle.
func (c *Conn) ReadIdle(quiet time.Duration) (Packet, error) {
	if c.frames == nil || quiet <= 0 {
		return c.Read()
	}
	c.dlMu.Lock()
	at := time.Now().Add(quiet)
	if !c.idleActive || at.Before(c.idleAt) {
		// The deadline is only lowered here; calls that move idleAt
		// later leave it, and a deadline that fires early is moved on
		// (ReadTimeout): steady traffic costs no deadline change.
		c.idleActive, c.idleAt = true, at
		c.applyDeadlineLocked()
	} else {
		c.idleAt = at
	}
	c.dlMu.Unlock()
	return c.read(true)
}

// SyscallConn returns the socket a quiet Conn waits on, or nil when there
// is none to wait on (TLS, whose decrypted bytes no socket event shows,
// and test doubles).
func (c *Conn) SyscallConn() syscall.RawConn {
	if c.frames == nil {
		return nil
	}
	return c.frames.RawConn()
}

// HeartbeatDeadline is when the Conn fails with ErrPingTimeout unless the
// server is heard from; a Conn left quiet after ErrIdle must be read again
// by then.
func (c *Conn) HeartbeatDeadline() time.Time {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	return c.watchdogAt
}

// SetReadHook makes the reader call before, in its own goroutine, before
// each read from the socket (never for bytes already buffered): a caller
// that batches its own output can flush it there, as an event loop does
// before it waits. before must not read the Conn. Set it before the
// reader starts (or between reads, from the reader's goroutine); nil
// removes it.
func (c *Conn) SetReadHook(before func()) { c.readHook = before }

// endIdle drops the quiet period's deadline.
func (c *Conn) endIdle() {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if c.idleActive {
		c.idleActive = false
		if !c.dead.Load() {
			c.applyDeadlineLocked()
		}
	}
}

// frameHandler is the Conn as the wsframe.Handler of its reader.
type frameHandler struct{ c *Conn }

// BeforeRead calls the read hook, and ends a ReadIdle whose quiet period
// is over.
func (h frameHandler) BeforeRead(idle bool) error {
	c := h.c
	if c.readHook != nil {
		c.readHook()
	}
	if !idle || !c.idleOK {
		return nil
	}
	c.dlMu.Lock()
	over := c.idleActive && !time.Now().Before(c.idleAt)
	c.dlMu.Unlock()
	if over {
		return ErrIdle
	}
	return nil
}

// AfterRead is not needed: the Conn notes arrivals per message.
func (frameHandler) AfterRead() {}

// ReadTimeout tells the heartbeat's and the caller's bound's deadlines,
// which fail the read, from the quiet period's, which ends a ReadIdle
// between messages and is moved on otherwise.
func (h frameHandler) ReadTimeout(idle bool, err error) error {
	c := h.c
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	now := time.Now()
	if !c.idleActive ||
		(!c.watchdogAt.IsZero() && !now.Before(c.watchdogAt)) ||
		(c.boundActive && (c.boundCanceled || (!c.bound.IsZero() && !now.Before(c.bound)))) {
		return err
	}
	if idle && c.idleOK && !now.Before(c.idleAt) {
		return ErrIdle
	}
	if !idle || !c.idleOK {
		c.idleActive = false // inside a message: only real deadlines count
	}
	c.applyDeadlineLocked()
	return nil
}

// Control answers pings and close frames.
func (h frameHandler) Control(opcode byte, payload []byte) error {
	c := h.c
	switch opcode {
	case wsframe.OpPing:
		return c.ws.WriteControl(websocket.PongMessage, payload, time.Now().Add(c.writeTimeout))
	case wsframe.OpClose:
		ce := &websocket.CloseError{Code: websocket.CloseNoStatusReceived}
		if len(payload) >= 2 {
			ce.Code = int(payload[0])<<8 | int(payload[1])
			ce.Text = string(payload[2:])
		}
		reply := websocket.FormatCloseMessage(ce.Code, "")
		if ce.Code == websocket.CloseNoStatusReceived {
			reply = nil
		}
		_ = c.ws.WriteControl(websocket.CloseMessage, reply, time.Now().Add(closeFrameWait))
		return ce
	}
	return nil
}

// handshakeConn is what gorilla reads the upgrade response from: it hands
// over the response of a successful upgrade and not a byte more, keeping
// the frames that arrived with it (the OPEN packet, often) for the frame
// reader. Other responses pass through whole, body included.
type handshakeConn struct {
	net.Conn
	out     []byte // the request, gathered by WriteByte and Write
	head    []byte // the status line's start, to tell a 101
	through bool   // not an upgrade: pass everything
	matched int    // bytes of "\r\n\r\n" matched so far
	done    bool   // the response ended: reads return EOF
	rest    []byte // bytes after the response
}

// WriteByte makes the conn an io.ByteWriter, which spares net/http the
// 4 KiB bufio.Writer it otherwise wraps the request's writes in; the
// request is gathered here and written whole by the first Read.
func (c *handshakeConn) WriteByte(b byte) error {
	c.out = append(c.out, b)
	return nil
}

// Write gathers the request (see WriteByte).
func (c *handshakeConn) Write(p []byte) (int, error) {
	c.out = append(c.out, p...)
	return len(p), nil
}

// flush writes the gathered request.
func (c *handshakeConn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.out)
	c.out = nil
	return err
}

// Read implements net.Conn.
func (c *handshakeConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	if c.done {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	if c.through {
		return n, err
	}
	for i := 0; i < n; i++ {
		if len(c.head) < len("HTTP/1.1 101") {
			c.head = append(c.head, p[i])
			if len(c.head) == len("HTTP/1.1 101") && string(c.head[len(c.head)-4:]) != " 101" {
				c.through = true
				return n, err
			}
		}
		switch {
		case p[i] == "\r\n\r\n"[c.matched]:
			c.matched++
		case p[i] == '\r':
			c.matched = 1
		default:
			c.matched = 0
		}
		if c.matched == 4 {
			c.done = true
			c.rest = append([]byte(nil), p[i+1:n]...)
			return i + 1, nil
		}
	}
	return n, err
}

// frameConn is the Conn's WebSocket once the handshake is done: frames
// are read by a wsframe.Reader (through Conn.readMessage) and written
// here, masked, one system call per message. gorilla's Conn, which did
// the handshake, is let go with its buffers.
type frameConn struct {
	conn    net.Conn
	pool    websocket.BufferPool // write buffers (*[]byte), lent per message
	bufSize int                  // capacity of a new write buffer
	mw      messageWriter        // the one message being written (under wmu)
}

// maxClientHeader is the longest header of a masked frame.
const maxClientHeader = 14

func newFrameConn(conn net.Conn, pool websocket.BufferPool, bufSize int) *frameConn {
	fc := &frameConn{conn: conn, pool: pool, bufSize: bufSize}
	fc.mw.fc = fc
	return fc
}

// NextReader is not used: readMessage reads through the wsframe.Reader.
func (fc *frameConn) NextReader() (int, io.Reader, error) {
	return 0, nil, errors.New("socketio: frameConn is read through its wsframe.Reader")
}

// NextWriter starts a message; the Conn writes one at a time (wmu).
func (fc *frameConn) NextWriter(messageType int) (io.WriteCloser, error) {
	mw := &fc.mw
	mw.opcode = byte(messageType)
	mw.buf = fc.getBuf()
	*mw.buf = (*mw.buf)[:maxClientHeader]
	return mw, nil
}

func (fc *frameConn) SetReadDeadline(t time.Time) error  { return fc.conn.SetReadDeadline(t) }
func (fc *frameConn) SetWriteDeadline(t time.Time) error { return fc.conn.SetWriteDeadline(t) }
func (fc *frameConn) Close() error                       { return fc.conn.Close() }

// WriteControl writes a control frame in one write; it is safe alongside
// a message being written, since each is a single write.
func (fc *frameConn) WriteControl(messageType int, data []byte, deadline time.Time) error {
	if len(data) > wsframe.MaxControlPayload {
		return errors.New("socketio: control frame payload over 125 bytes")
	}
	var b [maxClientHeader + wsframe.MaxControlPayload]byte
	f := appendMaskedFrame(b[:0], byte(messageType), data)
	_ = fc.conn.SetWriteDeadline(deadline)
	_, err := fc.conn.Write(f)
	return err
}

func (fc *frameConn) getBuf() *[]byte {
	if b, ok := fc.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, fc.bufSize)
	return &b
}

func (fc *frameConn) putBuf(b *[]byte) {
	if cap(*b) <= maxPooledReadBuffer {
		fc.pool.Put(b)
	}
}

// messageWriter gathers one message after room for its header, then masks
// it and writes header and payload with one write.
type messageWriter struct {
	fc     *frameConn
	opcode byte
	buf    *[]byte
}

func (mw *messageWriter) Write(p []byte) (int, error) {
	*mw.buf = append(*mw.buf, p...)
	return len(p), nil
}

func (mw *messageWriter) Close() error {
	b := *mw.buf
	payload := b[maxClientHeader:]
	key := newMaskKey()
	var hdr [maxClientHeader]byte
	h := appendFrameHeader(hdr[:0], mw.opcode, len(payload), key)
	start := maxClientHeader - len(h)
	copy(b[start:], h)
	wsframe.Unmask(payload, key, 0) // XOR masks as it unmasks
	_, err := mw.fc.conn.Write(b[start:])
	mw.fc.putBuf(mw.buf)
	mw.buf = nil
	return err
}

// appendMaskedFrame appends a final, masked frame carrying payload.
func appendMaskedFrame(dst []byte, opcode byte, payload []byte) []byte {
	key := newMaskKey()
	dst = appendFrameHeader(dst, opcode, len(payload), key)
	start := len(dst)
	dst = append(dst, payload...)
	wsframe.Unmask(dst[start:], key, 0)
	return dst
}

// appendFrameHeader appends the header of a final client frame of n
// payload bytes masked with key (RFC 6455 §5.2).
func appendFrameHeader(dst []byte, opcode byte, n int, key [4]byte) []byte {
	dst = append(dst, 0x80|opcode)
	switch {
	case n <= 125:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		for i := 7; i >= 0; i-- {
			dst = append(dst, byte(uint64(n)>>(8*i)))
		}
	}
	return append(dst, key[:]...)
}

// newMaskKey returns a fresh masking key (RFC 6455 §5.3: unpredictable).
// math/rand/v2's generator is ChaCha8 seeded by the OS, without the system
// call per frame that crypto/rand makes here.
func newMaskKey() [4]byte {
	n := rand.Uint32()
	return [4]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
}
