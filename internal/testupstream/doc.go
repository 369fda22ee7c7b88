// Package testupstream starts the real Node Socket.IO servers that the
// gateway's tests run against, one process per [Start], and talks to their
// control endpoints.
//
// The server is testdata/upstream/server.js (socket.io 4.8.4, or 2.5.1 with
// Options.Version 2, whose Engine.IO protocol is 3). Its npm dependencies are
// pinned by testdata/upstream/package-lock.json; install them with
// `npm ci` in that folder. Without Node or the installed modules, [Start]
// skips the test, or fails it when the CI environment variable is set.
//
// # Namespaces
//
// Every server registers the same namespaces; connecting to any other one
// gives the server's own "Invalid namespace" CONNECT_ERROR.
//
//   - "/": no middleware, unless Options.RequireToken is set: then the CONNECT
//     auth "token" (v4) or the handshake query "token" (v2) must equal it, else
//     CONNECT_ERROR "unauthorized" with data {"reason":"bad token"}.
//   - "/admin": the token (auth on v4, query on v2, e.g. `40/admin?token=secret,`)
//     must be [AdminToken], else "not authorized" with data {"reason":"bad token"}.
//   - "/reject": always "not authorized", without data.
//   - "/hang": the middleware never answers the CONNECT.
//   - "/chat": no middleware.
//
// # Events
//
// Every connected socket, in every namespace, handles these events. "ack"
// means the client sent an ack id (the handler's last argument is a callback).
//
//   - echo(...args): acks args when asked for an ack, else emits "echo" with args.
//     Binary attachments come back as binary.
//   - ask(event, ...args): acks "asked" if asked to, then emits event with args
//     and an ack id; the client's ack values V come back as an "answer" event
//     with ...V.
//   - disconnect-me: socket.disconnect() (this namespace only, DISCONNECT packet).
//   - disconnect-all: socket.disconnect(true) (every namespace, then the
//     Engine.IO connection closes).
//   - emit-binary: emits "bin" with the bytes 01 02 03 and "x".
//   - emit-ack-binary: acks with the bytes 09 08.
//   - broadcast(event, ...args): emits to every socket of the namespace, on
//     every node when a Redis adapter is used; acks "sent".
//   - join(room): joins room; acks "joined".
//   - to-room(room, event, ...args): emits to the room; acks "sent".
//   - handshake: acks {query, headers, auth (null on v2), address, node,
//     recovered, id, nsp}.
//   - burst(n, size): emits n "burst" events {i, pad: size times "x"} in
//     order, then acks n.
//   - sleep-ack(ms): acks "slept" after ms milliseconds.
//   - never-ack: never acks.
//   - big(bytes): emits "big" with a string of that many "x".
//   - emit-seq(n, event): emits event n times with the single argument
//     i = 0…n-1 (with Options.CSR each gets a recovery offset); acks n.
//
// # Control endpoints
//
// Plain HTTP GET (or POST) requests on the server's port, answered with JSON;
// see [Server.Get]. Parameters travel in the query string; data is a JSON value.
//
//   - /control/stats: [Stats].
//   - /control/reset-stats: zeroes the counters of /control/stats and forgets
//     the last handshake.
//   - /control/last-handshake: [Handshake] of the latest CONNECT attempt,
//     JSON null before the first.
//   - /control/broadcast?nsp=/&event=E&data=JSON: emits to the namespace.
//   - /control/to-room?nsp=/&room=R&event=E&data=JSON: emits to a room.
//   - /control/emit-all?nsp=/&event=E&data=JSON&n=K: emits K times to each
//     socket of the namespace, one by one.
//   - /control/drop?mode=close|terminate: ends every Engine.IO connection
//     without a Socket.IO DISCONNECT. The client sees a transport loss and,
//     with Options.CSR, the server keeps each session for recovery. mode=close
//     (default) closes the WebSocket cleanly (server reason "forced close", the
//     client reads close code 1005); mode=terminate destroys the TCP connection
//     (server reason "transport close", the client sees 1006). It answers
//     {"ok":true,"dropped":N} once the server has processed those closes.
//   - /control/close: io.close(): sockets end with "server shutting down" and
//     no DISCONNECT packet, and the listener closes. The process then exits on
//     its own unless a Redis adapter keeps it alive.
//
// Missing data means the event is emitted without arguments. A bad parameter
// is answered with status 400 and {"error": "..."}.
package testupstream
