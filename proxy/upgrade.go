package proxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/auth"
	"github.com/sio-gateway/gateway/socketio"
	"github.com/sio-gateway/gateway/translate"
)

// upstreamWriteBufferSize is the size of the pooled upstream write
// buffers.
const upstreamWriteBufferSize = 4096

// DialRequest is what the gateway asks of an upstream for one client.
type DialRequest struct {
	// URL is the upstream's base URL.
	URL string
	// Namespace is the Socket.IO namespace to connect.
	Namespace string
	// Query is added to the Engine.IO handshake URL.
	Query url.Values
	// Header is sent with the handshake.
	Header http.Header
	// Auth is the CONNECT payload (EIO 4); nil sends none.
	Auth json.RawMessage
	// Recover, when set, asks the server to recover this session
	// (connection state recovery) after an upstream loss.
	Recover *socketio.Recovery
}

// UpstreamInfo describes a connected upstream socket.
type UpstreamInfo struct {
	SID       string // Socket.IO socket id
	Recovered bool   // the server recovered the session asked for in Recover
}

// UpstreamDialer opens one client's upstream socket: the Engine.IO
// connection and the namespace CONNECT, both bounded by ctx.
type UpstreamDialer interface {
	Dial(ctx context.Context, req DialRequest) (Upstream, UpstreamInfo, error)
}

// SocketIODialerOptions configure NewSocketIODialer.
type SocketIODialerOptions struct {
	Path      string      // Engine.IO path; "" = "/socket.io/"
	EIO       int         // 4 or 3; 0 = 4
	TLSConfig *tls.Config // nil = system roots
}

// SocketIODialer dials upstreams with package socketio.
type SocketIODialer struct {
	opts     SocketIODialerOptions
	pool     websocket.BufferPool
	corkBufs sync.Pool // *[]byte: upstream writes held while corked
}

// NewSocketIODialer returns a dialer whose connections share one pool of
// write buffers.
func NewSocketIODialer(o SocketIODialerOptions) *SocketIODialer {
	return &SocketIODialer{opts: o, pool: &sync.Pool{}}
}

// Dial implements UpstreamDialer.
func (d *SocketIODialer) Dial(ctx context.Context, req DialRequest) (Upstream, UpstreamInfo, error) {
	// The connection is a corkConn, so the bridge can batch its writes.
	var cc *corkConn
	netDial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		// No TCP keep-alive: Engine.IO's heartbeat watches the upstream.
		nd := net.Dialer{KeepAlive: -1}
		conn, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cc = &corkConn{Conn: conn, pool: &d.corkBufs}
		if tc, ok := conn.(*net.TCPConn); ok {
			cc.rc, _ = tc.SyscallConn()
		}
		return cc, nil
	}
	c, err := socketio.Dial(ctx, req.URL, socketio.Options{
		NetDial:         netDial,
		Path:            d.opts.Path,
		EIO:             d.opts.EIO,
		Query:           req.Query,
		Header:          req.Header,
		TLSConfig:       d.opts.TLSConfig,
		WriteBufferSize: upstreamWriteBufferSize,
		WriteBufferPool: d.pool,
	})
	if err != nil {
		return nil, UpstreamInfo{}, err
	}
	info, err := c.Connect(ctx, req.Namespace, socketio.ConnectOptions{Auth: req.Auth, Recover: req.Recover})
	if err != nil {
		_ = c.Close()
		return nil, UpstreamInfo{}, err
	}
	info2 := UpstreamInfo{SID: info.SID, Recovered: info.Recovered}
	if cc == nil {
		return c, info2, nil
	}
	return corkedUpstream{Upstream: c, sio: c, conn: cc}, info2, nil
}

// routeHandler upgrades clients of one route.
type routeHandler struct {
	srv      *Server
	route    Route
	baseAuth map[string]json.RawMessage // GATEWAY_UPSTREAM_AUTH, parsed once
	cfg      *bridgeConfig
}

func (s *Server) newRouteHandler(rt Route) (*routeHandler, error) {
	if rt.Namespace == "" {
		rt.Namespace = "/"
	}
	if err := s.opts.Translate.Validate(); err != nil {
		return nil, fmt.Errorf("proxy: envelope options: %w", err)
	}
	h := &routeHandler{srv: s, route: rt}
	if len(s.opts.UpstreamAuth) > 0 {
		if err := json.Unmarshal(s.opts.UpstreamAuth, &h.baseAuth); err != nil || h.baseAuth == nil {
			return nil, fmt.Errorf("proxy: upstream auth must be a JSON object")
		}
	}
	h.cfg = &bridgeConfig{
		route:           rt.Path,
		namespace:       rt.Namespace,
		translator:      translate.New(s.opts.Translate),
		observer:        s.observer,
		logger:          s.logger,
		frames:          s.frames,
		readBufs:        s.readBufs,
		scratches:       &s.scratches,
		pendings:        &s.pendings,
		maxMessageBytes: s.opts.MaxMessageBytes,
		sendBufferBytes: s.opts.SendBufferBytes,
		ackTimeout:      s.opts.AckTimeout,
		pingInterval:    s.opts.PingInterval,
		writeTimeout:    s.opts.WriteTimeout,
		lifecycle:       s.opts.LifecycleEvents,
		dialer:          s.dialer,
		connectTimeout:  s.opts.UpstreamConnectTimeout,
		reconnect: reconnectPolicy{
			enabled:          s.opts.UpstreamReconnect,
			timeout:          s.opts.UpstreamReconnectTimeout,
			delay:            s.opts.UpstreamReconnectDelay,
			delayMax:         s.opts.UpstreamReconnectDelayMax,
			buffer:           s.opts.UpstreamBuffer,
			recoveryRequired: s.opts.UpstreamRecoveryRequired,
		},
	}
	return h, nil
}

// ServeHTTP admits the client, connects its upstream socket, and only then
// upgrades; the bridge then runs in goroutines it owns, so that the
// request's goroutine and net/http's buffers are let go.
func (h *routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.srv
	route := h.route.Path
	start := time.Now()
	addr := s.opts.Proxies.ClientAddr(r)

	adm, rej := h.admitAndDial(r, addr)
	if rej != nil {
		if rej.Code == "" { // the client left while we dialed
			return
		}
		s.observer.ConnectionOutcome(route, rej.Code)
		s.logger.Log(r.Context(), rejectLogLevel(rej.Code), "connection refused", "route", route, "client", addr, "code", rej.Code, "err", rej.Error())
		writeReject(w, rej)
		return
	}

	respHeader := http.Header{}
	if p := selectSubprotocol(websocket.Subprotocols(r), s.opts.Subprotocols); p != "" {
		respHeader.Set("Sec-WebSocket-Protocol", p)
	}
	conn, err := s.upgrader.Upgrade(w, r, respHeader)
	if err != nil {
		// The upgrader has answered already.
		adm.abandon(h.route.Namespace)
		s.observer.ConnectionOutcome(route, CodeBadRequest)
		return
	}
	if !s.startBridge() {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "gateway shutting down"), time.Now().Add(time.Second))
		_ = conn.Close()
		adm.abandon(h.route.Namespace)
		s.observer.ConnectionOutcome(route, CodeDraining)
		return
	}
	s.observer.ConnectionOutcome(route, OutcomeAccepted)
	s.observer.ConnectionOpened(route)
	// From here on the gateway reads and writes the connection itself
	// (clientread.go, writer.go); gorilla's Conn, which only did the
	// handshake, is let go with the buffers it took over from net/http.
	b := newBridge(h.cfg, conn.NetConn(), s.poller, adm.up, adm.req, adm.info.SID)
	if l := auth.NewMessageLimiter(s.opts.MessageRate, s.opts.MessageBurst); l != nil {
		b.limiter = l
	}
	b.expiry = adm.expiry
	b.Start(s.bridges, func(e ending) {
		defer s.bridgeWG.Done()
		defer adm.release()
		d := time.Since(start)
		s.observer.ConnectionClosed(route, string(e.reason), d)
		s.logger.Info("connection closed",
			"route", route, "client", addr, "duration", d.Round(time.Millisecond).String(),
			"frames_in", b.framesIn.Load(), "frames_out", b.framesOut.Load(),
			"close_code", e.closeCode(), "reason", string(e.reason), "err", errString(e.err))
	})
}

// admitted is a client that passed admission and has its upstream socket.
type admitted struct {
	up      Upstream
	info    UpstreamInfo
	req     DialRequest // kept for reconnects
	release func()      // gives back the admission slots
	expiry  time.Time   // the credential's expiry; zero for none
}

// abandon lets go of an admitted client that will not be bridged.
func (a admitted) abandon(nsp string) {
	_ = a.up.Disconnect(nsp)
	_ = a.up.Close()
	a.release()
}

// admitAndDial runs every check of CONTRACT §1 in order and connects the
// upstream socket. On failure every slot taken has been given back. A
// RejectError with an empty Code means the client left meanwhile.
func (h *routeHandler) admitAndDial(r *http.Request, addr string) (admitted, *RejectError) {
	s := h.srv
	if !isWebSocketUpgrade(r) {
		return admitted{}, &RejectError{Code: CodeBadRequest, Message: "expected a WebSocket upgrade (GET with Upgrade: websocket, Sec-WebSocket-Key and Sec-WebSocket-Version: 13)"}
	}
	if s.draining.Load() {
		return admitted{}, &RejectError{Code: CodeDraining, Message: "the gateway is shutting down", Retry: retryAfterBusy}
	}
	if !s.opts.Origins.Allow(r) {
		return admitted{}, &RejectError{Code: CodeForbiddenOrigin, Message: "origin not allowed"}
	}
	n := s.active.Add(1)
	releaseActive := func() { s.active.Add(-1) }
	if s.opts.MaxConnections > 0 && n > int64(s.opts.MaxConnections) {
		releaseActive()
		return admitted{}, &RejectError{Code: CodeOverCapacity, Message: "the gateway is at its connection limit", Retry: retryAfterBusy}
	}
	release := releaseActive
	if s.opts.AddrLimiter != nil {
		releaseAddr, retry, err := s.opts.AddrLimiter.Acquire(addr)
		if err != nil {
			releaseActive()
			return admitted{}, &RejectError{Code: CodeRateLimited, Message: rateLimitMessage(err), Retry: retry, Err: err}
		}
		release = func() { releaseAddr(); releaseActive() }
	}
	token, _ := auth.Credential(r, s.opts.TokenQueryParam)
	var ident auth.Identity
	if s.opts.Verifier != nil {
		var err error
		ident, err = s.opts.Verifier.Verify(r.Context(), token)
		if err != nil {
			release()
			return admitted{}, &RejectError{Code: CodeUnauthorized, Message: "missing or invalid credentials", Err: err}
		}
	} else {
		ident = auth.Identity{Token: token}
	}

	req, err := h.dialRequest(r, token, ident)
	if err != nil {
		release()
		return admitted{}, &RejectError{Code: CodeBadRequest, Message: "cannot build the upstream request", Err: err}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.UpstreamConnectTimeout)
	defer cancel()
	t0 := time.Now()
	up, info, err := s.dialer.Dial(ctx, req)
	s.observer.UpstreamConnect(h.route.Path, time.Since(t0))
	if err != nil {
		release()
		if r.Context().Err() != nil {
			return admitted{}, &RejectError{Err: err}
		}
		return admitted{}, h.dialReject(err)
	}
	return admitted{up: up, info: info, req: req, release: release, expiry: ident.Expiry}, nil
}

// dialReject maps a failed upstream dial to its HTTP answer.
func (h *routeHandler) dialReject(err error) *RejectError {
	var ce *socketio.ConnectError
	if errors.As(err, &ce) {
		ue := &UpstreamError{Data: ce.Data}
		if ce.Message != "" || len(ce.Data) == 0 {
			msg := ce.Message
			ue.Message = &msg
		}
		return &RejectError{Code: CodeUpstreamRejected, Message: "the upstream refused the connection", Upstream: ue, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &RejectError{Code: CodeUpstreamTimeout, Message: fmt.Sprintf("the upstream did not answer within %s", h.srv.opts.UpstreamConnectTimeout), Err: err}
	}
	return &RejectError{Code: CodeUpstreamUnavailable, Message: "the upstream is unavailable", Err: err}
}

// dialRequest builds the upstream handshake for one client: its query
// without the credential parameter, the allowed headers, X-Forwarded-*, and
// the CONNECT auth.
func (h *routeHandler) dialRequest(r *http.Request, token string, ident auth.Identity) (DialRequest, error) {
	s := h.srv
	req := DialRequest{
		URL:       h.route.UpstreamURL,
		Namespace: h.route.Namespace,
		Query:     upstreamQuery(r.URL, s.opts.TokenQueryParam),
		Header:    http.Header{},
	}
	for k, vs := range h.route.Query {
		if _, set := req.Query[k]; !set {
			req.Query[k] = vs
		}
	}
	for _, name := range s.opts.ForwardHeaders {
		if !forwardable(name) {
			continue
		}
		if vs := r.Header.Values(name); len(vs) > 0 {
			req.Header[http.CanonicalHeaderKey(name)] = append([]string(nil), vs...)
		}
	}
	req.Header.Set("X-Forwarded-For", s.opts.Proxies.ForwardedFor(r))
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	req.Header.Set("X-Forwarded-Proto", proto)
	req.Header.Set("X-Forwarded-Host", r.Host)

	if s.opts.UpstreamEIO == 3 {
		if s.opts.ForwardToken && token != "" {
			req.Query.Set("token", token)
		}
		return req, nil
	}
	payload := make(map[string]json.RawMessage, len(h.baseAuth)+2)
	for k, v := range h.baseAuth {
		payload[k] = v
	}
	if s.opts.ForwardToken && token != "" {
		t, err := json.Marshal(token)
		if err != nil {
			return req, err
		}
		payload["token"] = t
	}
	if len(ident.Claims) > 0 {
		payload["user"] = ident.Claims
	}
	if len(payload) > 0 {
		a, err := json.Marshal(payload)
		if err != nil {
			return req, err
		}
		req.Auth = a
	}
	return req, nil
}

// isWebSocketUpgrade checks the parts of RFC 6455 §4.2.1 that the gateway
// must see before it spends an upstream connection.
func isWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket") &&
		r.Header.Get("Sec-Websocket-Version") == "13" &&
		r.Header.Get("Sec-Websocket-Key") != ""
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// selectSubprotocol picks the first protocol of the client's list that the
// gateway also lists (CONTRACT §1), or "".
func selectSubprotocol(client, ours []string) string {
	for _, c := range client {
		for _, o := range ours {
			if c == o {
				return c
			}
		}
	}
	return ""
}

func rateLimitMessage(err error) string {
	if errors.Is(err, auth.ErrTooManyConnections) {
		return "too many connections from this address"
	}
	return "connection rate from this address exceeded"
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// rejectLogLevel logs upstream trouble as a warning and client mistakes,
// which a public gateway sees all day, at debug.
func rejectLogLevel(code string) slog.Level {
	switch code {
	case CodeUpstreamUnavailable, CodeUpstreamTimeout, CodeOverCapacity:
		return slog.LevelWarn
	case CodeUpstreamRejected:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}
