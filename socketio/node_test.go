package socketio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sio-gateway/gateway/internal/testupstream"
)

// Tests against the real Node servers: socket.io 4.8.4 (Engine.IO 4,
// Socket.IO protocol 5) and 2.5.1 (Engine.IO 3, protocol 4).

// nodeTimeout bounds waits on a Node server (generous: shared machine).
const nodeTimeout = 15 * time.Second

var versions = []int{4, 2}

func eioOf(version int) int {
	if version == 2 {
		return 3
	}
	return 4
}

// forVersions runs f as a parallel subtest per server version.
func forVersions(t *testing.T, f func(t *testing.T, version int)) {
	for _, v := range versions {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			f(t, v)
		})
	}
}

func startNode(t *testing.T, o testupstream.Options) *testupstream.Server {
	t.Helper()
	return testupstream.Start(t, o)
}

// dialNode dials s with the matching Engine.IO revision; the Conn is closed
// at cleanup.
func dialNode(t *testing.T, s *testupstream.Server, o Options) *Conn {
	t.Helper()
	o.EIO = eioOf(s.Version)
	c, err := Dial(testCtx(t, nodeTimeout), s.URL, o)
	if err != nil {
		t.Fatalf("Dial %s: %v", s.URL, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connectNode dials and connects nsp (and, on v2, "/" first).
func connectNode(t *testing.T, s *testupstream.Server, o Options, nsp string, co ConnectOptions) (*Conn, ConnectInfo) {
	t.Helper()
	c := dialNode(t, s, o)
	info, err := c.Connect(testCtx(t, nodeTimeout), nsp, co)
	if err != nil {
		t.Fatalf("Connect %s: %v", nsp, err)
	}
	return c, info
}

// pump reads a Conn on its own goroutine (EmitWithAck needs a reader) and
// hands copies of the packets over.
type pump struct {
	packets chan Packet
	err     chan error
	stop    chan struct{}
	done    chan struct{}
}

func startPump(t *testing.T, c *Conn) *pump {
	t.Helper()
	p := &pump{packets: make(chan Packet, 1024), err: make(chan error, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			pk, err := c.Read()
			if err != nil {
				p.err <- err
				return
			}
			select {
			case p.packets <- clonePacket(pk):
			case <-p.stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(p.stop)
		c.Close()
		<-p.done
	})
	return p
}

// next returns the next packet, failing the test on error or timeout.
func (p *pump) next(t *testing.T) Packet {
	t.Helper()
	select {
	case pk := <-p.packets:
		return pk
	case err := <-p.err:
		t.Fatalf("Read: %v", err)
	case <-time.After(nodeTimeout):
		t.Fatal("no packet in time")
	}
	return Packet{}
}

// wait returns the error that ended the reader.
func (p *pump) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	for {
		select {
		case <-p.packets:
		case err := <-p.err:
			return err
		case <-time.After(within):
			t.Fatalf("the reader did not end within %v", within)
			return nil
		}
	}
}

// expectEvent reads the next packet and checks it is an EVENT with data.
func (p *pump) expectEvent(t *testing.T, nsp, data string) Packet {
	t.Helper()
	pk := p.next(t)
	if (pk.Type != PacketEvent && pk.Type != PacketBinaryEvent) || pk.Namespace != nsp || string(pk.Data) != data {
		t.Fatalf("got %s, want EVENT %s %s", fmtPacket(pk), nsp, data)
	}
	return pk
}

func TestNodeConnectRoot(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v int) {
		s := startNode(t, testupstream.Options{Version: v})
		c, info := connectNode(t, s, Options{Query: url.Values{"q": {"1"}}}, "/", ConnectOptions{})
		if info.SID == "" || info.PID != "" || info.Recovered {
			t.Errorf("ConnectInfo = %+v", info)
		}
		if v == 2 && info.SID != c.Open().SID {
			t.Errorf("v2 SID %q, want the engine sid %q", info.SID, c.Open().SID)
		}
		if o := c.Open(); o.EIO != eioOf(v) || o.PingInterval <= 0 || o.PingTimeout <= 0 {
			t.Errorf("Open = %+v", o)
		}
		// A second CONNECT is refused locally (the server would close).
		if _, err := c.Connect(testCtx(t, nodeTimeout), "/", ConnectOptions{}); v == 4 && !errors.Is(err, ErrAlreadyConnected) {
			t.Errorf("second Connect = %v, want ErrAlreadyConnected", err)
		}
		startPump(t, c)
		ack, err := c.EmitWithAck(testCtx(t, nodeTimeout), "/", []byte(`["handshake"]`), nil)
		if err != nil {
			t.Fatal(err)
		}
		var h struct {
			Query map[string]string `json:"query"`
			ID    string            `json:"id"`
		}
		if err := json.Unmarshal(ack.Data, &[]any{&h}); err != nil {
			t.Fatalf("handshake ack %s: %v", ack.Data, err)
		}
		if h.Query["q"] != "1" || h.Query["EIO"] != strconv.Itoa(eioOf(v)) || h.Query["transport"] != "websocket" || h.ID != info.SID {
			t.Errorf("server saw %+v (sid %s)", h, info.SID)
		}
	})
}

func TestNodeHandshakeHeaders(t *testing.T) {
	t.Parallel()
	s := startNode(t, testupstream.Options{})
	c, _ := connectNode(t, s, Options{Header: map[string][]string{"X-Forwarded-For": {"10.1.2.3"}}}, "/chat",
		ConnectOptions{Auth: json.RawMessage(`{"token":"abc","n":1.50}`)})
	startPump(t, c)
	ack, err := c.EmitWithAck(testCtx(t, nodeTimeout), "/chat", []byte(`["handshake"]`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(ack.Data, []byte(`"x-forwarded-for":"10.1.2.3"`)) || !bytes.Contains(ack.Data, []byte(`"auth":{"token":"abc","n":1.5}`)) {
		t.Errorf("handshake ack %s", ack.Data)
	}
}

func TestNodeNamespaceAuth(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v int) {
		s := startNode(t, testupstream.Options{Version: v})
		c := dialNode(t, s, Options{})
		good, bad := ConnectOptions{Auth: json.RawMessage(`{"token":"secret"}`)}, ConnectOptions{Auth: json.RawMessage(`{"token":"nope"}`)}
		if v == 2 {
			good, bad = ConnectOptions{Query: url.Values{"token": {"secret"}}}, ConnectOptions{Query: url.Values{"token": {"nope"}}}
			if _, err := c.Connect(testCtx(t, nodeTimeout), "/", ConnectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		ctx := testCtx(t, nodeTimeout)
		_, err := c.Connect(ctx, "/admin", bad)
		var ce *ConnectError
		if !errors.As(err, &ce) || ce.Namespace != "/admin" || string(ce.Data) != `{"reason":"bad token"}` {
			t.Fatalf("Connect with a bad token = %v, want ConnectError with data", err)
		}
		if v == 4 && ce.Message != "not authorized" {
			t.Errorf("message %q", ce.Message)
		}
		// The Engine.IO session survives a refusal: try again.
		info, err := c.Connect(ctx, "/admin", good)
		if err != nil {
			t.Fatalf("Connect with the token: %v", err)
		}
		if info.SID == "" {
			t.Error("no SID")
		}
		p := startPump(t, c)
		if err := c.Emit(ctx, "/admin", []byte(`["echo","in admin"]`), nil); err != nil {
			t.Fatal(err)
		}
		p.expectEvent(t, "/admin", `["echo","in admin"]`)
	})
}

func TestNodeRootTokenV2Query(t *testing.T) {
	t.Parallel()
	s := startNode(t, testupstream.Options{Version: 2, RequireToken: "t0k"})
	c := dialNode(t, s, Options{})
	_, err := c.Connect(testCtx(t, nodeTimeout), "/", ConnectOptions{})
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Namespace != "/" || string(ce.Data) != `{"reason":"bad token"}` {
		t.Fatalf("Connect without the token = %v", err)
	}
	c2 := dialNode(t, s, Options{Query: url.Values{"token": {"t0k"}}})
	if _, err := c2.Connect(testCtx(t, nodeTimeout), "/", ConnectOptions{}); err != nil {
		t.Fatalf("Connect with the token in the handshake query: %v", err)
	}
}

func TestNodeConnectRefused(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v int) {
		s := startNode(t, testupstream.Options{Version: v})
		c := dialNode(t, s, Options{})
		if v == 2 {
			if _, err := c.Connect(testCtx(t, nodeTimeout), "/", ConnectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct{ nsp, message string }{
			{"/reject", "not authorized"},
			{"/nope", "Invalid namespace"},
		} {
			_, err := c.Connect(testCtx(t, nodeTimeout), tt.nsp, ConnectOptions{})
			var ce *ConnectError
			if !errors.As(err, &ce) || ce.Namespace != tt.nsp || ce.Message != tt.message || ce.Data != nil {
				t.Errorf("Connect %s = %v (%+v), want message %q without data", tt.nsp, err, ce, tt.message)
			}
		}
		// Nothing can be sent on a refused namespace; the rest works.
		if err := c.Emit(t.Context(), "/reject", []byte(`["x"]`), nil); !errors.Is(err, ErrNotConnected) {
			t.Errorf("Emit on /reject = %v", err)
		}
		if _, err := c.Connect(testCtx(t, nodeTimeout), "/chat", ConnectOptions{}); err != nil {
			t.Errorf("Connect /chat after refusals: %v", err)
		}
	})
}

func TestNodeHangingNamespace(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v int) {
		s := startNode(t, testupstream.Options{Version: v})
		c := dialNode(t, s, Options{})
		if v == 2 {
			if _, err := c.Connect(testCtx(t, nodeTimeout), "/", ConnectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		const timeout = 500 * time.Millisecond
		start := time.Now()
		_, err := c.Connect(testCtx(t, timeout), "/hang", ConnectOptions{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Connect /hang = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > timeout+slack {
			t.Errorf("Connect /hang took %v", d)
		}
	})
}

func TestNodeEmitAndAcks(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v int) {
		s := startNode(t, testupstream.Options{Version: v})
		c, _ := connectNode(t, s, Options{}, "/", ConnectOptions{})
		p := startPump(t, c)
		ctx := testCtx(t, nodeTimeout)

		// emit without ack: echoed as an event
		data := `["echo","hi",{"n":12345678901234567890,"f":1.50,"u":"é"}]`
		if err := c.Emit(ctx, "/", []byte(data), nil); err != nil {
			t.Fatal(err)
		}
		p.expectEvent(t, "/", `["echo","hi",{"n":12345678901234567000,"f":1.5,"u":"é"}]`)

		// client → server ack
		ack, err := c.EmitWithAck(ctx, "/", []byte(`["echo",1,"two"]`), nil)
		if err != nil {
			t.Fatal(err)
		}
		if ack.Type != PacketAck || string(ack.Data) != `[1,"two"]` {
			t.Errorf("ack %s", fmtPacket(ack))
		}

		// server → client ack, answered with Send
		if err := c.Emit(ctx, "/", []byte(`["ask","question",7]`), nil); err != nil {
			t.Fatal(err)
		}
		q := p.next(t)
		if q.Type != PacketEvent || !q.HasID || string(q.Data) != `["question",7]` {
			t.Fatalf("got %s, want the question with an ack id", fmtPacket(q))
		}
		if err := c.Send(Packet{Type: PacketAck, Namespace: "/", ID: q.ID, HasID: true, Data: []byte(`["answer",42]`)}); err != nil {
			t.Fatal(err)
		}
		p.expectEvent(t, "/", `["answer","answer",42]`)
	})
}

func TestNodeBinary(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v int) {
		s := startNode(t, testupstream.Options{Version: v})
		c, _ := connectNode(t, s, Options{}, "/", ConnectOptions{})
		p := startPump(t, c)
		ctx := testCtx(t, nodeTimeout)

		// client → server attachment, echoed back as binary
		ph := `{"_placeholder":true,"num":0}`
		if err := c.Emit(ctx, "/", []byte(`["echo",`+ph+`,"tail"]`), [][]byte{{0xde, 0xad, 0xbe, 0xef}}); err != nil {
			t.Fatal(err)
		}
		pk := p.expectEvent(t, "/", `["echo",`+ph+`,"tail"]`)
		if pk.Type != PacketBinaryEvent || len(pk.Attachments) != 1 || !bytes.Equal(pk.Attachments[0], []byte{0xde, 0xad, 0xbe, 0xef}) {
			t.Errorf("echo %s", fmtPacket(pk))
		}

		// two attachments, with an ack
		ack, err := c.EmitWithAck(ctx, "/", []byte(`["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), [][]byte{{1}, {2, 2}})
		if err != nil {
			t.Fatal(err)
		}
		if ack.Type != PacketBinaryAck || len(ack.Attachments) != 2 || !bytes.Equal(ack.Attachments[1], []byte{2, 2}) {
			t.Errorf("binary ack %s", fmtPacket(ack))
		}

		// server binary event
		if err := c.Emit(ctx, "/", []byte(`["emit-binary"]`), nil); err != nil {
			t.Fatal(err)
		}
		pk = p.expectEvent(t, "/", `["bin",`+ph+`,"x"]`)
		if pk.Type != PacketBinaryEvent || len(pk.Attachments) != 1 || !bytes.Equal(pk.Attachments[0], []byte{1, 2, 3}) {
			t.Errorf("bin %s", fmtPacket(pk))
		}

		// server binary ack
		ack, err = c.EmitWithAck(ctx, "/", []byte(`["emit-ack-binary"]`), nil)
		if err != nil {
			t.Fatal(err)
		}
		if ack.Type != PacketBinaryAck || string(ack.Data) != `[`+ph+`]` || len(ack.Attachments) != 1 || !bytes.Equal(ack.Attachments[0], []byte{9, 8}) {
			t.Errorf("binary ack %s", fmtPacket(ack))
		}
	})
}

func TestNodeHeartbeatsSurvive(t *testing.T) {
	t.Parallel()
	const interval, timeout = 300 * time.Millisecond, 200 * time.Millisecond
	forVersions(t, func(t *testing.T, v int) {
		s := startNode(t, testupstream.Options{Version: v, PingInterval: interval, PingTimeout: timeout})
		c, _ := connectNode(t, s, Options{}, "/", ConnectOptions{})
		p := startPump(t, c)
		// Several heartbeat rounds with no other traffic.
		select {
		case err := <-p.err:
			t.Fatalf("Read during heartbeats: %v", err)
		case <-time.After(6 * interval):
		}
		if _, err := c.EmitWithAck(testCtx(t, nodeTimeout), "/", []byte(`["echo","alive"]`), nil); err != nil {
			t.Fatalf("after heartbeats: %v", err)
		}
		if st := s.Stats(t); len(st.DisconnectReasons) != 0 || st.EngineConnectionsTotal != 1 {
			t.Errorf("server stats %+v", st)
		}
	})
}

func TestNodeStalledServerPingTimeout(t *testing.T) {
	t.Parallel()
	const interval, timeout = 300 * time.Millisecond, 200 * time.Millisecond
	forVersions(t, func(t *testing.T, v int) {
		s := startNode(t, testupstream.Options{Version: v, PingInterval: interval, PingTimeout: timeout})
		c, _ := connectNode(t, s, Options{}, "/", ConnectOptions{})
		p := startPump(t, c)
		pid := listenerPID(t, s.Port)
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
		err := p.wait(t, nodeTimeout)
		if !errors.Is(err, ErrPingTimeout) {
			t.Fatalf("Read = %v, want ErrPingTimeout", err)
		}
		if want := interval + timeout + heartbeatGrace + slack; time.Since(stopped) > want {
			t.Errorf("detected after %v, want within %v", time.Since(stopped), want)
		}
	})
}

func TestNodeKilledTransportClosed(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v int) {
		s := startNode(t, testupstream.Options{Version: v, PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
		c, _ := connectNode(t, s, Options{}, "/", ConnectOptions{})
		p := startPump(t, c)
		ackErr := make(chan error, 1)
		go func() {
			_, err := c.EmitWithAck(t.Context(), "/", []byte(`["never-ack"]`), nil)
			ackErr <- err
		}()
		// never-ack reached the server before the kill
		s.WaitFor(t, "never-ack", func(st testupstream.Stats) bool { return st.Events["never-ack"] == 1 })
		killed := time.Now()
		s.Kill()
		err := p.wait(t, nodeTimeout)
		if !errors.Is(err, ErrTransportClosed) {
			t.Fatalf("Read = %v, want ErrTransportClosed", err)
		}
		if d := time.Since(killed); d > 500*time.Millisecond+slack {
			t.Errorf("detected after %v", d)
		}
		if err := <-ackErr; !errors.Is(err, ErrTransportClosed) {
			t.Errorf("pending EmitWithAck = %v, want ErrTransportClosed", err)
		}
	})
}

func TestNodeConcurrentAcks(t *testing.T) {
	t.Parallel()
	const n = 100
	forVersions(t, func(t *testing.T, v int) {
		s := startNode(t, testupstream.Options{Version: v})
		c, _ := connectNode(t, s, Options{}, "/", ConnectOptions{})
		startPump(t, c)
		ctx := testCtx(t, nodeTimeout)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				want := fmt.Sprintf(`[%d,"payload-%d"]`, i, i)
				ack, err := c.EmitWithAck(ctx, "/", []byte(`["echo",`+want[1:]), nil)
				if err != nil {
					errs <- err
					return
				}
				if string(ack.Data) != want {
					errs <- fmt.Errorf("caller %d got %s", i, ack.Data)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestNodeMaxPayload(t *testing.T) {
	t.Parallel()
	const limit = 1000
	s := startNode(t, testupstream.Options{MaxPayload: limit})
	c, _ := connectNode(t, s, Options{}, "/", ConnectOptions{})
	if c.MaxPayload() != limit || c.Open().MaxPayload != limit {
		t.Fatalf("MaxPayload %d, Open %+v", c.MaxPayload(), c.Open())
	}
	p := startPump(t, c)
	ctx := testCtx(t, nodeTimeout)
	// `42["echo","xxx…"]` is exactly limit bytes: accepted by the server.
	fits := `["echo","` + strings.Repeat("x", limit-len(`42["echo",""]`)) + `"]`
	if err := c.Emit(ctx, "/", []byte(fits), nil); err != nil {
		t.Fatalf("Emit at the limit: %v", err)
	}
	p.expectEvent(t, "/", fits)
	over := `["echo","` + strings.Repeat("x", limit) + `"]`
	err := c.Emit(ctx, "/", []byte(over), nil)
	var tl *TooLargeError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &tl) || tl.Limit != limit {
		t.Fatalf("Emit over the limit = %v, want TooLargeError", err)
	}
	err = c.Emit(ctx, "/", []byte(`["echo",{"_placeholder":true,"num":0}]`), [][]byte{make([]byte, limit+1)})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Emit with a large attachment = %v", err)
	}
	// The connection survived.
	if _, err := c.EmitWithAck(ctx, "/", []byte(`["echo","still here"]`), nil); err != nil {
		t.Fatalf("after refusals: %v", err)
	}
}

func TestNodeServerDisconnect(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v int) {
		s := startNode(t, testupstream.Options{Version: v})
		c, _ := connectNode(t, s, Options{}, "/", ConnectOptions{})
		if _, err := c.Connect(testCtx(t, nodeTimeout), "/chat", ConnectOptions{}); err != nil {
			t.Fatal(err)
		}
		p := startPump(t, c)
		ctx := testCtx(t, nodeTimeout)
		if err := c.Emit(ctx, "/chat", []byte(`["disconnect-me"]`), nil); err != nil {
			t.Fatal(err)
		}
		pk := p.next(t)
		if pk.Type != PacketDisconnect || pk.Namespace != "/chat" {
			t.Fatalf("got %s, want DISCONNECT /chat", fmtPacket(pk))
		}
		if err := c.Emit(ctx, "/chat", []byte(`["echo"]`), nil); !errors.Is(err, ErrNotConnected) {
			t.Errorf("Emit after the server's DISCONNECT = %v", err)
		}
		// "/" is unaffected.
		if _, err := c.EmitWithAck(ctx, "/", []byte(`["echo",1]`), nil); err != nil {
			t.Errorf("/ after /chat was disconnected: %v", err)
		}
		// A client-side Disconnect: the server sees "client namespace disconnect".
		if err := c.Disconnect("/"); err != nil {
			t.Fatal(err)
		}
		if v == 4 {
			s.WaitFor(t, "client namespace disconnect", func(st testupstream.Stats) bool {
				return st.DisconnectReasons["client namespace disconnect"] == 1
			})
		}
	})
}

func TestNodeHandshakeErrors(t *testing.T) {
	t.Parallel()
	s := startNode(t, testupstream.Options{})
	ctx := testCtx(t, nodeTimeout)
	t.Run("http_400", func(t *testing.T) {
		_, err := Dial(ctx, s.URL, Options{Query: url.Values{"sid": {"unknown"}}})
		var he *HandshakeError
		if !errors.As(err, &he) || he.StatusCode != 400 || he.Body != "Session ID unknown" {
			t.Fatalf("Dial = %v, want HandshakeError 400 \"Session ID unknown\"", err)
		}
	})
	t.Run("wrong_eio_garbage_after_101", func(t *testing.T) {
		_, err := Dial(ctx, s.URL, Options{EIO: 3})
		var he *HandshakeError
		if !errors.As(err, &he) || he.StatusCode != 101 {
			t.Fatalf("Dial = %v, want HandshakeError 101", err)
		}
	})
	t.Run("v2_server_with_eio4", func(t *testing.T) {
		s2 := startNode(t, testupstream.Options{Version: 2})
		c, err := Dial(ctx, s2.URL, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Connect(ctx, "/", ConnectOptions{}); !errors.Is(err, ErrProtocolMismatch) {
			t.Fatalf("Connect = %v, want ErrProtocolMismatch", err)
		}
	})
}

func TestNodeConnectionStateRecovery(t *testing.T) {
	t.Parallel()
	s := startNode(t, testupstream.Options{CSR: true})
	c, info := connectNode(t, s, Options{}, "/", ConnectOptions{})
	if info.PID == "" {
		t.Fatalf("ConnectInfo %+v: no pid from a CSR server", info)
	}
	p := startPump(t, c)
	ack, err := c.EmitWithAck(testCtx(t, nodeTimeout), "/", []byte(`["emit-seq",3,"tick"]`), nil)
	if err != nil || string(ack.Data) != `[3]` {
		t.Fatalf("emit-seq: %s %v", ack.Data, err)
	}
	for i := range 3 {
		p.expectEvent(t, "/", fmt.Sprintf(`["tick",%d]`, i)) // offsets stripped
	}
	rec, ok := c.Recovery("/")
	if !ok || rec.PID != info.PID || rec.Offset == "" {
		t.Fatalf("Recovery = %+v %v", rec, ok)
	}

	// Lose the transport; the server keeps the session.
	s.Get(t, "/control/drop")
	if err := p.wait(t, nodeTimeout); !errors.Is(err, ErrTransportClosed) {
		t.Fatalf("Read after drop = %v, want ErrTransportClosed", err)
	}
	rec, _ = c.Recovery("/") // still available after the end
	// Events while we are away. (/control/emit-all targets connected
	// sockets only, so it cannot produce missed events: broadcast does.)
	for i := range 3 {
		s.Broadcast(t, "/", "missed", i)
	}

	c2 := dialNode(t, s, Options{})
	info2, err := c2.Connect(testCtx(t, nodeTimeout), "/", ConnectOptions{Recover: &rec, Auth: json.RawMessage(`{"token":"x"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !info2.Recovered || info2.SID != info.SID || info2.PID != info.PID {
		t.Fatalf("ConnectInfo after recovery %+v, first %+v", info2, info)
	}
	p2 := startPump(t, c2)
	for i := range 3 {
		p2.expectEvent(t, "/", fmt.Sprintf(`["missed",%d]`, i))
	}
	rec2, _ := c2.Recovery("/")
	if rec2.Offset == rec.Offset || rec2.PID != rec.PID {
		t.Errorf("Recovery after the replay %+v, before %+v", rec2, rec)
	}
	s.WaitFor(t, "recovered", func(st testupstream.Stats) bool { return st.Recovered == 1 })
	// Live events after the recovery keep being stripped.
	if _, err := c2.EmitWithAck(testCtx(t, nodeTimeout), "/", []byte(`["emit-seq",1,"live"]`), nil); err != nil {
		t.Fatal(err)
	}
	p2.expectEvent(t, "/", `["live",0]`)
}

// listenerPID finds the process listening on the TCP port (the Node server)
// through /proc: the harness does not expose the child's pid.
func listenerPID(t *testing.T, port int) int {
	t.Helper()
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			if i := strings.LastIndexByte(fields[1], ':'); i >= 0 {
				if p, err := strconv.ParseInt(fields[1][i+1:], 16, 32); err == nil && int(p) == port {
					inodes["socket:["+fields[9]+"]"] = true
				}
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		if target, err := os.Readlink(fd); err == nil && inodes[target] {
			pid, err := strconv.Atoi(strings.Split(fd, "/")[2])
			if err == nil {
				return pid
			}
		}
	}
	t.Fatalf("no process listens on port %d", port)
	return 0
}
