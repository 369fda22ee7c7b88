// Package wsframe reads WebSocket messages (RFC 6455 §5) for either end of
// a connection, for programs that keep many connections open and want an
// idle one to cost little.
//
// A Reader borrows its read buffer from a BufferPool only while bytes are
// pending and gives it back before it waits for more. On a TCP connection
// it reads through the socket's syscall.RawConn, so the wait itself holds
// no buffer either; other connections (TLS) are read with Read, the buffer
// held while it blocks.
//
// Its owner sees every read (Handler.BeforeRead and AfterRead), decides
// what a read timeout means (ReadTimeout), and answers control frames
// (Control). Between messages the Reader can be left, with nothing held,
// and resumed later by any goroutine: that is how a caller parks an idle
// connection without a goroutine blocked in it.
//
// A Reader is not safe for concurrent use; one goroutine reads at a time.
// Writing is not its business.
package wsframe

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// MaxControlPayload is the largest payload of a control frame.
const MaxControlPayload = 125

// Header bits.
const (
	finBit  = 0x80
	rsvBits = 0x70
	maskBit = 0x80
)

// ErrTooLarge is returned for a message over the Reader's limit.
var ErrTooLarge = errors.New("wsframe: message exceeds the read limit")

// ProtocolError is a frame that breaks RFC 6455; the connection should be
// closed with status 1002.
type ProtocolError struct{ Reason string }

func (e *ProtocolError) Error() string { return "websocket protocol error: " + e.Reason }

// Handler is what a Reader asks of its owner. Errors it returns stop
// ReadMessage and are returned as they are.
type Handler interface {
	// BeforeRead is called before each read of the connection, which may
	// wait. idle reports that the Reader is between messages with nothing
	// pending: an error then leaves the Reader intact, to be resumed by a
	// later ReadMessage.
	BeforeRead(idle bool) error
	// AfterRead is called after a read that returned bytes.
	AfterRead()
	// ReadTimeout is called when a read hit the connection's read
	// deadline (err is that error): nil reads on (after the owner moved
	// the deadline), an error stops ReadMessage. With idle true the
	// Reader stays intact, as with BeforeRead.
	ReadTimeout(idle bool, err error) error
	// Control handles a ping, pong or close frame. payload is valid during
	// the call only.
	Control(opcode byte, payload []byte) error
}

// BufferPool lends read buffers of one size to Readers.
type BufferPool struct {
	size int
	p    sync.Pool
}

// NewBufferPool returns a pool of size-byte buffers. Larger sizes mean
// fewer reads for pipelined traffic; the buffer is only held while bytes
// are pending.
func NewBufferPool(size int) *BufferPool {
	bp := &BufferPool{size: size}
	bp.p.New = func() any { b := make([]byte, size); return &b }
	return bp
}

func (bp *BufferPool) get() *[]byte { return bp.p.Get().(*[]byte) }

func (bp *BufferPool) put(b *[]byte) {
	if len(*b) == bp.size {
		bp.p.Put(b)
	}
}

// Reader reads the messages of one connection.
type Reader struct {
	conn   net.Conn
	rc     syscall.RawConn // nil: conn.Read
	h      Handler
	pool   *BufferPool
	masked bool  // frames must be masked (a server reading a client)
	limit  int64 // largest message; 0 for none

	buf  *[]byte // pending bytes are (*buf)[r:w]; nil while none are
	r, w int

	// tryRead's results; tryFn is tryRead as a func value, made once.
	n     int
	err   error
	tryFn func(uintptr) bool
}

// NewReader returns a Reader of conn's messages; when conn has a
// SyscallConn method (as *net.TCPConn has), it is read through that. server tells which end
// reads: a server requires masked frames, a client unmasked ones. limit
// caps a message's size (0: no cap).
func NewReader(conn net.Conn, h Handler, pool *BufferPool, server bool, limit int64) *Reader {
	r := &Reader{conn: conn, h: h, pool: pool, masked: server, limit: limit}
	r.tryFn = r.tryRead
	if sc, ok := conn.(syscallConn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			r.rc = rc
		}
	}
	return r
}

// syscallConn is a connection whose socket the Reader may read directly
// (*net.TCPConn, *net.UnixConn). A wrapper that changes the bytes read
// must not have this method; one that only adds to writes may forward it.
type syscallConn interface {
	SyscallConn() (syscall.RawConn, error)
}

// RawConn returns the socket the Reader reads through, or nil when it
// reads with conn.Read (TLS and other connections).
func (r *Reader) RawConn() syscall.RawConn { return r.rc }

// Pending reports the number of bytes read and not yet consumed.
func (r *Reader) Pending() int { return r.w - r.r }

// Prepend makes p (bytes read from the connection by someone else, such
// as the handshake's reader) the first bytes the Reader consumes.
func (r *Reader) Prepend(p []byte) {
	if len(p) == 0 {
		return
	}
	rest := r.Pending()
	var nb *[]byte
	if len(p)+rest <= r.pool.size {
		nb = r.pool.get()
	} else {
		b := make([]byte, len(p)+rest)
		nb = &b
	}
	n := copy(*nb, p)
	if r.buf != nil {
		n += copy((*nb)[n:], (*r.buf)[r.r:r.w])
		r.pool.put(r.buf)
	}
	r.buf, r.r, r.w = nb, 0, n
}

// Release gives the read buffer back when nothing is pending. The Reader
// stays usable.
func (r *Reader) Release() {
	if r.buf != nil && r.r == r.w {
		r.pool.put(r.buf)
		r.buf, r.r, r.w = nil, 0, 0
	}
}

// ReadMessage appends the next data message to dst and returns its opcode
// (OpText or OpBinary). Control frames on the way go to Control.
//
// After an error the Reader must not be used, except after an error that
// BeforeRead or ReadTimeout returned with idle true.
func (r *Reader) ReadMessage(dst []byte) (opcode byte, msg []byte, err error) {
	var msgOp byte
	for {
		h, err := r.readHeader(msgOp == 0)
		if err != nil {
			return 0, dst, err
		}
		switch h.opcode {
		case OpClose, OpPing, OpPong:
			if !h.fin || h.length > MaxControlPayload {
				return 0, dst, &ProtocolError{"fragmented or oversized control frame"}
			}
			if err := r.control(h); err != nil {
				return 0, dst, err
			}
			continue
		case OpContinuation:
			if msgOp == 0 {
				return 0, dst, &ProtocolError{"continuation frame without a message"}
			}
		case OpText, OpBinary:
			if msgOp != 0 {
				return 0, dst, &ProtocolError{"new message inside a fragmented one"}
			}
			msgOp = h.opcode
		default:
			return 0, dst, &ProtocolError{"reserved opcode"}
		}
		if r.limit > 0 && int64(len(dst))+h.length > r.limit {
			return 0, dst, ErrTooLarge
		}
		if dst, err = r.readPayload(dst, h); err != nil {
			return 0, dst, err
		}
		if h.fin {
			r.Release() // nothing is held between messages
			return msgOp, dst, nil
		}
	}
}

// header is a parsed frame header.
type header struct {
	fin    bool
	opcode byte
	masked bool
	length int64
	mask   [4]byte
}

// readHeader reads and consumes one frame header. start: no message is in
// progress.
func (r *Reader) readHeader(start bool) (header, error) {
	var h header
	if err := r.ensure(2, start); err != nil {
		return h, err
	}
	p := (*r.buf)[r.r:r.w]
	b0, b1 := p[0], p[1]
	h.masked = b1&maskBit != 0
	switch {
	case h.masked != r.masked && r.masked:
		return h, &ProtocolError{"unmasked client frame"}
	case h.masked != r.masked:
		return h, &ProtocolError{"masked server frame"}
	case b0&rsvBits != 0:
		return h, &ProtocolError{"reserved bits set"}
	}
	n := 2
	if h.masked {
		n += 4
	}
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if err := r.ensure(n, false); err != nil {
		return h, err
	}
	p = (*r.buf)[r.r:r.w]
	h.fin = b0&finBit != 0
	h.opcode = b0 & 0x0f
	switch l := b1 & 0x7f; l {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(p[2:]))
	case 127:
		u := binary.BigEndian.Uint64(p[2:])
		if u>>63 != 0 {
			return h, &ProtocolError{"invalid payload length"}
		}
		h.length = int64(u)
	default:
		h.length = int64(l)
	}
	if h.masked {
		copy(h.mask[:], p[n-4:n])
	}
	r.r += n
	return h, nil
}

// readPayload appends a data frame's payload, unmasked, to dst.
func (r *Reader) readPayload(dst []byte, h header) ([]byte, error) {
	left := h.length
	pos := 0 // position in the masking key
	for left > 0 {
		if r.Pending() == 0 {
			if err := r.fill(false); err != nil {
				return dst, err
			}
		}
		chunk := (*r.buf)[r.r:r.w]
		if int64(len(chunk)) > left {
			chunk = chunk[:left]
		}
		start := len(dst)
		dst = append(dst, chunk...)
		if h.masked {
			Unmask(dst[start:], h.mask, pos)
		}
		pos += len(chunk)
		r.r += len(chunk)
		left -= int64(len(chunk))
	}
	return dst, nil
}

// control reads a control frame's payload and hands it to the Handler.
func (r *Reader) control(h header) error {
	n := int(h.length)
	if err := r.ensure(n, false); err != nil {
		return err
	}
	var payload [MaxControlPayload]byte
	p := payload[:n]
	copy(p, (*r.buf)[r.r:r.r+n])
	r.r += n
	if h.masked {
		Unmask(p, h.mask, 0)
	}
	if h.opcode == OpClose && n == 1 {
		return &ProtocolError{"close frame with a one-byte payload"}
	}
	return r.h.Control(h.opcode, p)
}

// ensure makes at least k bytes pending. start: no message is in
// progress.
func (r *Reader) ensure(k int, start bool) error {
	for r.Pending() < k {
		if err := r.fill(start && r.Pending() == 0); err != nil {
			return err
		}
	}
	return nil
}

// fill reads more bytes after the pending ones. idle: between messages,
// nothing pending.
func (r *Reader) fill(idle bool) error {
	if r.buf != nil {
		if r.r == r.w {
			r.r, r.w = 0, 0
		} else if r.w == len(*r.buf) {
			if r.r == 0 { // cannot happen with pool buffers ≥ 256 bytes
				nb := make([]byte, 2*len(*r.buf))
				copy(nb, *r.buf)
				r.buf = &nb
			} else {
				r.w = copy(*r.buf, (*r.buf)[r.r:r.w])
				r.r = 0
			}
		}
	}
	for {
		if err := r.h.BeforeRead(idle); err != nil {
			return err
		}
		var n int
		var err error
		if r.rc != nil {
			err = r.rc.Read(r.tryFn)
			if err == nil {
				n, err = r.n, r.err
				r.n, r.err = 0, nil
			}
		} else {
			if r.buf == nil {
				r.buf, r.r, r.w = r.pool.get(), 0, 0
			}
			n, err = r.conn.Read((*r.buf)[r.w:])
			if n == 0 && err == nil {
				err = io.ErrNoProgress
			}
		}
		if n > 0 {
			r.w += n
			r.h.AfterRead()
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if err := r.h.ReadTimeout(idle, err); err != nil {
			return err
		}
	}
}

// tryRead is the RawConn read callback: it reads what the socket has into
// a borrowed buffer, and gives the buffer back when there is nothing to
// read and nothing pending, before the Reader waits.
func (r *Reader) tryRead(fd uintptr) bool {
	if r.buf == nil {
		r.buf, r.r, r.w = r.pool.get(), 0, 0
	}
	for {
		n, err := readNonBlocking(fd, (*r.buf)[r.w:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			r.Release()
			return false
		case err != nil:
			r.n, r.err = 0, os.NewSyscallError("read", err)
		case n == 0:
			r.n, r.err = 0, io.EOF
		default:
			r.n, r.err = n, nil
		}
		return true
	}
}

// Unmask XORs p with the masking key, starting at position pos of the key.
func Unmask(p []byte, key [4]byte, pos int) {
	k := binary.LittleEndian.Uint32(key[:])
	if s := pos & 3; s != 0 {
		k = k>>(8*s) | k<<(32-8*s)
	}
	i := 0
	if len(p) >= 8 {
		k8 := uint64(k) | uint64(k)<<32
		for ; i+8 <= len(p); i += 8 {
			binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k8)
		}
	}
	for ; i < len(p); i++ {
		p[i] ^= byte(k)
		k = k>>8 | k<<24
	}
}

// readNonBlocking is read(2) on a non-blocking socket. It never waits, so
// it is a raw system call: without the scheduler's bookkeeping for calls
// that may block, which at a read per message is a visible cost.
func readNonBlocking(fd uintptr, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
