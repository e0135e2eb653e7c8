'use strict';
// Reference server: bare Node socket.io 4.8 speaking the /chat subset that the
// benchmarks use. No auth, no storage, stock options (perMessageDeflate off,
// which is socket.io's default; Node's default listen backlog of 511).
//
//   node bench/node_server.js [--host 127.0.0.1] [--port 8000]
//   (PORT / HOST environment variables work too; flags win)

const http = require('http');
const crypto = require('crypto');
const { Server } = require('socket.io');

function option(name, envName, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i !== -1 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (process.env[envName]) return process.env[envName];
  return fallback;
}

const host = option('host', 'HOST', '127.0.0.1');
const port = Number(option('port', 'PORT', '8000'));

function roomIdOf(arg) {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && typeof arg.roomId === 'string') return arg.roomId;
  return null;
}

function invalid(ack, message) {
  if (typeof ack === 'function') ack({ ok: false, error: { code: 'invalid', message } });
}

const httpServer = http.createServer((req, res) => {
  // socket.io answers /socket.io/ itself; everything else lands here.
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"error":{"code":"not_found","message":"not found"}}');
});

const io = new Server(httpServer, { serveClient: false, cors: { origin: '*' } });
const chat = io.of('/chat');

chat.on('connection', (socket) => {
  socket.on('JoinChatRoom', (arg, ack) => {
    if (typeof arg === 'function') { ack = arg; arg = undefined; }
    const roomId = roomIdOf(arg);
    if (!roomId) return invalid(ack, 'roomId is required');
    socket.join(roomId);
    if (typeof ack === 'function') ack({ ok: true });
  });

  socket.on('SendMessage', (payload, ack) => {
    if (typeof payload === 'function') { ack = payload; payload = undefined; }
    if (!payload || typeof payload !== 'object') return invalid(ack, 'payload must be an object');
    const { roomId, content } = payload;
    if (typeof roomId !== 'string' || !roomId) return invalid(ack, 'roomId is required');
    if (typeof content !== 'string' || !content.trim()) return invalid(ack, 'content is required');
    const clientMessageId = typeof payload.clientMessageId === 'string' ? payload.clientMessageId : null;
    const message = {
      id: crypto.randomUUID(),
      roomId,
      senderId: socket.id,
      senderUsername: 'bench',
      content,
      createdAt: new Date().toISOString(),
      clientMessageId,
    };
    chat.to(roomId).emit('ReceiveMessage', message);
    if (typeof ack === 'function') ack({ ok: true, message });
  });
});

httpServer.on('error', (err) => {
  console.error(`node reference server: cannot listen on ${host}:${port}: ${err.message}`);
  process.exit(2);
});

httpServer.listen(port, host, () => {
  const version = require('socket.io/package.json').version;
  console.log(`node socket.io ${version} reference listening on http://${host}:${port} (listen backlog: Node default 511)`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
