package proxy

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/sio-gateway/gateway/internal/idlepoll"
)

// Reading the client WebSocket
//
// The gateway reads client frames itself (RFC 6455 §5, server side)
// rather than through gorilla's reader, for memory: an idle client should
// hold neither a read buffer nor a goroutine.
//
//   - Reads of a TCP client go through its syscall.RawConn: a read buffer
//     is borrowed from a pool only while bytes are pending and given back
//     before the reader waits, so a waiting reader holds none.
//   - A reader that has heard nothing for parkAfter at a message boundary
//     hands the socket to the Server's idlepoll.Poller and ends; the Poller
//     starts a new reader when bytes arrive. A goroutine parked in Read
//     keeps the stack it grew while translating (4 KiB here), which the
//     runtime does not shrink, so parking is what makes an idle client
//     cheap.
//   - TLS clients (their decrypted bytes are invisible to the socket) and
//     platforms without epoll keep a reader blocked in Read.
//
// Control frames are answered here: a ping gets its pong, a close ends the
// bridge (closeClient replies). Protocol violations close with 1002.

// parkAfter is how long a reader waits for a quiet client before it parks.
const parkAfter = time.Second

// clientReadBuffer is the size of the pooled buffers client bytes are read
// into.
const clientReadBuffer = 4096

// WebSocket opcodes and header bits (RFC 6455 §5.2) the reader needs.
const (
	opContinuation    = 0x0
	opBinary          = 0x2
	opClose           = 0x8
	opPing            = 0x9
	opPong            = 0xA
	maskBit           = 0x80
	rsvBits           = 0x70
	maxControlPayload = 125
)

// CloseProtocolError is the close code for a client that broke RFC 6455.
const CloseProtocolError = 1002

// Errors of the client reader.
var (
	// errPark: the reader parked; a new one starts when bytes arrive.
	errPark = errors.New("client reader parked")
	// errClientClose: the client sent a close frame.
	errClientClose = errors.New("client sent close")
	// errTooLarge: a message exceeds GATEWAY_MAX_MESSAGE_BYTES.
	errTooLarge = errors.New("client message exceeds the size limit")
)

// protocolError is a client frame that breaks RFC 6455.
type protocolError struct{ why string }

func (e *protocolError) Error() string { return "websocket protocol error: " + e.why }

// readBufPool lends the client reader its buffers.
type readBufPool struct{ p sync.Pool }

func newReadBufPool() *readBufPool {
	return &readBufPool{p: sync.Pool{New: func() any { b := make([]byte, clientReadBuffer); return &b }}}
}

func (p *readBufPool) get() *[]byte  { return p.p.Get().(*[]byte) }
func (p *readBufPool) put(b *[]byte) { p.p.Put(b) }

// clientIn is the reading side of a client connection. Only the current
// reader goroutine touches it (readers never overlap: a new one starts
// only after the previous one parked).
type clientIn struct {
	conn   net.Conn         // the client connection (TCP or TLS)
	rc     syscall.RawConn  // the TCP socket; nil for TLS: reads block in conn.Read
	park   *idlepoll.Handle // nil: the reader never parks
	noPark bool             // arming failed: read on without parking
	pool   *readBufPool

	buf  *[]byte // pending bytes are (*buf)[r:w]; nil while none are
	r, w int

	deadline time.Time // the read deadline set, zero for none
	woke     time.Time // when this reader started

	// tryRead's results; tryFn is tryRead as a func value, made once.
	n     int
	err   error
	tryFn func(uintptr) bool
}

// pending is the number of bytes read and not consumed.
func (in *clientIn) pending() int { return in.w - in.r }

// tryRead is the RawConn read callback: it reads what the socket has into
// a borrowed buffer, and gives the buffer back when there is nothing to
// read and nothing pending, before the reader waits.
func (in *clientIn) tryRead(fd uintptr) bool {
	if in.buf == nil {
		in.buf, in.r, in.w = in.pool.get(), 0, 0
	}
	for {
		n, err := syscall.Read(int(fd), (*in.buf)[in.w:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if in.r == in.w {
				in.releaseBuf()
			}
			return false
		case err != nil:
			in.n, in.err = 0, os.NewSyscallError("read", err)
		case n == 0:
			in.n, in.err = 0, io.EOF
		default:
			in.n, in.err = n, nil
		}
		return true
	}
}

func (in *clientIn) releaseBuf() {
	if in.buf != nil {
		in.pool.put(in.buf)
		in.buf, in.r, in.w = nil, 0, 0
	}
}

// fill reads more client bytes after the pending ones. At a message
// boundary with nothing pending, a reader that may park returns errPark
// once the client has been quiet for parkAfter.
func (b *Bridge) fill(boundary bool) error {
	in := &b.in
	if in.buf != nil {
		if in.r == in.w {
			in.r, in.w = 0, 0
		} else if in.w == len(*in.buf) {
			in.w = copy(*in.buf, (*in.buf)[in.r:in.w])
			in.r = 0
		}
	}
	if in.rc == nil {
		return b.fillBlocking()
	}
	for {
		mayPark := boundary && in.pending() == 0 && in.park != nil && !in.noPark
		if mayPark {
			quietUntil := time.Unix(0, b.lastHeard.Load()).Add(parkAfter)
			if in.woke.Add(parkAfter).After(quietUntil) {
				quietUntil = in.woke.Add(parkAfter)
			}
			if !time.Now().Before(quietUntil) {
				return errPark
			}
			if in.deadline.IsZero() || in.deadline.After(quietUntil) {
				in.setDeadline(quietUntil)
			}
		}
		b.beforeRead()
		err := in.rc.Read(in.tryFn)
		if err == nil {
			err = in.err
		}
		if in.n > 0 {
			in.w += in.n
			in.n = 0
			b.heard()
			b.afterRead()
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		// The deadline passed: park (at a boundary, when quiet long
		// enough), or move it on and keep reading.
		in.deadline = time.Time{}
		if !mayPark {
			in.setDeadline(time.Time{})
		}
	}
}

// fillBlocking reads a TLS client: the buffer is held while it waits.
func (b *Bridge) fillBlocking() error {
	in := &b.in
	if in.buf == nil {
		in.buf, in.r, in.w = in.pool.get(), 0, 0
	}
	b.beforeRead()
	n, err := in.conn.Read((*in.buf)[in.w:])
	if n > 0 {
		in.w += n
		b.heard()
		b.afterRead()
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

func (in *clientIn) setDeadline(t time.Time) {
	in.deadline = t
	_ = in.conn.SetReadDeadline(t)
}

// ensure makes at least k bytes pending; boundary is passed to fill.
func (b *Bridge) ensure(k int, boundary bool) error {
	for b.in.pending() < k {
		if err := b.fill(boundary && b.in.pending() == 0); err != nil {
			return err
		}
	}
	return nil
}

// frameHeader is a parsed client frame header.
type frameHeader struct {
	fin    bool
	opcode byte
	length int64
	mask   [4]byte
}

// readHeader reads and consumes one frame header. boundary: no message is
// in progress.
func (b *Bridge) readHeader(boundary bool) (frameHeader, error) {
	var h frameHeader
	if err := b.ensure(2, boundary); err != nil {
		return h, err
	}
	in := &b.in
	p := (*in.buf)[in.r:in.w]
	b0, b1 := p[0], p[1]
	if b1&maskBit == 0 {
		return h, &protocolError{"unmasked client frame"}
	}
	if b0&rsvBits != 0 {
		return h, &protocolError{"reserved bits set"}
	}
	n := 2 + 4
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if err := b.ensure(n, false); err != nil {
		return h, err
	}
	p = (*in.buf)[in.r:in.w]
	h.fin = b0&finBit != 0
	h.opcode = b0 & 0x0f
	switch l := b1 & 0x7f; l {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(p[2:]))
	case 127:
		u := binary.BigEndian.Uint64(p[2:])
		if u>>63 != 0 {
			return h, &protocolError{"invalid payload length"}
		}
		h.length = int64(u)
	default:
		h.length = int64(l)
	}
	copy(h.mask[:], p[n-4:n])
	in.r += n
	return h, nil
}

// readMessage reads the next data message into dst and returns its
// opcode (opText or opBinary). Control frames on the way are handled.
func (b *Bridge) readMessage(dst []byte) (byte, []byte, error) {
	var msgOp byte
	for {
		h, err := b.readHeader(msgOp == 0)
		if err != nil {
			return 0, dst, err
		}
		switch h.opcode {
		case opClose, opPing, opPong:
			if !h.fin || h.length > maxControlPayload {
				return 0, dst, &protocolError{"fragmented or oversized control frame"}
			}
			if err := b.controlFrame(h); err != nil {
				return 0, dst, err
			}
			continue
		case opContinuation:
			if msgOp == 0 {
				return 0, dst, &protocolError{"continuation without a message"}
			}
		case opText, opBinary:
			if msgOp != 0 {
				return 0, dst, &protocolError{"new message inside a fragmented one"}
			}
			msgOp = h.opcode
		default:
			return 0, dst, &protocolError{"reserved opcode"}
		}
		if int64(len(dst))+h.length > b.cfg.maxMessageBytes {
			return 0, dst, errTooLarge
		}
		if dst, err = b.readPayload(dst, h); err != nil {
			return 0, dst, err
		}
		if h.fin {
			return msgOp, dst, nil
		}
	}
}

// readPayload appends a data frame's unmasked payload to dst.
func (b *Bridge) readPayload(dst []byte, h frameHeader) ([]byte, error) {
	in := &b.in
	left := int(h.length)
	pos := 0 // mask position
	for left > 0 {
		if in.pending() == 0 {
			if err := b.fill(false); err != nil {
				return dst, err
			}
		}
		chunk := (*in.buf)[in.r:min(in.w, in.r+left)]
		start := len(dst)
		dst = append(dst, chunk...)
		unmask(dst[start:], h.mask, pos)
		pos += len(chunk)
		in.r += len(chunk)
		left -= len(chunk)
	}
	if in.pending() == 0 {
		in.releaseBuf() // the reader holds no buffer between messages
	}
	return dst, nil
}

// controlFrame handles a ping, pong or close frame.
func (b *Bridge) controlFrame(h frameHeader) error {
	n := int(h.length)
	if err := b.ensure(n, false); err != nil {
		return err
	}
	in := &b.in
	var payload [maxControlPayload]byte
	p := payload[:n]
	copy(p, (*in.buf)[in.r:in.r+n])
	in.r += n
	unmask(p, h.mask, 0)
	switch h.opcode {
	case opPing:
		return b.writeControl(opPong, p)
	case opClose:
		if n == 1 {
			return &protocolError{"close frame with a one-byte payload"}
		}
		return errClientClose
	}
	return nil // a pong: heard() noted the client is alive
}

// unmask XORs p with the masking key, starting at key position pos.
func unmask(p []byte, key [4]byte, pos int) {
	k := binary.LittleEndian.Uint32(key[:])
	if pos&3 != 0 {
		k = k>>(8*(pos&3)) | k<<(32-8*(pos&3))
	}
	i := 0
	for ; i+8 <= len(p); i += 8 {
		k8 := uint64(k) | uint64(k)<<32
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k8)
	}
	for ; i < len(p); i++ {
		p[i] ^= byte(k)
		k = k>>8 | k<<24
	}
}

// writeControl writes one control frame as a single write, which the
// socket serialises with the writer's batches.
func (b *Bridge) writeControl(opcode byte, payload []byte) error {
	var frame [2 + maxControlPayload]byte
	f := appendFrameHeader(frame[:0], opcode, len(payload))
	f = append(f, payload...)
	_ = b.in.conn.SetWriteDeadline(time.Now().Add(b.cfg.writeTimeout))
	_, err := b.in.conn.Write(f)
	return err
}

// closePayload formats a close frame's payload: code and reason.
func closePayload(dst []byte, code int, text string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	if len(text) > maxControlPayload-2 {
		text = text[:maxControlPayload-2]
	}
	return append(dst, text...)
}

// heard notes that the client sent something: it is alive.
func (b *Bridge) heard() { b.lastHeard.Store(time.Now().UnixNano()) }
