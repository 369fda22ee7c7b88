package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/idlepoll"
	"github.com/sio-gateway/gateway/internal/wsframe"
	"github.com/sio-gateway/gateway/socketio"
	"github.com/sio-gateway/gateway/translate"
)

// closeGrace is how long the gateway waits for a client's close reply after
// sending its own close frame, before it drops the connection.
const closeGrace = time.Second

// Upstream is what a Bridge needs of its upstream Socket.IO connection;
// *socketio.Conn implements it. Read is called by one goroutine only; Send,
// Disconnect and Close may be called from any.
type Upstream interface {
	Read() (socketio.Packet, error)
	Send(socketio.Packet) error
	NextAckID() uint64
	Disconnect(nsp string) error
	Close() error
	// Recovery returns the namespace's connection state recovery data
	// (pid and last offset), if the server runs recovery.
	Recovery(nsp string) (socketio.Recovery, bool)
}

// MessageLimiter paces one client's frames; nil means no limit.
type MessageLimiter interface {
	Allow() bool
}

// bridgeConfig holds what every bridge of one route shares.
type bridgeConfig struct {
	route           string
	namespace       string
	translator      *translate.Translator
	observer        Observer
	logger          *slog.Logger
	frames          *framePool
	readBufs        *wsframe.BufferPool
	scratches       *sync.Pool // *writeScratch, lent to writers
	pendings        *sync.Pool // *pendingAck, recycled per acked frame
	maxMessageBytes int64
	sendBufferBytes int64
	ackTimeout      time.Duration
	pingInterval    time.Duration
	writeTimeout    time.Duration
	lifecycle       bool
	reconnect       reconnectPolicy
	dialer          UpstreamDialer
	connectTimeout  time.Duration
}

// getScratch lends a writer its scratch memory.
func (c *bridgeConfig) getScratch() *writeScratch {
	if w, ok := c.scratches.Get().(*writeScratch); ok {
		return w
	}
	return &writeScratch{}
}

// getPending lends a pendingAck.
func (c *bridgeConfig) getPending() *pendingAck {
	if pa, ok := c.pendings.Get().(*pendingAck); ok {
		return pa
	}
	return &pendingAck{}
}

// putPending takes a pendingAck back (nil is ignored).
func (c *bridgeConfig) putPending(pa *pendingAck) {
	if pa == nil {
		return
	}
	if cap(pa.clientID) > maxPooledClientID {
		pa.clientID = nil
	}
	pa.clientID, pa.timer = pa.clientID[:0], nil
	c.pendings.Put(pa)
}

// maxPooledClientID bounds the client id buffer a pooled pendingAck keeps.
const maxPooledClientID = 64

// putScratch takes a writer's scratch back, trimmed.
func (c *bridgeConfig) putScratch(w *writeScratch) {
	*w = w.trimmed()
	c.scratches.Put(w)
}

// pendingAck is a client frame with an id whose upstream ack is awaited.
type pendingAck struct {
	clientID []byte // the client's id, as the JSON token it sent
	sent     time.Time
	timer    *time.Timer // ack timeout; nil without GATEWAY_ACK_TIMEOUT
}

// Bridge joins one client WebSocket to its one upstream Socket.IO socket.
// It owns both, and every goroutine it starts (see doc.go).
type Bridge struct {
	cfg     *bridgeConfig
	in      clientIn    // the client reader's; in.conn is also written to
	dialReq DialRequest // how the upstream was dialed, for reconnects
	limiter MessageLimiter
	expiry  time.Time // zero: the credential does not expire
	sid     string    // upstream Socket.IO socket id, for the connect event

	queue *sendQueue

	lastHeard atomic.Int64 // unix nanoseconds of the client's last bytes
	lastPing  atomic.Int64 // unix nanoseconds of the last ping sent
	pingTimer atomic.Pointer[time.Timer]

	// live counts the parts still running: the client reader (running or
	// parked), the upstream reader, writers and closeClient. The last to
	// leave completes the bridge.
	live         atomic.Int32
	onEnd        func(ending)
	stopShutdown func() bool
	expiryTimer  *time.Timer

	// upMu guards up, the current upstream socket, which a reconnect
	// swaps, and upPark, its registration with the Poller (nil when its
	// reader cannot park).
	upMu   sync.Mutex
	up     Upstream
	upPark *idlepoll.Handle
	poller *idlepoll.Poller
	// upHooked: the current upstream calls flushQueued before it reads
	// (hookedUpstream), so the upstream reader's frames are held for it.
	// Owned by the upstream reader (set before it starts, and by resume).
	upHooked bool

	// sendMu orders client frames: while reconnecting they are held, and
	// the reconnect sends the held ones before any newer frame.
	sendMu       sync.Mutex
	reconnecting bool
	held         []heldFrame

	ctx      context.Context
	cancel   context.CancelFunc
	endOnce  sync.Once
	end      ending        // written once, before cancel
	readDone chan struct{} // closed when the client reader is gone for good

	mu      sync.Mutex
	pending map[uint64]*pendingAck // client acks awaited from the upstream
	issued  map[uint64]struct{}    // upstream ack ids the client may answer

	framesIn, framesOut atomic.Int64
}

// newBridge makes the bridge of an upgraded client connection. poller may
// be nil (no parking).
func newBridge(cfg *bridgeConfig, client net.Conn, poller *idlepoll.Poller, up Upstream, req DialRequest, sid string) *Bridge {
	b := &Bridge{
		cfg:      cfg,
		poller:   poller,
		up:       up,
		dialReq:  req,
		sid:      sid,
		queue:    newSendQueue(cfg.sendBufferBytes),
		readDone: make(chan struct{}),
	}
	b.in.conn = client
	b.in.r = wsframe.NewReader(client, clientReadHandler{b}, cfg.readBufs, true, cfg.maxMessageBytes)
	b.in.rc = b.in.r.RawConn()
	if rc := b.in.rc; rc != nil && poller != nil {
		// ErrUnsupported and other failures leave the reader unparked,
		// which works, at a goroutine's cost.
		b.in.park, _ = poller.Register(rc, b.wake)
	}
	b.upPark = b.watchUpstream(up)
	b.upHooked = b.hookUpstream(up)
	return b
}

// Start runs the bridge in goroutines it owns and returns. onEnd is called
// once with the first ending, after everything is torn down. Cancelling
// ctx ends the bridge as a shutdown (close 1001).
func (b *Bridge) Start(ctx context.Context, onEnd func(ending)) {
	b.onEnd = onEnd
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.live.Store(2) // the client reader and the upstream reader
	if !b.expiry.IsZero() {
		b.expiryTimer = time.AfterFunc(time.Until(b.expiry), func() {
			b.finish(ending{reason: ReasonPolicy, text: "credentials expired"})
		})
	}
	if b.cfg.lifecycle {
		b.pushFrame(func(dst []byte) []byte {
			return b.cfg.translator.AppendConnect(dst, b.sid, b.cfg.namespace, nil)
		})
	}
	b.heard()
	b.lastPing.Store(time.Now().UnixNano())
	b.pingTimer.Store(time.AfterFunc(b.cfg.pingInterval, b.ping))
	// Callbacks may end the bridge from here on: every field is set.
	b.stopShutdown = context.AfterFunc(ctx, func() {
		b.finish(ending{reason: ReasonShutdown, text: "gateway shutting down"})
	})
	go b.runUpstreamReader()
	// A new client parks at once: its first bytes start a reader.
	b.parkOrRead()
}

// parkOrRead parks the client reader, or starts one when parking fails.
func (b *Bridge) parkOrRead() {
	if b.in.park != nil && !b.in.noPark {
		if err := b.in.park.Arm(); err == nil {
			return
		}
		b.in.noPark = true
	}
	go b.clientReader()
}

// wake is the Poller's ready function: bytes arrived for a parked reader.
func (b *Bridge) wake() { go b.clientReader() }

// hookedUpstream is an Upstream that calls a function before each read of
// its socket (*socketio.Conn): see socketio.Conn.SetReadHook.
type hookedUpstream interface {
	SetReadHook(before func())
}

// hookUpstream makes up flush the client queue before it reads, and
// reports whether it will.
func (b *Bridge) hookUpstream(up Upstream) bool {
	h, ok := up.(hookedUpstream)
	if ok {
		h.SetReadHook(b.flushQueued)
	}
	return ok
}

// quietUpstream is an Upstream whose reader can stop while it is quiet
// (*socketio.Conn): see socketio.Conn.ReadIdle.
type quietUpstream interface {
	ReadIdle(quiet time.Duration) (socketio.Packet, error)
	SyscallConn() syscall.RawConn
	HeartbeatDeadline() time.Time
}

// watchUpstream registers up's socket with the Poller, when it has one.
func (b *Bridge) watchUpstream(up Upstream) *idlepoll.Handle {
	q, ok := up.(quietUpstream)
	if !ok || b.poller == nil {
		return nil
	}
	rc := q.SyscallConn()
	if rc == nil {
		return nil
	}
	h, err := b.poller.Register(rc, func() { go b.runUpstreamReader() })
	if err != nil {
		return nil
	}
	return h
}

// unwatchUpstream takes the current upstream's registration away, if up is
// still the current upstream (nil: whichever is), and reports whether its
// reader was parked: its part then passes to the caller.
func (b *Bridge) unwatchUpstream(up Upstream) (wasParked bool) {
	b.upMu.Lock()
	h := b.upPark
	if up != nil && b.up != up {
		h = nil
	}
	if h != nil {
		b.upPark = nil
	}
	b.upMu.Unlock()
	return h != nil && h.Release()
}

// runUpstreamReader runs the upstream reader until it parks or ends.
func (b *Bridge) runUpstreamReader() {
	parked := false
	defer func() {
		if !parked {
			b.leave()
		}
	}()
	defer b.recoverPanic("upstream reader")
	parked = b.upstreamReader()
}

// leave is called by each part of the bridge as it ends; the last one
// completes the bridge.
func (b *Bridge) leave() {
	if b.live.Add(-1) != 0 {
		return
	}
	b.cancel()
	b.stopShutdown()
	if b.expiryTimer != nil {
		b.expiryTimer.Stop()
	}
	if t := b.pingTimer.Load(); t != nil {
		t.Stop()
	}
	b.mu.Lock()
	n := len(b.pending)
	for id, pa := range b.pending {
		if pa.timer != nil {
			pa.timer.Stop()
		}
		delete(b.pending, id)
		b.cfg.putPending(pa)
	}
	b.mu.Unlock()
	if n > 0 {
		b.cfg.observer.PendingAcks(b.cfg.route, -n)
	}
	b.in.r.Release()
	b.onEnd(b.end)
}

// recoverPanic turns a panic in one of the bridge's goroutines into the end
// of this connection (close 1011), logged with its stack, instead of the
// end of the process and every other client's connection.
func (b *Bridge) recoverPanic(where string) {
	if v := recover(); v != nil {
		b.recoverPanicValue(where, v)
	}
}

func (b *Bridge) recoverPanicValue(where string, v any) {
	b.cfg.logger.Error("internal error; closing the connection", "route", b.cfg.route, "in", where, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	b.finish(ending{reason: ReasonError, text: "internal error", err: fmt.Errorf("panic in %s: %v", where, v)})
}

// finish records the first ending, wakes every goroutine and lets the
// upstream go. Later calls do nothing.
func (b *Bridge) finish(e ending) {
	b.endOnce.Do(func() {
		if b.cfg.lifecycle && e.drainsQueue() {
			buf := b.cfg.frames.get()
			*buf = b.cfg.translator.AppendDisconnect((*buf)[:0], string(e.reason))
			b.push(buf) // not enqueue: a full queue must not re-enter finish
		}
		b.end = e
		b.cancel()
		writerIdle := b.queue.close()
		b.live.Add(1)
		go b.closeClient(writerIdle)
		up := b.upstream()
		if e.disconnectsUpstream() {
			// Tell the server the client left on purpose, so it sees
			// "client namespace disconnect" rather than a transport loss.
			_ = up.Disconnect(b.cfg.namespace)
		}
		if ck, ok := up.(corker); ok {
			ck.flush()
		}
		if b.unwatchUpstream(nil) {
			b.leave() // the upstream reader was parked: it will not resume
		}
		_ = up.Close()
	})
}

// beforeRead flushes the upstream writes held back since the last client
// read: the reader is about to wait for more client bytes.
func (b *Bridge) beforeRead() {
	if ck, ok := b.upstream().(corker); ok {
		ck.flush()
	}
}

// afterRead holds upstream writes back while the bytes just read are
// translated, so they leave in one write (see cork.go).
func (b *Bridge) afterRead() {
	if ck, ok := b.upstream().(corker); ok {
		ck.cork()
	}
}

// upstream returns the current upstream socket.
func (b *Bridge) upstream() Upstream {
	b.upMu.Lock()
	defer b.upMu.Unlock()
	return b.up
}

// clientReader reads client messages until the client is quiet, when it
// parks (and a later one resumes), or until the connection ends. Only one
// runs at a time.
func (b *Bridge) clientReader() {
	b.in.woke = time.Now()
	parked := false
	defer func() {
		if parked {
			return // the slot passes to the next reader
		}
		close(b.readDone)
		b.leave()
	}()
	defer b.recoverPanic("client reader")
	for {
		// Buffers are borrowed per message, so an idle client holds none.
		frame := b.cfg.frames.get()
		op, msg, err := b.in.r.ReadMessage((*frame)[:0])
		*frame = msg
		if err != nil {
			b.cfg.frames.put(frame)
			if err == errPark && b.ctx.Err() == nil {
				if b.in.park.Arm() == nil {
					parked = true
					return
				}
				b.in.noPark = true // released: the bridge is closing
				b.in.setDeadline(time.Time{})
				continue
			}
			b.finish(clientReadEnding(err))
			return
		}
		b.framesIn.Add(1)
		if op == wsframe.OpText && !utf8.Valid(msg) {
			b.cfg.frames.put(frame)
			b.finish(ending{reason: ReasonInvalidUTF8, text: "invalid UTF-8"})
			return
		}
		payload := b.cfg.frames.get()
		*payload = b.handleClientFrame(op, msg, (*payload)[:0])
		b.cfg.frames.put(frame)
		b.cfg.frames.put(payload)
	}
}

// clientReadEnding classifies why reading from the client stopped.
func clientReadEnding(err error) ending {
	var pe *wsframe.ProtocolError
	switch {
	case errors.Is(err, wsframe.ErrTooLarge):
		return ending{reason: ReasonTooLarge, text: "message too big", err: err}
	case errors.Is(err, errClientClose):
		return ending{reason: ReasonClientClose, err: err}
	case errors.As(err, &pe):
		return ending{reason: ReasonClientClose, code: websocket.CloseProtocolError, text: "protocol error", err: err}
	}
	// A reset, EOF, or the connection closed under the reader.
	return ending{reason: ReasonClientClose, err: err}
}

// handleClientFrame translates one client frame and sends it upstream, or
// answers it with an error frame. It returns scratch for reuse.
func (b *Bridge) handleClientFrame(op byte, frame, scratch []byte) []byte {
	tr := b.cfg.translator
	var (
		msg translate.ClientMessage
		err error
	)
	if op == wsframe.OpBinary {
		msg, err = tr.DecodeBinary(scratch, frame)
	} else {
		msg, err = tr.DecodeText(scratch, frame)
	}
	if err != nil {
		var fe *translate.FrameError
		if errors.As(err, &fe) {
			b.sendError(fe.Code, fe.Message, fe.ID)
		} else {
			b.sendError(translate.CodeInvalidFrame, "invalid frame", nil)
		}
		return scratch
	}
	scratch = msg.Payload
	if b.limiter != nil && !b.limiter.Allow() {
		b.sendError(translate.CodeRateLimited, "message rate exceeded; frame dropped", msg.ID)
		return scratch
	}
	if msg.Kind == translate.KindAck {
		b.sendAck(msg, len(frame))
	} else {
		b.sendEvent(msg, len(frame))
	}
	return scratch
}

// sendEvent emits a client event upstream, registering its ack if it has an id.
func (b *Bridge) sendEvent(msg translate.ClientMessage, size int) {
	p := socketio.Packet{Type: socketio.PacketEvent, Namespace: b.cfg.namespace, Data: msg.Payload, Attachments: msg.Attachments}
	if len(msg.Attachments) > 0 {
		p.Type = socketio.PacketBinaryEvent
	}
	b.sendUpstream(p, msg.ID, msg.Kind, size)
}

// sendAck answers an ack the upstream asked for.
func (b *Bridge) sendAck(msg translate.ClientMessage, size int) {
	b.mu.Lock()
	_, ok := b.issued[msg.AckID]
	delete(b.issued, msg.AckID)
	b.mu.Unlock()
	if !ok {
		b.sendError(translate.CodeUnknownAck, "no pending ack with this id", msg.ID)
		return
	}
	p := socketio.Packet{Type: socketio.PacketAck, Namespace: b.cfg.namespace, ID: msg.AckID, HasID: true, Data: msg.Payload, Attachments: msg.Attachments}
	if len(msg.Attachments) > 0 {
		p.Type = socketio.PacketBinaryAck
	}
	b.sendUpstream(p, nil, translate.KindAck, size)
}

// sendUpstream sends one translated client packet, or holds it while the
// upstream is being re-established. clientID, when set, asks for an ack.
func (b *Bridge) sendUpstream(p socketio.Packet, clientID []byte, kind translate.Kind, size int) {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	if b.reconnecting {
		b.holdLocked(p, clientID, kind, size)
		return
	}
	b.sendLocked(b.upstream(), p, clientID, kind, size)
}

// sendLocked writes one packet to up; sendMu is held.
func (b *Bridge) sendLocked(up Upstream, p socketio.Packet, clientID []byte, kind translate.Kind, size int) {
	if clientID != nil {
		p.ID, p.HasID = up.NextAckID(), true
		b.addPending(p.ID, clientID)
	}
	err := up.Send(p)
	if err == nil {
		b.cfg.observer.Message(b.cfg.route, ClientToUpstream.String(), kind.String(), size)
		return
	}
	if !errors.Is(err, socketio.ErrTooLarge) && b.unwatchUpstream(up) {
		// The failed write ended the upstream under a parked reader, which
		// no socket event would wake: start it to handle the loss.
		go b.runUpstreamReader()
	}
	if clientID != nil && !b.dropPending(p.ID) {
		return // already answered (ack timeout or upstream loss)
	}
	switch {
	case errors.Is(err, socketio.ErrTooLarge):
		b.sendError(translate.CodeTooLarge, "frame exceeds the upstream's maxPayload; not sent", idFor(p, clientID))
	case b.cfg.reconnect.enabled && b.ctx.Err() == nil:
		// The transport is gone: the upstream reader will reconnect; this
		// frame waits for it, first in line.
		b.reconnecting = true
		b.holdLocked(p, clientID, kind, size)
	case clientID != nil:
		b.sendError(translate.CodeUpstreamLost, "upstream connection lost; the ack cannot come", clientID)
	}
}

// idFor is the id to echo in an error about packet p.
func idFor(p socketio.Packet, clientID []byte) []byte {
	if clientID != nil || !p.HasID {
		return clientID
	}
	return strconv.AppendUint(nil, p.ID, 10)
}

// addPending records a client ack request under its upstream ack id.
func (b *Bridge) addPending(upID uint64, clientID []byte) {
	pa := b.cfg.getPending()
	pa.clientID = append(pa.clientID[:0], clientID...)
	pa.sent = time.Now()
	if b.cfg.ackTimeout > 0 {
		pa.timer = time.AfterFunc(b.cfg.ackTimeout, func() { b.ackExpired(upID) })
	}
	b.mu.Lock()
	if b.pending == nil {
		b.pending = make(map[uint64]*pendingAck)
	}
	b.pending[upID] = pa
	b.mu.Unlock()
	b.cfg.observer.PendingAcks(b.cfg.route, 1)
}

// takePending removes and returns a pending ack, or nil; the caller gives
// it back with cfg.putPending once done with its clientID.
func (b *Bridge) takePending(upID uint64) *pendingAck {
	b.mu.Lock()
	pa := b.pending[upID]
	delete(b.pending, upID)
	b.mu.Unlock()
	if pa == nil {
		return nil
	}
	if pa.timer != nil {
		pa.timer.Stop()
	}
	b.cfg.observer.PendingAcks(b.cfg.route, -1)
	return pa
}

// dropPending forgets a pending ack; it reports whether it was still there.
func (b *Bridge) dropPending(upID uint64) bool {
	pa := b.takePending(upID)
	b.cfg.putPending(pa)
	return pa != nil
}

// ackExpired answers a client ack request the upstream left unanswered for
// GATEWAY_ACK_TIMEOUT.
func (b *Bridge) ackExpired(upID uint64) {
	if pa := b.takePending(upID); pa != nil {
		b.sendError(translate.CodeAckTimeout, "no upstream ack within the ack timeout", pa.clientID)
		b.cfg.putPending(pa)
	}
}

// upstreamReader is the only reader of the upstream connection. It never
// blocks on the client: frames go to the bounded send queue. It reports
// true when it parked: the upstream was quiet for parkAfter, and the
// Poller starts the next reader when bytes arrive or the heartbeat is due.
func (b *Bridge) upstreamReader() (parked bool) {
	for {
		b.upMu.Lock()
		up, h := b.up, b.upPark
		b.upMu.Unlock()
		var p socketio.Packet
		var err error
		if q, ok := up.(quietUpstream); ok && h != nil {
			p, err = q.ReadIdle(parkAfter)
			if err == socketio.ErrIdle {
				if b.ctx.Err() == nil && h.ArmUntil(q.HeartbeatDeadline()) == nil {
					return true
				}
				continue // ending, or released meanwhile: read on
			}
		} else {
			p, err = up.Read()
		}
		if err != nil {
			b.flushQueued() // what the lost upstream sent before
			if b.ctx.Err() != nil {
				return false // the bridge is ending and closed the upstream itself
			}
			if !b.cfg.reconnect.enabled {
				b.upstreamFailed(err)
				return false
			}
			if !b.reconnect(err) {
				return false
			}
			continue
		}
		if p.Namespace != b.cfg.namespace {
			continue
		}
		switch p.Type {
		case socketio.PacketEvent, socketio.PacketBinaryEvent:
			b.forwardEvent(p)
		case socketio.PacketAck, socketio.PacketBinaryAck:
			b.forwardAck(p)
		case socketio.PacketDisconnect:
			b.flushQueued()
			b.finish(ending{reason: ReasonUpstreamDisconnect, text: "upstream disconnected"})
			return false
		}
	}
}

// upstreamFailed handles the loss of the upstream transport: every pending
// ack is answered with upstream_lost, then the client is closed with 1014.
func (b *Bridge) upstreamFailed(err error) {
	b.failPending()
	b.finish(ending{reason: ReasonUpstreamLost, text: "upstream lost", err: err})
}

// failPending answers every pending client ack with upstream_lost, and
// forgets the upstream's own ack requests: neither can survive the loss of
// the upstream socket.
func (b *Bridge) failPending() {
	b.mu.Lock()
	clear(b.issued)
	lost := make([]*pendingAck, 0, len(b.pending))
	for id, pa := range b.pending {
		lost = append(lost, pa)
		delete(b.pending, id)
	}
	b.mu.Unlock()
	for _, pa := range lost {
		if pa.timer != nil {
			pa.timer.Stop()
		}
		b.sendError(translate.CodeUpstreamLost, "upstream connection lost; the ack cannot come", pa.clientID)
		b.cfg.putPending(pa)
	}
	if len(lost) > 0 {
		b.cfg.observer.PendingAcks(b.cfg.route, -len(lost))
	}
}

// forwardEvent translates an upstream event for the client.
func (b *Bridge) forwardEvent(p socketio.Packet) {
	buf := b.cfg.frames.get()
	out, err := b.cfg.translator.AppendEvent((*buf)[:0], p.Data, p.Attachments, p.ID, p.HasID)
	if err != nil {
		b.cfg.frames.put(buf)
		b.cfg.logger.Debug("dropped malformed upstream event", "route", b.cfg.route, "size", len(p.Data), "err", err)
		return
	}
	*buf = out
	if p.HasID {
		b.mu.Lock()
		if b.issued == nil {
			b.issued = make(map[uint64]struct{})
		}
		b.issued[p.ID] = struct{}{}
		b.mu.Unlock()
	}
	b.cfg.observer.Message(b.cfg.route, UpstreamToClient.String(), translate.KindEvent.String(), len(out))
	b.enqueueFromUpstream(buf)
}

// forwardAck hands an upstream ack to the client that asked for it.
func (b *Bridge) forwardAck(p socketio.Packet) {
	if !p.HasID {
		return
	}
	pa := b.takePending(p.ID)
	if pa == nil {
		return // timed out already, or never ours
	}
	defer b.cfg.putPending(pa)
	b.cfg.observer.AckLatency(b.cfg.route, time.Since(pa.sent))
	buf := b.cfg.frames.get()
	out, err := b.cfg.translator.AppendAck((*buf)[:0], pa.clientID, p.Data, p.Attachments)
	if err != nil {
		b.cfg.frames.put(buf)
		b.sendError(translate.CodeInvalidFrame, "malformed upstream ack", pa.clientID)
		return
	}
	*buf = out
	b.cfg.observer.Message(b.cfg.route, UpstreamToClient.String(), translate.KindAck.String(), len(out))
	b.enqueueFromUpstream(buf)
}

// sendError queues an error frame for the client.
func (b *Bridge) sendError(code translate.Code, message string, id []byte) {
	b.cfg.observer.FrameError(b.cfg.route, string(code))
	b.pushFrame(func(dst []byte) []byte {
		return b.cfg.translator.AppendError(dst, code, message, id)
	})
}

// pushFrame builds a frame in a pooled buffer and queues it.
func (b *Bridge) pushFrame(build func([]byte) []byte) {
	buf := b.cfg.frames.get()
	*buf = build((*buf)[:0])
	b.enqueue(buf)
}

// enqueue queues a frame for the client; a full queue makes the client a
// slow consumer.
func (b *Bridge) enqueue(buf *[]byte) {
	if !b.push(buf) {
		b.finish(ending{reason: ReasonSlowConsumer, text: "slow consumer"})
	}
}

// push queues a frame and starts a writer when none runs; it reports false,
// dropping the frame, when the queue is full.
func (b *Bridge) push(buf *[]byte) bool {
	ok, start := b.queue.push(buf)
	if !ok {
		b.cfg.frames.put(buf)
		return false
	}
	if start {
		b.live.Add(1)
		go b.clientWriter(b.cfg.getScratch())
	}
	return true
}

// enqueueHeld queues a frame without starting a writer: the upstream
// reader flushes the queue itself before it next reads (flushQueued). A
// full queue makes the client a slow consumer.
func (b *Bridge) enqueueHeld(buf *[]byte) {
	if !b.queue.pushHeld(buf) {
		b.cfg.frames.put(buf)
		b.finish(ending{reason: ReasonSlowConsumer, text: "slow consumer"})
	}
}

// enqueueFromUpstream queues a frame the upstream reader translated:
// held for its flush when the upstream calls it back before reads.
func (b *Bridge) enqueueFromUpstream(buf *[]byte) {
	if b.upHooked {
		b.enqueueHeld(buf)
		return
	}
	b.enqueue(buf)
}
