// Command gwsoak soaks the gateway through upstream losses: it holds many
// plain WebSocket clients through one gateway in front of the real Node
// Socket.IO test server (testdata/upstream/server.js, with connection state
// recovery), keeps them sending acked events and receiving broadcasts, and
// every --restart-every disrupts the upstream, alternately:
//
//   - a transport drop (GET /control/drop): the node ends every Engine.IO
//     connection without a Socket.IO DISCONNECT; the gateway reconnects
//     with the session's pid and offset and the server recovers it, so no
//     broadcast may be missed (CONTRACT §3 "Upstream loss and reconnect");
//   - a hard restart (SIGKILL, a new node on the same port): the sessions
//     die with the process, the gateway continues on fresh upstream sockets
//     and tells the clients ({"event":"connect",…,"recovered":false}); the
//     broadcasts made meanwhile are lost, as expected.
//
// Usage, from the repository root (it is `make soak`):
//
//	go run ./cmd/gwsoak [--clients 1000] [--duration 5m] [--restart-every 30s] [--rate 2]
//	                    [--port 0] [--drop-mode close|terminate] [--drain 30s]
//	                    [--report-every 10s] [--race-gateway] [--quiet]
//
// # What it checks
//
// Each client sends {"event":"echo","data":{"c":C,"n":K},"id":K} at --rate
// with K = 1, 2, …; every K must get exactly one answer: the ack
// {"ack":K,"data":{"c":C,"n":K}} or an error frame with "id":K
// (upstream_lost for acks pending at a loss, upstream_unavailable when the
// reconnect buffer is full). An id never answered by the end of the drain,
// answered twice, or acked with another payload is a silent loss; there
// must be none.
//
// A broadcaster emits "tick" with seq 1, 2, … every 100 ms through
// /control/broadcast; only the seqs the node acknowledged (HTTP 200) are
// expected. The timeline is cut into windows, one per disruption, starting
// a second before it: every client must receive every acknowledged tick of
// a drop window (and of the quiet time before the first disruption), once
// and in order. Gaps in restart windows are counted, not failed.
//
// Every --report-every, and once at the end, it prints one JSON line on
// stdout (clients connected, events sent, acks, errors by code, silent
// losses, tick gaps by window kind, duplicates, the gateway's goroutines,
// fds, RSS and reconnects by result); the final line adds the checks, the
// per-disruption figures and the gateway's state after every client closed.
// A human summary with PASS/FAIL per check follows; the exit status is 0
// on PASS, 1 on FAIL, 2 when the soak could not run.
//
// # Processes
//
// It starts the Node server and the gateway (built into an os.MkdirTemp
// folder), records every PID, and stops exactly those at the end and on
// SIGINT/SIGTERM; if gwsoak itself is killed the kernel kills them
// (Pdeathsig). It raises RLIMIT_NOFILE to the hard limit for itself and
// its children. The process handling is shared with gwbench in
// internal/loadenv.
//
// # Concurrency
//
// Per client, readLoop is the only reader and sendLoop the only writer of
// data frames; the close at the end writes a control frame (which gorilla
// allows from any goroutine). The broadcaster, the scheduler of
// disruptions, the RSS sampler and the reporter are one goroutine each,
// started and joined by soak.run; a context ends each group. Everything a
// client records is under its mutex; the reporter sums it.
package main
