#!/usr/bin/env node
// Scriptable Socket.IO server that the gateway's Go tests run against.
//
// One process = one Socket.IO server (socket.io 4.8.4, or 2.5.1 with
// --version 2) plus a few plain HTTP control endpoints under /control/ on the
// same port. After it listens it prints exactly one line, {"port":N}, to
// stdout and nothing else ever goes to stdout. Diagnostics go to stderr:
// errors always, per-connection logs only with --verbose.
//
// The Go side is internal/testupstream, which documents every flag, event
// handler and control endpoint; keep the two in step.
"use strict";

const http = require("http");

// ---------------------------------------------------------------------------
// Command line

const USAGE = `usage: node server.js [flags]
  --port N               listen port (0 = ephemeral; default 0)
  --host H               listen address (default 127.0.0.1)
  --version 4|2          socket.io 4.8.4 (default) or 2.5.1 (Engine.IO 3)
  --ping-interval MS     Engine.IO pingInterval
  --ping-timeout MS      Engine.IO pingTimeout
  --max-payload BYTES    maxHttpBufferSize
  --csr                  connection state recovery (v4 only)
  --path P               Engine.IO path (default /socket.io/)
  --require-token T      "/" middleware: v4 auth.token, v2 query.token must equal T
  --connect-timeout MS   socket.io connectTimeout (v4 only)
  --redis-url URL        use @socket.io/redis-adapter (v4 only)
  --allow-eio3           allowEIO3 on a v4 server
  --name NODE            node name reported by stats and the handshake event
  --verbose              log connections and disconnections to stderr
  --exit-on-stdin-close  exit when stdin reaches EOF (the Go harness uses it so
                         that a dead test binary never leaves this process behind)`;

function parseArgs(argv) {
  const o = {
    port: 0,
    host: "127.0.0.1",
    version: 4,
    pingInterval: undefined,
    pingTimeout: undefined,
    maxPayload: undefined,
    csr: false,
    path: "/socket.io/",
    requireToken: undefined,
    connectTimeout: undefined,
    redisUrl: undefined,
    allowEIO3: false,
    name: "node",
    verbose: false,
    exitOnStdinClose: false,
  };
  const num = (flag, v) => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 0) {
      fail(`${flag}: want a non-negative integer, got ${JSON.stringify(v)}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) fail(`${flag}: missing value`);
      return argv[++i];
    };
    switch (flag) {
      case "--port": o.port = num(flag, val()); break;
      case "--host": o.host = val(); break;
      case "--version": o.version = num(flag, val()); break;
      case "--ping-interval": o.pingInterval = num(flag, val()); break;
      case "--ping-timeout": o.pingTimeout = num(flag, val()); break;
      case "--max-payload": o.maxPayload = num(flag, val()); break;
      case "--csr": o.csr = true; break;
      case "--path": o.path = val(); break;
      case "--require-token": o.requireToken = val(); break;
      case "--connect-timeout": o.connectTimeout = num(flag, val()); break;
      case "--redis-url": o.redisUrl = val(); break;
      case "--allow-eio3": o.allowEIO3 = true; break;
      case "--name": o.name = val(); break;
      case "--verbose": o.verbose = true; break;
      case "--exit-on-stdin-close": o.exitOnStdinClose = true; break;
      case "-h": case "--help": process.stderr.write(USAGE + "\n"); process.exit(0); break;
      default: fail(`unknown flag ${flag}`);
    }
  }
  if (o.version !== 4 && o.version !== 2) fail(`--version: want 4 or 2, got ${o.version}`);
  if (o.version === 2 && (o.csr || o.redisUrl || o.allowEIO3)) {
    fail("--csr, --redis-url and --allow-eio3 need --version 4");
  }
  return o;
}

function fail(msg) {
  process.stderr.write(`server.js: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
const log = (...a) => process.stderr.write(`[${opts.name}] ${a.join(" ")}\n`);
const vlog = opts.verbose ? log : () => {};

// A test server must survive a handler that throws (for example emit() of a
// reserved name): log and keep serving.
process.on("uncaughtException", (err) => log("uncaught:", err && err.stack ? err.stack : err));
process.on("unhandledRejection", (err) => log("unhandled rejection:", err && err.stack ? err.stack : err));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
if (opts.exitOnStdinClose) {
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("close", () => process.exit(0));
  process.stdin.on("error", () => process.exit(0));
  process.stdin.resume();
}

// ---------------------------------------------------------------------------
// Counters reported by GET /control/stats

const stats = {
  engineConnectionsTotal: 0, // Engine.IO sessions ever opened
  handshakes: 0, // HTTP upgrade requests seen (any path, accepted or not)
  disconnectReasons: {}, // reason -> count, from socket "disconnect"
  connects: {}, // nsp -> sockets that connected
  connectErrors: {}, // nsp -> middleware rejections
  recovered: 0, // sockets restored by connection state recovery
  events: {}, // event name -> events received from clients
};
let lastHandshake = null;

function bump(map, key) {
  map[key] = (map[key] || 0) + 1;
}

function resetStats() {
  stats.engineConnectionsTotal = 0;
  stats.handshakes = 0;
  stats.disconnectReasons = {};
  stats.connects = {};
  stats.connectErrors = {};
  stats.recovered = 0;
  stats.events = {};
  lastHandshake = null;
}

// ---------------------------------------------------------------------------
// HTTP server and Socket.IO

const NAMESPACES = ["/", "/admin", "/reject", "/hang", "/chat"];
// DROP_WAIT_MS bounds how long /control/drop waits for the closes it caused.
const DROP_WAIT_MS = 5000;
const ADMIN_TOKEN = "secret";

const httpServer = http.createServer(control);
httpServer.on("upgrade", () => {
  stats.handshakes++;
});

let io;
if (opts.version === 4) {
  const { Server } = require("socket.io");
  const sopts = { path: opts.path, serveClient: false, allowEIO3: opts.allowEIO3 };
  if (opts.pingInterval !== undefined) sopts.pingInterval = opts.pingInterval;
  if (opts.pingTimeout !== undefined) sopts.pingTimeout = opts.pingTimeout;
  if (opts.maxPayload !== undefined) sopts.maxHttpBufferSize = opts.maxPayload;
  if (opts.connectTimeout !== undefined) sopts.connectTimeout = opts.connectTimeout;
  if (opts.csr) {
    sopts.connectionStateRecovery = { maxDisconnectionDuration: 120000, skipMiddlewares: true };
  }
  io = new Server(httpServer, sopts);
} else {
  const sio2 = require("sio2");
  const sopts = { path: opts.path, serveClient: false };
  if (opts.pingInterval !== undefined) sopts.pingInterval = opts.pingInterval;
  if (opts.pingTimeout !== undefined) sopts.pingTimeout = opts.pingTimeout;
  if (opts.maxPayload !== undefined) sopts.maxHttpBufferSize = opts.maxPayload;
  io = sio2(httpServer, sopts);
}

io.engine.on("connection", () => {
  stats.engineConnectionsTotal++;
});

// The credential a middleware looks at: CONNECT auth on v4, query on v2.
function credential(socket) {
  if (opts.version === 4) {
    const auth = socket.handshake.auth || {};
    return auth.token;
  }
  return (socket.handshake.query || {}).token;
}

function handshakeInfo(socket, nsp) {
  return {
    nsp,
    id: socket.id,
    query: socket.handshake.query || {},
    headers: socket.handshake.headers || {},
    auth: opts.version === 4 ? socket.handshake.auth || {} : null,
    address: socket.handshake.address,
    recovered: socket.recovered || false,
  };
}

function socketsOf(nsp) {
  const s = io.of(nsp).sockets;
  return s instanceof Map ? [...s.values()] : Object.values(s);
}

function rejected(nsp, next, err) {
  bump(stats.connectErrors, nsp);
  next(err);
}

for (const name of NAMESPACES) {
  const nsp = io.of(name);
  // Runs first for every CONNECT attempt, so /control/last-handshake also
  // shows attempts that a later middleware rejects.
  nsp.use((socket, next) => {
    lastHandshake = handshakeInfo(socket, name);
    next();
  });
  if (name === "/" && opts.requireToken !== undefined) {
    nsp.use((socket, next) => {
      if (credential(socket) === opts.requireToken) return next();
      const err = new Error("unauthorized");
      err.data = { reason: "bad token" };
      rejected(name, next, err);
    });
  }
  if (name === "/admin") {
    nsp.use((socket, next) => {
      if (credential(socket) === ADMIN_TOKEN) return next();
      const err = new Error("not authorized");
      err.data = { reason: "bad token" };
      rejected(name, next, err);
    });
  }
  if (name === "/reject") {
    nsp.use((socket, next) => rejected(name, next, new Error("not authorized")));
  }
  if (name === "/hang") {
    nsp.use(() => {}); // never calls next: the CONNECT is never answered
  }
  nsp.on("connection", (socket) => onConnection(nsp, name, socket));
}

// ---------------------------------------------------------------------------
// Event handlers, the same on every namespace.

// withAck splits Socket.IO handler arguments into (args, ack): the ack is the
// last argument when it is a function.
function withAck(fn) {
  return function (...args) {
    const ack = args.length > 0 && typeof args[args.length - 1] === "function" ? args.pop() : null;
    try {
      fn(args, ack);
    } catch (err) {
      log("handler error:", err && err.stack ? err.stack : err);
    }
  };
}

function onConnection(nsp, name, socket) {
  bump(stats.connects, name);
  if (socket.recovered) stats.recovered++;
  lastHandshake = handshakeInfo(socket, name);
  vlog("connect", name, socket.id, socket.recovered ? "(recovered)" : "");

  socket.on("disconnect", (reason) => {
    bump(stats.disconnectReasons, reason);
    vlog("disconnect", name, socket.id, reason);
  });

  // Counts every incoming event, handled or not.
  const countEvent = (event) => bump(stats.events, String(event));
  if (typeof socket.onAny === "function") {
    socket.onAny(countEvent);
  } else {
    // socket.io 2 has no onAny: wrap the packet dispatcher instead.
    const onevent = socket.onevent;
    socket.onevent = function (packet) {
      if (packet && Array.isArray(packet.data) && packet.data.length > 0) countEvent(packet.data[0]);
      return onevent.call(this, packet);
    };
  }

  const on = (event, fn) => socket.on(event, withAck(fn));

  on("echo", (args, ack) => {
    if (ack) ack(...args);
    else socket.emit("echo", ...args);
  });

  on("ask", ([event, ...args], ack) => {
    if (ack) ack("asked");
    socket.emit(event, ...args, (...answer) => socket.emit("answer", ...answer));
  });

  on("disconnect-me", () => socket.disconnect());
  on("disconnect-all", () => socket.disconnect(true));

  on("emit-binary", () => socket.emit("bin", Buffer.from([1, 2, 3]), "x"));
  on("emit-ack-binary", (args, ack) => {
    if (ack) ack(Buffer.from([9, 8]));
  });

  on("broadcast", ([event, ...args], ack) => {
    nsp.emit(event, ...args);
    if (ack) ack("sent");
  });

  on("join", ([room], ack) => {
    socket.join(String(room));
    if (ack) ack("joined");
  });

  on("to-room", ([room, event, ...args], ack) => {
    nsp.to(String(room)).emit(event, ...args);
    if (ack) ack("sent");
  });

  on("handshake", (args, ack) => {
    if (!ack) return;
    const h = handshakeInfo(socket, name);
    ack({
      query: h.query,
      headers: h.headers,
      auth: h.auth,
      address: h.address,
      node: opts.name,
      recovered: h.recovered,
      id: socket.id,
      nsp: name,
    });
  });

  on("burst", ([n, size], ack) => {
    const count = Number(n) || 0;
    const pad = "x".repeat(Number(size) || 0);
    for (let i = 0; i < count; i++) socket.emit("burst", { i, pad });
    if (ack) ack(count);
  });

  on("sleep-ack", ([ms], ack) => {
    if (ack) setTimeout(() => ack("slept"), Number(ms) || 0);
  });

  on("never-ack", () => {});

  on("big", ([bytes]) => socket.emit("big", "x".repeat(Number(bytes) || 0)));

  on("emit-seq", ([n, event], ack) => {
    const count = Number(n) || 0;
    for (let i = 0; i < count; i++) socket.emit(event, i);
    if (ack) ack(count);
  });
}

// ---------------------------------------------------------------------------
// Control endpoints (plain HTTP; engine.io passes every request outside its
// path to this handler).

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

// eventArgs turns the optional data=<json> parameter into emit arguments.
function eventArgs(params) {
  if (!params.has("data")) return [];
  return [JSON.parse(params.get("data"))];
}

function nspParam(params) {
  const nsp = params.get("nsp") || "/";
  if (!NAMESPACES.includes(nsp)) throw new Error(`unknown namespace ${nsp}`);
  return nsp;
}

function requireParam(params, key) {
  const v = params.get(key);
  if (v === null || v === "") throw new Error(`missing ${key}`);
  return v;
}

const routes = {
  "/control/stats": () => {
    const sockets = {};
    for (const name of NAMESPACES) sockets[name] = socketsOf(name).length;
    return {
      engineConnectionsTotal: stats.engineConnectionsTotal,
      engineConnections: io.engine.clientsCount,
      sockets,
      handshakes: stats.handshakes,
      disconnectReasons: stats.disconnectReasons,
      connects: stats.connects,
      connectErrors: stats.connectErrors,
      recovered: stats.recovered,
      events: stats.events,
      node: opts.name,
      version: opts.version,
    };
  },

  "/control/reset-stats": () => {
    resetStats();
    return { ok: true };
  },

  "/control/last-handshake": () => lastHandshake,

  "/control/broadcast": (params) => {
    const event = requireParam(params, "event");
    io.of(nspParam(params)).emit(event, ...eventArgs(params));
    return { ok: true };
  },

  "/control/to-room": (params) => {
    const room = requireParam(params, "room");
    const event = requireParam(params, "event");
    io.of(nspParam(params)).to(room).emit(event, ...eventArgs(params));
    return { ok: true };
  },

  "/control/emit-all": (params) => {
    const event = requireParam(params, "event");
    const args = eventArgs(params);
    const n = params.has("n") ? Number(params.get("n")) : 1;
    if (!Number.isInteger(n) || n < 0) throw new Error("n: want a non-negative integer");
    const sockets = socketsOf(nspParam(params));
    for (const socket of sockets) {
      for (let i = 0; i < n; i++) socket.emit(event, ...args);
    }
    return { ok: true, sockets: sockets.length };
  },

  // Ends every Engine.IO session without a Socket.IO DISCONNECT, so clients
  // see a transport loss ("transport close") and CSR sessions are kept.
  // mode=close (default): the engine closes the transport (server reason
  // "forced close"; the client reads a close frame without status, 1005).
  // mode=terminate: the TCP connection is destroyed (server reason
  // "transport close"; the client sees 1006).
  // Answers once the server has processed every one of those closes (or after
  // DROP_WAIT_MS), so a following broadcast never reaches a dropped socket.
  "/control/drop": (params) => {
    const mode = params.get("mode") || "close";
    if (mode !== "close" && mode !== "terminate") throw new Error("mode: want close or terminate");
    const clients = Object.values(io.engine.clients);
    const closed = clients.map((client) => new Promise((resolve) => {
      if (client.readyState === "closed") return resolve();
      client.once("close", () => resolve());
      const ws = client.transport && client.transport.socket;
      if (mode === "terminate" && ws && typeof ws.terminate === "function") ws.terminate();
      else client.close();
    }));
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(resolve, DROP_WAIT_MS); });
    return Promise.race([Promise.all(closed), timeout]).then(() => {
      clearTimeout(timer);
      return { ok: true, dropped: clients.length };
    });
  },

  "/control/close": (params, res) => {
    reply(res, 200, { ok: true });
    res.on("finish", () => io.close());
    return undefined; // already answered
  },
};

function control(req, res) {
  const url = new URL(req.url, "http://localhost");
  const route = routes[url.pathname];
  if (!route || (req.method !== "GET" && req.method !== "POST")) {
    reply(res, 404, { error: `no such endpoint: ${req.method} ${url.pathname}` });
    return;
  }
  // Drain any request body: parameters travel in the query string.
  req.resume();
  // A route returns the JSON body, a Promise of it, or undefined when it
  // answered itself.
  new Promise((resolve) => resolve(route(url.searchParams, res))).then(
    (body) => {
      if (body !== undefined) reply(res, 200, body);
    },
    (err) => reply(res, 400, { error: String(err && err.message ? err.message : err) }),
  );
}

// ---------------------------------------------------------------------------
// Start

async function main() {
  if (opts.redisUrl) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: opts.redisUrl });
    const sub = pub.duplicate();
    for (const c of [pub, sub]) c.on("error", (err) => log("redis:", err && err.message ? err.message : err));
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  httpServer.on("error", (err) => {
    log("listen:", err.code || "", err.message);
    process.exit(3);
  });
  httpServer.listen(opts.port, opts.host, () => {
    process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
    vlog(`socket.io v${opts.version} listening on ${opts.host}:${httpServer.address().port}${opts.path}`);
  });
}

main().catch((err) => {
  log("start:", err && err.stack ? err.stack : err);
  process.exit(1);
});
