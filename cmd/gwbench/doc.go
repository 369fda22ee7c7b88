// Command gwbench measures the gateway against the performance targets of
// the design (DESIGN.md, "Performance targets"): it starts every process it
// needs, drives three arms interleaved in one run, prints one JSON line per
// phase on stdout, then a human summary of ratios with PASS/FAIL per target.
//
// Run it from the repository (it finds the module root by walking up from
// the working directory):
//
//	go run ./cmd/gwbench                      # default run, under a minute
//	go run ./cmd/gwbench --phases latency     # one phase
//	go run ./cmd/gwbench --scale              # adds the 9,000-client phase
//
// # What it starts
//
// Each process is started by gwbench, its PID recorded, and exactly those
// PIDs are stopped at the end (SIGTERM, then SIGKILL after a grace period),
// also on SIGINT or an error; the children get SIGKILL from the kernel if
// gwbench itself dies (Pdeathsig), and the Node server also exits when its
// stdin closes. The process handling is shared with gwsoak in
// internal/loadenv.
//
//   - the Node socket.io 4.8.4 test upstream, testdata/upstream/server.js
//     (`npm ci` in that folder first), with its default heartbeat;
//   - the gateway, built once with `go build` into the temp folder and run
//     with GATEWAY_LISTEN_ADDR on a free loopback port,
//     GATEWAY_UPSTREAM_URL pointing at the Node server,
//     GATEWAY_MAX_CONNECTIONS=0 and GATEWAY_LOG_LEVEL=warn;
//   - nginx (Debian's nginx-light), single process, with a configuration
//     generated into the temp folder that proxies /socket.io/ to the Node
//     server as a plain WebSocket proxy. Without nginx, arm R is skipped
//     with a note.
//
// Everything it writes goes to one os.MkdirTemp folder, removed at the end.
//
// # Arms
//
//   - A: a minimal Socket.IO client (package socketio: Dial, Connect, Send,
//     Read) straight to the Node server.
//   - G: plain WebSocket clients (gorilla) through the gateway, sending
//     {"event":"echo","data":P,"id":N} and expecting {"ack":N,"data":P}.
//   - R: the A client through nginx: the cost of one well-built hop.
//
// Every echo checks its ack id and payload; a lost or mismatched ack fails
// the run (exit status 1, and the summary says so). Missed performance
// targets print FAIL but only change the exit status with --strict.
//
// # Phases
//
// Within a round every arm's clients stay connected and the arms take
// turns in short slices, in a rotating order (blocks of 20 echoes for
// latency, 250 ms turns for throughput and fan-in, batches of 100 connects
// for idle), so that whatever else the machine does falls on every arm
// alike. Each round of the timed phases reconnects.
//
// The phases run in this order (idle first, so that its memory figure is
// taken on a fresh gateway):
//
//   - idle: --clients idle clients per arm, all held at once: the gateway's
//     RSS delta per G client, goroutines per client (go_goroutines from its
//     /metrics) and fds per client; connects/s per arm and G/A; every G
//     client then answers one echo. The gateway exposes no /debug/pprof,
//     so no heap figure is taken.
//   - latency: one client per arm, sequential echo-with-ack (--echoes per
//     arm per round after 200 of warm-up); p50/p90/p99/p99.9 per arm and the
//     added latency (G−A) against (R−A) at p50 and p99.
//   - throughput: one connection per arm with --inflight acks in flight,
//     --duration per arm per round; each turn starts empty and ends
//     drained. Echoes/s, G/A, and CPU µs per echo of the gateway, nginx,
//     the Node server and gwbench itself (utime+stime from /proc/PID/stat,
//     in units of `getconf CLK_TCK`).
//   - fanin: --fanin clients per arm at once, each echoing sequentially,
//     half of --duration per arm per round; aggregate echoes/s and p99.
//   - churn: --churn clients connect, echo once and leave through G (half
//     with a close handshake, half by dropping TCP); the gateway's
//     goroutines and fds must come back to their baseline (within 2) and
//     the Node server's engine connection count to 0, within 10 s.
//   - scale (only with --scale): --scale-clients clients held through one
//     gateway, every one answering an echo. gwbench raises its
//     RLIMIT_NOFILE to the hard limit at start; the children inherit it.
//
// Each phase prints one JSON line ({"phase":"latency",…}); a last line
// {"phase":"summary",…} holds the target checks, the lost and mismatched
// ack counts and any failure; the human summary follows unless
// --json-only.
//
// # Flags
//
//	--rounds N         rounds of the timed phases (latency, throughput, fanin; default 3)
//	--duration D       throughput time per arm per round; fanin uses half (default 2s)
//	--echoes N         latency echoes per arm per round (default 2000)
//	--inflight N       acks in flight in the throughput phase (default 100)
//	--payload N        bytes of the echoed JSON value, a string (default 70)
//	--phases LIST      comma-separated subset of idle,latency,throughput,fanin,churn,scale
//	--arms LIST        comma-separated subset of A,G,R (default A,G,R)
//	--clients N        idle clients per arm (default 2000)
//	--fanin N          fan-in clients (default 200)
//	--churn N          churn clients (default 500)
//	--scale            add the scale phase
//	--scale-clients N  clients of the scale phase (default 9000)
//	--json-only        print only the JSON lines (progress notes still go to stderr)
//	--strict           exit 1 when a performance target is missed
//	--race-gateway     build the gateway with -race (the test does, to share the build cache)
//	--repo DIR         module root (default: found from the working directory)
//	--quiet            no progress notes on stderr
//	--gateway-env K=V  add K=V to the gateway's environment only (repeatable)
package main
