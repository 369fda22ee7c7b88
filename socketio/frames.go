package socketio

import (
	"errors"
	"io"
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

// BeforeRead ends a ReadIdle whose quiet period is over.
func (h frameHandler) BeforeRead(idle bool) error {
	c := h.c
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
	head    []byte // the status line's start, to tell a 101
	through bool   // not an upgrade: pass everything
	matched int    // bytes of "\r\n\r\n" matched so far
	done    bool   // the response ended: reads return EOF
	rest    []byte // bytes after the response
}

// Read implements net.Conn.
func (c *handshakeConn) Read(p []byte) (int, error) {
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
