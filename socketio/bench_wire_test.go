package socketio

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/testupstream"
)

// Wire benchmarks: the same packets through gorilla/websocket over TCP
// loopback, to show what the WebSocket library adds to the codec figures.
// The server side uses the raw connection after the handshake so that its
// own work does not allocate.

// wireServer upgrades, sends OPEN, answers the CONNECT of "/", then runs
// after on the raw connection.
func wireServer(tb testing.TB, after func(nc net.Conn)) string {
	tb.Helper()
	var wg sync.WaitGroup
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ws.WriteMessage(websocket.TextMessage, []byte(`0{"sid":"B","upgrades":[],"pingInterval":60000,"pingTimeout":60000}`))
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
		ws.WriteMessage(websocket.TextMessage, []byte(`40{"sid":"S"}`))
		after(ws.NetConn())
	}))
	tb.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	return srv.URL
}

func wireConn(tb testing.TB, url string) *Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if _, err := c.Connect(ctx, "/", ConnectOptions{}); err != nil {
		tb.Fatal(err)
	}
	return c
}

func BenchmarkWireSend(b *testing.B) {
	for _, bc := range benchCases[:4] {
		b.Run(bc.name, func(b *testing.B) {
			url := wireServer(b, func(nc net.Conn) { io.Copy(io.Discard, nc) })
			c := wireConn(b, url)
			p := Packet{Type: PacketEvent, Namespace: "/"}
			if bc.ack {
				p.Type, p.ID, p.HasID = PacketAck, 12, true
			}
			// An ACK needs a connected namespace and an id; the server
			// discards it.
			hdr := len(appendHeader(nil, p.Type, 0, "/", p.ID, p.HasID))
			p.Data = benchPayload(bc.size, bc.ack, hdr)
			b.SetBytes(int64(hdr + len(p.Data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Send(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWireRead(b *testing.B) {
	for _, bc := range benchCases[:4] {
		b.Run(bc.name, func(b *testing.B) {
			typ := PacketEvent
			if bc.ack {
				typ = PacketAck
			}
			hdr := appendHeader(nil, typ, 0, "/", 12, bc.ack)
			msg := append(hdr, benchPayload(bc.size, bc.ack, len(hdr))...)
			// Unmasked server frames, many per write.
			var frame bytes.Buffer
			frame.WriteByte(0x81)
			if len(msg) <= 125 {
				frame.WriteByte(byte(len(msg)))
			} else {
				frame.Write([]byte{126, byte(len(msg) >> 8), byte(len(msg))})
			}
			frame.Write(msg)
			chunk := bytes.Repeat(frame.Bytes(), max(1, 64<<10/frame.Len()))
			url := wireServer(b, func(nc net.Conn) {
				for {
					if _, err := nc.Write(chunk); err != nil {
						return
					}
				}
			})
			c := wireConn(b, url)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				p, err := c.Read()
				if err != nil || p.Type != typ {
					b.Fatal(p, err)
				}
			}
		})
	}
}

// TestIdleConnMemory measures what an idle, connected Conn keeps on the
// heap (the server is the Node process, so only the client side counts), and
// checks that it runs no goroutine.
func TestIdleConnMemory(t *testing.T) {
	// Not parallel: the heap and goroutine counts must be this test's own
	// (parallel tests start only after the sequential ones).
	const n = 200
	s := startNode(t, testupstream.Options{})
	ctx := testCtx(t, time.Minute)
	dial := func() *Conn {
		c, err := Dial(ctx, s.URL, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Connect(ctx, "/", ConnectOptions{}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	conns := make([]*Conn, 0, n+1)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	conns = append(conns, dial()) // warm up the pools
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	for range n {
		conns = append(conns, dial())
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perConn := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	goroutines := runtime.NumGoroutine() - g0
	t.Logf("idle connected Conn: %d bytes of live heap each (HeapAlloc delta / %d); %d new goroutines in all", perConn, n, goroutines)
	if goroutines > 0 {
		t.Errorf("%d new goroutines for %d idle Conns, want none", goroutines, n)
	}
	if perConn > maxIdleConnHeap {
		t.Errorf("%d bytes of heap per idle Conn, want at most %d", perConn, maxIdleConnHeap)
	}
}

// maxIdleConnHeap bounds the heap of one idle Conn (the DESIGN target for a
// whole bridged client, both sockets, is 16 KiB of RSS).
const maxIdleConnHeap = 8 << 10
