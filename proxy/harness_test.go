package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/sio-gateway/gateway/internal/testupstream"
	"github.com/sio-gateway/gateway/proxy"
)

// testTimeout bounds every wait in these tests; generous, the machine is
// shared.
const testTimeout = 15 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// net/http's keep-alive connections of the control client.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// gateway is a proxy.Server on a loopback listener.
type gateway struct {
	srv  *proxy.Server
	http *httptest.Server
	obs  *recorder
}

// wsURL is the ws:// URL of path on the gateway.
func (g *gateway) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(g.http.URL, "http") + path
}

// startGateway starts a gateway whose default route /ws leads to up's "/",
// after mutate adjusts the options.
func startGateway(t testing.TB, up *testupstream.Server, mutate func(*proxy.Options)) *gateway {
	t.Helper()
	rec := newRecorder()
	o := proxy.Options{
		Routes:                 []proxy.Route{{Path: "/ws", UpstreamURL: up.URL, Namespace: "/"}},
		UpstreamConnectTimeout: 5 * time.Second,
		ForwardHeaders:         []string{"Authorization", "Cookie", "User-Agent"},
		ForwardToken:           true,
		TokenQueryParam:        "token",
		Observer:               rec,
	}
	o.Translate.RawFrames = true
	o.Translate.BinaryFrames = true
	if mutate != nil {
		mutate(&o)
	}
	srv, err := proxy.New(o)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	ts := httptest.NewServer(srv)
	g := &gateway{srv: srv, http: ts, obs: rec}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		ts.Close()
	})
	return g
}

// client is a plain WebSocket test client.
type client struct {
	t    *testing.T
	conn *websocket.Conn
}

// dial connects to the gateway and fails the test when the upgrade fails.
func dial(t *testing.T, url string, h http.Header) *client {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		t.Fatalf("dial %s: %v %s", url, err, body)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c}
}

// dialFail expects the upgrade to fail with an HTTP answer and returns it.
func dialFail(t *testing.T, url string, h http.Header) (*http.Response, errorBody) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s: upgrade succeeded, want a refusal", url)
	}
	if resp == nil {
		t.Fatalf("dial %s: %v (no HTTP answer)", url, err)
	}
	defer resp.Body.Close()
	var body errorBody
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("error body %q: %v", raw, err)
	}
	return resp, body
}

// errorBody is CONTRACT §1's JSON error answer.
type errorBody struct {
	Error struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		Upstream *struct {
			Message *string         `json:"message"`
			Data    json.RawMessage `json:"data"`
		} `json:"upstream"`
	} `json:"error"`
}

func (c *client) send(frame string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatalf("send %s: %v", frame, err)
	}
}

func (c *client) sendBinary(b []byte) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
		c.t.Fatalf("send binary: %v", err)
	}
}

// read returns the next text frame.
func (c *client) read() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	mt, b, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if mt != websocket.TextMessage {
		c.t.Fatalf("read: message type %d, want text", mt)
	}
	return string(b)
}

// expect reads the next frame and compares it byte for byte.
func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.read(); got != want {
		c.t.Fatalf("frame\n got %s\nwant %s", got, want)
	}
}

// expectJSON reads the next frame and compares it as JSON.
func (c *client) expectJSON(want string) {
	c.t.Helper()
	got := c.read()
	if !jsonEqual(got, want) {
		c.t.Fatalf("frame\n got %s\nwant %s", got, want)
	}
}

// expectClose reads until the close frame and returns its code and text.
func (c *client) expectClose() (int, string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if ok := asCloseError(err, &ce); ok {
				return ce.Code, ce.Text
			}
			c.t.Fatalf("read: %v, want a close frame", err)
		}
		c.t.Logf("frame before close: %s", b)
	}
}

// readUntilClose returns every frame before the close, and the close code.
func (c *client) readUntilClose() ([]string, int) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	var frames []string
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if asCloseError(err, &ce) {
				return frames, ce.Code
			}
			c.t.Fatalf("read: %v, want a close frame", err)
		}
		frames = append(frames, string(b))
	}
}

func asCloseError(err error, ce **websocket.CloseError) bool {
	if e, ok := err.(*websocket.CloseError); ok {
		*ce = e
		return true
	}
	// gorilla refuses close codes outside its list, 1014 among them, with a
	// protocol error naming the code.
	var code int
	if _, scanErr := fmt.Sscanf(err.Error(), "websocket: bad close code %d", &code); scanErr == nil {
		*ce = &websocket.CloseError{Code: code}
		return true
	}
	return false
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// stallingListener accepts TCP connections and never answers: an upstream
// that hangs during the handshake.
func stallingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String()
}

// closedPort returns a loopback URL where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// recorder is an Observer that counts what it is told.
type recorder struct {
	mu       sync.Mutex
	counts   map[string]int
	gauges   map[string]int
	latency  int
	connects int
}

func newRecorder() *recorder {
	return &recorder{counts: map[string]int{}, gauges: map[string]int{}}
}

func (r *recorder) add(key string, n int) {
	r.mu.Lock()
	r.counts[key] += n
	r.mu.Unlock()
}

func (r *recorder) gauge(key string, n int) {
	r.mu.Lock()
	r.gauges[key] += n
	r.mu.Unlock()
}

// count returns a counter; key is "kind|labels…".
func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[key]
}

func (r *recorder) connectAttempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connects
}

func (r *recorder) gaugeValue(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gauges[key]
}

func (r *recorder) ConnectionOutcome(route, outcome string) { r.add("outcome|"+route+"|"+outcome, 1) }
func (r *recorder) ConnectionOpened(route string)           { r.gauge("connections|"+route, 1) }
func (r *recorder) ConnectionClosed(route, reason string, _ time.Duration) {
	r.gauge("connections|"+route, -1)
	r.add("disconnect|"+route+"|"+reason, 1)
}
func (r *recorder) UpstreamConnect(string, time.Duration) {
	r.mu.Lock()
	r.connects++
	r.mu.Unlock()
}
func (r *recorder) Message(route, dir, kind string, _ int) {
	r.add("message|"+route+"|"+dir+"|"+kind, 1)
}
func (r *recorder) FrameError(route, code string)       { r.add("error|"+route+"|"+code, 1) }
func (r *recorder) PendingAcks(route string, d int)     { r.gauge("pending|"+route, d) }
func (r *recorder) AckLatency(string, time.Duration)    { r.mu.Lock(); r.latency++; r.mu.Unlock() }
func (r *recorder) UpstreamReconnect(route, res string) { r.add("reconnect|"+route+"|"+res, 1) }
func (r *recorder) BufferedFrames(route string, d int)  { r.gauge("buffered|"+route, d) }

// eventually polls cond until it holds or the test times out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// errorCodes collects the error frames among frames: id token → code.
func errorCodes(frames []string) map[string]string {
	out := map[string]string{}
	for _, f := range frames {
		var e struct {
			Error struct {
				Code string          `json:"code"`
				ID   json.RawMessage `json:"id"`
			} `json:"error"`
		}
		if json.Unmarshal([]byte(f), &e) == nil && e.Error.Code != "" {
			out[string(e.Error.ID)] = e.Error.Code
		}
	}
	return out
}

// startPair starts a socket.io server of major version 4 or 2 with o, and a
// gateway in front of it speaking its Engine.IO version (4 or 3).
func startPair(t *testing.T, version int, o testupstream.Options, mutate func(*proxy.Options)) (*testupstream.Server, *gateway) {
	t.Helper()
	o.Version = version
	up := testupstream.Start(t, o)
	g := startGateway(t, up, func(opts *proxy.Options) {
		if version == 2 {
			opts.UpstreamEIO = 3
		}
		if mutate != nil {
			mutate(opts)
		}
	})
	return up, g
}
