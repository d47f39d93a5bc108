/**
 * Baseline "floor": the cheapest fan-out this machine can do with uWebSockets.js — one thread,
 * native pub/sub (`ws.subscribe` + `app.publish`), the message frame encoded once per publish
 * and fanned out in C++. Speaks the bench subset of the Shardcast protocol (welcome,
 * subscribe/subscribed, message frames, POST /api/publish with a bearer key), so the same
 * driver measures it and Shardcast.
 *
 *   node dist/bench/baselines/uws-floor.js --port 9001 [--host 127.0.0.1] [--api-key KEY]
 */
import uWS from 'uWebSockets.js';
import { Args } from '../lib/args.js';

interface Client {
  id: number;
}

const args = new Args();
const host = args.str('host', '127.0.0.1');
const port = args.num('port', 9001);
const apiKey = args.str('api-key', 'bench');

// The package silently falls back to a JS shim when its binary does not load; a "floor"
// measured on the shim would be meaningless.
if (!String(uWS.App).includes('[native code]')) {
  console.error('uws-floor: uWebSockets.js native binary did not load; refusing to run on the fallback');
  process.exit(1);
}

const lastSeq = new Map<string, number>();
const sockets = new Set<uWS.WebSocket<Client>>();
let nextId = 0;
let listenSocket: uWS.us_listen_socket | null = null;
const decoder = new TextDecoder();

const app = uWS.App();

app.ws<Client>('/ws', {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 * 1024,
  idleTimeout: 120,
  // Generous per-socket buffer so a briefly slow reader is not silently skipped by publish().
  maxBackpressure: 1024 * 1024,
  open: (ws) => {
    const id = ++nextId;
    ws.getUserData().id = id;
    sockets.add(ws);
    ws.send(JSON.stringify({ type: 'welcome', id, shard: 0 }), false);
  },
  message: (ws, message) => {
    let msg: { type?: unknown; channel?: unknown };
    try {
      msg = JSON.parse(decoder.decode(message)) as typeof msg;
    } catch {
      ws.send('{"type":"error","error":"bad json"}', false);
      return;
    }
    if (msg.type === 'subscribe' && typeof msg.channel === 'string') {
      ws.subscribe(msg.channel);
      ws.send(JSON.stringify({ type: 'subscribed', channel: msg.channel, seq: lastSeq.get(msg.channel) ?? 0 }), false);
    } else if (msg.type === 'unsubscribe' && typeof msg.channel === 'string') {
      ws.unsubscribe(msg.channel);
    }
  },
  close: (ws) => {
    sockets.delete(ws);
  },
});

app.post('/api/publish', (res, req) => {
  // Headers are only readable synchronously, before the body arrives.
  if (req.getHeader('authorization') !== `Bearer ${apiKey}`) {
    res.writeStatus('401 Unauthorized').end('{"error":"unauthorized"}');
    return;
  }
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const chunks: Buffer[] = [];
  res.onData((chunk, isLast) => {
    // uWS neuters `chunk` after this callback returns, so copy it.
    chunks.push(Buffer.from(new Uint8Array(chunk.slice(0))));
    if (!isLast || aborted) return;
    let channel: unknown;
    let data: unknown;
    try {
      ({ channel, data } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { channel?: unknown; data?: unknown });
    } catch {
      channel = undefined;
    }
    if (typeof channel !== 'string' || data === undefined) {
      res.cork(() => res.writeStatus('400 Bad Request').end('{"error":"expected {channel, data}"}'));
      return;
    }
    const seq = (lastSeq.get(channel) ?? 0) + 1;
    lastSeq.set(channel, seq);
    // Encoded once; uWS builds one frame and writes it to every subscriber.
    app.publish(channel, JSON.stringify({ type: 'message', channel, seq, data }), false);
    res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', 'application/json').end(`{"seq":${seq}}`));
  });
});

app.any('/*', (res) => {
  res.writeStatus('404 Not Found').end();
});

app.listen(host, port, (ls) => {
  if (!ls) {
    console.error(`uws-floor: could not listen on ${host}:${port}`);
    process.exit(1);
  }
  listenSocket = ls;
  console.log(`listening ${port}`);
});

process.once('SIGTERM', () => {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  listenSocket = null;
  for (const ws of [...sockets]) ws.end(1001, 'server shutting down');
  // A client that never answers the close handshake must not keep us alive.
  setTimeout(() => {
    for (const ws of [...sockets]) ws.close();
    (app as unknown as { close(): void }).close();
  }, 1_000).unref();
});
