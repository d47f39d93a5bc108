// The server side of the acceptor experiment (docs/architecture.md, "Why each shard accepts its
// own connections"): SHARDS worker threads, each with a bare uWS App (a WebSocket route that
// sends one welcome frame), and either every shard listening on PORT (MODE=reuseport, what
// Shardcast does) or the main thread listening and handing each accepted socket to the shards'
// apps round-robin (MODE=acceptor: addChildAppDescriptor, uWS.js 20.57 only). Driven by
// bench.mjs over IPC: stats (connections and CPU per thread), restart (close a shard's app, end
// its thread, start a new one; in acceptor mode with or without removeChildAppDescriptor first).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const uws = require('@btc-vision/uwebsockets.js');
const MODE = process.env.MODE ?? 'reuseport';
const SHARDS = Number(process.env.SHARDS ?? 2);
const PORT = Number(process.env.PORT ?? 9100);

function shardApp(id) {
  let opened = 0, open = 0;
  const app = uws.App().ws('/*', {
    idleTimeout: 0, maxPayloadLength: 1024,
    open: (ws) => { opened++; open++; ws.send(`{"type":"welcome","shard":${id}}`); },
    message: (ws, m) => ws.send(m),
    close: () => { open--; },
  });
  return { app, stats: () => ({ opened, open }) };
}

if (!isMainThread) {
  const { id, mode, port } = workerData;
  const { app, stats } = shardApp(id);
  let listenSocket = null;
  if (mode === 'reuseport') app.listen('127.0.0.1', port, (s) => { listenSocket = s; parentPort.postMessage({ type: 'ready', id, ok: !!s }); });
  else parentPort.postMessage({ type: 'ready', id, ok: true, descriptor: app.getDescriptor() });
  parentPort.on('message', (m) => {
    if (m.type === 'stats') parentPort.postMessage({ type: 'stats', id, ...stats(), cpu: process.threadCpuUsage() });
    if (m.type === 'close') { if (listenSocket) uws.us_listen_socket_close(listenSocket); app.close(); parentPort.postMessage({ type: 'closed', id }); parentPort.close(); }
  });
} else {
  const workers = new Map();
  const descriptors = new Map();
  let acceptor = null;
  if (MODE === 'acceptor') {
    acceptor = uws.App();
    await new Promise((r) => acceptor.listen('127.0.0.1', PORT, (s) => { if (!s) throw new Error('listen'); r(); }));
  }
  const start = (id) => new Promise((resolve) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { id, mode: MODE, port: PORT } });
    w.on('message', (m) => {
      if (m.type === 'ready') {
        if (MODE === 'acceptor') { descriptors.set(id, m.descriptor); acceptor.addChildAppDescriptor(m.descriptor); }
        resolve();
      }
    });
    w.on('error', (e) => console.error('worker', id, e.message));
    workers.set(id, w);
  });
  for (let i = 0; i < SHARDS; i++) await start(i);
  const ask = (w, send, want = send) => new Promise((resolve) => { const f = (m) => { if (m.type === want) { w.off('message', f); resolve(m); } }; w.on('message', f); w.postMessage({ type: send }); });
  process.on('message', async (m) => {
    if (m.type === 'stats') {
      const shards = await Promise.all([...workers.values()].map((w) => ask(w, 'stats')));
      process.send({ type: 'stats', shards, main: process.threadCpuUsage() });
    }
    if (m.type === 'restart') {
      // a shard restart: stop handing it sockets (acceptor), close its app, end the thread, start a new one
      const id = m.id, w = workers.get(id);
      if (MODE === 'acceptor' && m.remove) acceptor.removeChildAppDescriptor(descriptors.get(id));
      const exited = new Promise((r) => w.once('exit', r));
      await ask(w, 'close', 'closed');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]); // the thread ends once its loop is empty
      await new Promise((r) => setTimeout(r, m.gapMs ?? 0)); // the window a real restart has before its replacement is up
      const t = Date.now();
      await start(id);
      process.send({ type: 'restarted', ms: Date.now() - t });
    }
    if (m.type === 'exit') process.exit(0);
  });
  process.send({ type: 'ready' });
}
