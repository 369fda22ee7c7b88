package socketio

import (
	"bytes"
	"io"
	"time"

	"github.com/gorilla/websocket"
)

// memFrame is one WebSocket message of a memWS.
type memFrame struct {
	typ  int
	data []byte
}

func text(s string) memFrame    { return memFrame{websocket.TextMessage, []byte(s)} }
func binary(b ...byte) memFrame { return memFrame{websocket.BinaryMessage, b} }

// memWS is an in-memory wsConn: NextReader plays the frames of in (then
// reports a closed connection, or starts over when loop is set) and every
// written message is recorded in out (unless discard is set). It is not safe
// for concurrent use: single-goroutine tests and benchmarks only.
type memWS struct {
	in      []memFrame
	pos     int
	loop    bool
	discard bool
	out     []memFrame
	closed  bool

	r bytes.Reader
	w memWriter
}

type memWriter struct {
	ws  *memWS
	typ int
	buf []byte
}

func (m *memWS) NextReader() (int, io.Reader, error) {
	if m.closed {
		return 0, nil, io.ErrUnexpectedEOF
	}
	if m.pos >= len(m.in) {
		if !m.loop || len(m.in) == 0 {
			return 0, nil, &websocket.CloseError{Code: websocket.CloseNoStatusReceived}
		}
		m.pos = 0
	}
	f := m.in[m.pos]
	m.pos++
	m.r.Reset(f.data)
	return f.typ, &m.r, nil
}

func (m *memWS) NextWriter(typ int) (io.WriteCloser, error) {
	if m.closed {
		return nil, websocket.ErrCloseSent
	}
	m.w.ws, m.w.typ, m.w.buf = m, typ, m.w.buf[:0]
	return &m.w, nil
}

func (w *memWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *memWriter) Close() error {
	if !w.ws.discard {
		w.ws.out = append(w.ws.out, memFrame{w.typ, append([]byte(nil), w.buf...)})
	}
	return nil
}

func (m *memWS) SetReadDeadline(time.Time) error  { return nil }
func (m *memWS) SetWriteDeadline(time.Time) error { return nil }
func (m *memWS) WriteControl(int, []byte, time.Time) error {
	return nil
}
func (m *memWS) Close() error { m.closed = true; return nil }

// newMemConn returns a Conn over ws with an OPEN already applied and the
// given namespaces connected (with pid when it is not "").
func newMemConn(ws *memWS, eio int, connected ...string) *Conn {
	c := newConn(ws, eio, Options{})
	c.open = OpenInfo{SID: "ENGINESID", PingInterval: 25 * time.Second, PingTimeout: 20 * time.Second, EIO: eio}
	for _, nsp := range connected {
		if ns := c.findNameLocked(nsp); ns != nil {
			ns.state = nsConnected
			continue
		}
		c.nsps = append(c.nsps, &nsState{name: nsp, state: nsConnected})
	}
	return c
}
