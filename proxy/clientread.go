package proxy

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/sio-gateway/gateway/internal/idlepoll"
	"github.com/sio-gateway/gateway/internal/wsframe"
)

// Reading the client WebSocket
//
// The gateway reads client frames itself (RFC 6455 §5, server side)
// rather than through gorilla's reader, for memory: an idle client should
// hold neither a read buffer nor a goroutine.
//
//   - Frames are read by a wsframe.Reader: on a TCP client, a read buffer
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
// bridge (closeClient replies). Protocol violations close with 1002, a
// message over GATEWAY_MAX_MESSAGE_BYTES with 1009.

// parkAfter is how long a reader waits for a quiet client before it parks.
const parkAfter = time.Second

// clientReadBuffer is the size of the pooled buffers client bytes are read
// into.
const clientReadBuffer = 4096

// Errors of the client reader.
var (
	// errPark: the reader parked; a new one starts when bytes arrive.
	errPark = errors.New("client reader parked")
	// errClientClose: the client sent a close frame.
	errClientClose = errors.New("client sent close")
)

// clientIn is the reading side of a client connection. Only the current
// reader goroutine touches it, but for conn and park, which are set once:
// readers never overlap (a new one starts only after the previous one
// parked).
type clientIn struct {
	conn   net.Conn         // the client connection (TCP or TLS), also written to
	rc     syscall.RawConn  // its socket when plain TCP: non-blocking writes go there
	r      *wsframe.Reader  // reads conn's frames
	park   *idlepoll.Handle // nil: the reader never parks
	noPark bool             // arming failed: read on without parking

	deadline time.Time // the read deadline set, zero for none
	woke     time.Time // when the current reader started
}

// clientReadHandler is the Bridge as the wsframe.Handler of its client
// reader.
type clientReadHandler struct{ b *Bridge }

// BeforeRead parks a reader that has heard nothing for parkAfter between
// messages, and otherwise flushes the upstream writes corked since the
// last read (see cork.go).
func (h clientReadHandler) BeforeRead(idle bool) error {
	b := h.b
	in := &b.in
	if idle && in.park != nil && !in.noPark {
		quietUntil := time.Unix(0, b.lastHeard.Load()).Add(parkAfter)
		if w := in.woke.Add(parkAfter); w.After(quietUntil) {
			quietUntil = w
		}
		if !time.Now().Before(quietUntil) {
			return errPark
		}
		// Set lazily: a deadline that comes too early is moved on in
		// ReadTimeout, which is cheaper than moving it after every read.
		if in.deadline.IsZero() {
			in.setDeadline(quietUntil)
		}
	}
	b.beforeRead()
	return nil
}

// AfterRead notes the client is alive and corks the upstream while the
// bytes just read are translated.
func (h clientReadHandler) AfterRead() {
	h.b.heard()
	h.b.afterRead()
}

// ReadTimeout: the parking deadline passed. Between messages BeforeRead
// decides again; inside a message the reader waits on (the ping timer is
// the watchdog).
func (h clientReadHandler) ReadTimeout(idle bool, _ error) error {
	in := &h.b.in
	in.deadline = time.Time{}
	if !idle {
		in.setDeadline(time.Time{})
	}
	return nil
}

// Control answers a ping and ends the bridge on a close.
func (h clientReadHandler) Control(opcode byte, payload []byte) error {
	switch opcode {
	case wsframe.OpPing:
		return h.b.writeControl(wsframe.OpPong, payload)
	case wsframe.OpClose:
		return errClientClose
	}
	return nil // a pong: AfterRead noted the client is alive
}

func (in *clientIn) setDeadline(t time.Time) {
	in.deadline = t
	_ = in.conn.SetReadDeadline(t)
}

// writeControl writes one control frame as a single write, which the
// socket serialises with the writer's batches.
func (b *Bridge) writeControl(opcode byte, payload []byte) error {
	var frame [4 + wsframe.MaxControlPayload]byte
	f := appendFrameHeader(frame[:0], opcode, len(payload))
	f = append(f, payload...)
	_ = b.in.conn.SetWriteDeadline(time.Now().Add(b.cfg.writeTimeout))
	_, err := b.in.conn.Write(f)
	return err
}

// closePayload formats a close frame's payload: code and reason.
func closePayload(dst []byte, code int, text string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	if len(text) > wsframe.MaxControlPayload-2 {
		text = text[:wsframe.MaxControlPayload-2]
	}
	return append(dst, text...)
}

// heard notes that the client sent something: it is alive.
func (b *Bridge) heard() { b.lastHeard.Store(time.Now().UnixNano()) }
