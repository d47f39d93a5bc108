/**
 * Publish → deliver through the Redis broker against the memory broker, in one process on
 * this box: a one-shard server, one WebSocket subscriber, N publishes through the in-process
 * API with a fixed number in flight; the time until the subscriber has all of them, and the
 * CPU of this process (server main thread + shard + the subscriber; Redis is a process of its
 * own, not counted). --merge-ms 0: each message goes out at once. Runs alternate so that a
 * busy box slows both alike.
 *
 *   node dist/bench/redis-broker.js [--messages N] [--inflight N] [--runs N]
 *
 * Needs redis-server on PATH (a private instance on a free loopback port, no persistence).
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { startServer } from '../src/index.js';
import { RedisServer } from '../test/helpers/redis.js';

const { values: args } = parseArgs({
  options: { messages: { type: 'string', default: '30000' }, inflight: { type: 'string', default: '256' }, runs: { type: 'string', default: '3' } },
});
const N = Number(args.messages);
const INFLIGHT = Number(args.inflight);

async function run(broker: 'memory' | 'redis', url: string): Promise<{ ms: number; cpuMs: number }> {
  const server = await startServer({ port: 0, workers: 1, logLevel: 'silent', mergeMs: 0, ...(broker === 'redis' ? { broker, redisUrl: url } : {}) });
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, { perMessageDeflate: false });
  let got = 0;
  let done = (): void => {};
  const all = new Promise<void>((r) => (done = r));
  ws.on('message', (d: Buffer) => {
    const v = JSON.parse(d.toString()) as { type: string } | Array<{ type: string }>;
    for (const m of Array.isArray(v) ? v : [v]) if (m.type === 'message' && ++got === N) done();
  });
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'subscribe', channel: 'bench' }));
  await new Promise((r) => setTimeout(r, 300)); // the subscription reaches Redis
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let sent = 0;
  const publisher = async (): Promise<void> => {
    while (sent < N) await server.publish('bench', { i: ++sent });
  };
  await Promise.all(Array.from({ length: INFLIGHT }, publisher));
  await all;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  ws.close();
  await server.close();
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

const redis = await RedisServer.create();
try {
  const rows: Record<string, Array<{ ms: number; cpuMs: number }>> = { memory: [], redis: [] };
  for (let i = 0; i < Number(args.runs); i++) {
    for (const b of ['memory', 'redis'] as const) {
      const r = await run(b, redis.url);
      rows[b]!.push(r);
      console.log(`${b}: ${N} messages in ${r.ms.toFixed(0)} ms (${((N / r.ms) * 1000).toFixed(0)}/s), CPU ${r.cpuMs.toFixed(0)} ms (${((r.cpuMs * 1000) / N).toFixed(1)} µs/message)`);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const m = (b: string, k: 'ms' | 'cpuMs'): number => median(rows[b]!.map((r) => r[k]));
  console.log(`medians: redis/memory time ${(m('redis', 'ms') / m('memory', 'ms')).toFixed(2)}x, CPU ${(m('redis', 'cpuMs') / m('memory', 'cpuMs')).toFixed(2)}x`);
} finally {
  await redis.stop();
}
