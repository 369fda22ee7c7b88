package proxy_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/testupstream"
	"github.com/sio-gateway/gateway/proxy"
)

// TestIdleClientParks: a quiet client's readers park (no goroutine for
// either direction), and the client's next frame is served as usual.
func TestIdleClientParks(t *testing.T) {
	t.Parallel()
	for _, version := range []int{4, 2} {
		t.Run(fmt.Sprintf("socketio_v%d", version), func(t *testing.T) {
			t.Parallel()
			testIdleClientParks(t, version)
		})
	}
}

func testIdleClientParks(t *testing.T, version int) {
	up, g := startPair(t, version, testupstream.Options{}, nil)
	const n = 5
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = dial(t, g.wsURL("/ws"), nil)
	}
	// Both readers of each client: the client's at once, the upstream's
	// after a second of quiet.
	eventually(t, "every new client to park", func() bool { return proxy.ParkedClients(g.srv) == 2*n })
	// Active clients unpark; after a second of quiet they park again.
	for i, c := range cs {
		c.send(fmt.Sprintf(`{"event":"echo","data":%d,"id":%d}`, i, i))
		c.expectJSON(fmt.Sprintf(`{"ack":%d,"data":%d}`, i, i))
		if i == 0 {
			// Its readers woke, and stay awake for a second.
			if p := proxy.ParkedClients(g.srv); p > 2*n-2 {
				t.Fatalf("%d parked right after a frame; want that client's readers awake", p)
			}
		}
	}
	eventually(t, "the quiet clients to park again", func() bool { return proxy.ParkedClients(g.srv) == 2*n })
	for i, c := range cs {
		c.send(fmt.Sprintf(`{"event":"echo","data":"again %d","id":%d}`, i, i))
		c.expectJSON(fmt.Sprintf(`{"ack":%d,"data":"again %d"}`, i, i))
	}
	// A server broadcast wakes the parked upstream readers.
	eventually(t, "the quiet clients to park once more", func() bool { return proxy.ParkedClients(g.srv) == 2*n })
	up.Broadcast(t, "/", "news", "while parked")
	for _, c := range cs {
		c.expectJSON(`{"event":"news","data":"while parked"}`)
	}
	// A parked client's close is read and answered.
	_ = cs[0].conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"))
	if code, _ := cs[0].expectClose(); code != websocket.CloseNormalClosure {
		t.Fatalf("close %d, want 1000", code)
	}
}

// TestClientPing: a client's ping gets a pong with its payload.
func TestClientPing(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, nil)
	c := dial(t, g.wsURL("/ws"), nil)
	pong := make(chan string, 1)
	c.conn.SetPongHandler(func(s string) error { pong <- s; return nil })
	if err := c.conn.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	c.send(`{"event":"echo","data":1,"id":1}`)
	c.expectJSON(`{"ack":1,"data":1}`) // reading processes the pong
	select {
	case s := <-pong:
		if s != "are you there" {
			t.Fatalf("pong %q", s)
		}
	default:
		t.Fatal("no pong before the ack")
	}
}

// rawClient is a WebSocket client that writes frames byte by byte, to
// break the rules gorilla keeps.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func rawDial(t *testing.T, url string) *rawClient {
	t.Helper()
	host := strings.TrimPrefix(strings.TrimPrefix(url, "ws://"), "http://")
	path := host[strings.Index(host, "/"):]
	host = host[:strings.Index(host, "/")]
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	return &rawClient{conn: conn, br: br}
}

// readUntilClose reads server frames until a close frame and returns its
// code, counting the pings on the way.
func (c *rawClient) readUntilClose(t *testing.T) (code, pings int) {
	t.Helper()
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			t.Fatalf("read: %v, want a close frame", err)
		}
		n := int(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			io.ReadFull(c.br, l[:])
			n = int(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			io.ReadFull(c.br, l[:])
			n = int(binary.BigEndian.Uint64(l[:]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.br, p); err != nil {
			t.Fatal(err)
		}
		switch h[0] & 0x0f {
		case 0x9:
			pings++
		case 0x8:
			if n < 2 {
				t.Fatalf("close frame without a code")
			}
			return int(binary.BigEndian.Uint16(p)), pings
		}
	}
}

func TestClientProtocolError(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, nil)
	for name, frame := range map[string][]byte{
		"unmasked":        {0x81, 0x02, '{', '}'},
		"reserved_opcode": {0x83, 0x80, 0, 0, 0, 0},
		"bad_length":      {0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			c := rawDial(t, g.wsURL("/ws"))
			if _, err := c.conn.Write(frame); err != nil {
				t.Fatal(err)
			}
			if code, _ := c.readUntilClose(t); code != websocket.CloseProtocolError {
				t.Fatalf("close %d, want 1002", code)
			}
		})
	}
}

// TestSilentClientClosed: a client that answers no ping is closed after
// two ping intervals, parked or not.
func TestSilentClientClosed(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	const interval = 200 * time.Millisecond
	g := startGateway(t, up, func(o *proxy.Options) { o.PingInterval = interval })
	c := rawDial(t, g.wsURL("/ws"))
	start := time.Now()
	code, pings := c.readUntilClose(t)
	took := time.Since(start)
	if code != websocket.CloseNormalClosure || pings < 1 {
		t.Fatalf("close %d after %d pings, want 1000 after pings", code, pings)
	}
	if took < 2*interval-50*time.Millisecond || took > 2*interval+time.Second {
		t.Fatalf("closed after %v, want about two intervals (%v)", took, 2*interval)
	}
	eventually(t, "the ending to be counted", func() bool { return g.obs.count("disconnect|/ws|client_close") == 1 })
}

// TestParkedUpstreamLost: losses reach a parked upstream reader. A server
// that closes its sockets wakes it through the socket; one that goes
// silent (paused) wakes it at the heartbeat deadline: the client gets
// 1014 either way.
func TestParkedUpstreamLost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		how     string
		version int
	}{{"drop", 4}, {"silence", 4}, {"drop", 2}, {"silence", 2}} {
		how := tc.how
		t.Run(fmt.Sprintf("%s_v%d", how, tc.version), func(t *testing.T) {
			t.Parallel()
			// Pings 1.5 s apart: the upstream reader parks between them.
			up, g := startPair(t, tc.version, testupstream.Options{PingInterval: 1500 * time.Millisecond, PingTimeout: 500 * time.Millisecond},
				func(o *proxy.Options) { o.UpstreamReconnect = false })
			c := dial(t, g.wsURL("/ws"), nil)
			c.send(`{"event":"echo","data":1,"id":1}`)
			c.expectJSON(`{"ack":1,"data":1}`)
			eventually(t, "both readers to park", func() bool { return proxy.ParkedClients(g.srv) == 2 })
			start := time.Now()
			if how == "drop" {
				up.Get(t, "/control/drop")
			} else {
				up.Pause(t)
			}
			if code, _ := c.expectClose(); code != proxy.CloseBadGateway {
				t.Fatalf("close %d, want 1014", code)
			}
			// Silence is noticed at pingInterval+pingTimeout (+1 s grace)
			// after the last ping, at most.
			if took := time.Since(start); took > 3500*time.Millisecond+time.Second {
				t.Fatalf("loss noticed after %v", took)
			}
			up.Resume()
		})
	}
}

// TestStaleWriteDeadline: pings leave a write deadline on the client
// socket that soon lies in the past; frames written afterwards (without
// waiting, from the upstream reader) must not be refused by it.
func TestStaleWriteDeadline(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, func(o *proxy.Options) {
		o.PingInterval = 100 * time.Millisecond
		o.WriteTimeout = 20 * time.Millisecond
	})
	c := dial(t, g.wsURL("/ws"), nil)
	for i := range 5 {
		// Reading answers the pings; meanwhile their deadlines expire.
		time.Sleep(150 * time.Millisecond)
		c.send(fmt.Sprintf(`{"event":"echo","data":%d,"id":%d}`, i, i))
		c.expectJSON(fmt.Sprintf(`{"ack":%d,"data":%d}`, i, i))
	}
}
