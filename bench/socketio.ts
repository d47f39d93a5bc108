/**
 * Shardcast against Socket.IO with @socket.io/redis-adapter — what Node users pick to broadcast
 * across several nodes — driven by the same load on the same box, in ONE run with the targets
 * interleaved (every repeat runs both, the first one alternating; the table shows medians and
 * ratios to Socket.IO of the same run):
 *
 *   shardcast  --nodes Shardcast nodes (--workers 1 each) on one Redis (--broker redis)
 *   socketio   --nodes Socket.IO processes on the same Redis (bench/baselines/socketio-node.ts)
 *
 * The load (bench/lib/dialect-load.ts, --threads load threads): --clients WebSocket clients,
 * connection i to node i % nodes, all on one channel; the publisher POSTs to the first node's
 * /api/publish at --rate msg/s (open loop, 128-byte data), so every message reaches the
 * other nodes through Redis. Server CPU = every node process + redis-server (from /proc), from
 * the first publish until every delivery arrived (or the drain bound), per delivery; latency =
 * arrival − send time of each message, p50/p99 over all deliveries.
 *
 *   node dist/bench/socketio.js [--targets shardcast,socketio] [--nodes 2] [--clients 1000]
 *       [--rate 100] [--duration 10] [--repeats 3] [--threads 2] [--json PATH|none]
 *
 * Needs redis-server on PATH.
 */
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { sleep, wallMs } from '../src/bench/clock.js';
import { sampleTree } from '../src/bench/server-probe.js';
import { RedisServer } from '../test/helpers/redis.js';
import { Args } from './lib/args.js';
import { figure, median, requirePositive } from './lib/figures.js';
import type { Dialect, DialectLoadResult, DialectLoadTask } from './lib/dialect-load.js';
import { usageExit } from './lib/harness.js';
import { loadAverage } from './lib/machine.js';
import { ServerProcess } from './lib/server-process.js';
import { runRedisHarness } from './lib/redis-harness.js';
import { renderMarkdown } from './lib/table.js';

const KNOWN = ['targets', 'nodes', 'clients', 'rate', 'duration', 'repeats', 'threads', 'json'];
const TARGETS: readonly Dialect[] = ['shardcast', 'socketio'];
const HOST = '127.0.0.1';
const API_KEY = 'bench-key';
const CHANNEL = 'scores';
const DRAIN_MS = 15_000;

const args = new Args();
const usage = usageExit(KNOWN);
const unknown = args.unknown(KNOWN);
if (unknown.length > 0) usage(`unknown option(s): ${unknown.map((u) => `--${u}`).join(' ')}`);
const targets = args.list('targets', [...TARGETS]) as Dialect[];
const nodes = args.num('nodes', 2);
const clients = args.num('clients', 1000);
const rate = args.num('rate', 100);
const durationS = args.num('duration', 10);
const repeats = args.num('repeats', 3);
const threads = args.num('threads', 2);
if (targets.some((t) => !TARGETS.includes(t))) usage(`--targets: some of ${TARGETS.join(',')}`);
requirePositive(usage, { nodes, clients, rate, duration: durationS, repeats, threads });
const dist = fileURLToPath(new URL('../', import.meta.url));

interface Row {
  target: Dialect;
  repeat: number;
  loadAverage: string;
  published: number;
  refused: number;
  expected: number;
  delivered: number;
  deliveriesPerSecond: number;
  cpuMicrosPerDelivery: number;
  p50: number;
  p99: number;
}

function nodeSpec(target: Dialect, i: number, redisUrl: string): { name: string; command: string; args: string[] } {
  const tail = ['--host', HOST, '--port', '0', '--api-key', API_KEY, '--redis-url', redisUrl];
  return target === 'shardcast'
    ? { name: `shardcast-${i}`, command: process.execPath, args: [`${dist}src/cli.js`, 'serve', '--workers', '1', '--broker', 'redis', ...tail] }
    : { name: `socketio-${i}`, command: process.execPath, args: [`${dist}bench/baselines/socketio-node.js`, ...tail] };
}

function cpuMicros(pids: readonly number[]): number {
  return pids.reduce((a, pid) => a + (sampleTree(pid)?.cpuMicros ?? NaN), 0);
}

/** The load threads; resolves once every client is subscribed. */
async function startLoad(target: Dialect, urls: string[]): Promise<{ delivered: () => number; stop: () => Promise<DialectLoadResult[]> }> {
  const workers: Worker[] = [];
  const counts: number[] = [];
  const ready: Array<Promise<void>> = [];
  let first = 0;
  for (let t = 0; t < threads; t++) {
    const count = Math.floor(clients / threads) + (t < clients % threads ? 1 : 0);
    const task: DialectLoadTask = { dialect: target, urls, first, count, channel: CHANNEL };
    first += count;
    const w = new Worker(new URL('./lib/dialect-load.js', import.meta.url), { workerData: task });
    workers.push(w);
    counts.push(0);
    ready.push(new Promise((resolve, reject) => {
      w.on('message', (m: { type: string; delivered?: number; message?: string }) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'count') counts[t] = m.delivered!;
        else if (m.type === 'failed') reject(new Error(`load thread ${t}: ${m.message}`));
      });
      w.once('error', reject);
    }));
  }
  await Promise.race([Promise.all(ready), sleep(60_000).then(() => Promise.reject(new Error('clients not subscribed within 60 s')))]);
  return {
    delivered: () => counts.reduce((a, b) => a + b, 0),
    stop: () => Promise.all(workers.map((w) => new Promise<DialectLoadResult>((resolve) => {
      w.on('message', (m: { type: string; result?: DialectLoadResult }) => m.type === 'result' && resolve(m.result!));
      w.postMessage({ type: 'stop' });
    }))),
  };
}

/** Open loop: `rate` POSTs per second for `durationS`, each message's data timestamped when sent. */
async function publish(url: string): Promise<{ published: number; refused: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const total = Math.round(rate * durationS);
  const t0 = wallMs();
  const pad = 'x'.repeat(96);
  let published = 0;
  let refused = 0;
  const inflight: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - wallMs();
    if (wait > 1) await sleep(wait);
    const body = JSON.stringify({ channel: CHANNEL, data: { t: wallMs(), i, p: pad } });
    inflight.push(new Promise((resolve) => {
      const req = http.request(`${url}/api/publish`, { method: 'POST', agent, headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.once('end', () => {
          if (res.statusCode === 200) published++;
          else refused++;
          resolve();
        });
      });
      req.once('error', () => {
        refused++;
        resolve();
      });
      req.end(body);
    }));
  }
  await Promise.all(inflight);
  agent.destroy();
  return { published, refused };
}

async function runOnce(target: Dialect, repeat: number, redis: RedisServer): Promise<Row> {
  const la = loadAverage();
  const servers: ServerProcess[] = [];
  try {
    for (let i = 0; i < nodes; i++) servers.push(await ServerProcess.start(nodeSpec(target, i, redis.url), HOST, 0, 20_000));
    const urls = servers.map((s) => `ws://${HOST}:${s.port}${target === 'shardcast' ? '/ws' : ''}`);
    const load = await startLoad(target, urls);
    await sleep(1000); // every node's Redis subscription is in place
    const pids = [...servers.map((s) => s.pid), redis.pid!];
    const cpu0 = cpuMicros(pids);
    const start = wallMs();
    const { published, refused } = await publish(`http://${HOST}:${servers[0]!.port}`);
    const expected = published * clients;
    // drain: until every delivery arrived, or DRAIN_MS more
    const drainEnd = wallMs() + DRAIN_MS;
    while (load.delivered() < expected && wallMs() < drainEnd) await sleep(50);
    const cpu = cpuMicros(pids) - cpu0;
    const end = wallMs();
    const results = await load.stop();
    const delivered = results.reduce((a, r) => a + r.delivered, 0);
    const maxOf = (k: 'p50' | 'p99'): number => Math.max(...results.map((r) => r[k]));
    return {
      target, repeat, loadAverage: la, published, refused, expected, delivered,
      deliveriesPerSecond: delivered / ((end - start) / 1000),
      cpuMicrosPerDelivery: cpu / Math.max(1, delivered),
      p50: maxOf('p50'), p99: maxOf('p99'),
    };
  } finally {
    for (const s of servers) await s.stop(15_000);
  }
}

function table(rows: Row[]): string {
  const base = rows.filter((r) => r.target === 'socketio');
  const b = { cpu: median(base.map((r) => r.cpuMicrosPerDelivery)), p50: median(base.map((r) => r.p50)), p99: median(base.map((r) => r.p99)) };
  const ratio = (x: number, y: number): string => (base.length > 0 ? ` (${(x / y).toFixed(2)}×)` : '');
  const out = targets.map((target) => {
    const rs = rows.filter((r) => r.target === target);
    const cpu = median(rs.map((r) => r.cpuMicrosPerDelivery));
    const p50 = median(rs.map((r) => r.p50));
    const p99 = median(rs.map((r) => r.p99));
    const lost = rs.reduce((a, r) => a + Math.max(0, r.expected - r.delivered), 0);
    return [
      target, String(rs.length), figure(cpu, 2) + ratio(cpu, b.cpu), figure(p50, 1) + ratio(p50, b.p50), figure(p99, 1) + ratio(p99, b.p99),
      `${figure(rs.reduce((a, r) => a + r.delivered, 0))} / ${figure(rs.reduce((a, r) => a + r.expected, 0))}`, String(lost),
      String(rs.reduce((a, r) => a + r.refused, 0)), rs.map((r) => r.loadAverage.split(' ')[0]).join(', '),
    ];
  });
  const head = ['target', 'runs', 'server CPU µs per delivery (× socket.io)', 'p50 ms (×)', 'p99 ms (×)', 'delivered / expected (all runs)', 'lost', 'publishes refused', '1-min load at start'];
  return renderMarkdown({ headers: head, rows: out });
}

runRedisHarness('socketio', args.has('json') ? args.str('json', 'none') : null, async (redis) => {
  const rows: Row[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    for (const target of repeat % 2 === 0 ? targets : [...targets].reverse()) {
      process.stderr.write(`repeat ${repeat + 1}/${repeats} · ${target} · load ${loadAverage()}\n`);
      rows.push(await runOnce(target, repeat, redis));
      await sleep(1000);
    }
  }
  return rows;
}, table);
