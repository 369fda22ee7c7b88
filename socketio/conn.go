package socketio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/wsframe"
)

// closeFrameWait bounds the WebSocket close frame Close tries to send; a
// stalled connection must not hold Close up.
const closeFrameWait = 250 * time.Millisecond

// Conn is one Engine.IO session carrying any number of Socket.IO
// namespaces. See the package documentation for its concurrency contract.
type Conn struct {
	ws             wsConn
	frames         *wsframe.Reader // reads ws's frames; nil: ws.NextReader (test doubles)
	eio            int
	open           OpenInfo
	maxPayload     int
	maxAttachments int
	writeTimeout   time.Duration

	// engine holds the one-byte messages the Conn writes: ping, pong and
	// the Engine.IO 3 binary prefix. Writing slices of a field does not
	// allocate.
	engine [3]byte

	// Writer state, guarded by wmu (one WebSocket writer at a time).
	wmu       sync.Mutex
	hdr       []byte    // scratch for packet headers
	wdeadline time.Time // the write deadline set (writeDeadlineLocked)
	// pongDue is set by the reader when a pong must go out; whichever
	// goroutine holds wmu next writes it first, so a pong waits behind at
	// most the write in progress.
	pongDue atomic.Bool

	// Reader state: owned by the goroutine inside Read or Connect.
	reading  atomic.Bool
	rb       *readBuffer // the current message; nil while waiting
	queue    []Packet    // packets read by Connect, for Read
	idleOK   bool        // ReadIdle's first message of a packet: ErrIdle may end it
	readHook func()      // SetReadHook's

	// Read deadline state, guarded by dlMu: the heartbeat watchdog and the
	// bound of the Dial or Connect call in progress.
	dlMu          sync.Mutex
	watchdogAt    time.Time
	bound         time.Time
	boundCtx      context.Context
	boundGen      uint64
	boundActive   bool
	boundCanceled bool
	idleActive    bool      // a ReadIdle's quiet period lowers the deadline
	idleAt        time.Time // when that quiet period ends

	// Engine.IO 3 heartbeat: client pings from a timer.
	pingTimer    *time.Timer    // guarded by mu once created
	pingArmed    bool           // guarded by mu: the timer is pending
	timerWG      sync.WaitGroup // one count per pending or running tick
	awaitingPong atomic.Bool

	ackSeq atomic.Uint64

	// mu guards the namespace table, the waiters in it and failure.
	mu      sync.Mutex
	nsps    []*nsState
	failure error       // the *TransportError that ended the Conn
	dead    atomic.Bool // failure != nil, readable without mu
	closing atomic.Bool // Close was called: what fails now fails with ErrClosed
}

// nsPhase is a namespace's place in its state machine.
type nsPhase uint8

const (
	nsConnecting nsPhase = iota + 1 // CONNECT sent (or, EIO 3 "/", expected)
	nsConnected                     // reply received
	nsAbandoned                     // Disconnect while connecting: DISCONNECT follows the reply
	nsClosed                        // DISCONNECT either way, CONNECT_ERROR, or the Conn ended
)

// nsState is one namespace of a Conn.
type nsState struct {
	name    string
	state   nsPhase
	sid     string
	pid     string // connection state recovery session id ("" without CSR)
	offset  []byte // last CSR offset, raw JSON string contents
	waiters map[uint64]chan<- ackResult
}

type ackResult struct {
	p   Packet
	err error
}

func newConn(ws wsConn, eio int, opts Options) *Conn {
	c := &Conn{
		ws:             ws,
		eio:            eio,
		maxPayload:     DefaultMaxPayload,
		maxAttachments: positiveOr(opts.MaxAttachments, DefaultMaxAttachments),
		writeTimeout:   DefaultWriteTimeout,
		engine:         [3]byte{enginePing, enginePong, engine3BinaryPrefix},
	}
	if opts.WriteTimeout > 0 {
		c.writeTimeout = opts.WriteTimeout
	}
	if eio == 3 {
		// Socket.IO protocol 4 servers connect "/" on their own.
		c.nsps = append(c.nsps, &nsState{name: "/", state: nsConnecting})
	}
	return c
}

// Open returns the session's OPEN packet.
func (c *Conn) Open() OpenInfo { return c.open }

// MaxPayload returns the largest WebSocket message the server accepts: its
// announced maxPayload, or DefaultMaxPayload when it announced none. Send
// refuses larger messages with a *TooLargeError.
func (c *Conn) MaxPayload() int { return c.maxPayload }

// NextAckID returns a fresh ack id for Send (EmitWithAck picks its own). Ids
// are unique per Conn and below 2^53.
func (c *Conn) NextAckID() uint64 { return (c.ackSeq.Add(1) - 1) & MaxAckID }

// Read returns the next packet from the server. There is one reader: Read
// and Connect must not run at the same time (ErrConcurrentRead).
//
// Read answers heartbeats, assembles binary packets, keeps the namespace
// state machine and the connection state recovery offset (removing it from
// the events that carry it), and hands acks to EmitWithAck waiters. What it
// returns: events and binary events; acks nobody waits for; DISCONNECT
// (PacketDisconnect: the server disconnected that namespace, the Conn stays
// open); CONNECT and CONNECT_ERROR replies to CONNECTs sent with Send (and,
// with Engine.IO 3, the server's own CONNECT of "/" when Connect was not
// used to wait for it). Packets that arrived during Connect come first, in
// order.
//
// The returned Data and Attachments are valid until the next Read.
//
// An error is a *TransportError: the Conn has ended and every later call
// returns the same error. errors.Is tells ErrTransportClosed,
// ErrPingTimeout, ErrParse, ErrTransportError and ErrClosed apart.
func (c *Conn) Read() (Packet, error) { return c.read(false) }

// read is Read, or ReadIdle when idle is set.
func (c *Conn) read(idle bool) (Packet, error) {
	if !c.reading.CompareAndSwap(false, true) {
		return Packet{}, ErrConcurrentRead
	}
	defer c.reading.Store(false)
	if len(c.queue) > 0 {
		p := c.queue[0]
		c.queue[0] = Packet{}
		c.queue = c.queue[1:]
		if len(c.queue) == 0 {
			c.queue = nil
		}
		return p, nil
	}
	if c.dead.Load() {
		c.releaseReadBuffer()
		return Packet{}, c.failed()
	}
	for {
		p, ok, err := c.readPacket(idle)
		if err == ErrIdle {
			c.endIdle()
			c.releaseReadBuffer()
			return Packet{}, err
		}
		if err != nil {
			return Packet{}, err
		}
		if ok {
			return p, nil
		}
	}
}

// readPacket reads one WebSocket message (with the attachments it
// announces) and processes it. ok reports whether p is for the caller.
func (c *Conn) readPacket(idle bool) (p Packet, ok bool, err error) {
	c.releaseReadBuffer()
	c.idleOK = idle
	typ, start, err := c.readMessage()
	c.idleOK = false
	if err == ErrIdle {
		return Packet{}, false, err
	}
	if err != nil {
		return Packet{}, false, c.readFailed(err)
	}
	c.heard()
	msg := c.rb.b[start:]
	if typ != websocket.TextMessage {
		return Packet{}, false, c.parseFailed(errors.New("binary message without a binary packet header"), nil)
	}
	if len(msg) == 0 {
		return Packet{}, false, c.parseFailed(errors.New("empty message"), nil)
	}
	switch msg[0] {
	case engineMessage:
		return c.readSocketPacket(start + 1)
	case enginePing, enginePong, engineNoop:
		return Packet{}, false, c.onEngineControl(msg[0])
	case engineClose:
		return Packet{}, false, c.shutdown(&TransportError{Reason: ErrTransportClosed, Err: errors.New("engine.io close packet")})
	default:
		return Packet{}, false, c.parseFailed(errors.New("unexpected Engine.IO packet"), msg)
	}
}

// readSocketPacket decodes the Socket.IO packet starting at c.rb.b[off:],
// reads its attachments and dispatches it.
func (c *Conn) readSocketPacket(off int) (Packet, bool, error) {
	raw, err := parsePacket(c.rb.b[off:], c.maxAttachments)
	if err != nil {
		return Packet{}, false, c.parseFailed(err, c.rb.b[off:])
	}
	if raw.attachments == 0 {
		return c.dispatch(raw, raw.data, nil)
	}
	// The attachments are appended to the same buffer, which may move:
	// keep offsets and slice at the end. raw.nsp stays valid (a grown
	// buffer is a copy; the old array is never written again).
	dataStart, dataEnd := len(c.rb.b)-len(raw.data), len(c.rb.b)
	bounds := make([]int, 0, 2*raw.attachments)
	for len(bounds) < cap(bounds) {
		typ, s, err := c.readMessage()
		if err != nil {
			return Packet{}, false, c.readFailed(err)
		}
		c.heard()
		m := c.rb.b[s:]
		if typ == websocket.TextMessage {
			// Engine.IO packets may travel between the frames of a binary
			// packet; Socket.IO packets may not.
			if len(m) > 0 && (m[0] == enginePing || m[0] == enginePong || m[0] == engineNoop) {
				c.rb.b = c.rb.b[:s]
				if err := c.onEngineControl(m[0]); err != nil {
					return Packet{}, false, err
				}
				continue
			}
			return Packet{}, false, c.parseFailed(errors.New("text message while reading binary attachments"), m)
		}
		if c.eio == 3 {
			if len(m) == 0 || m[0] != engine3BinaryPrefix {
				return Packet{}, false, c.parseFailed(errors.New("Engine.IO 3 binary message without the 0x04 prefix"), nil)
			}
			s++
		}
		bounds = append(bounds, s, len(c.rb.b))
	}
	atts := make([][]byte, raw.attachments)
	for i := range atts {
		s, e := bounds[2*i], bounds[2*i+1]
		atts[i] = c.rb.b[s:e:e]
	}
	return c.dispatch(raw, c.rb.b[dataStart:dataEnd:dataEnd], atts)
}

// dispatch applies a decoded packet to the namespace table. ok reports
// whether the packet goes to the caller.
func (c *Conn) dispatch(raw rawPacket, data []byte, atts [][]byte) (Packet, bool, error) {
	p := Packet{Type: raw.typ, ID: raw.id, HasID: raw.hasID, Data: data, Attachments: atts}
	c.mu.Lock()
	ns := c.findLocked(raw.nsp)
	switch {
	case ns != nil:
		p.Namespace = ns.name
	case raw.nsp == nil:
		p.Namespace = "/"
	default:
		p.Namespace = string(raw.nsp)
	}
	switch p.Type {
	case PacketEvent, PacketBinaryEvent:
		// Connection state recovery: events without an ack id carry the
		// offset as their last argument. Record it and cut it off in place.
		if ns != nil && ns.pid != "" && !p.HasID {
			if comma, off, ok := splitOffset(p.Data); ok {
				ns.offset = append(ns.offset[:0], off...)
				p.Data[comma] = ']'
				p.Data = p.Data[: comma+1 : comma+1]
			}
		}
	case PacketAck, PacketBinaryAck:
		if ns != nil && p.HasID {
			if ch, ok := ns.waiters[p.ID]; ok {
				delete(ns.waiters, p.ID)
				c.mu.Unlock()
				ch <- ackResult{p: clonePacket(p)}
				return Packet{}, false, nil
			}
		}
	case PacketDisconnect:
		var waiters []chan<- ackResult
		if ns != nil && ns.state != nsClosed {
			ns.state = nsClosed
			waiters = ns.takeWaiters(waiters)
		}
		c.mu.Unlock()
		failWaiters(waiters, ErrDisconnected)
		return p, true, nil
	case PacketConnect:
		return c.onConnectReplyLocked(ns, p)
	case PacketConnectError:
		abandoned := false
		if ns != nil && (ns.state == nsConnecting || ns.state == nsAbandoned) {
			abandoned = ns.state == nsAbandoned
			ns.state = nsClosed
		}
		c.mu.Unlock()
		return p, !abandoned, nil
	}
	c.mu.Unlock()
	return p, true, nil
}

// onConnectReplyLocked handles a CONNECT from the server; c.mu is held and
// released here.
func (c *Conn) onConnectReplyLocked(ns *nsState, p Packet) (Packet, bool, error) {
	if ns == nil || (ns.state != nsConnecting && ns.state != nsAbandoned) {
		// Unsolicited: a socket.io 2 server's implicit "/" reached over EIO
		// 4, or a duplicate. Nothing to update.
		c.mu.Unlock()
		return p, true, nil
	}
	var sid, pid string
	if c.eio == 4 {
		r, ok := parseConnectReply(p.Data)
		if !ok {
			name := ns.name
			c.mu.Unlock()
			return Packet{}, false, c.shutdown(&TransportError{Reason: ErrParse, Err: fmt.Errorf(
				"%w: CONNECT reply for %s has no sid (a socket.io 2 server? dial it with EIO 3)", ErrProtocolMismatch, name)})
		}
		sid, pid = r.sid, r.pid
	} else if ns.name == "/" {
		sid = c.open.SID // socket.io 2: the socket id of "/" is the engine sid
	} else {
		sid = ns.name + "#" + c.open.SID
	}
	if pid != ns.pid {
		ns.offset = ns.offset[:0] // a new session: the old offset means nothing
	}
	ns.sid, ns.pid = sid, pid
	if ns.state == nsAbandoned {
		ns.state = nsClosed
		name := ns.name
		c.mu.Unlock()
		return Packet{}, false, c.writeDisconnect(name)
	}
	ns.state = nsConnected
	c.mu.Unlock()
	return p, true, nil
}

// findLocked returns the namespace named nsp (nil: "/"), or nil.
func (c *Conn) findLocked(nsp []byte) *nsState {
	if nsp == nil {
		return c.findNameLocked("/")
	}
	for _, ns := range c.nsps {
		if ns.name == string(nsp) {
			return ns
		}
	}
	return nil
}

func (c *Conn) findNameLocked(nsp string) *nsState {
	for _, ns := range c.nsps {
		if ns.name == nsp {
			return ns
		}
	}
	return nil
}

// takeWaiters appends ns's ack waiters to dst and forgets them.
func (ns *nsState) takeWaiters(dst []chan<- ackResult) []chan<- ackResult {
	for id, ch := range ns.waiters {
		dst = append(dst, ch)
		delete(ns.waiters, id)
	}
	return dst
}

func failWaiters(waiters []chan<- ackResult, err error) {
	for _, ch := range waiters {
		ch <- ackResult{err: err}
	}
}

// readMessage reads the next WebSocket message, appending it to the read
// buffer; start is where it begins in c.rb.b.
func (c *Conn) readMessage() (typ, start int, err error) {
	if c.frames != nil {
		if c.rb == nil {
			c.rb = getReadBuffer()
		}
		start = len(c.rb.b)
		op, b, err := c.frames.ReadMessage(c.rb.b)
		if err != nil {
			c.rb.b = b[:start]
			return 0, 0, err
		}
		c.rb.b = b
		return int(op), start, nil
	}
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return 0, 0, err
	}
	if c.rb == nil {
		c.rb = getReadBuffer()
	}
	b := c.rb.b
	start = len(b)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			c.rb.b = b
			return 0, 0, err
		}
	}
	c.rb.b = b
	return typ, start, nil
}

// releaseReadBuffer returns the current message buffer to the pool: the
// previous packet's Data is invalid from here on.
func (c *Conn) releaseReadBuffer() {
	if c.rb != nil {
		putReadBuffer(c.rb)
		c.rb = nil
	}
}

// Send writes one packet: its text, then one binary message per
// attachment. It is safe for concurrent use.
//
// Before writing anything it checks, so that a refused packet leaves the
// connection intact: EVENT, ACK and DISCONNECT need a connected namespace
// (ErrNotConnected); CONNECT needs one that is neither connecting nor
// connected (ErrAlreadyConnected; prefer Connect, which also reads the
// reply); every WebSocket message must fit MaxPayload (*TooLargeError);
// attachments are capped (ErrTooManyAttachments); the payload must have the
// outer shape of its type (ErrInvalidPacket). The JSON inside is not
// validated, nor is event-name reservation: that is the caller's job.
//
// An EVENT or ACK with attachments is sent as BINARY_EVENT or BINARY_ACK.
// Answer a server's ack request (an event with HasID) with
// Send(Packet{Type: PacketAck, Namespace: nsp, ID: id, HasID: true, Data: args}).
// Sending a DISCONNECT closes the namespace (see Disconnect).
//
// A write failure ends the Conn and returns its *TransportError.
func (c *Conn) Send(p Packet) error {
	return c.send(&p, sendExtra{})
}

// sendExtra holds what Send's callers inside the package add.
type sendExtra struct {
	wireNsp string           // namespace as written, when it differs (EIO 3 CONNECT query)
	waiter  chan<- ackResult // registered under the packet's id before writing
	recover *Recovery        // CONNECT with recovery: pid/offset to track
}

func (c *Conn) send(p *Packet, x sendExtra) error {
	nsp := p.Namespace
	if nsp == "" {
		nsp = "/"
	}
	t := p.Type
	if len(p.Attachments) > 0 {
		switch t {
		case PacketEvent:
			t = PacketBinaryEvent
		case PacketAck:
			t = PacketBinaryAck
		}
	}
	if err := c.checkOutgoing(t, nsp, p); err != nil {
		return err
	}
	wire := nsp
	if x.wireNsp != "" {
		wire = x.wireNsp
	}

	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if c.failure != nil {
		err := c.failure
		c.mu.Unlock()
		return err
	}
	ns := c.findNameLocked(nsp)
	if t == PacketConnect {
		if ns != nil && ns.state != nsClosed {
			c.mu.Unlock()
			return fmt.Errorf("%w: %s", ErrAlreadyConnected, nsp)
		}
	} else if ns == nil || ns.state != nsConnected {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotConnected, nsp)
	}
	c.hdr = appendHeader(c.hdr[:0], t, len(p.Attachments), wire, p.ID, p.HasID)
	if err := c.checkSize(len(c.hdr)+len(p.Data), p.Attachments); err != nil {
		c.mu.Unlock()
		return err
	}
	var dropped []chan<- ackResult
	switch t {
	case PacketConnect:
		if ns == nil {
			ns = &nsState{name: nsp}
			c.nsps = append(c.nsps, ns)
		}
		ns.state = nsConnecting
		// With a recovery pid, events replayed before the reply are
		// recognised (and their offsets recorded) like later ones.
		ns.pid, ns.offset = "", ns.offset[:0]
		if x.recover != nil {
			ns.pid = x.recover.PID
			ns.offset = appendRawOffset(ns.offset, x.recover.Offset)
		}
	case PacketDisconnect:
		ns.state = nsClosed
		dropped = ns.takeWaiters(nil)
	}
	if x.waiter != nil {
		if ns.waiters == nil {
			ns.waiters = make(map[uint64]chan<- ackResult)
		}
		ns.waiters[p.ID] = x.waiter
	}
	c.mu.Unlock()
	err := c.writeLocked(c.hdr, p.Data, p.Attachments)
	failWaiters(dropped, ErrDisconnected)
	if err != nil {
		return c.writeFailed(err) // fails x.waiter too
	}
	return nil
}

// checkOutgoing validates what can be checked without the Conn's state.
func (c *Conn) checkOutgoing(t PacketType, nsp string, p *Packet) error {
	if !validNamespace(nsp) {
		return fmt.Errorf("%w: namespace %q (want a leading / and no comma)", ErrInvalidPacket, nsp)
	}
	switch t {
	case PacketConnect, PacketDisconnect, PacketEvent, PacketAck, PacketBinaryEvent, PacketBinaryAck:
	default:
		return fmt.Errorf("%w: a client does not send %v", ErrInvalidPacket, t)
	}
	if t == PacketConnect && c.eio == 3 && nsp == "/" {
		return fmt.Errorf("%w: with EIO 3 the server connects / by itself", ErrInvalidPacket)
	}
	if t.binary() && len(p.Attachments) == 0 {
		return fmt.Errorf("%w: %v without attachments", ErrInvalidPacket, t)
	}
	if len(p.Attachments) > c.maxAttachments {
		return fmt.Errorf("%w: %d, limit %d", ErrTooManyAttachments, len(p.Attachments), c.maxAttachments)
	}
	if p.HasID && p.ID > MaxAckID {
		return fmt.Errorf("%w: ack id %d above 2^53-1", ErrInvalidPacket, p.ID)
	}
	if p.HasID && t != PacketEvent && t != PacketAck && t != PacketBinaryEvent && t != PacketBinaryAck {
		return fmt.Errorf("%w: %v with an ack id", ErrInvalidPacket, t)
	}
	if err := checkPayload(t, p.Data); err != nil {
		return fmt.Errorf("%w: %v payload: %v", ErrInvalidPacket, t, err)
	}
	return nil
}

// checkSize applies maxPayload to every WebSocket message of a packet.
func (c *Conn) checkSize(textSize int, atts [][]byte) error {
	if textSize > c.maxPayload {
		return &TooLargeError{Size: textSize, Limit: c.maxPayload}
	}
	prefix := 0
	if c.eio == 3 {
		prefix = 1
	}
	for _, a := range atts {
		if n := len(a) + prefix; n > c.maxPayload {
			return &TooLargeError{Size: n, Limit: c.maxPayload}
		}
	}
	return nil
}

// writeLocked writes a packet text (header + data) and its attachments;
// wmu is held.
func (c *Conn) writeLocked(hdr, data []byte, atts [][]byte) error {
	if c.pongDue.Load() {
		if err := c.writePongLocked(); err != nil {
			return err
		}
	}
	c.writeDeadlineLocked()
	w, err := c.ws.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	_, err = w.Write(hdr)
	if err == nil && len(data) > 0 {
		_, err = w.Write(data)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	for _, a := range atts {
		if err != nil {
			break
		}
		if w, err = c.ws.NextWriter(websocket.BinaryMessage); err != nil {
			break
		}
		if c.eio == 3 {
			_, err = w.Write(c.engine[2:3])
		}
		if err == nil {
			_, err = w.Write(a)
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// writeDeadlineLocked bounds the coming write by the write timeout. The
// deadline moves only once half of it is used up, since setting it updates
// a runtime timer, which once per write was a visible cost: a write is
// bounded by between half the timeout and all of it. wmu is held.
func (c *Conn) writeDeadlineLocked() {
	now := time.Now()
	if c.wdeadline.Sub(now) > c.writeTimeout/2 {
		return
	}
	c.wdeadline = now.Add(c.writeTimeout)
	c.ws.SetWriteDeadline(c.wdeadline)
}

// writeEngineLocked writes a one-byte Engine.IO packet; wmu is held.
func (c *Conn) writeEngineLocked(b []byte) error {
	c.writeDeadlineLocked()
	w, err := c.ws.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// writePongLocked sends the pong the reader asked for; wmu is held.
func (c *Conn) writePongLocked() error {
	c.pongDue.Store(false)
	return c.writeEngineLocked(c.engine[1:2])
}

// writeDisconnect sends a DISCONNECT for nsp without state checks (the
// caller updated the state).
func (c *Conn) writeDisconnect(nsp string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead.Load() {
		return nil
	}
	c.hdr = appendHeader(c.hdr[:0], PacketDisconnect, 0, nsp, 0, false)
	if err := c.writeLocked(c.hdr, nil, nil); err != nil {
		return c.writeFailed(err)
	}
	return nil
}

// Emit sends the event data (a JSON array ["name", args…]) on nsp, with the
// attachments its placeholders refer to. ctx is checked before writing; a
// write in progress is bounded by Options.WriteTimeout instead (interrupting
// it would corrupt the stream). Errors are those of Send.
func (c *Conn) Emit(ctx context.Context, nsp string, data []byte, attachments [][]byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("socketio: emit on %s: %w", nsp, err)
	}
	return c.send(&Packet{Type: PacketEvent, Namespace: nsp, Data: data, Attachments: attachments}, sendExtra{})
}

// EmitWithAck sends the event with a fresh ack id and waits for the
// server's ack, which it returns (Type PacketAck or PacketBinaryAck; Data
// and Attachments are its own copy). Another goroutine must be calling
// Read meanwhile: Read hands the ack over. The wait ends with ctx (error
// wrapping ctx.Err(); a late ack is then dropped), with the namespace's
// DISCONNECT (ErrDisconnected), or with the end of the Conn (its
// *TransportError). It is safe for concurrent use.
func (c *Conn) EmitWithAck(ctx context.Context, nsp string, data []byte, attachments [][]byte) (Packet, error) {
	if nsp == "" {
		nsp = "/"
	}
	if err := ctx.Err(); err != nil {
		return Packet{}, fmt.Errorf("socketio: emit on %s: %w", nsp, err)
	}
	id := c.NextAckID()
	ch := make(chan ackResult, 1)
	p := Packet{Type: PacketEvent, Namespace: nsp, ID: id, HasID: true, Data: data, Attachments: attachments}
	if err := c.send(&p, sendExtra{waiter: ch}); err != nil {
		return Packet{}, err
	}
	select {
	case r := <-ch:
		return r.p, r.err
	case <-ctx.Done():
		c.mu.Lock()
		if ns := c.findNameLocked(nsp); ns != nil {
			delete(ns.waiters, id)
		}
		c.mu.Unlock()
		select {
		case r := <-ch: // it arrived while we gave up
			return r.p, r.err
		default:
		}
		return Packet{}, fmt.Errorf("socketio: ack %d on %s: %w", id, nsp, ctx.Err())
	}
}

// Disconnect leaves the namespace: it sends DISCONNECT (the server's reason
// is "client namespace disconnect"), fails the namespace's ack waiters with
// ErrDisconnected and marks it closed; the Conn stays open (Close it when no
// namespace is left, as the JavaScript client does). A namespace still
// connecting is marked closed at once and its DISCONNECT goes out when the
// server's reply arrives (sending it earlier would make the server close
// the whole connection). Otherwise ErrNotConnected.
//
// Do not Disconnect a namespace you want to recover later with connection
// state recovery: the server discards the session on DISCONNECT. Just Close.
func (c *Conn) Disconnect(nsp string) error {
	if nsp == "" {
		nsp = "/"
	}
	c.mu.Lock()
	if c.failure != nil {
		err := c.failure
		c.mu.Unlock()
		return err
	}
	ns := c.findNameLocked(nsp)
	if ns != nil && ns.state == nsConnecting {
		ns.state = nsAbandoned
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	return c.send(&Packet{Type: PacketDisconnect, Namespace: nsp}, sendExtra{})
}

// Close ends the Conn: it sends a WebSocket close frame (best effort, for at
// most 250 ms), closes the connection, stops the heartbeat timer, fails every
// ack waiter with ErrClosed and waits until no timer callback is running. A
// Read in progress returns ErrClosed. Close is idempotent and safe from any
// goroutine; it returns nil.
func (c *Conn) Close() error {
	c.closing.Store(true)
	if !c.dead.Load() {
		c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(closeFrameWait))
	}
	c.shutdown(&TransportError{Reason: ErrClosed})
	c.timerWG.Wait()
	return nil
}

// shutdown ends the Conn with te unless it has ended already; it returns the
// error that ended it.
func (c *Conn) shutdown(te *TransportError) error {
	c.mu.Lock()
	if c.failure != nil {
		err := c.failure
		c.mu.Unlock()
		return err
	}
	c.failure = te
	c.dead.Store(true)
	var waiters []chan<- ackResult
	for _, ns := range c.nsps {
		waiters = ns.takeWaiters(waiters)
		ns.state = nsClosed
	}
	if c.pingArmed && c.pingTimer.Stop() {
		c.pingArmed = false
		c.timerWG.Done()
	}
	c.mu.Unlock()
	c.ws.Close()
	failWaiters(waiters, te)
	return te
}

// failed returns the error that ended the Conn, or nil.
func (c *Conn) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failure
}

// readFailed ends the Conn after a read error and returns its error.
func (c *Conn) readFailed(err error) error {
	if f := c.failed(); f != nil {
		return f // closed locally, or by a failed write
	}
	if c.closing.Load() {
		return c.shutdown(&TransportError{Reason: ErrClosed})
	}
	te := &TransportError{Reason: ErrTransportError, Err: err}
	switch {
	case isTimeout(err):
		if cerr := c.boundErr(); cerr != nil {
			te = &TransportError{Reason: ErrClosed, Err: cerr}
		} else {
			te = &TransportError{Reason: ErrPingTimeout, Err: errHeartbeat}
		}
	case errors.Is(err, websocket.ErrReadLimit), errors.Is(err, wsframe.ErrTooLarge):
		// websocket.ErrReadLimit stays the documented sign of it.
		te.Err = fmt.Errorf("inbound message over the read limit: %w", websocket.ErrReadLimit)
	case isClosed(err):
		te.Reason = ErrTransportClosed
	}
	return c.shutdown(te)
}

var errHeartbeat = errors.New("no heartbeat in time")

// writeFailed ends the Conn after a write error and returns its error.
func (c *Conn) writeFailed(err error) error {
	if c.closing.Load() {
		return c.shutdown(&TransportError{Reason: ErrClosed})
	}
	te := &TransportError{Reason: ErrTransportError, Err: err}
	if isClosed(err) {
		te.Reason = ErrTransportClosed
	}
	return c.shutdown(te)
}

// parseFailed ends the Conn after an undecodable message. msg, if given, is
// quoted (truncated) in the error to help find the culprit.
func (c *Conn) parseFailed(err error, msg []byte) error {
	if msg != nil {
		err = fmt.Errorf("%w: %q", err, truncate(msg, maxQuoted))
	}
	return c.shutdown(&TransportError{Reason: ErrParse, Err: err})
}

// isClosed reports errors that mean the peer closed or reset the
// connection.
func isClosed(err error) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
