// Main-thread cost of /dashboard: event-loop busy ms per second of the main thread (where the
// feed runs) with 0, 1 and 5 pages open, interleaved in the same run, on the public port (the
// shards relay main's samples) and on --admin-port (main writes the SSE itself); then the same
// with 100k channels holding state (the busiest-channels pass). The pages are SSE readers in a
// child process, as are the load (HTTP publishes) and the subscribers: only the server runs here.
// Run: npm run build && node bench/experiments/dashboard/cost.mjs [phaseSeconds=8] [rounds=2]  (ONLY=part-of-a-name: one scenario)
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { startServer } from '../../../dist/src/index.js';

const PHASE_S = Number(process.argv[2] ?? 8);
const ROUNDS = Number(process.argv[3] ?? 2);
const child = (code) => spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'inherit', 'inherit'] });

/** N pages: each an SSE reader of /dashboard/feed that reads and drops what it gets. */
const pages = (port, n) => child(`
  const streams = [];
  for (let i = 0; i < ${n}; i++) { const r = await fetch('http://127.0.0.1:${port}/dashboard/feed'); const rd = r.body.getReader(); (async () => { for (;;) { const { done } = await rd.read(); if (done) return; } })().catch(() => {}); }
  setInterval(() => {}, 1000);`);

/** Load: 50 WebSocket subscribers on 10 channels, and 200 HTTP publishes a second over them. */
const load = (port) => child(`
  import WebSocket from '${new URL('../../../node_modules/ws/wrapper.mjs', import.meta.url).pathname}';
  for (let i = 0; i < 50; i++) { const ws = new WebSocket('ws://127.0.0.1:${port}/ws'); ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', channel: 'load:' + (i % 10) }))); ws.on('error', () => {}); }
  let n = 0;
  setInterval(() => { for (let i = 0; i < 20; i++) fetch('http://127.0.0.1:${port}/api/publish', { method: 'POST', body: JSON.stringify({ channel: 'load:' + (n++ % 10), data: { n } }) }).then((r) => r.arrayBuffer(), () => {}); }, 100);`);

/**
 * The feed's own main-thread work, timed around it: each tick (sample, JSON, writes to the admin
 * port's pages or posts to the shards) and each busiest-channels pass (its lastCostMs). The
 * engine's private fields are reachable from plain JS; this experiment uses that, nothing else does.
 */
function timeFeed(server) {
  const feed = server.dashboard.feed;
  const own = { ms: 0 };
  const tick = feed.tick.bind(feed);
  feed.tick = () => {
    const t = performance.now();
    tick();
    own.ms += performance.now() - t;
  };
  const refresh = feed.activity.refresh.bind(feed.activity);
  feed.activity.refresh = async (q) => {
    const r = await refresh(q);
    own.ms += feed.activity.lastCostMs;
    return r;
  };
  return own;
}

async function phase(port, n, own) {
  const p = n > 0 ? pages(port, n) : null;
  await new Promise((r) => setTimeout(r, 1500)); // pages connected, feed running
  const e0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const o0 = own.ms;
  await new Promise((r) => setTimeout(r, PHASE_S * 1000));
  const e = performance.eventLoopUtilization(e0);
  const s = (performance.now() - t0) / 1000;
  const feedMs = (own.ms - o0) / s;
  if (p) {
    p.kill();
    await new Promise((r) => p.once('exit', r));
  }
  await new Promise((r) => setTimeout(r, 1500)); // the feed stops
  return { busy: e.active / s, feed: feedMs };
}

const ONLY = process.env.ONLY ?? '';
async function scenario(name, options, { prepare, loaded = true } = {}) {
  if (!name.includes(ONLY)) return;
  const server = await startServer({ port: 0, workers: 2, logLevel: 'silent', ...options });
  await prepare?.(server);
  const feedPort = server.adminPort ?? server.port;
  const own = timeFeed(server);
  const l = loaded ? load(server.port) : null;
  await new Promise((r) => setTimeout(r, 2000));
  const by = { 0: [], 1: [], 5: [] };
  const feed = { 0: [], 1: [], 5: [] };
  // rounds interleave the page counts, so drifting load spreads over all three
  for (let round = 0; round < ROUNDS; round++) for (const n of [0, 1, 5]) {
      const r = await phase(feedPort, n, own);
      by[n].push(r.busy);
      feed[n].push(r.feed);
    }
  if (l) {
    l.kill();
    await new Promise((r) => l.once('exit', r));
  }
  await server.close();
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const base = mean(by[0]);
  console.log(`${name}: the feed's own main-thread ms/s, 0 pages ${feed[0].map((x) => x.toFixed(3)).join(', ')} | 1 page ${feed[1].map((x) => x.toFixed(3)).join(', ')} | 5 pages ${feed[5].map((x) => x.toFixed(3)).join(', ')}`);
  console.log(`${name}: main busy ms/s, 0 pages ${by[0].map((x) => x.toFixed(2)).join(', ')} | 1 page ${by[1].map((x) => x.toFixed(2)).join(', ')} | 5 pages ${by[5].map((x) => x.toFixed(2)).join(', ')} | ratio 1/0 ${(mean(by[1]) / base).toFixed(3)}, 5/0 ${(mean(by[5]) / base).toFixed(3)} | load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

console.log(`phases of ${PHASE_S} s, ${ROUNDS} rounds of 0,1,5 pages; load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
await scenario('idle, public port', {}, { loaded: false });
await scenario('idle, admin port', { adminPort: 0 }, { loaded: false });
await scenario('200 publishes/s to 50 subscribers, public port', {});
await scenario('200 publishes/s to 50 subscribers, admin port', { adminPort: 0 });
// --channel-ttl 0 and --history-size 0: the memory broker's sweeps of idle channels and of
// old history (passes over 100k entries) would otherwise land in some phases
const many = { channelTtl: 0, historySize: 0 };
const fill = async (server) => {
  for (let i = 0; i < 100_000; i += 100) await server.publishMany(Array.from({ length: 100 }, (_, j) => `many:${i + j}`), 1);
};
await scenario('idle, 100k channels with state, public port', many, { loaded: false, prepare: fill });
if ('100k pass'.includes(ONLY) || ONLY === '') {
  // the busiest-channels pass alone, timed by itself (ChannelActivity.lastCostMs; the engine's
  // private fields are reachable from plain JS, which this experiment uses and nothing else does)
  const server = await startServer({ port: 0, workers: 2, logLevel: 'silent', ...many });
  await fill(server);
  const activity = server.dashboard.feed.activity;
  const costs = [];
  for (let i = 0; i < 10; i++) {
    await activity.refresh(['', 'many:9']);
    costs.push(activity.lastCostMs);
  }
  await server.close();
  console.log(`100k pass: busiest-channels pass over 100k channels, two searches, ms: ${costs.map((x) => x.toFixed(1)).join(', ')}`);
}
