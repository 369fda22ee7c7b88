package testupstream_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/testupstream"
)

// ioTimeout bounds every WebSocket read and write; generous for a shared machine.
const ioTimeout = 10 * time.Second

// rawClient speaks Engine.IO/Socket.IO by hand over gorilla/websocket.
type rawClient struct {
	t   testing.TB
	ws  *websocket.Conn
	eio int
	// open is the OPEN packet's JSON.
	open map[string]any
}

// dial opens an Engine.IO connection (EIO 4 or 3) and reads OPEN.
func dial(t testing.TB, s *testupstream.Server, eio int, query url.Values, header http.Header) *rawClient {
	t.Helper()
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("EIO", strconv.Itoa(eio))
	q.Set("transport", "websocket")
	u := "ws://127.0.0.1:" + strconv.Itoa(s.Port) + s.Path + "?" + q.Encode()
	d := websocket.Dialer{HandshakeTimeout: ioTimeout}
	ws, resp, err := d.Dial(u, header)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	c := &rawClient{t: t, ws: ws, eio: eio}
	typ, msg := c.read()
	if typ != websocket.TextMessage || !bytes.HasPrefix(msg, []byte("0{")) {
		t.Fatalf("first frame = %q, want OPEN", msg)
	}
	if err := json.Unmarshal(msg[1:], &c.open); err != nil {
		t.Fatalf("OPEN %q: %v", msg, err)
	}
	return c
}

// read returns the next frame that is not an Engine.IO ping (pings are
// answered).
func (c *rawClient) read() (int, []byte) {
	c.t.Helper()
	typ, msg, err := c.readErr()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return typ, msg
}

// readErr is read without failing the test.
func (c *rawClient) readErr() (int, []byte, error) {
	for {
		if err := c.ws.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
			return 0, nil, err
		}
		typ, msg, err := c.ws.ReadMessage()
		if err != nil {
			return 0, nil, err
		}
		if typ == websocket.TextMessage && string(msg) == "2" && c.eio == 4 {
			if err := c.write("3"); err != nil {
				return 0, nil, err
			}
			continue
		}
		return typ, msg, nil
	}
}

func (c *rawClient) write(msg string) error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, []byte(msg))
}

func (c *rawClient) send(msg string) {
	c.t.Helper()
	if err := c.write(msg); err != nil {
		c.t.Fatalf("send %q: %v", msg, err)
	}
}

// expect reads one text frame and compares it with want.
func (c *rawClient) expect(want string) {
	c.t.Helper()
	typ, msg := c.read()
	if typ != websocket.TextMessage || string(msg) != want {
		c.t.Fatalf("got frame %q (type %d), want %q", msg, typ, want)
	}
}

// expectMatch reads one text frame, matches it against re and returns the
// submatches.
func (c *rawClient) expectMatch(re string) []string {
	c.t.Helper()
	_, msg := c.read()
	m := regexp.MustCompile("^" + re + "$").FindStringSubmatch(string(msg))
	if m == nil {
		c.t.Fatalf("got frame %q, want a match for %s", msg, re)
	}
	return m
}

// expectBinary reads one binary frame.
func (c *rawClient) expectBinary(want []byte) {
	c.t.Helper()
	typ, msg := c.read()
	if typ != websocket.BinaryMessage || !bytes.Equal(msg, want) {
		c.t.Fatalf("got frame %x (type %d), want binary %x", msg, typ, want)
	}
}

// expectClosed reads until the connection ends and returns the error.
func (c *rawClient) expectClosed() error {
	c.t.Helper()
	for {
		_, msg, err := c.readErr()
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(msg, []byte("4")) {
			c.t.Fatalf("got frame %q, want the connection to close", msg)
		}
	}
}

// connectRoot connects "/" the way the protocol version requires and
// returns the CONNECT reply.
func connectRoot(t testing.TB, c *rawClient) string {
	t.Helper()
	if c.eio == 3 {
		c.expect("40") // implicit on socket.io 2
		return "40"
	}
	c.send("40")
	return c.expectMatch(`40\{"sid":"[^"]+"\}`)[0]
}

func TestStartEcho(t *testing.T) {
	t.Parallel()
	for _, eio := range []int{4, 3} {
		t.Run("eio"+strconv.Itoa(eio), func(t *testing.T) {
			t.Parallel()
			version := 4
			if eio == 3 {
				version = 2
			}
			s := testupstream.Start(t, testupstream.Options{Version: version, Name: "n1"})
			if s.URL != "http://127.0.0.1:"+strconv.Itoa(s.Port) || s.Port == 0 {
				t.Fatalf("URL %q, Port %d", s.URL, s.Port)
			}
			c := dial(t, s, eio, nil, nil)
			if _, ok := c.open["sid"].(string); !ok {
				t.Fatalf("OPEN without sid: %v", c.open)
			}
			connectRoot(t, c)
			c.send(`42["echo",1]`)
			c.expect(`42["echo",1]`)
			c.send(`427["echo","a",{"b":[1,2]}]`)
			c.expect(`437["a",{"b":[1,2]}]`)

			st := s.Stats(t)
			if st.EngineConnectionsTotal != 1 || st.EngineConnections != 1 || st.Sockets["/"] != 1 ||
				st.Handshakes != 1 || st.Connects["/"] != 1 || st.Events["echo"] != 2 ||
				st.Node != "n1" || st.Version != version {
				t.Fatalf("stats after one connection: %+v", st)
			}
			c.ws.Close()
			st = s.WaitFor(t, "engine connection closed", func(st testupstream.Stats) bool {
				return st.EngineConnections == 0 && st.Sockets["/"] == 0
			})
			if st.DisconnectReasons["transport close"] != 1 {
				t.Fatalf("disconnect reasons: %v", st.DisconnectReasons)
			}

			dial(t, s, eio, nil, nil)
			st = s.WaitFor(t, "second engine connection", func(st testupstream.Stats) bool {
				return st.EngineConnections == 1
			})
			if st.EngineConnectionsTotal != 2 {
				t.Fatalf("EngineConnectionsTotal = %d, want 2", st.EngineConnectionsTotal)
			}
		})
	}
}

func TestNamespaces(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		version int
		send    string
		want    string
	}{
		// v4: CONNECT auth.
		{"v4_admin_bad_token", 4, `40/admin,{"token":"bad"}`, `44/admin,{"message":"not authorized","data":{"reason":"bad token"}}`},
		{"v4_admin_no_auth", 4, `40/admin,`, `44/admin,{"message":"not authorized","data":{"reason":"bad token"}}`},
		{"v4_admin_ok", 4, `40/admin,{"token":"secret"}`, `re:40/admin,\{"sid":"[^"]+"\}`},
		{"v4_reject", 4, `40/reject,`, `44/reject,{"message":"not authorized"}`},
		{"v4_chat", 4, `40/chat,`, `re:40/chat,\{"sid":"[^"]+"\}`},
		{"v4_unknown", 4, `40/nope,`, `44/nope,{"message":"Invalid namespace"}`},
		// v2: namespace query; "/" is implicit.
		{"v2_admin_bad_token", 2, `40/admin?token=bad,`, `44/admin,{"reason":"bad token"}`},
		{"v2_admin_ok", 2, `40/admin?token=secret,`, `40/admin,`},
		{"v2_reject", 2, `40/reject,`, `44/reject,"not authorized"`},
		{"v2_chat", 2, `40/chat,`, `40/chat,`},
		{"v2_unknown", 2, `40/nope,`, `44/nope,"Invalid namespace"`},
	}
	servers := map[int]*testupstream.Server{
		4: testupstream.Start(t, testupstream.Options{}),
		2: testupstream.Start(t, testupstream.Options{Version: 2}),
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eio := 4
			if tc.version == 2 {
				eio = 3
			}
			c := dial(t, servers[tc.version], eio, nil, nil)
			if eio == 3 {
				// socket.io 2 answers other namespaces only after "/".
				connectRoot(t, c)
			}
			c.send(tc.send)
			if re, ok := strings.CutPrefix(tc.want, "re:"); ok {
				c.expectMatch(re)
				nsp := strings.SplitN(tc.send[2:], ",", 2)[0]
				nsp = strings.SplitN(nsp, "?", 2)[0]
				c.send(`42` + nsp + `,1["echo","ns"]`)
				c.expect(`43` + nsp + `,1["ns"]`)
				return
			}
			c.expect(tc.want)
			// The Engine.IO session survives a CONNECT_ERROR.
			if eio == 4 {
				connectRoot(t, c)
			}
			c.send(`421["echo","alive"]`)
			c.expect(`431["alive"]`)
		})
	}
	st := servers[4].Stats(t)
	if st.ConnectErrors["/admin"] != 2 || st.ConnectErrors["/reject"] != 1 {
		t.Errorf("v4 connect errors: %v", st.ConnectErrors)
	}
}

func TestHangNamespaceAndConnectTimeout(t *testing.T) {
	t.Parallel()
	s := testupstream.Start(t, testupstream.Options{ConnectTimeout: 300 * time.Millisecond})
	c := dial(t, s, 4, nil, nil)
	c.send(`40/hang,`)
	// No reply; socket.io closes the Engine.IO session after connectTimeout
	// because no namespace connected.
	if err := c.expectClosed(); err == nil {
		t.Fatal("connection not closed")
	}
}

func TestRequireToken(t *testing.T) {
	t.Parallel()
	t.Run("v4", func(t *testing.T) {
		t.Parallel()
		s := testupstream.Start(t, testupstream.Options{RequireToken: "tok"})
		c := dial(t, s, 4, nil, nil)
		c.send(`40{"token":"nope"}`)
		c.expect(`44{"message":"unauthorized","data":{"reason":"bad token"}}`)
		c.send(`40{"token":"tok"}`)
		c.expectMatch(`40\{"sid":"[^"]+"\}`)
	})
	t.Run("v2", func(t *testing.T) {
		t.Parallel()
		s := testupstream.Start(t, testupstream.Options{Version: 2, RequireToken: "tok"})
		c := dial(t, s, 3, url.Values{"token": {"nope"}}, nil)
		c.expect(`44{"reason":"bad token"}`)
		c = dial(t, s, 3, url.Values{"token": {"tok"}}, nil)
		c.expect(`40`)
	})
}

func TestHandlers(t *testing.T) {
	t.Parallel()
	s := testupstream.Start(t, testupstream.Options{Name: "h"})
	c := dial(t, s, 4, url.Values{"foo": {"bar"}}, http.Header{"X-Test": {"yes"}})
	c.send(`40{"token":"abc"}`)
	c.expectMatch(`40\{"sid":"[^"]+"\}`)

	c.send(`42["echo"]`)
	c.expect(`42["echo"]`)

	// Binary echo with an ack: BINARY_EVENT in, BINARY_ACK out.
	c.send(`451-2["echo",{"_placeholder":true,"num":0}]`)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte{0xde, 0xad}); err != nil {
		t.Fatal(err)
	}
	c.expect(`461-2[{"_placeholder":true,"num":0}]`)
	c.expectBinary([]byte{0xde, 0xad})

	c.send(`42["emit-binary"]`)
	c.expect(`451-["bin",{"_placeholder":true,"num":0},"x"]`)
	c.expectBinary([]byte{1, 2, 3})

	c.send(`423["emit-ack-binary"]`)
	c.expect(`461-3[{"_placeholder":true,"num":0}]`)
	c.expectBinary([]byte{9, 8})

	// ask: ack first, then the question with an ack id, then the answer.
	c.send(`424["ask","question",7]`)
	c.expect(`434["asked"]`)
	id := c.expectMatch(`42(\d+)\["question",7\]`)[1]
	c.send(`43` + id + `["yes",{"n":1}]`)
	c.expect(`42["answer","yes",{"n":1}]`)

	c.send(`425["burst",3,2]`)
	for i := range 3 {
		c.expect(`42["burst",{"i":` + strconv.Itoa(i) + `,"pad":"xx"}]`)
	}
	c.expect(`435[3]`)

	c.send(`42["emit-seq",2,"seq"]`)
	c.expect(`42["seq",0]`)
	c.expect(`42["seq",1]`)

	c.send(`42["big",5]`)
	c.expect(`42["big","xxxxx"]`)

	c.send(`426["join","r1"]`)
	c.expect(`436["joined"]`)
	c.send(`42["to-room","r1","news",1,2]`)
	c.expect(`42["news",1,2]`)
	s.Get(t, "/control/to-room?room=r1&event=roomy&data=%22hi%22")
	c.expect(`42["roomy","hi"]`)

	c.send(`42["broadcast","all",{"x":1}]`)
	c.expect(`42["all",{"x":1}]`)
	s.Broadcast(t, "/", "ctl", map[string]int{"a": 1})
	c.expect(`42["ctl",{"a":1}]`)
	s.Broadcast(t, "/", "empty", nil)
	c.expect(`42["empty"]`)
	s.Get(t, "/control/emit-all?event=many&data=2&n=2")
	c.expect(`42["many",2]`)
	c.expect(`42["many",2]`)

	c.send(`428["sleep-ack",50]`)
	c.expect(`438["slept"]`)

	// never-ack: nothing comes back; the next echo proves the order.
	c.send(`429["never-ack"]`)
	c.send(`4210["echo","after"]`)
	c.expect(`4310["after"]`)

	c.send(`4211["handshake"]`)
	_, msg := c.read()
	body, ok := strings.CutPrefix(string(msg), "4311[")
	if !ok {
		t.Fatalf("handshake ack %q", msg)
	}
	var hs struct {
		Query     map[string]any `json:"query"`
		Headers   map[string]any `json:"headers"`
		Auth      map[string]any `json:"auth"`
		Node      string         `json:"node"`
		Recovered bool           `json:"recovered"`
		ID        string         `json:"id"`
		Address   string         `json:"address"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSuffix(body, "]")), &hs); err != nil {
		t.Fatalf("handshake ack %q: %v", msg, err)
	}
	if hs.Query["foo"] != "bar" || hs.Headers["x-test"] != "yes" || hs.Auth["token"] != "abc" ||
		hs.Node != "h" || hs.Recovered || hs.ID == "" || hs.Address == "" {
		t.Fatalf("handshake ack: %+v", hs)
	}

	last := s.LastHandshake(t)
	if last == nil || last.Nsp != "/" || last.QueryValue("foo") != "bar" || last.Header("X-Test") != "yes" ||
		last.Auth["token"] != "abc" || last.ID != hs.ID {
		t.Fatalf("last handshake: %+v", last)
	}

	c.send(`42["disconnect-me"]`)
	c.expect(`41`)
	c.send(`40/chat,`)
	c.expectMatch(`40/chat,\{"sid":"[^"]+"\}`)
	c.send(`42/chat,["disconnect-all"]`)
	c.expect(`41/chat,`)
	var ce *websocket.CloseError
	if err := c.expectClosed(); !errors.As(err, &ce) || ce.Code != websocket.CloseNoStatusReceived {
		t.Fatalf("after disconnect-all: %v, want close 1005", err)
	}
	st := s.WaitFor(t, "disconnect reasons", func(st testupstream.Stats) bool {
		return st.DisconnectReasons["server namespace disconnect"] == 2
	})
	if st.Events["echo"] != 3 {
		t.Fatalf("events: %v", st.Events)
	}

	s.Get(t, "/control/reset-stats")
	if st := s.Stats(t); st.EngineConnectionsTotal != 0 || len(st.Events) != 0 {
		t.Fatalf("stats after reset: %+v", st)
	}
	if h := s.LastHandshake(t); h != nil {
		t.Fatalf("last handshake after reset: %+v", h)
	}
}

func TestControlErrors(t *testing.T) {
	t.Parallel()
	s := testupstream.Start(t, testupstream.Options{})
	for _, path := range []string{
		"/control/nope",
		"/control/broadcast",                   // no event
		"/control/broadcast?event=x&data=%7B",  // bad JSON
		"/control/broadcast?event=x&nsp=/nope", // unknown namespace
		"/control/drop?mode=gently",
	} {
		if _, err := s.Control(t.Context(), path); err == nil {
			t.Errorf("%s: no error", path)
		}
	}
}

func TestPingAndMaxPayload(t *testing.T) {
	t.Parallel()
	s := testupstream.Start(t, testupstream.Options{
		PingInterval: 200 * time.Millisecond,
		PingTimeout:  5 * time.Second,
		MaxPayload:   1000,
		Path:         "/custom",
	})
	if s.Path != "/custom/" {
		t.Fatalf("Path = %q", s.Path)
	}
	c := dial(t, s, 4, nil, nil)
	if c.open["pingInterval"] != 200.0 || c.open["pingTimeout"] != 5000.0 || c.open["maxPayload"] != 1000.0 {
		t.Fatalf("OPEN: %v", c.open)
	}
	if err := c.ws.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.ws.ReadMessage(); err != nil || string(msg) != "2" {
		t.Fatalf("got %q, %v; want ping", msg, err)
	}
	c.send(`42["echo","` + strings.Repeat("x", 2000) + `"]`)
	var ce *websocket.CloseError
	if err := c.expectClosed(); !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized message: %v, want close 1009", err)
	}
}

func TestKillRestartStop(t *testing.T) {
	t.Parallel()
	for _, version := range []int{4, 2} {
		t.Run("v"+strconv.Itoa(version), func(t *testing.T) {
			t.Parallel()
			eio := map[int]int{4: 4, 2: 3}[version]
			s := testupstream.Start(t, testupstream.Options{Version: version})
			port := s.Port
			c := dial(t, s, eio, nil, nil)
			connectRoot(t, c)

			s.Kill()
			if s.Running() {
				t.Fatal("Running after Kill")
			}
			if err := c.expectClosed(); err == nil {
				t.Fatal("connection survived Kill")
			}
			if _, err := s.Control(t.Context(), "/control/stats"); err == nil {
				t.Fatal("control answered after Kill")
			}

			s.Restart(t)
			if s.Port != port || !s.Running() {
				t.Fatalf("after Restart: port %d (was %d), running %v", s.Port, port, s.Running())
			}
			if st := s.Stats(t); st.EngineConnectionsTotal != 0 || st.Version != version {
				t.Fatalf("fresh stats after Restart: %+v", st)
			}
			c = dial(t, s, eio, nil, nil)
			connectRoot(t, c)
			c.send(`421["echo",2]`)
			c.expect(`431[2]`)

			// Restart while running replaces the process.
			s.Restart(t)
			if err := c.expectClosed(); err == nil {
				t.Fatal("connection survived Restart")
			}
			dial(t, s, eio, nil, nil)

			start := time.Now()
			s.Stop()
			if s.Running() {
				t.Fatal("Running after Stop")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Stop took %v", d)
			}
		})
	}
}

func TestControlClose(t *testing.T) {
	t.Parallel()
	s := testupstream.Start(t, testupstream.Options{})
	c := dial(t, s, 4, nil, nil)
	connectRoot(t, c)
	s.Get(t, "/control/close")
	// io.close() sends no DISCONNECT: the WebSocket just closes.
	if err := c.expectClosed(); err == nil {
		t.Fatal("connection survived /control/close")
	}
}

// TestDropRecovers checks that /control/drop looks like a transport loss:
// with CSR the session is kept and a reconnect with pid and offset gets the
// same sid and the events it missed.
func TestDropRecovers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		mode      string
		reason    string
		closeCode int
	}{
		{"close", "forced close", websocket.CloseNoStatusReceived},
		{"terminate", "transport close", websocket.CloseAbnormalClosure},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			s := testupstream.Start(t, testupstream.Options{CSR: true})
			c := dial(t, s, 4, nil, nil)
			c.send(`40{"token":"t"}`)
			m := c.expectMatch(`40\{"sid":"([^"]+)","pid":"([^"]+)"\}`)
			sid, pid := m[1], m[2]
			c.send(`42["emit-seq",1,"n"]`)
			offset := c.expectMatch(`42\["n",0,"([^"]+)"\]`)[1]

			s.Get(t, "/control/drop?mode="+tc.mode)
			var ce *websocket.CloseError
			if err := c.expectClosed(); !errors.As(err, &ce) || ce.Code != tc.closeCode {
				t.Fatalf("after drop: %v, want close %d", err, tc.closeCode)
			}
			// drop answers after the server processed the closes.
			if st := s.Stats(t); st.DisconnectReasons[tc.reason] != 1 || st.EngineConnections != 0 {
				t.Fatalf("stats right after drop: %+v", st)
			}
			s.Broadcast(t, "/", "missed", 5)

			c = dial(t, s, 4, nil, nil)
			c.send(`40{"token":"t","pid":"` + pid + `","offset":"` + offset + `"}`)
			c.expectMatch(`42\["missed",5,"[^"]+"\]`)
			c.expect(`40{"sid":"` + sid + `","pid":"` + pid + `"}`)
			if st := s.Stats(t); st.Recovered != 1 {
				t.Fatalf("Recovered = %d", st.Recovered)
			}
			c.send(`421["handshake"]`)
			c.expectMatch(`431\[\{.*"recovered":true,"id":"` + sid + `".*\}\]`)
		})
	}
}

func TestRedisAdapter(t *testing.T) {
	t.Parallel()
	r := testupstream.StartRedis(t)
	a := testupstream.Start(t, testupstream.Options{RedisURL: r.URL, Name: "a"})
	b := testupstream.Start(t, testupstream.Options{RedisURL: r.URL, Name: "b"})

	ca := dial(t, a, 4, nil, nil)
	connectRoot(t, ca)
	cb := dial(t, b, 4, nil, nil)
	connectRoot(t, cb)
	ca.send(`421["join","room"]`)
	ca.expect(`431["joined"]`)

	// A client's broadcast on node b reaches node a's client, and a control
	// call on node b reaches a room member on node a.
	cb.send(`42["broadcast","hello",1]`)
	cb.expect(`42["hello",1]`)
	ca.expect(`42["hello",1]`)
	b.Get(t, "/control/to-room?room=room&event=r&data=2")
	ca.expect(`42["r",2]`)
	if st := b.Stats(t); st.Node != "b" {
		t.Fatalf("node b stats: %+v", st)
	}
}

func TestHandlersV2(t *testing.T) {
	t.Parallel()
	s := testupstream.Start(t, testupstream.Options{Version: 2, Name: "old"})
	c := dial(t, s, 3, url.Values{"token": {"q"}}, nil)
	connectRoot(t, c)

	// Engine.IO 3 binary frames carry a leading 0x04.
	c.send(`451-1["echo",{"_placeholder":true,"num":0}]`)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte{4, 0xbe, 0xef}); err != nil {
		t.Fatal(err)
	}
	c.expect(`461-1[{"_placeholder":true,"num":0}]`)
	c.expectBinary([]byte{4, 0xbe, 0xef})

	c.send(`42["emit-binary"]`)
	c.expect(`451-["bin",{"_placeholder":true,"num":0},"x"]`)
	c.expectBinary([]byte{4, 1, 2, 3})

	c.send(`422["ask","q",1]`)
	c.expect(`432["asked"]`)
	id := c.expectMatch(`42(\d+)\["q",1\]`)[1]
	c.send(`43` + id + `["a"]`)
	c.expect(`42["answer","a"]`)

	c.send(`423["handshake"]`)
	c.expectMatch(`433\[\{"query":\{[^}]*"token":"q"[^}]*\},"headers":\{.*\},"auth":null,.*"node":"old","recovered":false,.*\}\]`)
	if h := s.LastHandshake(t); h == nil || h.QueryValue("token") != "q" || h.Auth != nil {
		t.Fatalf("last handshake: %+v", h)
	}

	c.send(`40/admin?token=secret,`)
	c.expect(`40/admin,`)
	c.send(`42/admin,["disconnect-me"]`)
	c.expect(`41/admin,`)
	c.send(`42["disconnect-all"]`)
	c.expect(`41`)
	if err := c.expectClosed(); err == nil {
		t.Fatal("connection survived disconnect-all")
	}
	s.WaitFor(t, "server namespace disconnects", func(st testupstream.Stats) bool {
		return st.DisconnectReasons["server namespace disconnect"] == 2 && st.EngineConnections == 0
	})
}

func TestDropV2(t *testing.T) {
	t.Parallel()
	s := testupstream.Start(t, testupstream.Options{Version: 2})
	for _, mode := range []string{"close", "terminate"} {
		c := dial(t, s, 3, nil, nil)
		connectRoot(t, c)
		s.Get(t, "/control/drop?mode="+mode)
		if err := c.expectClosed(); err == nil {
			t.Fatalf("%s: connection survived drop", mode)
		}
	}
	if st := s.Stats(t); st.DisconnectReasons["forced close"] != 1 || st.DisconnectReasons["transport close"] != 1 ||
		st.EngineConnections != 0 {
		t.Fatalf("stats after drops: %+v", st)
	}
}
