// Package socketio is a lean Socket.IO client over WebSocket: Engine.IO 4
// with Socket.IO protocol 5 (socket.io 3.x and 4.x servers) and Engine.IO 3
// with protocol 4 (socket.io 1.x and 2.x). gorilla/websocket does the
// WebSocket handshake; frames are read and written by the package itself.
//
// It speaks the protocol and keeps its state, and otherwise stays out of the
// way: payloads are raw JSON bytes, never decoded or re-encoded; there is no
// event emitter, no reconnection policy and no goroutine of its own. A Conn
// is one Engine.IO session; Connect joins namespaces on it; Read returns
// the server's packets; Emit, EmitWithAck and Send write.
//
//	c, err := socketio.Dial(ctx, "http://127.0.0.1:3000", socketio.Options{})
//	if err != nil { … }                  // *HandshakeError, ctx error, network error
//	defer c.Close()
//	if _, err := c.Connect(ctx, "/", socketio.ConnectOptions{Auth: json.RawMessage(`{"token":"t"}`)}); err != nil {
//		… // *ConnectError when the server refused
//	}
//	c.Emit(ctx, "/", []byte(`["chat","hello"]`), nil)
//	for {
//		p, err := c.Read()          // heartbeats are answered inside
//		if err != nil { … }          // errors.Is(err, socketio.ErrTransportClosed) …
//		switch p.Type {
//		case socketio.PacketEvent:       // p.Data is `["name",args…]`
//		case socketio.PacketDisconnect:  // the server disconnected p.Namespace
//		}
//	}
//
// # What it handles
//
//   - The handshake (GET <path>?EIO=4&transport=websocket, trailing slash
//     kept, extra query and headers), the OPEN packet, maxPayload: every
//     outgoing WebSocket message, attachments included, is checked before
//     anything is written (*TooLargeError), because servers close the whole
//     connection on a larger one.
//   - Heartbeats, with the read deadline as watchdog (see Concurrency).
//   - The packet codec, over raw bytes, with binary packets (placeholders
//     stay in Data; attachments come in Packet.Attachments; EIO 3 prefixes
//     them with 0x04 both ways).
//   - A state machine per namespace (connecting, connected, closed): a
//     packet the server would punish with a closed connection (an event
//     before the CONNECT reply, a duplicate CONNECT) is refused locally.
//   - Ack ids and EmitWithAck waiters, matched by namespace and id.
//   - Connection state recovery bookkeeping: the pid of each namespace and
//     the offset of the last event, which Read cuts off the events (the
//     server appends it as a trailing string argument to events without an
//     ack id). Recovery returns both for ConnectOptions.Recover on a new
//     Conn.
//
// Endings are typed: Read returns a DISCONNECT packet when the server
// disconnects a namespace (the Conn stays open), and a *TransportError
// wrapping ErrTransportClosed, ErrPingTimeout, ErrParse, ErrTransportError
// or ErrClosed when the Conn ends. Dial fails with *HandshakeError, Connect
// with *ConnectError.
//
// # Concurrency
//
// A Conn starts no goroutine. Its methods run on their callers' goroutines,
// plus, for Engine.IO 3 only, the goroutine of one time.AfterFunc timer at a
// time (the client-side ping).
//
// Reading: one goroutine at a time calls Read or Connect (both read the
// WebSocket; a concurrent call fails with ErrConcurrentRead). That reader
// also writes pongs (Engine.IO 4), hands acks to EmitWithAck waiters and
// keeps the namespace table. Packets returned by Read are valid until the
// next Read. EmitWithAck needs a reader: someone must be calling Read for
// its ack to arrive. ReadIdle is Read that gives up between packets after
// a quiet period (ErrIdle), holding nothing, so that a caller can wait for
// SyscallConn with one epoll loop for many Conns instead of a goroutine
// each; SetReadHook gives the reader a function to call before each read
// of the socket (to flush the caller's own batched output).
//
// Writing: Send, Emit, EmitWithAck and Disconnect are safe from any
// goroutine; a mutex serialises WebSocket writes, and a pong the reader
// owes is written by whoever holds that mutex next, so it never waits behind
// more than the write in progress. Each write is bounded by
// Options.WriteTimeout; a failed write ends the Conn.
//
// Close, Recovery, Open, MaxPayload and NextAckID are safe from any
// goroutine at any time. Close interrupts a blocked Read (which returns
// ErrClosed) and fails EmitWithAck waiters.
//
// Timers: the heartbeat watchdog is the WebSocket's read deadline
// (Engine.IO 4: pingInterval+pingTimeout, plus a 1 s grace for round trip
// and scheduling delays, after OPEN and after each ping), so
// an idle Conn has no timer and no goroutine. Engine.IO 3 keeps one ping
// timer: armed after OPEN and after each pong, stopped by the end of the
// Conn (Close, a transport failure, a failed write). Close waits for a tick
// in progress, so no goroutine of the Conn outlives Close.
//
// # Memory
//
// A Conn is meant to be held by the thousand: while idle it keeps small
// bookkeeping and no buffer. gorilla/websocket does the handshake and the
// writes; the Conn reads frames itself, into buffers borrowed while bytes
// are pending (Options.ReadBufferSize). Message buffers come from a pool
// when a message arrives and go back at the next Read; write buffers come
// from a pool shared by all Conns (Options.WriteBufferPool) for the length
// of one write. Nothing of the HTTP handshake is kept after Dial but
// gorilla's 256-byte handshake buffer.
//
// A reader parked in Read still costs its goroutine's stack. ReadIdle lets
// the reader leave a quiet Conn with nothing held: the caller waits for
// SyscallConn to become readable, or for HeartbeatDeadline, with one
// goroutine for all its Conns (an epoll loop), and reads again.
package socketio
