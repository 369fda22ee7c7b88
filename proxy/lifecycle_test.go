package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/testupstream"
	"github.com/sio-gateway/gateway/proxy"
)

// TestHTTPFailures covers each refusal of CONTRACT §1 that this package
// decides without auth.
func TestHTTPFailures(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	stall := stallingListener(t)
	g := startGateway(t, up, func(o *proxy.Options) {
		o.UpstreamConnectTimeout = 700 * time.Millisecond
		o.Routes = append(o.Routes,
			proxy.Route{Path: "/admin", UpstreamURL: up.URL, Namespace: "/admin"},
			proxy.Route{Path: "/reject", UpstreamURL: up.URL, Namespace: "/reject"},
			proxy.Route{Path: "/hang", UpstreamURL: up.URL, Namespace: "/hang"},
			proxy.Route{Path: "/nope", UpstreamURL: up.URL, Namespace: "/nope"},
			proxy.Route{Path: "/down", UpstreamURL: closedPort(t), Namespace: "/"},
			proxy.Route{Path: "/stall", UpstreamURL: stall, Namespace: "/"},
		)
	})

	t.Run("not_found", func(t *testing.T) {
		t.Parallel()
		resp, body := dialFail(t, g.wsURL("/missing"), nil)
		if resp.StatusCode != 404 || body.Error.Code != "not_found" {
			t.Fatalf("got %d %+v", resp.StatusCode, body)
		}
	})
	t.Run("bad_request_plain_get", func(t *testing.T) {
		t.Parallel()
		resp, err := http.Get(g.http.URL + "/ws")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body errorBody
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 400 || body.Error.Code != "bad_request" || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("got %d %+v", resp.StatusCode, body)
		}
	})
	t.Run("upstream_rejected_with_data", func(t *testing.T) {
		t.Parallel()
		resp, body := dialFail(t, g.wsURL("/admin?token=wrong"), nil)
		u := body.Error.Upstream
		if resp.StatusCode != 403 || body.Error.Code != "upstream_rejected" || u == nil || u.Message == nil || *u.Message != "not authorized" || !jsonEqual(string(u.Data), `{"reason":"bad token"}`) {
			t.Fatalf("got %d %+v", resp.StatusCode, body)
		}
	})
	t.Run("upstream_accepts_right_token", func(t *testing.T) {
		t.Parallel()
		c := dial(t, g.wsURL("/admin?token="+testupstream.AdminToken), nil)
		c.send(`{"event":"echo","data":"admin"}`)
		c.expectJSON(`{"event":"echo","data":"admin"}`)
	})
	t.Run("upstream_rejected_without_data", func(t *testing.T) {
		t.Parallel()
		resp, body := dialFail(t, g.wsURL("/reject"), nil)
		u := body.Error.Upstream
		if resp.StatusCode != 403 || body.Error.Code != "upstream_rejected" || u == nil || u.Message == nil || *u.Message != "not authorized" || u.Data != nil {
			t.Fatalf("got %d %+v", resp.StatusCode, body)
		}
	})
	t.Run("unknown_namespace", func(t *testing.T) {
		t.Parallel()
		resp, body := dialFail(t, g.wsURL("/nope"), nil)
		if resp.StatusCode != 403 || body.Error.Code != "upstream_rejected" || body.Error.Upstream == nil || *body.Error.Upstream.Message != "Invalid namespace" {
			t.Fatalf("got %d %+v", resp.StatusCode, body)
		}
	})
	t.Run("upstream_down", func(t *testing.T) {
		t.Parallel()
		resp, body := dialFail(t, g.wsURL("/down"), nil)
		if resp.StatusCode != 502 || body.Error.Code != "upstream_unavailable" {
			t.Fatalf("got %d %+v", resp.StatusCode, body)
		}
	})
	for _, path := range []string{"/stall", "/hang"} {
		t.Run("upstream_timeout"+strings.ReplaceAll(path, "/", "_"), func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			resp, body := dialFail(t, g.wsURL(path), nil)
			if resp.StatusCode != 504 || body.Error.Code != "upstream_timeout" {
				t.Fatalf("got %d %+v", resp.StatusCode, body)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v, want about the 700ms connect timeout", d)
			}
		})
	}
	t.Run("outcomes_counted", func(t *testing.T) {
		// Not parallel with the others' side effects: counted after a fresh refusal.
		dialFail(t, g.wsURL("/also-missing"), nil)
		if g.obs.count("outcome|none|not_found") < 1 {
			t.Fatalf("not_found not counted")
		}
	})
}

// TestCloseCodes covers the close codes of CONTRACT §3.
func TestCloseCodes(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{MaxPayload: 10_000})
	g := startGateway(t, up, func(o *proxy.Options) { o.MaxMessageBytes = 50_000 })

	t.Run("upstream_disconnect_is_1000", func(t *testing.T) {
		t.Parallel()
		c := dial(t, g.wsURL("/ws"), nil)
		c.send(`{"event":"disconnect-me"}`)
		if code, _ := c.expectClose(); code != websocket.CloseNormalClosure {
			t.Fatalf("close %d, want 1000", code)
		}
	})
	t.Run("upstream_disconnect_all_is_1000", func(t *testing.T) {
		t.Parallel()
		c := dial(t, g.wsURL("/ws"), nil)
		c.send(`{"event":"disconnect-all"}`)
		if code, _ := c.expectClose(); code != websocket.CloseNormalClosure {
			t.Fatalf("close %d, want 1000", code)
		}
	})
	t.Run("invalid_utf8_is_1007", func(t *testing.T) {
		t.Parallel()
		c := dial(t, g.wsURL("/ws"), nil)
		c.send("{\"event\":\"echo\",\"data\":\"\xff\xfe\"}")
		if code, _ := c.expectClose(); code != websocket.CloseInvalidFramePayloadData {
			t.Fatalf("close %d, want 1007", code)
		}
	})
	t.Run("too_large_is_1009", func(t *testing.T) {
		t.Parallel()
		c := dial(t, g.wsURL("/ws"), nil)
		c.send(`{"event":"echo","data":"` + strings.Repeat("x", 60_000) + `"}`)
		if code, _ := c.expectClose(); code != websocket.CloseMessageTooBig {
			t.Fatalf("close %d, want 1009", code)
		}
	})
	t.Run("over_max_payload_is_an_error_frame", func(t *testing.T) {
		t.Parallel()
		c := dial(t, g.wsURL("/ws"), nil)
		c.send(`{"event":"echo","data":"` + strings.Repeat("x", 20_000) + `","id":"big"}`)
		var e struct {
			Error struct {
				Code string          `json:"code"`
				ID   json.RawMessage `json:"id"`
			} `json:"error"`
		}
		frame := c.read()
		if json.Unmarshal([]byte(frame), &e) != nil || e.Error.Code != "too_large" || string(e.Error.ID) != `"big"` {
			t.Fatalf("got %s, want too_large with the id", frame)
		}
		c.send(`{"event":"echo","data":"small","id":1}`)
		c.expectJSON(`{"ack":1,"data":"small"}`)
	})
	t.Run("client_close_disconnects_upstream", func(t *testing.T) {
		t.Parallel()
		before := up.Stats(t).DisconnectReasons["client namespace disconnect"]
		c := dial(t, g.wsURL("/ws"), nil)
		c.send(`{"event":"echo","id":1}`)
		c.read()
		_ = c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"))
		c.expectClose()
		up.WaitFor(t, "client namespace disconnect", func(s testupstream.Stats) bool {
			return s.DisconnectReasons["client namespace disconnect"] > before
		})
	})
	t.Run("ack_timeout", func(t *testing.T) {
		t.Parallel()
		g2 := startGateway(t, up, func(o *proxy.Options) { o.AckTimeout = 300 * time.Millisecond })
		c := dial(t, g2.wsURL("/ws"), nil)
		c.send(`{"event":"never-ack","id":"slow"}`)
		frame := c.read()
		if !strings.Contains(frame, `"code":"ack_timeout"`) || !strings.Contains(frame, `"id":"slow"`) {
			t.Fatalf("got %s, want ack_timeout with the id", frame)
		}
	})
}

// TestUpstreamLost kills the upstream: pending acks get upstream_lost, then 1014.
func TestUpstreamLost(t *testing.T) {
	t.Parallel()
	for _, version := range []int{4, 2} {
		t.Run(fmt.Sprintf("socketio_v%d", version), func(t *testing.T) {
			t.Parallel()
			up, g := startPair(t, version, testupstream.Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}, nil)
			c := dial(t, g.wsURL("/ws"), nil)
			c.send(`{"event":"never-ack","id":"a"}`)
			c.send(`{"event":"never-ack","id":2}`)
			c.send(`{"event":"echo","id":3}`)
			c.expectJSON(`{"ack":3}`)
			up.Kill()
			frames, code := c.readUntilClose()
			if code != proxy.CloseBadGateway {
				t.Fatalf("close %d, want 1014", code)
			}
			lost := errorCodes(frames)
			if lost[`"a"`] != "upstream_lost" || lost["2"] != "upstream_lost" || len(lost) != 2 {
				t.Fatalf("frames before close %v, want upstream_lost for \"a\" and 2", frames)
			}
		})
	}
}

// TestHeartbeats keeps a client across several upstream ping intervals.
func TestHeartbeats(t *testing.T) {
	t.Parallel()
	for _, version := range []int{4, 2} {
		t.Run(fmt.Sprintf("socketio_v%d", version), func(t *testing.T) {
			t.Parallel()
			up, g := startPair(t, version, testupstream.Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}, nil)
			c := dial(t, g.wsURL("/ws"), nil)
			deadline := time.Now().Add(2 * time.Second)
			for i := 0; time.Now().Before(deadline); i++ {
				c.send(fmt.Sprintf(`{"event":"echo","data":%d,"id":%d}`, i, i))
				c.expectJSON(fmt.Sprintf(`{"ack":%d,"data":%d}`, i, i))
				time.Sleep(100 * time.Millisecond)
			}
			if st := up.Stats(t); st.DisconnectReasons["ping timeout"] != 0 {
				t.Fatalf("upstream timed a socket out: %+v", st.DisconnectReasons)
			}
		})
	}
}

// TestSlowConsumer: a client that never reads gets 1008 (or is dropped)
// while another client of the same gateway carries on, and the upstream
// never times the slow one out first.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	g := startGateway(t, up, func(o *proxy.Options) {
		o.SendBufferBytes = 64 << 10
		o.WriteTimeout = 500 * time.Millisecond
	})
	slow := dial(t, g.wsURL("/ws"), nil)
	fast := dial(t, g.wsURL("/ws"), nil)
	// 2,000 events of 2 KiB: far more than the socket buffers and the queue.
	slow.send(`{"event":"burst","args":[2000,2048]}`)
	for i := range 20 {
		fast.send(fmt.Sprintf(`{"event":"echo","data":%d,"id":%d}`, i, i))
		fast.expectJSON(fmt.Sprintf(`{"ack":%d,"data":%d}`, i, i))
	}
	eventually(t, "the slow consumer to be dropped", func() bool {
		return g.obs.count("disconnect|/ws|slow_consumer") == 1
	})
	if st := up.Stats(t); st.DisconnectReasons["ping timeout"] != 0 {
		t.Fatalf("upstream timed out a socket: %+v", st.DisconnectReasons)
	}
	fast.send(`{"event":"echo","data":"after","id":"z"}`)
	fast.expectJSON(`{"ack":"z","data":"after"}`)
}

// TestShutdown drains then closes clients with 1001 and upstream sockets
// cleanly.
func TestShutdown(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, nil)
	c := dial(t, g.wsURL("/ws"), nil)
	c.send(`{"event":"echo","id":1}`)
	c.expectJSON(`{"ack":1}`)
	g.srv.Drain()
	resp, body := dialFail(t, g.wsURL("/ws"), nil)
	if resp.StatusCode != 503 || body.Error.Code != "draining" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("during drain: %d %+v", resp.StatusCode, body)
	}
	r, err := http.Get(g.http.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 503 {
		t.Fatalf("readyz during drain = %d, want 503", r.StatusCode)
	}
	// The open connection carries on while draining.
	c.send(`{"event":"echo","id":2}`)
	c.expectJSON(`{"ack":2}`)

	before := up.Stats(t).DisconnectReasons["client namespace disconnect"]
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	go func() { _ = g.srv.Shutdown(ctx) }()
	if code, _ := c.expectClose(); code != websocket.CloseGoingAway {
		t.Fatalf("close %d, want 1001", code)
	}
	up.WaitFor(t, "the upstream socket to be disconnected", func(s testupstream.Stats) bool {
		return s.DisconnectReasons["client namespace disconnect"] > before
	})
}
