package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/testupstream"
)

// healthClient polls /healthz, over TLS too (the tests' self-signed
// certificates are not checked).
var healthClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // test certificates

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runningGateway is run() in a goroutine.
type runningGateway struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
	logs   *clientTestBuffer
}

// startRun runs the gateway in-process with env and waits for /healthz.
func startRun(t *testing.T, env ...string) *runningGateway {
	t.Helper()
	return startRunAt(t, freeAddr(t), "http", env...)
}

// startRunAt is startRun on a given address and scheme (https with TLS).
func startRunAt(t *testing.T, addr, scheme string, env ...string) *runningGateway {
	t.Helper()
	env = append([]string{"GATEWAY_LISTEN_ADDR=" + addr, "GATEWAY_LOG_LEVEL=debug"}, env...)
	ctx, cancel := context.WithCancel(context.Background())
	g := &runningGateway{addr: addr, cancel: cancel, done: make(chan error, 1), logs: &clientTestBuffer{}}
	go func() { g.done <- run(ctx, []string{"gateway"}, env, strings.NewReader(""), io.Discard, g.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-g.done:
		case <-time.After(20 * time.Second):
			t.Error("gateway did not stop")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := healthClient.Get(scheme + "://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return g
			}
		}
		select {
		case err := <-g.done:
			t.Fatalf("gateway exited: %v\n%s", err, g.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not healthy: %v\n%s", err, g.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRunServesAndDrains runs the whole program against a real upstream:
// a client round trip, /metrics, then SIGTERM-like cancellation with a
// drain delay: readiness 503 and draining refusals while the open client
// carries on, then 1001.
func TestRunServesAndDrains(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startRun(t, "GATEWAY_UPSTREAM_URL="+up.URL, "GATEWAY_DRAIN_DELAY=1500ms", "GATEWAY_SHUTDOWN_TIMEOUT=5s")

	c, _, err := websocket.DefaultDialer.Dial("ws://"+g.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"event":"echo","data":{"secret-event":1},"id":1}`)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, b, err := c.ReadMessage(); err != nil || string(b) != `{"ack":1,"data":{"secret-event":1}}` {
		t.Fatalf("ack %s %v", b, err)
	}
	code, body := httpGet(t, "http://"+g.addr+"/metrics")
	for _, want := range []string{`gateway_connections{route="/ws"} 1`, `gateway_messages_total{direction="client_to_upstream",kind="event",route="/ws"} 1`, "gateway_build_info{", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("/metrics (%d) lacks %s", code, want)
		}
	}
	if strings.Contains(body, "secret-event") {
		t.Fatalf("/metrics holds a client-chosen value")
	}

	g.cancel() // what SIGTERM does through signal.NotifyContext
	deadline := time.Now().Add(5 * time.Second)
	for {
		if code, _ := httpGet(t, "http://"+g.addr+"/readyz"); code == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("readyz never answered 503 during the drain")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := httpGet(t, "http://"+g.addr+"/healthz"); code != 200 {
		t.Fatalf("healthz during drain = %d, want 200", code)
	}
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+g.addr+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("upgrade during drain: %v %v, want 503 draining", err, resp)
	}
	// The open client still works during the drain.
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"event":"echo","id":2}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.ReadMessage(); err != nil || string(b) != `{"ack":2}` {
		t.Fatalf("ack during drain %s %v", b, err)
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("after the drain: %v, want close 1001", err)
	}
	select {
	case err := <-g.done:
		g.done <- err
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after shutdown")
	}
	if logs := g.logs.String(); strings.Contains(logs, "secret-event") {
		t.Fatalf("logs hold a payload")
	}
}

// TestRunMetricsListener serves /metrics on its own listener only.
func TestRunMetricsListener(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	maddr := freeAddr(t)
	g := startRun(t, "GATEWAY_UPSTREAM_URL="+up.URL, "GATEWAY_METRICS_ADDR="+maddr)
	if code, body := httpGet(t, "http://"+maddr+"/metrics"); code != 200 || !strings.Contains(body, "gateway_build_info") {
		t.Fatalf("metrics listener: %d", code)
	}
	if code, _ := httpGet(t, "http://"+g.addr+"/metrics"); code != 404 {
		t.Fatalf("/metrics on the main listener = %d, want 404", code)
	}
}

// TestRunConfigErrors: invalid values stop start-up before listening, with
// a message naming the variable.
func TestRunConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ env, name string }{
		{"GATEWAY_UPSTREAM_EIO=5", "GATEWAY_UPSTREAM_EIO"},
		{"GATEWAY_PING_INTERVAL=soon", "GATEWAY_PING_INTERVAL"},
		{"GATEWAY_AUTH_MODE=magic", "GATEWAY_AUTH_MODE"},
		{"GATEWAY_ROUTES=/a=http://x:1,/a=http://y:2", "GATEWAY_ROUTES"},
		{"GATEWAY_MAX_CONNECTIONS=-1", "GATEWAY_MAX_CONNECTIONS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			err := run(context.Background(), []string{"gateway"}, []string{tc.env}, strings.NewReader(""), io.Discard, &stderr)
			if exitCode(err) == 0 || !strings.Contains(stderr.String(), tc.name) {
				t.Fatalf("exit %d, stderr %q: want non-zero naming %s", exitCode(err), stderr.String(), tc.name)
			}
		})
	}
}

// TestRunHelpAndVersion checks the command line of CONTRACT §7.
func TestRunHelpAndVersion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"gateway", "--help"}, nil, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"GATEWAY_LISTEN_ADDR", "GATEWAY_UPSTREAM_RECONNECT_DELAY_MAX", "GATEWAY_LOG_FORMAT", "gateway client"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("--help lacks %s", v)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"gateway", "version"}, nil, nil, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "gateway ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
	if err := run(context.Background(), []string{"gateway", "bogus"}, nil, nil, io.Discard, io.Discard); exitCode(err) == 0 {
		t.Fatal("unknown command exited 0")
	}

}
