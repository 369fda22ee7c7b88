// Package proxy is the gateway's HTTP front and its per-client bridges.
//
// A Server routes requests with chi: each configured route path upgrades
// plain WebSocket clients, /healthz and /readyz report the process state,
// /metrics and /console are mounted when configured. For every client the
// route handler admits the request (origin, limits, credentials), dials the
// client's own upstream Socket.IO connection and connects the route's
// namespace, and only then upgrades. Failures before the upgrade are plain
// HTTP answers from one error sink (writeReject) with the JSON body of
// CONTRACT §1.
//
// # Concurrency
//
// Each upgraded client gets one Bridge, whose parts are goroutines that
// come and go; the last part to end completes the bridge (Bridge.Start's
// onEnd):
//
//   - clientReader is the only reader of the client connection; it reads
//     WebSocket frames itself (clientread.go). Frames are translated and
//     written upstream with Upstream.Send, which is safe for concurrent
//     use. A reader that has heard nothing for a second parks: it hands the
//     socket to the Server's idlepoll.Poller and ends, and the Poller
//     starts the next reader when bytes arrive. An idle client therefore
//     costs no reader goroutine and no read buffer.
//   - upstreamReader is the only caller of Upstream.Read: packets are
//     translated into frames and pushed onto the client's send queue. It
//     never blocks on the client; a queue over GATEWAY_SEND_BUFFER_BYTES
//     ends the bridge as a slow consumer (1008). It also owns reconnects.
//   - clientWriter is started by the first frame pushed onto an empty queue
//     and ends when the queue is empty again; at most one runs at a time
//     (the queue decides, under its lock). It frames the queued messages
//     itself and writes a whole batch with one writev. Control frames
//     (pongs, pings, the close frame) are single writes the socket
//     serialises with the writer's.
//
// The first ending (client close, upstream disconnect, upstream loss,
// slow consumer, policy, shutdown, error) is recorded once by finish, which
// cancels the bridge's context, stops new writers, starts closeClient, and
// disconnects and closes the upstream socket. closeClient waits for a
// running writer, writes what may still be written and the close frame
// mapped from that ending, waits briefly for the client's reply, takes
// the socket back from the Poller and closes the client connection, which
// ends a running reader. Pings (and the client watchdog), ack timeouts and
// credential expiry are time.AfterFunc timers, stopped when the bridge
// completes.
//
// Upstream writes are batched: a bridge corks its upstream connection after
// each read of client bytes and flushes it before the next read, so the
// frames translated from one chunk leave in one write (see cork.go).
//
// The route handler starts the bridge and returns, so net/http's
// per-request buffers are released while the client stays connected;
// Server.Shutdown cancels every bridge (close 1001) and waits for all of
// them.
package proxy
