package socketio

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeTimeout bounds every wait of a scripted server. Generous: the machine
// is shared.
const fakeTimeout = 10 * time.Second

// fakeServer is a scripted Engine.IO server in Go, for what the Node servers
// cannot easily do (stalls, malformed packets, exact frame checks). Each
// upgrade on its Engine.IO path runs script on the handler's goroutine.
// Cleanup closes every connection and waits for the scripts to end.
type fakeServer struct {
	URL string

	t    *testing.T
	srv  *httptest.Server
	wg   sync.WaitGroup
	mu   sync.Mutex
	ws   []*websocket.Conn
	reqs []*http.Request
}

func newFakeServer(t *testing.T, script func(p *peer)) *fakeServer {
	t.Helper()
	return startFakeServer(t, false, script)
}

// newFakeTLSServer is newFakeServer over TLS (https URL); fs.srv.Certificate
// is its certificate.
func newFakeTLSServer(t *testing.T, script func(p *peer)) *fakeServer {
	t.Helper()
	return startFakeServer(t, true, script)
}

func startFakeServer(t *testing.T, useTLS bool, script func(p *peer)) *fakeServer {
	t.Helper()
	fs := &fakeServer{t: t}
	up := websocket.Upgrader{}
	fs.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.wg.Add(1)
		defer fs.wg.Done()
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		fs.mu.Lock()
		fs.ws = append(fs.ws, ws)
		fs.reqs = append(fs.reqs, r)
		fs.mu.Unlock()
		defer ws.Close()
		script(&peer{t: t, ws: ws, req: r})
	}))
	if useTLS {
		fs.srv.StartTLS()
	} else {
		fs.srv.Start()
	}
	fs.URL = fs.srv.URL
	t.Cleanup(func() {
		fs.closeAll()
		fs.srv.Close()
		fs.wg.Wait()
	})
	return fs
}

// closeAll closes every server-side WebSocket (the client sees a reset or
// EOF).
func (fs *fakeServer) closeAll() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, ws := range fs.ws {
		ws.Close()
	}
}

func (fs *fakeServer) request(i int) *http.Request {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if i >= len(fs.reqs) {
		return nil
	}
	return fs.reqs[i]
}

// peer is the server side of one connection.
type peer struct {
	t   *testing.T
	ws  *websocket.Conn
	req *http.Request
}

func (p *peer) send(s string) bool {
	p.ws.SetWriteDeadline(time.Now().Add(fakeTimeout))
	return p.ws.WriteMessage(websocket.TextMessage, []byte(s)) == nil
}

func (p *peer) sendBinary(b []byte) bool {
	p.ws.SetWriteDeadline(time.Now().Add(fakeTimeout))
	return p.ws.WriteMessage(websocket.BinaryMessage, b) == nil
}

// open sends an OPEN packet.
func (p *peer) open(pingInterval, pingTimeout time.Duration, maxPayload int) bool {
	mp := ""
	if maxPayload > 0 {
		mp = fmt.Sprintf(`,"maxPayload":%d`, maxPayload)
	}
	return p.send(fmt.Sprintf(`0{"sid":"FAKESID","upgrades":[],"pingInterval":%d,"pingTimeout":%d%s}`,
		pingInterval.Milliseconds(), pingTimeout.Milliseconds(), mp))
}

// recv reads one message; ok is false when the connection ended or nothing
// came within timeout.
func (p *peer) recv(timeout time.Duration) (typ int, msg string, ok bool) {
	p.ws.SetReadDeadline(time.Now().Add(timeout))
	typ, b, err := p.ws.ReadMessage()
	if err != nil {
		return 0, "", false
	}
	return typ, string(b), true
}

// expect reads one message and reports an error unless it is want.
func (p *peer) expect(want string) bool {
	_, got, ok := p.recv(fakeTimeout)
	if !ok {
		p.t.Errorf("fake server: connection ended while waiting for %q", want)
		return false
	}
	if got != want {
		p.t.Errorf("fake server: got %q, want %q", got, want)
		return false
	}
	return true
}

// drain reads until the connection ends (or fakeTimeout).
func (p *peer) drain() {
	for {
		if _, _, ok := p.recv(fakeTimeout); !ok {
			return
		}
	}
}

// connectFake dials fs and connects "/"; the Conn is closed at cleanup.
func connectFake(t *testing.T, fs *fakeServer) *Conn {
	t.Helper()
	c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Connect(testCtx(t, 10*time.Second), "/", ConnectOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// connectedPeer is a script prefix: OPEN with the given heartbeat, then the
// CONNECT of "/" answered.
func (p *peer) connectRoot(pingInterval, pingTimeout time.Duration) bool {
	return p.open(pingInterval, pingTimeout, 0) && p.expect("40") && p.send(`40{"sid":"SOCKETSID"}`)
}
