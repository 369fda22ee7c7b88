package proxy_test

import (
	"context"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/testupstream"
	"github.com/sio-gateway/gateway/proxy"
	"github.com/sio-gateway/gateway/socketio"
)

// panickyDialer connects to the real upstream but hands the bridge a socket
// whose Read panics once the client has sent a frame: a bug in one
// connection must end that connection with 1011, not the process.
type panickyDialer struct{ real proxy.UpstreamDialer }

type panickyUpstream struct{ proxy.Upstream }

func (p panickyUpstream) Read() (socketio.Packet, error) {
	pkt, err := p.Upstream.Read()
	if err == nil {
		panic("test: injected fault")
	}
	return pkt, err
}

func (d panickyDialer) Dial(ctx context.Context, req proxy.DialRequest) (proxy.Upstream, proxy.UpstreamInfo, error) {
	up, info, err := d.real.Dial(ctx, req)
	if err != nil {
		return nil, info, err
	}
	return panickyUpstream{up}, info, nil
}

func TestPanicEndsOnlyThatConnection(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	real := proxy.NewSocketIODialer(proxy.SocketIODialerOptions{})
	g := startGateway(t, up, func(o *proxy.Options) { o.Dialer = panickyDialer{real} })
	c := dial(t, g.wsURL("/ws"), nil)
	c.send(`{"event":"echo","data":1}`)
	if code, _ := c.expectClose(); code != websocket.CloseInternalServerErr {
		t.Fatalf("close %d, want 1011", code)
	}
	eventually(t, "the error ending to be counted", func() bool { return g.obs.count("disconnect|/ws|error") == 1 })
	// The gateway still serves other clients.
	c2 := dial(t, g.wsURL("/ws"), nil)
	c2.send(`{"event":"echo","data":2}`)
	if code, _ := c2.expectClose(); code != websocket.CloseInternalServerErr {
		t.Fatalf("second client: close %d, want 1011 from its own fault", code)
	}
}
