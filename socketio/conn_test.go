package socketio

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// slack is added to every timing bound: the machine is shared.
const slack = 2 * time.Second

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestDialHandshakeRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		base     string // appended to the server URL
		opts     Options
		wantPath string
		wantEIO  string
	}{
		{"defaults", "", Options{}, "/socket.io/", "4"},
		{"base_path_ignored", "/admin?b=1", Options{}, "/socket.io/", "4"},
		{"custom_path_gets_slash", "", Options{Path: "/rt"}, "/rt/", "4"},
		{"eio3", "", Options{EIO: 3}, "/socket.io/", "3"},
		{"user_cannot_override_eio", "", Options{Query: url.Values{"EIO": {"9"}, "transport": {"polling"}, "x": {"1"}}}, "/socket.io/", "4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := newFakeServer(t, func(p *peer) {
				p.open(time.Minute, time.Minute, 0)
				p.drain()
			})
			opts := tt.opts
			opts.Header = http.Header{"X-Test": {"yes"}}
			c, err := Dial(testCtx(t, 10*time.Second), fs.URL+tt.base, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := fs.request(0)
			q := r.URL.Query()
			if r.URL.Path != tt.wantPath || q.Get("EIO") != tt.wantEIO || q.Get("transport") != "websocket" {
				t.Errorf("handshake %s, want path %s EIO=%s transport=websocket", r.URL, tt.wantPath, tt.wantEIO)
			}
			if r.Header.Get("X-Test") != "yes" {
				t.Errorf("header X-Test = %q", r.Header.Get("X-Test"))
			}
			if tt.name == "base_path_ignored" && q.Get("b") != "1" {
				t.Errorf("base URL query lost: %s", r.URL)
			}
			if tt.name == "user_cannot_override_eio" && q.Get("x") != "1" {
				t.Errorf("user query lost: %s", r.URL)
			}
			o := c.Open()
			if o.SID != "FAKESID" || o.PingInterval != time.Minute || o.MaxPayload != 0 || c.MaxPayload() != DefaultMaxPayload {
				t.Errorf("Open = %+v, MaxPayload %d", o, c.MaxPayload())
			}
		})
	}
}

func TestDialTLS(t *testing.T) {
	t.Parallel()
	fs := newFakeTLSServer(t, func(p *peer) {
		p.connectRoot(time.Minute, time.Minute)
		p.drain()
	})
	if !strings.HasPrefix(fs.URL, "https://") {
		t.Fatalf("URL %s", fs.URL)
	}
	// Without the server's certificate: refused.
	if _, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{}); err == nil {
		t.Fatal("Dial trusted an unknown certificate")
	}
	roots := x509.NewCertPool()
	roots.AddCert(fs.srv.Certificate())
	c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{TLSConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Connect(testCtx(t, 10*time.Second), "/", ConnectOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := fs.request(0); r == nil || r.TLS == nil {
		t.Error("the handshake did not use TLS")
	}
}

func TestDialHTTPError(t *testing.T) {
	t.Parallel()
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte("Transport unknown"))
	}))
	_, err := Dial(testCtx(t, 10*time.Second), srv, Options{})
	var he *HandshakeError
	if !errors.As(err, &he) || he.StatusCode != 400 || he.Body != "Transport unknown" {
		t.Fatalf("Dial = %v, want HandshakeError 400 \"Transport unknown\"", err)
	}
}

func TestDialGarbageAfter101(t *testing.T) {
	t.Parallel()
	tests := map[string]func(p *peer){
		// What a socket.io 4 server does to a wrong EIO: raw HTTP inside
		// the WebSocket stream.
		"raw_http": func(p *peer) {
			p.ws.NetConn().Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"))
		},
		"not_open":         func(p *peer) { p.send(`42["x"]`) },
		"bad_open_json":    func(p *peer) { p.send(`0{"sid":`) },
		"open_no_interval": func(p *peer) { p.send(`0{"sid":"x","pingTimeout":1}`) },
		"binary_first":     func(p *peer) { p.sendBinary([]byte{0}) },
		"close_at_once":    func(p *peer) {},
	}
	for name, script := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fs := newFakeServer(t, script)
			_, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{})
			var he *HandshakeError
			if !errors.As(err, &he) || he.StatusCode != 101 {
				t.Fatalf("Dial = %v, want HandshakeError 101", err)
			}
		})
	}
}

// stallingListener accepts TCP connections and never answers.
func stallingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
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
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

func TestDialStalledServerHonoursContext(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		u := stallingListener(t)
		start := time.Now()
		_, err := Dial(testCtx(t, timeout), u, Options{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > timeout+slack {
			t.Errorf("Dial took %v", d)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		u := stallingListener(t)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(timeout, cancel)
		start := time.Now()
		_, err := Dial(ctx, u, Options{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Dial = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > timeout+slack {
			t.Errorf("Dial took %v", d)
		}
	})
	t.Run("no_open_after_101", func(t *testing.T) {
		t.Parallel()
		fs := newFakeServer(t, func(p *peer) { p.drain() })
		start := time.Now()
		_, err := Dial(testCtx(t, timeout), fs.URL, Options{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > timeout+slack {
			t.Errorf("Dial took %v", d)
		}
	})
}

func TestWatchdogEIO4(t *testing.T) {
	t.Parallel()
	const interval, timeout = 100 * time.Millisecond, 100 * time.Millisecond
	pongs := make(chan struct{}, 10)
	fs := newFakeServer(t, func(p *peer) {
		if !p.connectRoot(interval, timeout) {
			return
		}
		for range 3 {
			time.Sleep(interval) // the server's own schedule
			if !p.send("2") || !p.expect("3") {
				return
			}
			pongs <- struct{}{}
		}
		p.drain() // then fall silent
	})
	c := connectFake(t, fs)
	_, err := c.Read()
	if !errors.Is(err, ErrPingTimeout) {
		t.Fatalf("Read = %v, want ErrPingTimeout", err)
	}
	if len(pongs) != 3 {
		t.Errorf("%d pongs before the silence, want 3", len(pongs))
	}
}

func TestWatchdogFiresInTime(t *testing.T) {
	t.Parallel()
	const interval, timeout = 200 * time.Millisecond, 200 * time.Millisecond
	fs := newFakeServer(t, func(p *peer) {
		p.connectRoot(interval, timeout)
		p.drain()
	})
	c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Connect(testCtx(t, 10*time.Second), "/", ConnectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Read()
	d := time.Since(start)
	if !errors.Is(err, ErrPingTimeout) {
		t.Fatalf("Read = %v, want ErrPingTimeout", err)
	}
	if want := interval + timeout + heartbeatGrace; d < want-50*time.Millisecond || d > want+slack {
		t.Errorf("watchdog fired after %v, want about %v", d, want)
	}
}

func TestHeartbeatEIO3ClientPings(t *testing.T) {
	t.Parallel()
	const interval, timeout = 100 * time.Millisecond, 300 * time.Millisecond
	var pingTimes []time.Time
	done := make(chan struct{})
	fs := newFakeServer(t, func(p *peer) {
		defer close(done)
		if !p.open(interval, timeout, 0) || !p.send("40") {
			return
		}
		for range 4 {
			_, msg, ok := p.recv(fakeTimeout)
			if !ok || msg != "2" {
				t.Errorf("fake server: got %q, want a ping", msg)
				return
			}
			pingTimes = append(pingTimes, time.Now())
			if !p.send("3") {
				return
			}
		}
		// Now ignore the next ping: the client must time out.
		p.drain()
	})
	c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{EIO: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Connect(testCtx(t, 10*time.Second), "/", ConnectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Read()
	if !errors.Is(err, ErrPingTimeout) {
		t.Fatalf("Read = %v, want ErrPingTimeout", err)
	}
	c.Close()
	<-done
	for i := 1; i < len(pingTimes); i++ {
		if gap := pingTimes[i].Sub(pingTimes[i-1]); gap < interval-20*time.Millisecond {
			t.Errorf("pings %d and %d only %v apart", i-1, i, gap)
		}
	}
}

func TestConnectContextBoundsHungNamespace(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, func(p *peer) {
		p.open(time.Minute, time.Minute, 0)
		p.expect("40/hang,")
		p.drain()
	})
	c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.Connect(testCtx(t, 300*time.Millisecond), "/hang", ConnectOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond+slack {
		t.Errorf("Connect took %v", d)
	}
	// The Conn is closed: the stream could not be resumed.
	if _, err := c.Read(); !errors.Is(err, ErrClosed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read after a timed-out Connect = %v", err)
	}
}

func TestConnectKeepsEarlyPackets(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, func(p *peer) {
		p.open(time.Minute, time.Minute, 0)
		p.expect(`40{"pid":"P","offset":"o1"}`)
		p.send(`42["a","o2"]`)
		p.send("2") // a ping in the middle is answered
		p.expect("3")
		p.send(`42["b",1,"o3"]`)
		p.send(`40{"sid":"S","pid":"P"}`)
		p.send(`42["c","o4"]`)
		p.drain()
	})
	c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := c.Connect(testCtx(t, 10*time.Second), "/", ConnectOptions{Recover: &Recovery{PID: "P", Offset: "o1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Recovered || info.SID != "S" || info.PID != "P" {
		t.Errorf("ConnectInfo = %+v, want recovered", info)
	}
	for _, want := range []string{`["a"]`, `["b",1]`, `["c"]`} {
		p, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		if string(p.Data) != want {
			t.Errorf("Read %s, want %s", p.Data, want)
		}
	}
	if r, _ := c.Recovery("/"); r.Offset != "o4" {
		t.Errorf("Recovery = %+v, want offset o4", r)
	}
}

func TestNotRecoveredResetsOffset(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, func(p *peer) {
		p.open(time.Minute, time.Minute, 0)
		p.expect(`40{"pid":"OLD","offset":"o1"}`)
		p.send(`40{"sid":"S","pid":"NEW"}`)
		p.drain()
	})
	c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := c.Connect(testCtx(t, 10*time.Second), "/", ConnectOptions{Recover: &Recovery{PID: "OLD", Offset: "o1"}})
	if err != nil || info.Recovered || info.PID != "NEW" {
		t.Fatalf("Connect = %+v, %v; want a fresh session", info, err)
	}
	if r, ok := c.Recovery("/"); !ok || r.PID != "NEW" || r.Offset != "" {
		t.Errorf("Recovery = %+v %v", r, ok)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, func(p *peer) {
		p.connectRoot(time.Minute, time.Minute)
		p.drain() // never acks
	})
	c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Connect(testCtx(t, 10*time.Second), "/", ConnectOptions{}); err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read()
		readErr <- err
	}()
	ackErr := make(chan error, 1)
	go func() {
		_, err := c.EmitWithAck(t.Context(), "/", []byte(`["never-ack"]`), nil)
		ackErr <- err
	}()
	time.AfterFunc(100*time.Millisecond, func() { c.Close() })
	for name, ch := range map[string]chan error{"Read": readErr, "EmitWithAck": ackErr} {
		select {
		case err := <-ch:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s = %v, want ErrClosed", name, err)
			}
		case <-time.After(fakeTimeout):
			t.Fatalf("%s still blocked after Close", name)
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := c.Emit(t.Context(), "/", []byte(`["x"]`), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Emit after Close = %v", err)
	}
}

func TestServerDisconnectFailsWaiters(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, func(p *peer) {
		p.connectRoot(time.Minute, time.Minute)
		p.expect(`420["wait"]`)
		p.send("41")
		p.drain()
	})
	c := connectFake(t, fs)
	ackErr := make(chan error, 1)
	go func() {
		_, err := c.EmitWithAck(t.Context(), "/", []byte(`["wait"]`), nil)
		ackErr <- err
	}()
	p, err := c.Read()
	if err != nil || p.Type != PacketDisconnect || p.Namespace != "/" {
		t.Fatalf("Read = %s, %v; want DISCONNECT", fmtPacket(p), err)
	}
	if err := <-ackErr; !errors.Is(err, ErrDisconnected) {
		t.Errorf("EmitWithAck = %v, want ErrDisconnected", err)
	}
	if err := c.Emit(t.Context(), "/", []byte(`["x"]`), nil); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Emit after DISCONNECT = %v, want ErrNotConnected", err)
	}
}

func TestDisconnectWhileConnecting(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	fs := newFakeServer(t, func(p *peer) {
		p.open(time.Minute, time.Minute, 0)
		p.expect("40/slow,")
		p.send(`40/slow,{"sid":"S"}`)
		_, msg, _ := p.recv(fakeTimeout)
		got <- msg
		p.drain()
	})
	c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send(Packet{Type: PacketConnect, Namespace: "/slow"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Emit(t.Context(), "/slow", []byte(`["early"]`), nil); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Emit before the reply = %v, want ErrNotConnected", err)
	}
	if err := c.Send(Packet{Type: PacketConnect, Namespace: "/slow"}); !errors.Is(err, ErrAlreadyConnected) {
		t.Errorf("second CONNECT = %v, want ErrAlreadyConnected", err)
	}
	if err := c.Disconnect("/slow"); err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read() // handles the reply, sends the DISCONNECT
		readErr <- err
	}()
	if msg := <-got; msg != "41/slow," {
		t.Errorf("after the reply the server got %q, want 41/slow,", msg)
	}
	c.Close()
	<-readErr
}

func TestConcurrentReadRefused(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, func(p *peer) {
		p.open(time.Minute, time.Minute, 0)
		p.drain()
	})
	c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Read()
	}()
	deadline := time.Now().Add(fakeTimeout)
	for !c.reading.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Read(); !errors.Is(err, ErrConcurrentRead) {
		t.Errorf("second Read = %v", err)
	}
	if _, err := c.Connect(t.Context(), "/", ConnectOptions{}); !errors.Is(err, ErrConcurrentRead) {
		t.Errorf("Connect during Read = %v", err)
	}
	c.Close()
	<-done
}

func TestTransportClosedByServer(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, func(p *peer) {
		p.connectRoot(time.Minute, time.Minute)
		// return: the handler closes the connection
	})
	c := connectFake(t, fs)
	_, err := c.Read()
	var te *TransportError
	if !errors.Is(err, ErrTransportClosed) || !errors.As(err, &te) {
		t.Fatalf("Read = %v, want ErrTransportClosed", err)
	}
}

func TestReadLimit(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, func(p *peer) {
		p.connectRoot(time.Minute, time.Minute)
		p.send(`42["big","` + strings.Repeat("x", 2000) + `"]`)
		p.drain()
	})
	c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{ReadLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Connect(testCtx(t, 10*time.Second), "/", ConnectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Read()
	if !errors.Is(err, ErrTransportError) || !errors.Is(err, websocket.ErrReadLimit) {
		t.Fatalf("Read = %v, want ErrTransportError wrapping ErrReadLimit", err)
	}
}

func TestEIO3RootConnectRefused(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t, func(p *peer) {
		p.open(time.Minute, time.Minute, 0)
		p.send(`44{"reason":"bad token"}`)
		p.drain()
	})
	c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{EIO: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Connect(testCtx(t, 10*time.Second), "/", ConnectOptions{})
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Namespace != "/" || string(ce.Data) != `{"reason":"bad token"}` {
		t.Fatalf("Connect = %v, want ConnectError with data", err)
	}
	if _, err := c.Connect(testCtx(t, 10*time.Second), "/", ConnectOptions{Auth: []byte(`{}`)}); !errors.Is(err, ErrInvalidPacket) {
		t.Errorf("EIO 3 Connect with Auth = %v, want ErrInvalidPacket", err)
	}
}

// newHTTPServer serves h and returns its URL.
func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := &http.Server{Handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// The OPEN packets of SOCKETIO-WIRE.md §5.
func TestGoldenOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		eio  int
		open string
		want OpenInfo
	}{
		{4, `0{"sid":"PHmU_uxekoo39pe_AAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`,
			OpenInfo{SID: "PHmU_uxekoo39pe_AAAA", PingInterval: 25 * time.Second, PingTimeout: 20 * time.Second, MaxPayload: 1000000, EIO: 4}},
		{3, `0{"sid":"mwLC","upgrades":[],"pingInterval":25000,"pingTimeout":5000}`,
			OpenInfo{SID: "mwLC", PingInterval: 25 * time.Second, PingTimeout: 5 * time.Second, EIO: 3}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.eio), func(t *testing.T) {
			t.Parallel()
			fs := newFakeServer(t, func(p *peer) {
				p.send(tt.open)
				p.drain()
			})
			c, err := Dial(testCtx(t, 10*time.Second), fs.URL, Options{EIO: tt.eio})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.Open(); got != tt.want {
				t.Errorf("Open = %+v, want %+v", got, tt.want)
			}
			if c.MaxPayload() != 1000000 {
				t.Errorf("MaxPayload = %d", c.MaxPayload())
			}
		})
	}
}
