package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/socketio"
)

// Client tunables.
const (
	// wsBufferSize is the gorilla read buffer and pooled write buffer size
	// of G clients: small, so that thousands of them stay cheap for gwbench.
	wsBufferSize = 1024
	// dialTimeout bounds one client's connect (handshake and namespace).
	dialTimeout = 30 * time.Second
	// closeWait bounds the wait for the peer's close frame in a close
	// handshake.
	closeWait = 2 * time.Second
	// controlWriteTimeout bounds writing a close frame.
	controlWriteTimeout = time.Second
	// heldAckQueue is how many unexpected acks a held client's reader keeps
	// before it counts them as mismatched.
	heldAckQueue = 4
)

// echoer is one connected client of an arm. One goroutine may call
// sendEcho while another calls readAck; close may be called from any
// goroutine, and unblocks both.
type echoer interface {
	// sendEcho sends the echo event with the payload and ack id id.
	sendEcho(id uint64) error
	// readAck reads until the next ack and returns its id. A frame that is
	// not the expected ack (wrong payload, an error frame, another frame)
	// is a *mismatchError; any other error ends the client.
	readAck() (uint64, error)
	// close ends the client; graceful sends the protocol's goodbye first
	// (a Socket.IO DISCONNECT, or a WebSocket close frame).
	close(graceful bool)
}

// mismatchError is an answer that is not the expected ack.
type mismatchError struct {
	id    uint64 // the ack id when known, else 0
	hasID bool
	what  string
	frame []byte // a copy, truncated
}

func (e *mismatchError) Error() string {
	return fmt.Sprintf("%s: %q", e.what, e.frame)
}

func newMismatch(what string, frame []byte, id uint64, hasID bool) *mismatchError {
	const keep = 200
	f := bytes.Clone(frame[:min(len(frame), keep)])
	return &mismatchError{id: id, hasID: hasID, what: what, frame: f}
}

// makePayload is a JSON string of exactly n bytes, quotes included.
func makePayload(n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	b[0], b[n-1] = '"', '"'
	for i := 1; i < n-1; i++ {
		b[i] = alphabet[(i-1)%len(alphabet)]
	}
	return b
}

// wire holds the byte strings every client of a run shares (read only).
type wire struct {
	payload  []byte
	sioEvent []byte // ["echo",P]
	sioAck   []byte // [P]
	wsPool   websocket.BufferPool
	wsDialer *websocket.Dialer
}

func newWire(payload []byte) *wire {
	w := &wire{payload: payload, wsPool: &sync.Pool{}}
	w.sioEvent = append(append([]byte(`["echo",`), payload...), ']')
	w.sioAck = append(append([]byte(`[`), payload...), ']')
	w.wsDialer = &websocket.Dialer{
		ReadBufferSize:   wsBufferSize,
		WriteBufferSize:  wsBufferSize,
		WriteBufferPool:  w.wsPool,
		HandshakeTimeout: dialTimeout,
	}
	return w
}

// sioClient is the arm A/R client: package socketio, namespace "/", events
// sent with Send and acks read with Read.
type sioClient struct {
	w *wire
	c *socketio.Conn
}

func dialSIO(ctx context.Context, w *wire, baseURL string) (*sioClient, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := socketio.Dial(ctx, baseURL, socketio.Options{})
	if err != nil {
		return nil, fmt.Errorf("socketio dial %s: %w", baseURL, err)
	}
	if _, err := c.Connect(ctx, "/", socketio.ConnectOptions{}); err != nil {
		c.Close()
		return nil, fmt.Errorf("socketio connect %s: %w", baseURL, err)
	}
	return &sioClient{w: w, c: c}, nil
}

func (s *sioClient) sendEcho(id uint64) error {
	return s.c.Send(socketio.Packet{Type: socketio.PacketEvent, Namespace: "/", ID: id, HasID: true, Data: s.w.sioEvent})
}

func (s *sioClient) readAck() (uint64, error) {
	p, err := s.c.Read()
	if err != nil {
		return 0, err
	}
	switch {
	case p.Type == socketio.PacketDisconnect:
		return 0, errors.New("the server disconnected the namespace")
	case p.Type != socketio.PacketAck || !p.HasID:
		return 0, newMismatch("unexpected "+p.Type.String()+" packet", p.Data, p.ID, p.HasID)
	case !bytes.Equal(p.Data, s.w.sioAck):
		return p.ID, newMismatch("ack "+strconv.FormatUint(p.ID, 10)+" with the wrong payload", p.Data, p.ID, true)
	}
	return p.ID, nil
}

func (s *sioClient) close(graceful bool) {
	if graceful {
		_ = s.c.Disconnect("/")
	}
	_ = s.c.Close()
}

// wsClient is the arm G client: a plain gorilla WebSocket speaking the
// gateway's JSON envelope.
type wsClient struct {
	w    *wire
	ws   *websocket.Conn
	wbuf []byte // the writer's frame buffer
	rbuf []byte // the reader's message buffer
}

func dialWS(ctx context.Context, w *wire, url string) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	ws, resp, err := w.wsDialer.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			return nil, fmt.Errorf("dial %s: %w (HTTP %d %s)", url, err, resp.StatusCode, bytes.TrimSpace(body))
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	return &wsClient{w: w, ws: ws}, nil
}

func (c *wsClient) sendEcho(id uint64) error {
	b := append(c.wbuf[:0], `{"event":"echo","data":`...)
	b = append(b, c.w.payload...)
	b = append(b, `,"id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, '}')
	c.wbuf = b
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

func (c *wsClient) readAck() (uint64, error) {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return 0, err
	}
	c.rbuf = c.rbuf[:0]
	for {
		if len(c.rbuf) == cap(c.rbuf) {
			c.rbuf = append(c.rbuf, 0)[:len(c.rbuf)]
		}
		n, err := r.Read(c.rbuf[len(c.rbuf):cap(c.rbuf)])
		c.rbuf = c.rbuf[:len(c.rbuf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if typ != websocket.TextMessage {
		return 0, newMismatch("unexpected binary frame", c.rbuf, 0, false)
	}
	return parseAck(c.rbuf, c.w.payload)
}

// parseAck checks that frame is {"ack":N,"data":P} for the payload P and
// returns N. The exact form the gateway writes is matched without decoding;
// any other form is decoded, so that an equivalent spelling also passes.
func parseAck(frame, payload []byte) (uint64, error) {
	const prefix, mid = `{"ack":`, `,"data":`
	if rest, ok := bytes.CutPrefix(frame, []byte(prefix)); ok {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i > 0 {
			id, err := strconv.ParseUint(string(rest[:i]), 10, 64)
			tail := rest[i:]
			if err == nil && len(tail) == len(mid)+len(payload)+1 && bytes.HasPrefix(tail, []byte(mid)) &&
				bytes.Equal(tail[len(mid):len(tail)-1], payload) && tail[len(tail)-1] == '}' {
				return id, nil
			}
		}
	}
	var f struct {
		Ack   json.RawMessage `json:"ack"`
		Data  json.RawMessage `json:"data"`
		Args  json.RawMessage `json:"args"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		return 0, newMismatch("frame is not JSON", frame, 0, false)
	}
	if f.Error != nil {
		var e struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal(f.Error, &e)
		id, err := strconv.ParseUint(string(e.ID), 10, 64)
		return id, newMismatch("error frame", frame, id, err == nil)
	}
	if f.Ack == nil {
		return 0, newMismatch("not an ack", frame, 0, false)
	}
	id, err := strconv.ParseUint(string(f.Ack), 10, 64)
	if err != nil {
		return 0, newMismatch("ack id is not the number sent", frame, 0, false)
	}
	var got bytes.Buffer
	if f.Data == nil || json.Compact(&got, f.Data) != nil || !bytes.Equal(got.Bytes(), payload) {
		return id, newMismatch("ack "+strconv.FormatUint(id, 10)+" with the wrong payload", frame, id, true)
	}
	return id, nil
}

func (c *wsClient) close(graceful bool) {
	if graceful {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(controlWriteTimeout))
	}
	_ = c.ws.Close()
}

// closeHandshake sends a close frame and reads until the peer's close frame
// (or closeWait), then closes the TCP connection. Only for a client nobody
// else reads.
func (c *wsClient) closeHandshake() {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(controlWriteTimeout)); err == nil {
		_ = c.ws.SetReadDeadline(time.Now().Add(closeWait))
		for {
			if _, _, err := c.ws.NextReader(); err != nil {
				break
			}
		}
	}
	_ = c.ws.Close()
}

// held is a client with its own reader goroutine, for clients that stay
// connected while others work (idle and scale phases): the reader answers
// pings and hands acks over.
type held struct {
	c       echoer
	acks    chan uint64
	done    chan struct{} // closed when the reader ended
	closing atomic.Bool   // set before a local close: the reader's end is expected
	err     error         // the reader's ending, valid after done
}

func hold(c echoer, onMismatch func(error)) *held {
	h := &held{c: c, acks: make(chan uint64, heldAckQueue), done: make(chan struct{})}
	go h.read(onMismatch)
	return h
}

func (h *held) read(onMismatch func(error)) {
	defer close(h.done)
	for {
		id, err := h.c.readAck()
		var me *mismatchError
		switch {
		case errors.As(err, &me):
			onMismatch(err)
		case err != nil:
			h.err = err
			return
		default:
			select {
			case h.acks <- id:
			default:
				onMismatch(fmt.Errorf("unexpected ack %d on a held client", id))
			}
		}
	}
}

// echo sends one echo with id and waits for its ack.
func (h *held) echo(ctx context.Context, id uint64) error {
	if err := h.c.sendEcho(id); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	select {
	case got := <-h.acks:
		if got != id {
			return &mismatchError{id: got, hasID: true, what: fmt.Sprintf("ack %d for echo %d", got, id)}
		}
		return nil
	case <-h.done:
		return fmt.Errorf("connection ended: %w", h.err)
	case <-ctx.Done():
		return fmt.Errorf("no ack: %w", ctx.Err())
	}
}

// alive reports whether the reader still runs (the connection is up).
func (h *held) alive() bool {
	select {
	case <-h.done:
		return false
	default:
		return true
	}
}

// close ends the client and waits for its reader.
func (h *held) close(graceful bool) {
	h.closing.Store(true)
	h.c.close(graceful)
	<-h.done
}
