package socketio

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
)

// ConnectOptions are the optional parts of a namespace CONNECT.
type ConnectOptions struct {
	// Auth is the CONNECT payload, a JSON object (the server's
	// socket.handshake.auth); nil means none. Engine.IO 4 only.
	Auth json.RawMessage
	// Query is sent with the CONNECT of a namespace other than "/" with
	// Engine.IO 3 (40/admin?token=x,), the only way to pass a credential
	// per namespace in Socket.IO protocol 4. Ignored for "/", whose query
	// is the handshake's (Options.Query), and with Engine.IO 4.
	Query url.Values
	// Recover asks for connection state recovery (Engine.IO 4): its pid
	// and offset are merged into Auth (keys already in Auth win, as in the
	// JavaScript client). Take it from Recovery on the previous Conn.
	Recover *Recovery
}

// Recovery is what a connection state recovery needs: the session's private
// id and the offset of the last event received.
type Recovery struct {
	PID    string
	Offset string
}

// ConnectInfo describes a connected namespace.
type ConnectInfo struct {
	// SID is the Socket.IO socket id. Socket.IO protocol 4 replies carry
	// none: it is derived as socket.io 2 does (the engine sid for "/",
	// "/nsp#" + engine sid otherwise).
	SID string
	// PID is the connection state recovery session id, "" when the server
	// does not run recovery.
	PID string
	// Recovered reports a successful recovery: Recover was given and the
	// reply kept its pid. The missed events are the first packets Read
	// returns.
	Recovered bool
}

// Connect connects a namespace and waits for the server's reply: it sends
// CONNECT (except for "/" with Engine.IO 3, which the server connects by
// itself, so Connect only waits for that) and reads until the reply.
//
// Connect reads the connection, so it must not run while Read does
// (ErrConcurrentRead). Packets that arrive meanwhile (with recovery, the
// missed events, which servers replay before the reply) are kept and
// returned by the next Reads, in order; acks go to their waiters as usual.
//
// A refusal is a *ConnectError, after which the Conn stays usable. A
// second Connect of a connecting or connected namespace returns
// ErrAlreadyConnected without sending anything. When ctx ends first, the
// error wraps ctx.Err() and the Conn is closed: a blocked read cannot be
// abandoned without corrupting the stream. Transport failures are the
// Conn's *TransportError.
func (c *Conn) Connect(ctx context.Context, nsp string, o ConnectOptions) (ConnectInfo, error) {
	if nsp == "" {
		nsp = "/"
	}
	fail := func(err error) (ConnectInfo, error) {
		return ConnectInfo{}, fmt.Errorf("socketio: connect %s: %w", nsp, err)
	}
	if !validNamespace(nsp) {
		return fail(fmt.Errorf("%w: namespace %q (want a leading / and no comma)", ErrInvalidPacket, nsp))
	}
	wire := nsp
	var (
		payload []byte
		rec     *Recovery
	)
	if c.eio == 3 {
		if len(o.Auth) > 0 || o.Recover != nil {
			return fail(fmt.Errorf("%w: CONNECT auth and recovery need EIO 4 (use Query, or the handshake query for /)", ErrInvalidPacket))
		}
		if nsp != "/" && len(o.Query) > 0 {
			wire = nsp + "?" + o.Query.Encode()
		}
	} else {
		if o.Recover != nil && o.Recover.PID != "" {
			rec = o.Recover
		}
		var err error
		if payload, err = connectPayload(o.Auth, rec); err != nil {
			return fail(err)
		}
	}
	if !c.reading.CompareAndSwap(false, true) {
		return fail(ErrConcurrentRead)
	}
	defer c.reading.Store(false)
	if err := ctx.Err(); err != nil {
		return fail(err)
	}

	if c.eio == 3 && nsp == "/" {
		c.mu.Lock()
		ns, failure := c.findNameLocked("/"), c.failure
		var state nsPhase
		if ns != nil {
			state = ns.state
		}
		c.mu.Unlock()
		switch {
		case failure != nil:
			return fail(failure)
		case state == nsConnected:
			return c.connectInfo(nsp, nil), nil
		case state != nsConnecting:
			return fail(ErrNotConnected) // refused or disconnected earlier
		}
	} else if err := c.send(&Packet{Type: PacketConnect, Namespace: nsp, Data: payload}, sendExtra{wireNsp: wire, recover: rec}); err != nil {
		return fail(err)
	}

	endBound := c.setBound(ctx)
	defer endBound()
	// Nothing returned aliases the read buffer: an idle Conn keeps none.
	defer c.releaseReadBuffer()
	for {
		p, ok, err := c.readPacket(false)
		if err != nil {
			return fail(err)
		}
		c.mu.Lock()
		state := c.findNameLocked(nsp).state
		c.mu.Unlock()
		switch {
		case state == nsConnected && ok && p.Type == PacketConnect && p.Namespace == nsp:
			return c.connectInfo(nsp, rec), nil
		case state == nsClosed && ok && p.Type == PacketConnectError && p.Namespace == nsp:
			return ConnectInfo{}, parseConnectError(nsp, p.Data, c.eio)
		case state != nsConnecting:
			return fail(ErrDisconnected) // Disconnect while connecting
		case ok:
			c.queue = append(c.queue, clonePacket(p))
		}
	}
}

// connectInfo reads a connected namespace's ids.
func (c *Conn) connectInfo(nsp string, rec *Recovery) ConnectInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := c.findNameLocked(nsp)
	info := ConnectInfo{SID: ns.sid, PID: ns.pid}
	info.Recovered = rec != nil && ns.pid != "" && ns.pid == rec.PID
	return info
}

// Recovery returns what a later Connect needs to recover nsp's session on a
// new Conn: the pid of its CONNECT reply and the offset of the last event
// received. ok is false when the namespace never had a pid (the server does
// not run connection state recovery). It keeps working after the Conn has
// ended. Safe from any goroutine.
func (c *Conn) Recovery(nsp string) (r Recovery, ok bool) {
	if nsp == "" {
		nsp = "/"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := c.findNameLocked(nsp)
	if ns == nil || ns.pid == "" {
		return Recovery{}, false
	}
	return Recovery{PID: ns.pid, Offset: offsetString(ns.offset)}, true
}

// connectPayload builds the CONNECT payload: auth (a JSON object or nil),
// with the recovery pid and offset merged in (auth's own keys win).
func connectPayload(auth json.RawMessage, rec *Recovery) ([]byte, error) {
	trimmed := bytes.TrimSpace(auth)
	none := len(trimmed) == 0 || string(trimmed) == "null"
	if !none && (trimmed[0] != '{' || !json.Valid(trimmed)) {
		return nil, fmt.Errorf("%w: CONNECT auth must be a JSON object", ErrInvalidPacket)
	}
	if rec == nil {
		if none {
			return nil, nil
		}
		var b bytes.Buffer
		if err := json.Compact(&b, trimmed); err != nil {
			return nil, fmt.Errorf("%w: CONNECT auth: %v", ErrInvalidPacket, err)
		}
		return b.Bytes(), nil
	}
	// As the JavaScript client's Object.assign({pid, offset}, auth): pid
	// and offset first (with auth's values if it has those keys), then the
	// rest of auth in its order.
	type member struct {
		key string
		val json.RawMessage
	}
	var members []member
	if !none {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.Token() // the '{', checked above
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("%w: CONNECT auth: %v", ErrInvalidPacket, err)
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, fmt.Errorf("%w: CONNECT auth: %v", ErrInvalidPacket, err)
			}
			members = append(members, member{tok.(string), v})
		}
	}
	take := func(key string) (json.RawMessage, bool) {
		for i, m := range members {
			if m.key == key {
				members = append(members[:i], members[i+1:]...)
				return m.val, true
			}
		}
		return nil, false
	}
	var b bytes.Buffer
	b.WriteString(`{"pid":`)
	if v, ok := take("pid"); ok {
		json.Compact(&b, v)
	} else {
		b.Write(mustMarshalString(rec.PID))
	}
	if v, ok := take("offset"); ok {
		b.WriteString(`,"offset":`)
		json.Compact(&b, v)
	} else if rec.Offset != "" {
		b.WriteString(`,"offset":`)
		b.Write(mustMarshalString(rec.Offset))
	}
	for _, m := range members {
		b.WriteByte(',')
		b.Write(mustMarshalString(m.key))
		b.WriteByte(':')
		json.Compact(&b, m.val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// parseConnectReply reads the sid and pid of a protocol 5 CONNECT reply.
func parseConnectReply(data []byte) (r struct{ sid, pid string }, ok bool) {
	var v struct {
		SID string `json:"sid"`
		PID string `json:"pid"`
	}
	if json.Unmarshal(data, &v) != nil || v.SID == "" {
		return r, false
	}
	r.sid, r.pid = v.SID, v.PID
	return r, true
}

func mustMarshalString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	return b
}

// appendRawOffset appends s as the contents of a JSON string (escaped).
func appendRawOffset(dst []byte, s string) []byte {
	if s == "" {
		return dst
	}
	b := mustMarshalString(s)
	return append(dst, b[1:len(b)-1]...)
}

// offsetString decodes the raw contents of a JSON string.
func offsetString(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	var s string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	if json.Unmarshal(q, &s) != nil {
		return string(raw)
	}
	return s
}
