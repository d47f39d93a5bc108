/**
 * Baseline "typical Node hub": the `ws` library on node:http, a Map channel → Set of
 * sockets, the frame stringified (and UTF-8 encoded) once per publish and `socket.send` to
 * each subscriber. This is what Shardcast is meant to beat by a wide margin.
 *
 *   node dist/bench/baselines/ws-hub.js --port 9002 [--host 127.0.0.1] [--api-key KEY]
 */
import http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { Args } from '../lib/args.js';

const args = new Args();
const host = args.str('host', '127.0.0.1');
const port = args.num('port', 9002);
const apiKey = args.str('api-key', 'bench');

const channels = new Map<string, Set<WebSocket>>();
const lastSeq = new Map<string, number>();
const clients = new Set<WebSocket>();
let nextId = 0;

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 });

function onConnection(ws: WebSocket): void {
  const id = ++nextId;
  const mine = new Set<string>();
  clients.add(ws);
  ws.send(JSON.stringify({ type: 'welcome', id, shard: 0 }));
  ws.on('message', (raw, isBinary) => {
    if (isBinary) return;
    let msg: { type?: unknown; channel?: unknown };
    try {
      msg = JSON.parse((raw as Buffer).toString()) as typeof msg; // binaryType nodebuffer: a Buffer
    } catch {
      ws.send('{"type":"error","error":"bad json"}');
      return;
    }
    if (typeof msg.channel !== 'string') return;
    if (msg.type === 'subscribe') {
      let set = channels.get(msg.channel);
      if (!set) channels.set(msg.channel, (set = new Set()));
      set.add(ws);
      mine.add(msg.channel);
      ws.send(JSON.stringify({ type: 'subscribed', channel: msg.channel, seq: lastSeq.get(msg.channel) ?? 0 }));
    } else if (msg.type === 'unsubscribe') {
      channels.get(msg.channel)?.delete(ws);
      mine.delete(msg.channel);
    }
  });
  ws.on('close', () => {
    clients.delete(ws);
    for (const c of mine) channels.get(c)?.delete(ws);
  });
  ws.on('error', () => undefined); // a reset client must not crash the hub; 'close' follows
}

function reply(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/api/publish') return reply(res, 404, '{"error":"not found"}');
  if (req.headers.authorization !== `Bearer ${apiKey}`) return reply(res, 401, '{"error":"unauthorized"}');
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let channel: unknown;
    let data: unknown;
    try {
      ({ channel, data } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { channel?: unknown; data?: unknown });
    } catch {
      channel = undefined;
    }
    if (typeof channel !== 'string' || data === undefined) return reply(res, 400, '{"error":"expected {channel, data}"}');
    const seq = (lastSeq.get(channel) ?? 0) + 1;
    lastSeq.set(channel, seq);
    // Stringified and encoded once; ws then frames and writes it per socket.
    const frame = Buffer.from(JSON.stringify({ type: 'message', channel, seq, data }));
    for (const ws of channels.get(channel) ?? []) {
      if (ws.readyState === WebSocket.OPEN) ws.send(frame, { binary: false });
    }
    reply(res, 200, `{"seq":${seq}}`);
  });
});

server.on('upgrade', (req, socket, head) => {
  if (req.url !== '/ws') {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, onConnection);
});

server.listen(port, host, () => {
  console.log(`listening ${port}`);
});

process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  for (const ws of clients) ws.close(1001, 'server shutting down');
  // ws waits up to 30 s for the peer's close frame; do not let a silent peer hold us.
  setTimeout(() => {
    for (const ws of clients) ws.terminate();
    wss.close();
  }, 1_000);
});
