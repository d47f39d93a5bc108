/**
 * Baseline "what Node users pick for several nodes": Socket.IO 4 with @socket.io/redis-adapter
 * (ioredis clients), WebSocket transport only (no long-polling upgrade dance). A client joins a
 * room with `emit('subscribe', channel)`; `POST /api/publish {"channel","data"}` (bearer key)
 * does `io.to(channel).emit('message', {channel, data})`, which the adapter also hands to every
 * other node through Redis. Run one per node, all on one Redis.
 *
 *   node dist/bench/baselines/socketio-node.js --port 9003 --redis-url redis://127.0.0.1:6379 [--host 127.0.0.1] [--api-key KEY]
 *
 * Prints "listening on HOST:PORT " once it accepts connections (bench/lib/server-process.ts
 * waits for it).
 */
import http from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { Args } from '../lib/args.js';

const args = new Args();
const host = args.str('host', '127.0.0.1');
const port = args.num('port', 9003);
const apiKey = args.str('api-key', 'bench');
const redisUrl = args.str('redis-url', 'redis://127.0.0.1:6379');

const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/api/publish') return void res.writeHead(404).end();
  if (req.headers.authorization !== `Bearer ${apiKey}`) return void res.writeHead(401).end();
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: { channel?: unknown; data?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString()) as typeof body;
    } catch {
      return void res.writeHead(400).end();
    }
    if (typeof body.channel !== 'string') return void res.writeHead(400).end();
    io.to(body.channel).emit('message', { channel: body.channel, data: body.data });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false, adapter: createAdapter(pub, sub) });
io.on('connection', (socket) => {
  socket.on('subscribe', (channel: unknown) => {
    if (typeof channel === 'string') void socket.join(channel);
    socket.emit('subscribed', channel);
  });
});

server.listen(port, host, () => {
  const a = server.address() as { port: number };
  console.log(`socket.io node listening on ${host}:${a.port} (redis ${redisUrl})`);
});
const stop = (): void => {
  void io.close();
  pub.disconnect();
  sub.disconnect();
  setTimeout(() => process.exit(0), 500).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
