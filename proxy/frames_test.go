package proxy_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sio-gateway/gateway/internal/testupstream"
	"github.com/sio-gateway/gateway/proxy"
)

// TestFramesBothWays drives every frame kind of CONTRACT §2 through the
// gateway and a real socket.io server, for both Engine.IO versions.
func TestFramesBothWays(t *testing.T) {
	t.Parallel()
	for _, version := range []int{4, 2} {
		t.Run(fmt.Sprintf("socketio_v%d", version), func(t *testing.T) {
			t.Parallel()
			_, g := startPair(t, version, testupstream.Options{}, func(o *proxy.Options) {
				o.Translate.RawEvent = "echo"
				o.Translate.BinaryEvent = "echo"
			})
			cases := []struct {
				name       string
				send, want string
			}{
				{"event_with_data", `{"event":"echo","data":{"a":1}}`, `{"event":"echo","data":{"a":1}}`},
				{"event_with_args", `{"event":"echo","args":[1,"two",{"three":[3]}]}`, `{"event":"echo","args":[1,"two",{"three":[3]}]}`},
				{"event_without_arguments", `{"event":"echo"}`, `{"event":"echo"}`},
				{"event_with_empty_args", `{"event":"echo","args":[]}`, `{"event":"echo"}`},
				{"ack_with_numeric_id", `{"event":"echo","data":"x","id":7}`, `{"ack":7,"data":"x"}`},
				{"ack_with_string_id", `{"event":"echo","args":[1,2],"id":"req-1"}`, `{"ack":"req-1","args":[1,2]}`},
				{"ack_without_arguments", `{"event":"echo","id":8}`, `{"ack":8}`},
				{"raw_text_frame", `hello there`, `{"event":"echo","data":"hello there"}`},
				{"raw_json_array", `[1,2]`, `{"event":"echo","data":"[1,2]"}`},
				{"binary_in_data", `{"event":"echo","data":{"$binary":"AQID"}}`, `{"event":"echo","data":{"$binary":"AQID"}}`},
				{"unicode_passes", `{"event":"echo","data":"héllo ✓ 😀"}`, `{"event":"echo","data":"héllo ✓ 😀"}`},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					c := dial(t, g.wsURL("/ws"), nil)
					c.send(tc.send)
					c.expectJSON(tc.want)
				})
			}
			t.Run("binary_frame", func(t *testing.T) {
				t.Parallel()
				c := dial(t, g.wsURL("/ws"), nil)
				c.sendBinary([]byte{0xde, 0xad, 0xbe, 0xef})
				c.expectJSON(`{"event":"echo","data":{"$binary":"3q2+7w=="}}`)
			})
			t.Run("server_binary_event", func(t *testing.T) {
				t.Parallel()
				c := dial(t, g.wsURL("/ws"), nil)
				c.send(`{"event":"emit-binary"}`)
				c.expectJSON(`{"event":"bin","args":[{"$binary":"AQID"},"x"]}`)
			})
			t.Run("server_binary_ack", func(t *testing.T) {
				t.Parallel()
				c := dial(t, g.wsURL("/ws"), nil)
				c.send(`{"event":"emit-ack-binary","id":"b"}`)
				c.expectJSON(`{"ack":"b","data":{"$binary":"CQg="}}`)
			})
			t.Run("server_requested_ack", func(t *testing.T) {
				t.Parallel()
				c := dial(t, g.wsURL("/ws"), nil)
				c.send(`{"event":"ask","args":["question",7]}`)
				var q struct {
					Event string          `json:"event"`
					Data  json.RawMessage `json:"data"`
					ID    json.RawMessage `json:"id"`
				}
				frame := c.read()
				if err := json.Unmarshal([]byte(frame), &q); err != nil || q.Event != "question" || string(q.Data) != "7" || q.ID == nil {
					t.Fatalf("got %s, want a question event with an id", frame)
				}
				c.send(`{"ack":` + string(q.ID) + `,"args":["yes",{"n":1}]}`)
				c.expectJSON(`{"event":"answer","args":["yes",{"n":1}]}`)
				// The same id cannot be answered twice.
				c.send(`{"ack":` + string(q.ID) + `,"data":"again"}`)
				expectError(t, c, "unknown_ack", string(q.ID))
			})
			t.Run("server_broadcast", func(t *testing.T) {
				t.Parallel()
				c := dial(t, g.wsURL("/ws"), nil)
				c.send(`{"event":"join","data":"room-v` + fmt.Sprint(version) + `","id":1}`)
				c.expectJSON(`{"ack":1,"data":"joined"}`)
				c.send(`{"event":"to-room","args":["room-v` + fmt.Sprint(version) + `","news",{"n":1}]}`)
				c.expectJSON(`{"event":"news","data":{"n":1}}`)
			})
		})
	}
}

// TestFrameErrors checks each error frame of CONTRACT §2: answered, nothing
// sent upstream, the connection open.
func TestFrameErrors(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, nil)
	strict := startGateway(t, up, func(o *proxy.Options) {
		o.Translate.RawFrames = false
		o.Translate.BinaryFrames = false
	})
	cases := []struct {
		name   string
		gw     *gateway
		send   string
		code   string
		withID string // the id the error must carry, "" for none
	}{
		{"data_and_args", g, `{"event":"echo","data":1,"args":[1],"id":3}`, "invalid_frame", "3"},
		{"event_and_ack", g, `{"event":"echo","ack":1}`, "invalid_frame", ""},
		{"event_not_string", g, `{"event":5,"id":"x"}`, "invalid_frame", `"x"`},
		{"args_not_array", g, `{"event":"echo","args":{"a":1},"id":4}`, "invalid_frame", "4"},
		{"args_null", g, `{"event":"echo","args":null}`, "invalid_frame", ""},
		{"id_wrong_type", g, `{"event":"echo","id":{"a":1}}`, "invalid_frame", ""},
		{"id_null", g, `{"event":"echo","id":null}`, "invalid_frame", ""},
		{"reserved_connect", g, `{"event":"connect","id":5}`, "reserved_event", "5"},
		{"reserved_disconnect", g, `{"event":"disconnect"}`, "reserved_event", ""},
		{"reserved_new_listener", g, `{"event":"newListener"}`, "reserved_event", ""},
		{"unknown_ack", g, `{"ack":12345}`, "unknown_ack", "12345"},
		{"ack_not_issued_string", g, `{"ack":"abc","data":1}`, "unknown_ack", `"abc"`},
		{"invalid_json_strict", strict, `{"event":`, "invalid_json", ""},
		{"not_an_envelope_strict", strict, `{"foo":1}`, "invalid_frame", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, tc.gw.wsURL("/ws"), nil)
			c.send(tc.send)
			expectError(t, c, tc.code, tc.withID)
			// The connection stays open and usable.
			c.send(`{"event":"echo","data":"still here"}`)
			c.expectJSON(`{"event":"echo","data":"still here"}`)
		})
	}
	t.Run("binary_disabled", func(t *testing.T) {
		t.Parallel()
		c := dial(t, strict.wsURL("/ws"), nil)
		c.sendBinary([]byte{1})
		expectError(t, c, "binary_disabled", "")
	})
	t.Run("nothing_reached_the_upstream", func(t *testing.T) {
		t.Parallel()
		c := dial(t, g.wsURL("/ws"), nil)
		c.send(`{"event":"connect"}`)
		c.read()
		st := up.Stats(t)
		if st.Events["connect"] != 0 {
			t.Fatalf("upstream saw a reserved event: %+v", st.Events)
		}
	})
}

// TestRenamedKeys uses every GATEWAY_*_KEY renamed.
func TestRenamedKeys(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, func(o *proxy.Options) {
		o.Translate.Keys.Event = "type"
		o.Translate.Keys.Data = "payload"
		o.Translate.Keys.Args = "params"
		o.Translate.Keys.ID = "seq"
		o.Translate.Keys.Ack = "reply"
	})
	c := dial(t, g.wsURL("/ws"), nil)
	c.send(`{"type":"echo","payload":{"a":1}}`)
	c.expectJSON(`{"type":"echo","payload":{"a":1}}`)
	c.send(`{"type":"echo","params":[1,2],"seq":9}`)
	c.expectJSON(`{"reply":9,"params":[1,2]}`)
}

// TestOrdering sends 1,000 frames and expects them back in order.
func TestOrdering(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, nil)
	c := dial(t, g.wsURL("/ws"), nil)
	const n = 1000
	go func() {
		for i := range n {
			frame := fmt.Sprintf(`{"event":"echo","data":%d}`, i)
			if i%3 == 0 {
				frame = fmt.Sprintf(`{"event":"echo","data":%d,"id":%d}`, i, i)
			}
			if err := c.conn.WriteMessage(1, []byte(frame)); err != nil {
				return
			}
		}
	}()
	for i := range n {
		want := fmt.Sprintf(`{"event":"echo","data":%d}`, i)
		if i%3 == 0 {
			want = fmt.Sprintf(`{"ack":%d,"data":%d}`, i, i)
		}
		c.expect(want)
	}
}

// TestConcurrentClientsAcks runs 50 clients with 100 acked events each.
func TestConcurrentClientsAcks(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, nil)
	const clients, events = 50, 100
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for ci := range clients {
		c := dial(t, g.wsURL("/ws"), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			go func() {
				for i := range events {
					frame := fmt.Sprintf(`{"event":"echo","data":{"c":%d,"i":%d},"id":"%d-%d"}`, ci, i, ci, i)
					if c.conn.WriteMessage(1, []byte(frame)) != nil {
						return
					}
				}
			}()
			seen := map[string]bool{}
			for range events {
				_, b, err := c.conn.ReadMessage()
				if err != nil {
					errs <- fmt.Errorf("client %d: %v", ci, err)
					return
				}
				var f struct {
					Ack  string `json:"ack"`
					Data struct{ C, I int }
				}
				if err := json.Unmarshal(b, &f); err != nil || f.Ack != fmt.Sprintf("%d-%d", f.Data.C, f.Data.I) || f.Data.C != ci || seen[f.Ack] {
					errs <- fmt.Errorf("client %d: bad ack %s", ci, b)
					return
				}
				seen[f.Ack] = true
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := g.obs.gaugeValue("pending|/ws"); n != 0 {
		t.Errorf("pending acks gauge = %d, want 0", n)
	}
}

// TestForwarding checks what the upstream handshake carries: the query
// without the credential, allowed headers, X-Forwarded-*, CONNECT auth.
func TestForwarding(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, func(o *proxy.Options) {
		o.UpstreamAuth = json.RawMessage(`{"app":"legacy","token":"overridden"}`)
		o.ForwardHeaders = []string{"User-Agent", "X-Device", "Connection"}
	})
	h := http.Header{}
	h.Set("User-Agent", "device/1.0")
	h.Set("X-Device", "d-42")
	h.Set("X-Secret", "must not pass")
	c := dial(t, g.wsURL("/ws?room=blue&token=tok-123&x=1"), h)
	c.send(`{"event":"handshake","id":1}`)
	frame := c.read()
	var ack struct {
		Data testupstream.Handshake `json:"data"`
	}
	if err := json.Unmarshal([]byte(frame), &ack); err != nil {
		t.Fatalf("%s: %v", frame, err)
	}
	hs := ack.Data
	checks := []struct{ name, got, want string }{
		{"query room", hs.QueryValue("room"), "blue"},
		{"query x", hs.QueryValue("x"), "1"},
		{"query token removed", hs.QueryValue("token"), ""},
		{"query EIO", hs.QueryValue("EIO"), "4"},
		{"user agent", hs.Header("User-Agent"), "device/1.0"},
		{"x-device", hs.Header("X-Device"), "d-42"},
		{"x-secret not copied", hs.Header("X-Secret"), ""},
		{"x-forwarded-for", hs.Header("X-Forwarded-For"), "127.0.0.1"},
		{"x-forwarded-proto", hs.Header("X-Forwarded-Proto"), "http"},
		{"x-forwarded-host", hs.Header("X-Forwarded-Host"), strings.TrimPrefix(g.http.URL, "http://")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if hs.Auth["app"] != "legacy" || hs.Auth["token"] != "tok-123" {
		t.Errorf("auth = %v, want app=legacy and the client's token", hs.Auth)
	}
}

// TestSubprotocol selects the first client protocol the gateway lists.
func TestSubprotocol(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, func(o *proxy.Options) { o.Subprotocols = []string{"v2.json", "v1.json"} })
	for _, tc := range []struct{ offer, want string }{
		{"v1.json, v2.json", "v1.json"},
		{"other, v2.json", "v2.json"},
		{"other", ""},
	} {
		h := http.Header{"Sec-WebSocket-Protocol": {tc.offer}}
		c := dial(t, g.wsURL("/ws"), h)
		if got := c.conn.Subprotocol(); got != tc.want {
			t.Errorf("offer %q: selected %q, want %q", tc.offer, got, tc.want)
		}
	}
}

// TestLifecycleEvents checks the connect and disconnect events.
func TestLifecycleEvents(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, func(o *proxy.Options) { o.LifecycleEvents = true })
	c := dial(t, g.wsURL("/ws"), nil)
	var ev struct {
		Event string `json:"event"`
		Data  struct {
			SID string `json:"sid"`
			NSP string `json:"nsp"`
		} `json:"data"`
	}
	frame := c.read()
	if err := json.Unmarshal([]byte(frame), &ev); err != nil || ev.Event != "connect" || ev.Data.SID == "" || ev.Data.NSP != "/" {
		t.Fatalf("first frame %s, want the connect event", frame)
	}
	c.send(`{"event":"disconnect-me"}`)
	frames, code := c.readUntilClose()
	if code != 1000 || len(frames) != 1 || !jsonEqual(frames[0], `{"event":"disconnect","data":{"reason":"upstream_disconnect"}}`) {
		t.Fatalf("frames %v, close %d; want the disconnect event then 1000", frames, code)
	}
}

// expectError reads the next frame and checks it is an error frame with
// this code, a message, and this id ("" for none).
func expectError(t *testing.T, c *client, code, id string) {
	t.Helper()
	var got struct {
		Error struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			ID      json.RawMessage `json:"id"`
		} `json:"error"`
	}
	frame := c.read()
	if err := json.Unmarshal([]byte(frame), &got); err != nil {
		t.Fatalf("frame %s: %v", frame, err)
	}
	if got.Error.Code != code || got.Error.Message == "" || string(got.Error.ID) != id {
		t.Fatalf("got %s, want code %s with id %q", frame, code, id)
	}
}
