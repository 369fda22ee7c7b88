package socketio

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/testupstream"
	"github.com/sio-gateway/gateway/internal/wsframe"
)

// TestNodeReadIdle: ReadIdle ends a quiet period with ErrIdle, the Conn
// intact, and returns what arrives later.
func TestNodeReadIdle(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v int) {
		s := startNode(t, testupstream.Options{Version: v})
		c, _ := connectNode(t, s, Options{}, "/", ConnectOptions{})
		if c.SyscallConn() == nil {
			t.Fatal("SyscallConn() = nil over TCP")
		}
		if d := c.HeartbeatDeadline(); !d.After(time.Now()) {
			t.Fatalf("HeartbeatDeadline() = %v, not in the future", d)
		}
		start := time.Now()
		if _, err := c.ReadIdle(200 * time.Millisecond); err != ErrIdle {
			t.Fatalf("ReadIdle = %v, want ErrIdle", err)
		}
		if took := time.Since(start); took < 150*time.Millisecond || took > 2*time.Second {
			t.Fatalf("ErrIdle after %v, want about 200ms", took)
		}
		s.Broadcast(t, "/", "news", "later")
		p, err := c.ReadIdle(nodeTimeout)
		if err != nil || p.Type != PacketEvent || string(p.Data) != `["news","later"]` {
			t.Fatalf("ReadIdle = %s, %v; want the broadcast", fmtPacket(p), err)
		}
		if _, err := c.ReadIdle(100 * time.Millisecond); err != ErrIdle {
			t.Fatalf("second quiet period: %v, want ErrIdle", err)
		}
		// A plain Read after ReadIdle has no quiet period.
		time.Sleep(300 * time.Millisecond)
		s.Broadcast(t, "/", "news", "plain")
		if p, err := c.Read(); err != nil || string(p.Data) != `["news","plain"]` {
			t.Fatalf("Read = %s, %v", fmtPacket(p), err)
		}
	})
}

// TestReadIdleHeartbeatLapse: a quiet period longer than the heartbeat
// ends in ErrPingTimeout, not ErrIdle.
func TestReadIdleHeartbeatLapse(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, func(p *peer) {
		p.connectRoot(100*time.Millisecond, 100*time.Millisecond) // and never ping
		p.drain()
	})
	c := connectFake(t, fs)
	if _, err := c.ReadIdle(50 * time.Millisecond); err != ErrIdle {
		t.Fatalf("short quiet period: %v, want ErrIdle", err)
	}
	if _, err := c.ReadIdle(time.Minute); !errors.Is(err, ErrPingTimeout) {
		t.Fatalf("long quiet period: %v, want ErrPingTimeout", err)
	}
}

// TestServerWebSocketPing: a WebSocket-level ping from the server is
// answered with a pong carrying its payload.
func TestServerWebSocketPing(t *testing.T) {
	t.Parallel()
	pong := make(chan string, 1)
	fs := newFakeServer(t, func(p *peer) {
		p.ws.SetPongHandler(func(s string) error { pong <- s; return nil })
		if !p.connectRoot(time.Minute, time.Minute) {
			return
		}
		p.ws.WriteControl(websocket.PingMessage, []byte("hello"), time.Now().Add(fakeTimeout))
		p.send(`42["after"]`)
		p.drain() // reading processes the pong
	})
	c := connectFake(t, fs)
	if p, err := c.Read(); err != nil || string(p.Data) != `["after"]` {
		t.Fatalf("Read = %s, %v", fmtPacket(p), err)
	}
	select {
	case s := <-pong:
		if s != "hello" {
			t.Fatalf("pong %q", s)
		}
	case <-time.After(fakeTimeout):
		t.Fatal("no pong")
	}
}

// TestHandshakeTrailingFrames: frames that arrive in the same segment as
// the 101 response are read, not lost in the handshake's buffer.
func TestHandshakeTrailingFrames(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		req, err := http.ReadRequest(bufio.NewReader(conn))
		if err != nil {
			return
		}
		h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		out := fmt.Sprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(h[:]))
		for _, m := range []string{`0{"sid":"S","upgrades":[],"pingInterval":60000,"pingTimeout":60000}`, `40{"sid":"X"}`, `42["first"]`} {
			out += string([]byte{0x81, byte(len(m))}) + m
		}
		conn.Write([]byte(out)) // one write: one segment on loopback
		buf := make([]byte, 512)
		for {
			conn.SetReadDeadline(time.Now().Add(fakeTimeout))
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	c, err := Dial(testCtx(t, 10*time.Second), "http://"+ln.Addr().String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close(); ln.Close(); <-done }()
	if c.Open().SID != "S" {
		t.Fatalf("open %+v", c.Open())
	}
	if _, err := c.Connect(testCtx(t, 10*time.Second), "/", ConnectOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Read(); err != nil || string(p.Data) != `["first"]` {
		t.Fatalf("Read = %s, %v", fmtPacket(p), err)
	}
}

// TestFrameWriter: messages and control frames written by frameConn are
// masked frames a server-side reader takes back unchanged.
func TestFrameWriter(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	fc := newFrameConn(a, &sync.Pool{}, 64)
	sizes := []int{0, 1, 125, 126, 65535, 65536, 200_000}
	go func() {
		for i, n := range sizes {
			w, _ := fc.NextWriter(websocket.TextMessage)
			w.Write(bytes.Repeat([]byte{byte('a' + i)}, n/2))
			w.Write(bytes.Repeat([]byte{byte('a' + i)}, n-n/2))
			if err := w.Close(); err != nil {
				return
			}
			fc.WriteControl(websocket.PingMessage, []byte{byte(i)}, time.Now().Add(time.Second))
		}
	}()
	var pings []byte
	r := wsframe.NewReader(b, pingRecorder{&pings}, wsframe.NewBufferPool(512), true, 0)
	for i, n := range sizes {
		op, msg, err := r.ReadMessage(nil)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if op != wsframe.OpText || !bytes.Equal(msg, bytes.Repeat([]byte{byte('a' + i)}, n)) {
			t.Fatalf("message %d: op %d, %d bytes, want %d", i, op, len(msg), n)
		}
	}
	if len(pings) < len(sizes)-1 {
		t.Fatalf("pings %v", pings)
	}
}

type pingRecorder struct{ got *[]byte }

func (pingRecorder) BeforeRead(bool) error               { return nil }
func (pingRecorder) AfterRead()                          {}
func (pingRecorder) ReadTimeout(_ bool, err error) error { return err }
func (p pingRecorder) Control(op byte, b []byte) error {
	if op == wsframe.OpPing {
		*p.got = append(*p.got, b...)
	}
	return nil
}
