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
// Each upgraded client gets one Bridge and exactly three goroutines, all
// owned by the Bridge and joined by Bridge.Run before it returns:
//
//   - clientReader (the goroutine running Run) is the only reader of the
//     client WebSocket: frames are translated and written upstream with
//     Upstream.Send, which is safe for concurrent use.
//   - upstreamReader is the only caller of Upstream.Read: packets are
//     translated into frames and pushed onto the client's send queue. It
//     never blocks on the client; a queue over GATEWAY_SEND_BUFFER_BYTES
//     ends the bridge as a slow consumer (1008).
//   - clientWriter is the only writer of data frames to the client: it
//     drains the queue, sends pings, and on the end writes the close frame.
//     Control frames also come from gorilla's own handlers (WriteControl is
//     safe from any goroutine).
//
// The first ending (client close, upstream disconnect, upstream loss,
// slow consumer, policy, shutdown, error) is recorded once by finish, which
// cancels the bridge's context, disconnects and closes the upstream socket.
// The writer then writes the close frame mapped from that ending, waits
// briefly for the client's reply and closes the client connection, which
// ends the reader. Ack timeouts and credential expiry are time.AfterFunc
// timers stopped before Run returns.
//
// The route handler starts Run in a goroutine the Server tracks and then
// returns, so net/http's per-request buffers are released while the client
// stays connected; Server.Shutdown cancels every bridge (close 1001) and
// waits for all of them.
package proxy
