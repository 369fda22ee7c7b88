package scaleout_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sio-gateway/gateway/internal/testupstream"
)

const (
	// numClients connect through nginx before anything else.
	numClients = 20
	// numLate connect while one gateway drains.
	numLate = 4
	// drainDelay is the gateways' GATEWAY_DRAIN_DELAY: long enough to
	// connect numLate clients during it on a loaded machine.
	drainDelay = 2 * time.Second
	// shutdownTimeout is the gateways' GATEWAY_SHUTDOWN_TIMEOUT.
	shutdownTimeout = 10 * time.Second
	// frameTimeout bounds the wait for one expected frame; generous, the
	// machine is shared.
	frameTimeout = 15 * time.Second
	// settleTimeout bounds the wait for gauges and stats to catch up.
	settleTimeout = 15 * time.Second
	// quietWindow is how long the test watches for a frame that must not
	// come (a duplicate broadcast, a room event outside the room).
	quietWindow = 300 * time.Millisecond

	nodeA, nodeB = "node-a", "node-b"
	// routeLabel selects the default route's samples.
	routeLabel = `route="/ws"`
	// adapterChannel is the Redis channel every node running the Redis
	// adapter subscribes to for namespace "/" (@socket.io/redis-adapter's
	// request channel; its broadcast pattern is subscribed just before).
	adapterChannel = "socket.io-request#/#"
	// forwardedFor is the X-Forwarded-For one client sends: with nginx
	// trusted, the upstream sees it first in the chain.
	forwardedFor = "203.0.113.7"
)

// TestScaleOut runs two gateway replicas behind nginx in front of two
// Socket.IO nodes sharing a Redis adapter, and shows that clients spread
// over both replicas see every broadcast once, that rooms and acks work
// across the path, and that SIGTERM drains one replica without disturbing
// the other.
func TestScaleOut(t *testing.T) {
	testupstream.RequireNode(t)
	testupstream.RequireRedis(t)
	nginxBin := requireNginx(t)
	bin := buildGateway(t)

	redis := testupstream.StartRedis(t)
	nodes := map[string]*testupstream.Server{
		nodeA: testupstream.Start(t, testupstream.Options{RedisURL: redis.URL, Name: nodeA}),
		nodeB: testupstream.Start(t, testupstream.Options{RedisURL: redis.URL, Name: nodeB}),
	}
	// A broadcast sent before a node has subscribed would not reach it.
	waitUntil(t, settleTimeout, "both nodes to subscribe to the Redis adapter", func() (bool, string) {
		n, err := redisNumSub(redis.Addr, adapterChannel)
		return err == nil && n == 2, fmt.Sprintf("%d subscribers of %s (%v)", n, adapterChannel, err)
	})

	gwEnv := []string{
		"GATEWAY_DRAIN_DELAY=" + drainDelay.String(),
		"GATEWAY_SHUTDOWN_TIMEOUT=" + shutdownTimeout.String(),
		"GATEWAY_TRUSTED_PROXIES=127.0.0.1/32",
		"GATEWAY_CONSOLE=false",
	}
	gws := map[string]*gateway{ // by the node each one leads to
		nodeA: startGateway(t, bin, "gw-a", nodes[nodeA].URL, gwEnv...),
		nodeB: startGateway(t, bin, "gw-b", nodes[nodeB].URL, gwEnv...),
	}
	lb := startNginx(t, nginxBin, [2]string{gws[nodeA].addr, gws[nodeB].addr})
	wsURL := "ws://" + lb.addr + "/ws"

	cs := newClients(t)
	all := make([]*wsClient, 0, numClients)
	for i := range numClients {
		h := http.Header{}
		if i == 0 {
			h.Set("X-Forwarded-For", forwardedFor)
		}
		c, err := cs.dial(wsURL, fmt.Sprintf("client-%02d", i), h)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, c)
	}
	// byNode: the clients behind each node, i.e. behind each gateway.
	byNode := map[string][]*wsClient{}

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"clients_spread_over_both_replicas", func(t *testing.T) {
			for _, c := range all {
				c.node = handshakeNode(t, c, c == all[0])
				byNode[c.node] = append(byNode[c.node], c)
			}
			if len(byNode[nodeA]) == 0 || len(byNode[nodeB]) == 0 {
				t.Fatalf("nginx sent %d clients to gw-a and %d to gw-b; want both > 0", len(byNode[nodeA]), len(byNode[nodeB]))
			}
			if len(byNode) != 2 {
				t.Fatalf("clients reached unknown nodes: %v", keys(byNode))
			}
			waitGauges(t, gws, map[string]int{nodeA: len(byNode[nodeA]), nodeB: len(byNode[nodeB])})
			for name, n := range nodes {
				want := len(byNode[name])
				n.WaitFor(t, fmt.Sprintf("%d sockets on %s", want, name), func(s testupstream.Stats) bool {
					return s.Sockets["/"] == want
				})
			}
			t.Logf("gw-a holds %d clients, gw-b %d", len(byNode[nodeA]), len(byNode[nodeB]))
		}},

		{"acks_across_the_path", func(t *testing.T) {
			for i, c := range all {
				data := fmt.Sprintf(`{"client":%q,"n":%d,"list":[1,"two",null]}`, c.name, i)
				got := c.call(t, frameTimeout, "echo", json.RawMessage(data))
				if !jsonEqual(got, data) {
					t.Fatalf("%s: echo acked %s, want %s", c.name, got, data)
				}
			}
		}},

		{"broadcast_reaches_every_client_once", func(t *testing.T) {
			emit(t, nodes[nodeA], "/control/broadcast", url.Values{"event": {"news"}, "data": {`{"seq":1}`}})
			for _, c := range all {
				c.expectEvent(t, frameTimeout, "news", `{"seq":1}`)
			}
			expectQuiet(t, quietWindow, all)
		}},

		{"room_joined_through_an_event_gets_emits_from_the_other_node", func(t *testing.T) {
			// Half of each replica's clients join, so that each emitting
			// node reaches members behind the other node too.
			var members []*wsClient
			for _, name := range []string{nodeA, nodeB} {
				on := byNode[name]
				members = append(members, on[:(len(on)+1)/2]...)
			}
			for _, c := range members {
				if got := c.call(t, frameTimeout, "join", "room1"); !jsonEqual(got, `"joined"`) {
					t.Fatalf("%s: join acked %s, want \"joined\"", c.name, got)
				}
			}
			for _, from := range []string{nodeB, nodeA} {
				data := fmt.Sprintf(`{"from":%q}`, from)
				emit(t, nodes[from], "/control/to-room", url.Values{"room": {"room1"}, "event": {"room"}, "data": {data}})
				for _, c := range members {
					c.expectEvent(t, frameTimeout, "room", data)
				}
			}
			// Members got each emit once; the others got nothing.
			expectQuiet(t, quietWindow, all)
		}},

		{"sigterm_drains_one_replica", func(t *testing.T) {
			gwA := gws[nodeA]
			victims, survivors := byNode[nodeA], byNode[nodeB]
			if err := gwA.proc.signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, settleTimeout, "gw-a's /readyz to answer 503", func() (bool, string) {
				status, body, err := httpGet(gwA.http, gwA.base+"/readyz")
				return err == nil && status == http.StatusServiceUnavailable, fmt.Sprintf("status %d %q (%v)", status, body, err)
			})
			if status, _, err := httpGet(gwA.http, gwA.base+"/healthz"); err != nil || status != http.StatusOK {
				t.Errorf("gw-a /healthz while draining: status %d (%v), want 200", status, err)
			}

			// New clients keep coming while gw-a drains: nginx retries the
			// 503 draining answer on gw-b.
			var late []*wsClient
			for i := range numLate {
				c, err := cs.dial(wsURL, fmt.Sprintf("late-%d", i), nil)
				if err != nil {
					t.Fatalf("connect while gw-a drains: %v", err)
				}
				if c.node = handshakeNode(t, c, false); c.node != nodeB {
					t.Fatalf("%s reached %s while gw-a drains; want %s", c.name, c.node, nodeB)
				}
				late = append(late, c)
			}
			if draining, err := gwA.metric("gateway_connections_total", routeLabel, `outcome="draining"`); err != nil {
				t.Logf("gw-a stopped serving before its draining count could be read (%v)", err)
			} else if draining < 1 {
				t.Errorf("gw-a answered %v upgrades with 503 draining while %d clients connected; want >= 1 (did nginx ever try gw-a?)", draining, numLate)
			} else {
				t.Logf("gw-a answered %v upgrades with 503 draining; nginx retried them on gw-b", draining)
			}

			// After the drain delay every client of gw-a gets 1001; the
			// others notice nothing.
			for _, c := range victims {
				c.expectClose(t, drainDelay+frameTimeout, 1001)
			}
			if err := gwA.proc.waitExit(shutdownTimeout + stopTimeout); err != nil {
				t.Errorf("gw-a after SIGTERM: %v, want exit status 0", err)
			}
			expectNothingPending(t, survivors)
			// The gateway disconnected its upstream sockets cleanly.
			nodes[nodeA].WaitFor(t, "node-a to lose gw-a's sockets", func(s testupstream.Stats) bool {
				return s.Sockets["/"] == 0
			})
			if got := nodes[nodeA].Stats(t).DisconnectReasons; got["client namespace disconnect"] != len(victims) {
				t.Errorf("node-a disconnect reasons after gw-a's shutdown: %v; want %d \"client namespace disconnect\"", got, len(victims))
			}

			// gw-a's clients reconnect through nginx and land on gw-b.
			var back []*wsClient
			for _, v := range victims {
				c, err := cs.dial(wsURL, v.name+"-again", nil)
				if err != nil {
					t.Fatalf("reconnect after 1001: %v", err)
				}
				if c.node = handshakeNode(t, c, false); c.node != nodeB {
					t.Fatalf("%s reconnected to %s; want %s", c.name, c.node, nodeB)
				}
				back = append(back, c)
			}
			live := append(append(append([]*wsClient(nil), survivors...), late...), back...)
			waitUntil(t, settleTimeout, "gw-b's gauge to count every client", func() (bool, string) {
				v, err := gws[nodeB].metric("gateway_connections", routeLabel)
				return err == nil && int(v) == len(live), fmt.Sprintf("gateway_connections=%v, want %d (%v)", v, len(live), err)
			})

			// The next broadcast, emitted on node-a (which now holds no
			// client), reaches every client once: gw-b's original clients
			// on their first connection, the others on their new one.
			emit(t, nodes[nodeA], "/control/broadcast", url.Values{"event": {"news"}, "data": {`{"seq":2}`}})
			for _, c := range live {
				c.expectEvent(t, frameTimeout, "news", `{"seq":2}`)
			}
			expectQuiet(t, quietWindow, live)
			for _, c := range back {
				if got := c.call(t, frameTimeout, "echo", "after"); !jsonEqual(got, `"after"`) {
					t.Fatalf("%s: echo acked %s, want \"after\"", c.name, got)
				}
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return
		}
	}
}

// handshake is the part of the test server's "handshake" ack the test reads.
type handshake struct {
	Node    string         `json:"node"`
	Headers map[string]any `json:"headers"`
}

// handshakeNode asks the Socket.IO server behind c for its node name. With
// checkForwarded, it also checks that the X-Forwarded-For chain starts with
// the address the client claimed: nginx passed it on and the gateway, which
// trusts nginx, kept it.
func handshakeNode(t testing.TB, c *wsClient, checkForwarded bool) string {
	t.Helper()
	data := c.call(t, frameTimeout, "handshake", nil)
	var h handshake
	if err := json.Unmarshal(data, &h); err != nil || h.Node == "" {
		t.Fatalf("%s: handshake acked %s (%v); want an object with node", c.name, data, err)
	}
	if checkForwarded {
		xff, _ := h.Headers["x-forwarded-for"].(string)
		if !strings.HasPrefix(xff, forwardedFor+",") {
			t.Errorf("%s: upstream saw X-Forwarded-For %q; want %s first, then the proxies", c.name, xff, forwardedFor)
		}
	}
	return h.Node
}

// waitGauges waits until each gateway's gateway_connections{route="/ws"}
// equals want[node] and checks that they add up to numClients.
func waitGauges(t testing.TB, gws map[string]*gateway, want map[string]int) {
	t.Helper()
	sum := 0
	for node, g := range gws {
		waitUntil(t, settleTimeout, g.name+"'s gateway_connections gauge", func() (bool, string) {
			v, err := g.metric("gateway_connections", routeLabel)
			return err == nil && int(v) == want[node], fmt.Sprintf("%v, want %d (%v)", v, want[node], err)
		})
		sum += want[node]
	}
	if sum != numClients {
		t.Fatalf("the gauges add up to %d, want %d", sum, numClients)
	}
}

// emit calls a control endpoint of the test server on namespace "/".
func emit(t testing.TB, s *testupstream.Server, path string, q url.Values) {
	t.Helper()
	q.Set("nsp", "/")
	s.Get(t, path+"?"+q.Encode())
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
