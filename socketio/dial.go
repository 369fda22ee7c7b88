package socketio

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/wsframe"
)

// Defaults for zero Options fields and protocol facts.
const (
	// DefaultPath is the Engine.IO path of socket.io servers. The trailing
	// slash matters: servers match the path as a prefix and answer 404 (or
	// hang) without it.
	DefaultPath = "/socket.io/"
	// DefaultReadLimit caps one inbound WebSocket message (a packet text or
	// one binary attachment). Servers have no outbound limit of their own.
	DefaultReadLimit = 16 << 20
	// DefaultMaxPayload is the limit assumed when the server's OPEN packet
	// announces none (socket.io 2.x to 4.4): engine.io's default
	// maxHttpBufferSize.
	DefaultMaxPayload = 1_000_000
	// DefaultWriteTimeout bounds one write (a packet text or attachment).
	DefaultWriteTimeout = 10 * time.Second
	// DefaultMaxAttachments caps the attachments of one binary packet, both
	// ways; socket.io-parser's limit since 4.2.6 / 3.4.4.
	DefaultMaxAttachments = 10
)

// Engine.IO packet types (the first byte of a text message).
const (
	engineOpen    = '0'
	engineClose   = '1'
	enginePing    = '2'
	enginePong    = '3'
	engineMessage = '4'
	engineUpgrade = '5'
	engineNoop    = '6'

	// engine3BinaryPrefix starts every binary WebSocket message in Engine.IO 3
	// (the message packet type as a byte).
	engine3BinaryPrefix = 4
)

// Options configure Dial. The zero value dials Engine.IO 4 at DefaultPath.
type Options struct {
	// Path is the server's Engine.IO path; "" means DefaultPath. A trailing
	// slash is added when missing, as the JavaScript client does.
	Path string
	// EIO is the Engine.IO protocol revision: 4 (socket.io 3.x/4.x; the
	// default when 0) or 3 (socket.io 1.x/2.x, or 3.x/4.x with allowEIO3),
	// which also selects Socket.IO protocol 4.
	EIO int
	// Query holds extra handshake query parameters, added after the base
	// URL's own query (same keys replaced). EIO and transport are always
	// set by Dial. With EIO 3 this is where a credential usually goes
	// (?token=…).
	Query url.Values
	// Header holds extra handshake request headers (Authorization, Cookie,
	// X-Forwarded-For…). Sec-WebSocket-* and hop-by-hop headers are refused
	// by the WebSocket library.
	Header http.Header
	// TLSConfig is used for https and wss URLs; nil means the defaults.
	TLSConfig *tls.Config
	// NetDial opens the TCP connection; nil means a net.Dialer. It must
	// honour ctx.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ReadLimit caps one inbound WebSocket message in bytes; 0 means
	// DefaultReadLimit. A larger message ends the Conn with
	// ErrTransportError.
	ReadLimit int64
	// WriteTimeout bounds each WebSocket write; 0 means
	// DefaultWriteTimeout. A write that times out ends the Conn.
	WriteTimeout time.Duration
	// ReadBufferSize is the size of the buffers WebSocket bytes are read
	// into, borrowed only while bytes are pending; 0 means
	// DefaultReadBufferSize.
	ReadBufferSize int
	// WriteBufferSize is the initial capacity of new write buffers; 0
	// means DefaultWriteBufferSize.
	WriteBufferSize int
	// WriteBufferPool lends write buffers (*[]byte values) for the
	// duration of one message, so idle Conns hold none. nil means a pool
	// shared by every Conn of this package; pass your own to separate
	// groups of Conns.
	WriteBufferPool websocket.BufferPool
	// MaxAttachments caps binary attachments per packet, inbound (a
	// larger count is a parse error) and outbound (ErrTooManyAttachments);
	// 0 means DefaultMaxAttachments.
	MaxAttachments int
}

// OpenInfo is the Engine.IO OPEN packet of a Conn.
type OpenInfo struct {
	// SID is the Engine.IO session id. Treat it as a secret: with HTTP
	// long-polling it identifies the session. It is not a Socket.IO socket
	// id.
	SID          string
	PingInterval time.Duration
	PingTimeout  time.Duration
	// MaxPayload is the server's announced inbound limit per WebSocket
	// message, 0 when the server announced none (see Conn.MaxPayload).
	MaxPayload int
	// EIO is the Engine.IO revision of the session: 4 or 3.
	EIO int
}

// wsConn is the part of *websocket.Conn a Conn uses. Tests substitute
// in-memory implementations to drive the reader and the writer
// deterministically and without sockets.
type wsConn interface {
	NextReader() (messageType int, r io.Reader, err error)
	NextWriter(messageType int) (io.WriteCloser, error)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	Close() error
}

// Dial opens an Engine.IO session over WebSocket and reads its OPEN packet.
// No namespace is connected yet: call Connect. (With EIO 3 the server
// connects "/" by itself; Connect(ctx, "/", …) waits for that.)
//
// baseURL is the server's origin: http, https, ws or wss. Its path is not
// used (the Engine.IO path is Options.Path; the namespace is the caller's
// business); its query is sent along.
//
// ctx bounds the whole handshake: TCP connect, TLS, the HTTP upgrade and the
// OPEN packet. When it ends first, the error wraps ctx.Err()
// (context.DeadlineExceeded for a timeout), however far the handshake got.
// A server that answers the upgrade with HTTP, or with something other than
// an OPEN packet after switching protocols, yields a *HandshakeError. Other
// failures are network errors, wrapped.
func Dial(ctx context.Context, baseURL string, opts Options) (*Conn, error) {
	eio := opts.EIO
	if eio == 0 {
		eio = 4
	}
	if eio != 3 && eio != 4 {
		return nil, fmt.Errorf("socketio: dial: unsupported EIO %d (want 3 or 4)", opts.EIO)
	}
	u, err := handshakeURL(baseURL, opts.Path, opts.Query, eio)
	if err != nil {
		return nil, fmt.Errorf("socketio: dial: %w", err)
	}
	where := u.Scheme + "://" + u.Host + u.Path // never the query: it may carry a credential
	fail := func(err error) error {
		if cerr := ctxCause(ctx, err); cerr != nil {
			return fmt.Errorf("socketio: dial %s: %w (%v)", where, cerr, err)
		}
		return fmt.Errorf("socketio: dial %s: %w", where, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fail(err)
	}

	// gorilla bounds the handshake with ctx's deadline but not with its
	// cancellation: hold on to the TCP connection so that a cancellation
	// can interrupt the blocked read.
	var (
		mu       sync.Mutex
		raw      net.Conn
		canceled bool
	)
	netDial := opts.NetDial
	if netDial == nil {
		var d net.Dialer
		netDial = d.DialContext
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		canceled = true
		if raw != nil {
			raw.SetDeadline(aLongTimeAgo)
		}
	})

	pool := opts.WriteBufferPool
	if pool == nil {
		pool = &defaultWriteBufferPool
	}
	// The handshake's conn stops gorilla at the end of a 101 response;
	// the frames after it are read by the Conn's own reader.
	var hc *handshakeConn
	dialTCP := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := netDial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		raw = conn
		if canceled {
			conn.SetDeadline(aLongTimeAgo)
		}
		return conn, nil
	}
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialTCP(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			hc = &handshakeConn{Conn: conn}
			return hc, nil
		},
		NetDialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialTCP(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(conn, tlsConfigFor(opts.TLSConfig, addr))
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			hc = &handshakeConn{Conn: tc}
			return hc, nil
		},
		// gorilla's Conn only does the handshake (see below).
		ReadBufferSize:  handshakeBufferSize,
		WriteBufferSize: handshakeBufferSize,
	}
	ws, resp, err := d.DialContext(ctx, u.String(), opts.Header)
	if err != nil {
		stop()
		if resp != nil && ctx.Err() == nil {
			var body []byte
			if resp.Body != nil {
				body, _ = io.ReadAll(resp.Body) // gorilla keeps at most 1 KiB
				resp.Body.Close()
			}
			herr := &HandshakeError{StatusCode: resp.StatusCode, Body: string(body)}
			if resp.StatusCode == http.StatusSwitchingProtocols {
				herr.Err = err // a 101 that fails the WebSocket checks
			}
			return nil, fail(herr)
		}
		return nil, fail(err)
	}
	// resp (headers, body) is not kept: only ws survives this call.
	c := newConn(ws, eio, opts)
	framePool := defaultFramePool
	if n := opts.ReadBufferSize; n > 0 && n != DefaultReadBufferSize {
		framePool = wsframe.NewBufferPool(n)
	}
	c.frames = wsframe.NewReader(hc.Conn, frameHandler{c}, framePool, false, positiveOr64(opts.ReadLimit, DefaultReadLimit))
	c.frames.Prepend(hc.rest)
	hc.rest = nil
	// From here on the Conn writes its own frames too; gorilla's Conn,
	// which did the handshake, goes with its buffers.
	c.ws = newFrameConn(hc.Conn, pool, positiveOr(opts.WriteBufferSize, DefaultWriteBufferSize))
	err = c.readOpen(ctx)
	if !stop() && err == nil {
		// ctx ended at the last moment and its callback may have put the
		// connection's deadline in the past: the Conn is unusable.
		err = ctx.Err()
	}
	if err != nil {
		c.shutdown(&TransportError{Reason: ErrClosed, Err: err})
		c.timerWG.Wait()
		return nil, fail(err)
	}
	return c, nil
}

// readOpen reads the OPEN packet, bounded by ctx, and starts the heartbeat.
func (c *Conn) readOpen(ctx context.Context) error {
	endBound := c.setBound(ctx)
	typ, start, err := c.readMessage()
	if err != nil {
		if cerr := c.boundErr(); cerr != nil {
			endBound()
			return cerr
		}
		endBound()
		return &HandshakeError{StatusCode: http.StatusSwitchingProtocols, Err: fmt.Errorf("read open packet: %w", err)}
	}
	msg := c.rb.b[start:]
	defer c.releaseReadBuffer()
	if typ != websocket.TextMessage || len(msg) == 0 || msg[0] != engineOpen {
		endBound()
		return &HandshakeError{StatusCode: http.StatusSwitchingProtocols, Err: fmt.Errorf("first message is not an Engine.IO OPEN packet: %q", truncate(msg, maxQuoted))}
	}
	var o struct {
		SID          string `json:"sid"`
		PingInterval int64  `json:"pingInterval"`
		PingTimeout  int64  `json:"pingTimeout"`
		MaxPayload   int64  `json:"maxPayload"`
	}
	if err := json.Unmarshal(msg[1:], &o); err != nil || o.PingInterval <= 0 || o.PingTimeout <= 0 || o.MaxPayload < 0 {
		endBound()
		return &HandshakeError{StatusCode: http.StatusSwitchingProtocols, Err: fmt.Errorf("invalid Engine.IO OPEN packet: %q", truncate(msg, maxQuoted))}
	}
	c.open = OpenInfo{
		SID:          o.SID,
		PingInterval: time.Duration(o.PingInterval) * time.Millisecond,
		PingTimeout:  time.Duration(o.PingTimeout) * time.Millisecond,
		MaxPayload:   int(min(o.MaxPayload, int64(maxInt))),
		EIO:          c.eio,
	}
	c.maxPayload = DefaultMaxPayload
	if c.open.MaxPayload > 0 {
		c.maxPayload = c.open.MaxPayload
	}
	c.startHeartbeat()
	endBound()
	return nil
}

// handshakeURL builds the WebSocket URL of the Engine.IO handshake.
func handshakeURL(baseURL, path string, query url.Values, eio int) (*url.URL, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("invalid base URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("invalid base URL: scheme %q (want http, https, ws or wss)", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("invalid base URL: no host")
	}
	if path == "" {
		path = DefaultPath
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	q := u.Query()
	for k, v := range query {
		q[k] = v
	}
	q.Set("EIO", strconv.Itoa(eio))
	q.Set("transport", "websocket")
	u.Path, u.RawPath = path, ""
	u.RawQuery = q.Encode()
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// ctxCause returns ctx's error when ctx has ended, or
// context.DeadlineExceeded when err is a timeout at or after ctx's deadline
// (the connection deadline can fire a moment before ctx's own timer); nil
// otherwise.
func ctxCause(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if dl, ok := ctx.Deadline(); ok && isTimeout(err) && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handshakeBufferSize is gorilla's read buffer, which only reads the
// upgrade response.
const handshakeBufferSize = 256

// tlsConfigFor is cfg (or the defaults) with the server name of addr
// unless cfg names one.
func tlsConfigFor(cfg *tls.Config, addr string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg.ServerName = host
	}
	return cfg
}

// aLongTimeAgo is a deadline in the past: setting it interrupts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

const maxInt = int(^uint(0) >> 1)

// maxQuoted bounds how much of a bad message goes into an error text.
const maxQuoted = 64

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func positiveOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func positiveOr64(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}
