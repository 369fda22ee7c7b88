package proxy_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sio-gateway/gateway/internal/testupstream"
	"github.com/sio-gateway/gateway/proxy"
)

// reconnecting turns on CONTRACT §3's upstream reconnect with short delays.
func reconnecting(timeout time.Duration) func(*proxy.Options) {
	return func(o *proxy.Options) {
		o.UpstreamReconnect = true
		o.UpstreamReconnectTimeout = timeout
		o.UpstreamReconnectDelay = 50 * time.Millisecond
		o.UpstreamReconnectDelayMax = 200 * time.Millisecond
		o.UpstreamConnectTimeout = 2 * time.Second
	}
}

// TestReconnectAfterRestart kills a CSR upstream and starts a fresh one on
// the same port: clients stay connected, learn they got a fresh socket, and
// the frames they sent during the gap arrive afterwards, in order.
func TestReconnectAfterRestart(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{CSR: true})
	g := startGateway(t, up, func(o *proxy.Options) {
		reconnecting(15 * time.Second)(o)
		o.LifecycleEvents = true
	})
	const clients = 20
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = dial(t, g.wsURL("/ws"), nil)
		if f := cs[i].read(); !strings.Contains(f, `"event":"connect"`) {
			t.Fatalf("first frame %s, want connect", f)
		}
		cs[i].send(`{"event":"echo","data":"before","id":0}`)
		cs[i].expectJSON(`{"ack":0,"data":"before"}`)
	}
	up.Kill()
	// Once every bridge has tried to redial, it has seen the loss: frames
	// sent from now on are held (earlier ones could still be written to the
	// dying socket, and then get upstream_lost, as CONTRACT §3 says).
	eventually(t, "every bridge to notice the loss", func() bool { return g.obs.connectAttempts() >= 2*clients })
	for _, c := range cs {
		for j := 1; j <= 5; j++ {
			c.send(fmt.Sprintf(`{"event":"echo","data":%d,"id":%d}`, j, j))
		}
	}
	up.Restart(t)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []string
			for len(got) < 6 {
				_ = c.conn.SetReadDeadline(time.Now().Add(testTimeout))
				_, b, err := c.conn.ReadMessage()
				if err != nil {
					errs <- fmt.Errorf("client %d: %v after %v", i, err, got)
					return
				}
				got = append(got, string(b))
			}
			if !jsonEqual(got[0], `{"event":"connect","data":{"sid":"`+sidOf(got[0])+`","nsp":"/","recovered":false}}`) {
				errs <- fmt.Errorf("client %d: first frame after the restart %s, want connect recovered:false", i, got[0])
				return
			}
			for j := 1; j <= 5; j++ {
				if want := fmt.Sprintf(`{"ack":%d,"data":%d}`, j, j); got[j] != want {
					errs <- fmt.Errorf("client %d: frame %d = %s, want %s", i, j, got[j], want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := g.obs.count("reconnect|/ws|fresh"); n != clients {
		t.Errorf("fresh reconnects = %d, want %d", n, clients)
	}
	if n := g.obs.gaugeValue("buffered|/ws"); n != 0 {
		t.Errorf("buffered frames gauge = %d, want 0", n)
	}
}

func sidOf(frame string) string {
	var ev struct {
		Data struct {
			SID string `json:"sid"`
		} `json:"data"`
	}
	_ = json.Unmarshal([]byte(frame), &ev)
	return ev.Data.SID
}

// TestReconnectRecoversMissedEvents drops the upstream transport while the
// server keeps running with CSR: the events emitted meanwhile are replayed,
// in order, once each, without their offsets.
func TestReconnectRecoversMissedEvents(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{CSR: true})
	g := startGateway(t, up, func(o *proxy.Options) {
		reconnecting(10 * time.Second)(o)
		o.LifecycleEvents = true
		o.UpstreamReconnectDelay = time.Second // leave time to broadcast while down
		o.UpstreamReconnectDelayMax = time.Second
	})
	c := dial(t, g.wsURL("/ws"), nil)
	c.read() // connect
	c.send(`{"event":"emit-seq","args":[3,"seq"]}`)
	for i := range 3 {
		c.expectJSON(fmt.Sprintf(`{"event":"seq","data":%d}`, i))
	}
	up.Get(t, "/control/drop")
	// Broadcasts are kept for disconnected sessions (emits to a socket are not).
	for i := range 4 {
		up.Broadcast(t, "/", "missed", i)
	}
	for i := range 4 {
		c.expectJSON(fmt.Sprintf(`{"event":"missed","data":%d}`, i))
	}
	c.send(`{"event":"echo","data":"after","id":1}`)
	c.expectJSON(`{"ack":1,"data":"after"}`)
	if n := g.obs.count("reconnect|/ws|recovered"); n != 1 {
		t.Fatalf("recovered reconnects = %d, want 1", n)
	}
	if st := up.Stats(t); st.Recovered < 1 {
		t.Fatalf("server recovered %d sessions, want 1", st.Recovered)
	}
}

// TestReconnectGivesUp: an upstream down longer than the reconnect timeout
// closes the client with 1014, pending acks answered with upstream_lost
// first; frames over the buffer get upstream_unavailable.
func TestReconnectGivesUp(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, func(o *proxy.Options) {
		reconnecting(1500 * time.Millisecond)(o)
		o.UpstreamBuffer = 2
	})
	c := dial(t, g.wsURL("/ws"), nil)
	c.send(`{"event":"never-ack","id":"pending"}`)
	c.send(`{"event":"echo","id":0}`)
	c.expectJSON(`{"ack":0}`)
	up.Kill()
	frames := []string{c.read()}
	for i := 1; i <= 3; i++ {
		c.send(fmt.Sprintf(`{"event":"echo","data":%d,"id":%d}`, i, i))
	}
	more, code := c.readUntilClose()
	frames = append(frames, more...)
	if code != proxy.CloseBadGateway {
		t.Fatalf("close %d, want 1014", code)
	}
	want := map[string]string{`"pending"`: "upstream_lost", "1": "upstream_lost", "2": "upstream_lost", "3": "upstream_unavailable"}
	got := errorCodes(frames)
	for id, code := range want {
		if got[id] != code {
			t.Errorf("id %s: %q, want %q (frames %v)", id, got[id], code, frames)
		}
	}
	if n := g.obs.count("reconnect|/ws|failed"); n != 1 {
		t.Errorf("failed reconnects = %d, want 1", n)
	}
}

// TestReconnectNeverAfterServerDisconnect: socket.disconnect() on the
// server is final, reconnect or not.
func TestReconnectNeverAfterServerDisconnect(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{CSR: true})
	g := startGateway(t, up, reconnecting(10*time.Second))
	c := dial(t, g.wsURL("/ws"), nil)
	c.send(`{"event":"disconnect-me"}`)
	if code, _ := c.expectClose(); code != 1000 {
		t.Fatalf("close %d, want 1000", code)
	}
	if n := g.obs.count("reconnect|/ws|fresh") + g.obs.count("reconnect|/ws|recovered"); n != 0 {
		t.Fatalf("%d reconnects after a server disconnect", n)
	}
}

// TestReconnectRecoveryRequired closes with 1014 when the new socket is
// not a recovered one.
func TestReconnectRecoveryRequired(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startGateway(t, up, func(o *proxy.Options) {
		reconnecting(10 * time.Second)(o)
		o.UpstreamRecoveryRequired = true
	})
	c := dial(t, g.wsURL("/ws"), nil)
	c.send(`{"event":"echo","id":1}`)
	c.expectJSON(`{"ack":1}`)
	up.Get(t, "/control/drop")
	if code, _ := c.expectClose(); code != proxy.CloseBadGateway {
		t.Fatalf("close %d, want 1014", code)
	}
}

// TestReconnectEngineIO3 reconnects to a restarted socket.io v2 server,
// which has no connection state recovery: the client goes on with a fresh
// upstream socket.
func TestReconnectEngineIO3(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{Version: 2})
	g := startGateway(t, up, func(o *proxy.Options) {
		reconnecting(15 * time.Second)(o)
		o.UpstreamEIO = 3
		o.LifecycleEvents = true
	})
	c := dial(t, g.wsURL("/ws"), nil)
	c.read() // connect
	c.send(`{"event":"echo","data":"before","id":1}`)
	c.expectJSON(`{"ack":1,"data":"before"}`)
	up.Kill()
	eventually(t, "the bridge to notice the loss", func() bool { return g.obs.connectAttempts() >= 2 })
	c.send(`{"event":"echo","data":"held","id":2}`)
	up.Restart(t)
	if f := c.read(); !strings.Contains(f, `"recovered":false`) {
		t.Fatalf("frame %s, want the connect event with recovered:false", f)
	}
	c.expectJSON(`{"ack":2,"data":"held"}`)
}
