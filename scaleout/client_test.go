package scaleout_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// dialTimeout bounds one WebSocket handshake through nginx, which
	// includes the gateway's upstream connect.
	dialTimeout = 15 * time.Second
	// writeTimeout bounds one client write.
	writeTimeout = 5 * time.Second
	// closeGrace bounds the close frame a client sends when the test ends.
	closeGrace = time.Second
	// frameBuffer is how many received frames a client holds before its
	// reader waits for the test.
	frameBuffer = 64
	// rejectBodyLimit caps the handshake rejection body quoted in errors.
	rejectBodyLimit = 1024
)

// wsFrame is one received message, or the error that ended the connection.
type wsFrame struct {
	data []byte
	err  error
}

// wsClient is a plain WebSocket client, as a legacy client of the gateway
// would be. Only the test goroutine writes and takes frames; readLoop is
// the only reader.
type wsClient struct {
	name   string
	conn   *websocket.Conn
	frames chan wsFrame  // from readLoop; closed when it ends
	stop   chan struct{} // closed by close: readLoop gives up sending
	done   chan struct{} // closed when readLoop has returned
	lastID int           // the last ack id used by call
	node   string        // the Socket.IO node behind it, from its handshake
}

// clients owns every client of a test, whichever subtest dialled it, and
// closes them all in the Cleanup of the test that created it.
type clients struct {
	mu  sync.Mutex
	all []*wsClient
}

func newClients(t testing.TB) *clients {
	cs := &clients{}
	t.Cleanup(cs.closeAll)
	return cs
}

func (cs *clients) closeAll() {
	cs.mu.Lock()
	all := cs.all
	cs.all = nil
	cs.mu.Unlock()
	for _, c := range all {
		c.close()
	}
}

// dial connects a client named name to url, sending header with the
// handshake.
func (cs *clients) dial(url, name string, header http.Header) (*wsClient, error) {
	d := websocket.Dialer{HandshakeTimeout: dialTimeout}
	conn, resp, err := d.Dial(url, header)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, rejectBodyLimit))
			resp.Body.Close()
			return nil, fmt.Errorf("dial %s as %s: %w (status %d: %s)", url, name, err, resp.StatusCode, bytes.TrimSpace(body))
		}
		return nil, fmt.Errorf("dial %s as %s: %w", url, name, err)
	}
	c := &wsClient{
		name:   name,
		conn:   conn,
		frames: make(chan wsFrame, frameBuffer),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go c.readLoop()
	cs.mu.Lock()
	cs.all = append(cs.all, c)
	cs.mu.Unlock()
	return c, nil
}

// readLoop hands every message to the test; it ends at the first read
// error (a close frame included), or when close is called.
func (c *wsClient) readLoop() {
	defer close(c.done)
	defer close(c.frames)
	for {
		typ, data, err := c.conn.ReadMessage()
		if err == nil && typ != websocket.TextMessage {
			err = fmt.Errorf("unexpected message type %d: %q", typ, data)
		}
		select {
		case c.frames <- wsFrame{data: data, err: err}:
		case <-c.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// close sends a normal close frame if it can, closes the connection and
// waits for readLoop.
func (c *wsClient) close() {
	close(c.stop)
	_ = c.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(closeGrace))
	_ = c.conn.Close()
	<-c.done
}

// envelope is a gateway frame (CONTRACT §2).
type envelope struct {
	Event *string         `json:"event"`
	Data  json.RawMessage `json:"data"`
	Args  json.RawMessage `json:"args"`
	ID    json.RawMessage `json:"id"`
	Ack   json.RawMessage `json:"ack"`
	Error json.RawMessage `json:"error"`
	raw   []byte
}

// next returns the next frame, failing the test when none comes within
// timeout.
func (c *wsClient) next(t testing.TB, timeout time.Duration) wsFrame {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case f, ok := <-c.frames:
		if !ok {
			t.Fatalf("%s: the connection had already ended", c.name)
		}
		return f
	case <-timer.C:
		t.Fatalf("%s: nothing received within %v", c.name, timeout)
		return wsFrame{}
	}
}

// nextEnvelope returns the next frame as an envelope; the connection
// ending fails the test.
func (c *wsClient) nextEnvelope(t testing.TB, timeout time.Duration) envelope {
	t.Helper()
	f := c.next(t, timeout)
	if f.err != nil {
		t.Fatalf("%s: connection ended: %v", c.name, f.err)
	}
	e := envelope{raw: f.data}
	if err := json.Unmarshal(f.data, &e); err != nil {
		t.Fatalf("%s: frame %q is not JSON: %v", c.name, f.data, err)
	}
	return e
}

// send writes one JSON text frame.
func (c *wsClient) send(t testing.TB, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	if err := c.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatalf("%s: send %s: %v", c.name, b, err)
	}
}

// request is a client event frame asking for an ack.
type request struct {
	Event string `json:"event"`
	Data  any    `json:"data,omitempty"`
	ID    int    `json:"id"`
}

// call sends event with data (nil: no argument) and an ack id, and returns
// the data of the ack, which must be the next frame.
func (c *wsClient) call(t testing.TB, timeout time.Duration, event string, data any) json.RawMessage {
	t.Helper()
	c.lastID++
	id := c.lastID
	c.send(t, request{Event: event, Data: data, ID: id})
	e := c.nextEnvelope(t, timeout)
	if string(e.Ack) != strconv.Itoa(id) {
		t.Fatalf("%s: sent %q with id %d, got %s instead of its ack", c.name, event, id, e.raw)
	}
	return e.Data
}

// expectEvent takes the next frame, which must be event with the JSON data
// want.
func (c *wsClient) expectEvent(t testing.TB, timeout time.Duration, event, want string) {
	t.Helper()
	e := c.nextEnvelope(t, timeout)
	if e.Event == nil || *e.Event != event || !jsonEqual(e.Data, want) {
		t.Fatalf("%s: got %s, want event %q with data %s", c.name, e.raw, event, want)
	}
}

// expectClose takes the next frame, which must be a close frame with code.
func (c *wsClient) expectClose(t testing.TB, timeout time.Duration, code int) {
	t.Helper()
	f := c.next(t, timeout)
	if f.err == nil {
		t.Fatalf("%s: got %s, want close %d", c.name, f.data, code)
	}
	var ce *websocket.CloseError
	if !errors.As(f.err, &ce) || ce.Code != code {
		t.Fatalf("%s: connection ended with %v, want close code %d", c.name, f.err, code)
	}
}

// expectNothingPending fails the test if any client has a frame waiting.
func expectNothingPending(t testing.TB, cs []*wsClient) {
	t.Helper()
	for _, c := range cs {
		select {
		case f, ok := <-c.frames:
			t.Errorf("%s: unexpected %s (ended: %v, open: %v)", c.name, f.data, f.err, ok)
		default:
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// expectQuiet fails the test if any client receives anything within window:
// no duplicate, no stray event, no close.
func expectQuiet(t testing.TB, window time.Duration, cs []*wsClient) {
	t.Helper()
	timer := time.NewTimer(window)
	defer timer.Stop()
	expired := false
	for _, c := range cs {
		if !expired {
			select {
			case f, ok := <-c.frames:
				t.Errorf("%s: unexpected %s (ended: %v, open: %v)", c.name, f.data, f.err, ok)
				continue
			case <-timer.C:
				expired = true
			}
		}
		select {
		case f, ok := <-c.frames:
			t.Errorf("%s: unexpected %s (ended: %v, open: %v)", c.name, f.data, f.err, ok)
		default:
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// jsonEqual reports whether the JSON texts got and want hold equal values.
func jsonEqual(got []byte, want string) bool {
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	return reflect.DeepEqual(g, w)
}
