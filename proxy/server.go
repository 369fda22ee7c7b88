package proxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/auth"
	"github.com/sio-gateway/gateway/internal/idlepoll"
	"github.com/sio-gateway/gateway/internal/wsframe"
	"github.com/sio-gateway/gateway/translate"
)

// retryAfterBusy is the Retry-After given with over_capacity and draining.
const retryAfterBusy = 5 * time.Second

// Route is one client-facing path and the upstream namespace it leads to.
type Route struct {
	// Path is the client-facing path, such as "/ws".
	Path string
	// UpstreamURL is the Socket.IO server's base URL (scheme, host, port);
	// its path is ignored: Namespace carries it.
	UpstreamURL string
	// Namespace is the Socket.IO namespace; "" means "/".
	Namespace string
	// Query is added to every upstream handshake of this route (the query
	// of the configured URL, as io(url) does); the client's query adds to it.
	Query url.Values
}

// Options configure a Server. Each field's zero value is documented.
type Options struct {
	// Routes are the upgrade routes; at least one is required.
	Routes []Route

	// Dialer opens upstream sockets; nil uses SocketIODialer with the
	// Upstream* options below.
	Dialer UpstreamDialer
	// UpstreamPath is the Engine.IO path; "" means "/socket.io/".
	UpstreamPath string
	// UpstreamEIO is 4 (the zero value's meaning) or 3.
	UpstreamEIO int
	// UpstreamConnectTimeout bounds handshake + CONNECT; 0 means 10s.
	UpstreamConnectTimeout time.Duration
	// UpstreamTLS configures https upstreams; nil uses the system roots.
	UpstreamTLS *tls.Config
	// UpstreamAuth is a JSON object sent in every CONNECT (EIO 4); nil sends
	// only what the gateway adds (token, user).
	UpstreamAuth json.RawMessage
	// ForwardHeaders names the request headers copied upstream; nil copies none.
	ForwardHeaders []string
	// ForwardToken puts the client's credential in the CONNECT auth as
	// "token" (EIO 3: the handshake query).
	ForwardToken bool

	// UpstreamReconnect keeps clients connected across an upstream
	// transport loss and reconnects behind their back (CONTRACT §3); false
	// closes them with 1014 at once.
	UpstreamReconnect bool
	// UpstreamReconnectTimeout is how long a client is held while the
	// upstream is down; 0 gives up at once.
	UpstreamReconnectTimeout time.Duration
	// UpstreamReconnectDelay and UpstreamReconnectDelayMax bound the
	// backoff; 0 means 500ms and 5s.
	UpstreamReconnectDelay, UpstreamReconnectDelayMax time.Duration
	// UpstreamBuffer is how many client frames are held while
	// reconnecting; 0 means 256.
	UpstreamBuffer int
	// UpstreamRecoveryRequired closes with 1014 when the new upstream
	// socket did not recover the old session.
	UpstreamRecoveryRequired bool

	// Translate configures the envelope.
	Translate translate.Options
	// LifecycleEvents sends connect/disconnect events to clients.
	LifecycleEvents bool
	// Subprotocols the gateway may select; nil selects none.
	Subprotocols []string

	// Origins is the origin policy; nil admits requests without Origin and
	// same-host origins only.
	Origins *auth.OriginPolicy
	// Verifier checks credentials; nil admits everyone (auth mode none).
	Verifier auth.Verifier
	// TokenQueryParam names the query parameter that may carry the
	// credential; "" or "none" accepts none.
	TokenQueryParam string
	// Proxies are the trusted proxies in front of the gateway; nil trusts none.
	Proxies *auth.TrustedProxies
	// MaxConnections caps clients at once; 0 means no cap.
	MaxConnections int
	// AddrLimiter limits connections per client address; nil means none.
	AddrLimiter *auth.AddrLimiter
	// MessageRate is frames per second per client, MessageBurst its burst;
	// a rate of 0 means no limit.
	MessageRate  float64
	MessageBurst int

	// MaxMessageBytes is the largest client frame; 0 means 1,000,000.
	MaxMessageBytes int64
	// SendBufferBytes bounds the bytes waiting to be written to one client;
	// 0 means 1 MiB.
	SendBufferBytes int64
	// AckTimeout bounds the wait for an upstream ack; 0 waits forever.
	AckTimeout time.Duration
	// PingInterval is the WebSocket ping period to clients; 0 means 25s.
	PingInterval time.Duration
	// WriteTimeout bounds one write to a client; 0 means 10s.
	WriteTimeout time.Duration

	// Observer receives metrics events; nil observes nothing.
	Observer Observer
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
	// Metrics, when set, is served at /metrics.
	Metrics http.Handler
	// Console serves the web console at /console.
	Console bool
}

// Server is the gateway's HTTP front: routes, health, metrics and the
// upgrade handlers. It tracks every bridge it starts so that Shutdown can
// close them.
type Server struct {
	opts     Options
	handler  http.Handler
	upgrader websocket.Upgrader
	observer Observer
	logger   *slog.Logger
	dialer   UpstreamDialer
	frames   *framePool
	readBufs *wsframe.BufferPool
	// scratches lends client writers their scratch memory (*writeScratch).
	scratches sync.Pool
	// pendings recycles the records of client acks awaited (*pendingAck).
	pendings sync.Pool
	// poller watches idle clients' sockets, so they need no reader
	// goroutine (see clientread.go).
	poller *idlepoll.Poller

	draining atomic.Bool
	active   atomic.Int64 // clients admitted and not yet gone

	// bridges is the lifetime of every running bridge: Shutdown cancels it.
	bridges    context.Context
	stopAll    context.CancelFunc
	bridgeWG   sync.WaitGroup
	shutdownMu sync.Mutex // orders bridgeWG.Add against Shutdown's Wait
	closed     bool
}

// New builds a Server from opts.
func New(opts Options) (*Server, error) {
	if len(opts.Routes) == 0 {
		return nil, errors.New("proxy: no routes")
	}
	applyDefaults(&opts)
	s := &Server{
		opts:     opts,
		observer: opts.Observer,
		logger:   opts.Logger,
		dialer:   opts.Dialer,
		frames:   newFramePool(),
		readBufs: wsframe.NewBufferPool(clientReadBuffer),
		poller:   idlepoll.New(),
	}
	if s.dialer == nil {
		s.dialer = NewSocketIODialer(SocketIODialerOptions{
			Path:      opts.UpstreamPath,
			EIO:       opts.UpstreamEIO,
			TLSConfig: opts.UpstreamTLS,
		})
	}
	s.bridges, s.stopAll = context.WithCancel(context.Background())
	// gorilla only does the handshake: with no buffer sizes set it takes
	// over net/http's buffers rather than allocating its own, and they
	// all go when the bridge takes the connection.
	s.upgrader = websocket.Upgrader{
		// Origin is checked before the upstream dial, by the origin policy.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			writeReject(w, &RejectError{Code: CodeBadRequest, Message: "invalid WebSocket upgrade"})
		},
	}
	r := chi.NewRouter()
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	if opts.Metrics != nil {
		r.Handle("/metrics", opts.Metrics)
	}
	if opts.Console {
		r.Get("/console", s.console)
	}
	seen := map[string]bool{}
	for _, rt := range opts.Routes {
		if seen[rt.Path] {
			return nil, fmt.Errorf("proxy: duplicate route %q", rt.Path)
		}
		seen[rt.Path] = true
		h, err := s.newRouteHandler(rt)
		if err != nil {
			return nil, err
		}
		r.Handle(rt.Path, h)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.observer.ConnectionOutcome("none", CodeNotFound)
		writeReject(w, &RejectError{Code: CodeNotFound, Message: "no route for this path"})
	})
	s.handler = r
	return s, nil
}

func applyDefaults(o *Options) {
	if o.UpstreamConnectTimeout <= 0 {
		o.UpstreamConnectTimeout = 10 * time.Second
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 1_000_000
	}
	if o.SendBufferBytes <= 0 {
		o.SendBufferBytes = 1 << 20
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.UpstreamReconnectDelay <= 0 {
		o.UpstreamReconnectDelay = 500 * time.Millisecond
	}
	if o.UpstreamReconnectDelayMax <= 0 {
		o.UpstreamReconnectDelayMax = 5 * time.Second
	}
	if o.UpstreamReconnectDelayMax < o.UpstreamReconnectDelay {
		o.UpstreamReconnectDelayMax = o.UpstreamReconnectDelay
	}
	if o.UpstreamBuffer <= 0 {
		o.UpstreamBuffer = 256
	}
	if o.TokenQueryParam == "none" {
		o.TokenQueryParam = ""
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("draining\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Drain makes /readyz answer 503 and new upgrades get 503 draining, while
// open connections carry on.
func (s *Server) Drain() { s.draining.Store(true) }

// Active returns the number of clients admitted and not yet gone.
func (s *Server) Active() int { return int(s.active.Load()) }

// Shutdown drains, then closes every bridge with 1001 (each disconnects its
// upstream socket) and waits for them until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	s.shutdownMu.Lock()
	s.closed = true
	s.shutdownMu.Unlock()
	s.stopAll()
	done := make(chan struct{})
	go func() { s.bridgeWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shutdown: %d connections still open: %w", s.active.Load(), ctx.Err())
	}
}

// startBridge registers a bridge with the server; it reports false once
// Shutdown has begun.
func (s *Server) startBridge() bool {
	s.shutdownMu.Lock()
	defer s.shutdownMu.Unlock()
	if s.closed {
		return false
	}
	s.bridgeWG.Add(1)
	return true
}

// hopHeaders are never copied upstream (RFC 9110 §7.6.1), nor are the
// WebSocket handshake headers, which belong to each hop.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Proxy-Connection": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Host": true,
}

// forwardable tells whether a client header may be copied upstream.
func forwardable(name string) bool {
	name = http.CanonicalHeaderKey(name)
	return !hopHeaders[name] && !strings.HasPrefix(name, "Sec-Websocket-")
}

// upstreamQuery is the client's query without the credential parameter.
func upstreamQuery(u *url.URL, tokenParam string) url.Values {
	q := u.Query()
	if tokenParam != "" {
		q.Del(tokenParam)
	}
	return q
}
