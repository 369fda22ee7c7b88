// A small Socket.IO 4 chat server to try the gateway against.
//
//   npm ci && npm start            # listens on PORT (default 3000)
//
// Plain WebSocket clients reach it through the gateway, which turns their
// JSON frames into Socket.IO events and back (see ../README.md).
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.env.PORT || 3000);

// A plain HTTP server: Socket.IO answers under /socket.io/, everything else
// gets a one-line hint.
const httpServer = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/plain" });
  res.end("socket.io chat example: connect through the gateway\n");
});

const io = new Server(httpServer, { serveClient: false });

// With REDIS_URL set (deploy/docker-compose.yml does), several nodes share
// rooms and broadcasts through the Redis adapter.
async function useRedis(url) {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  const pub = createClient({ url });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
  console.log(`using the Redis adapter at ${url}`);
}

io.on("connection", (socket) => {
  console.log(`connect ${socket.id}`);

  // Every new socket is greeted, so a client sees traffic at once.
  socket.emit("welcome", { id: socket.id, text: "welcome to the chat" });

  // chat: accepts "text" or {text: "..."} and sends it to everyone,
  // the sender included.
  socket.on("chat", (msg) => {
    const text = typeof msg === "string" ? msg : msg && msg.text;
    if (typeof text !== "string") return;
    io.emit("chat", { from: socket.id, text });
  });

  // echo: answers through the acknowledgement callback when the client asked
  // for one (a gateway frame with an "id"), else with an "echo" event.
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
    else socket.emit("echo", ...args);
  });

  // join: enter a room; acknowledged with "joined" when asked.
  socket.on("join", (room, ack) => {
    socket.join(String(room));
    if (typeof ack === "function") ack("joined");
  });

  // to-room: emit an event to everyone in a room (the sender too, if a member).
  socket.on("to-room", (room, event, ...args) => {
    if (typeof args[args.length - 1] === "function") args.pop();
    io.to(String(room)).emit(String(event), ...args);
  });

  socket.on("disconnect", (reason) => console.log(`disconnect ${socket.id}: ${reason}`));
});

const ready = process.env.REDIS_URL ? useRedis(process.env.REDIS_URL) : Promise.resolve();
ready.then(
  () => httpServer.listen(port, () => console.log(`chat server listening on :${port}`)),
  (err) => {
    console.error(`cannot use Redis: ${err.message}`);
    process.exit(1);
  },
);

// Stop on Ctrl-C or SIGTERM: io.close() ends every socket and the listener.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    console.log(`${signal}: shutting down`);
    io.close(() => process.exit(0));
  });
}
