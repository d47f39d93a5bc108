/**
 * What per-channel history and recovery cost, memory broker, in one process on this box.
 *
 * publish: a one-shard server, one WebSocket subscriber per channel, N publishes through the
 * in-process API (spread over --channels channels, 256 in flight); time until every message
 * is delivered and this process's CPU, with --history-size 100 (the default) against
 * --history-size 0 (no history). Runs alternate so a busy box slows both alike.
 *
 * recover: --clients sockets, each --behind messages behind on one channel, subscribe with
 * `since` at once; the time until every one has caught up and the CPU, against the same
 * sockets subscribing without `since` (no replay) and getting one live message each.
 *
 * With --redis, the recovery runs once more with the Redis broker (a private redis-server on a
 * free loopback port: XRANGE on the channel's stream instead of the memory history), and
 * redis-server's own CPU over the recovery is read from /proc.
 *
 *   node dist/bench/history.js [--messages N] [--channels N] [--clients N] [--behind N] [--runs N] [--redis]
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { startServer, type Options } from '../src/index.js';
import { sampleTree } from '../src/bench/server-probe.js';
import { Redis } from 'ioredis';
import { RedisServer } from '../test/helpers/redis.js';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '30000' },
    channels: { type: 'string', default: '1' },
    clients: { type: 'string', default: '200' },
    behind: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' },
    redis: { type: 'boolean', default: false },
  },
});
const redis = args.redis ? await RedisServer.create() : null;
const N = Number(args.messages);
const CHANNELS = Number(args.channels);
const CLIENTS = Number(args.clients);
const BEHIND = Number(args.behind);

interface Sample {
  ms: number;
  cpuMs: number;
  /** redis-server's CPU over the same span (Redis broker runs only). */
  redisCpuMs?: number;
  /** Redis's own account (INFO commandstats): XRANGE calls and the µs Redis spent in every command. */
  xranges?: number;
  redisCommandMicros?: number;
}

/** XRANGE calls and µs spent in all commands so far, from INFO commandstats (Redis's own timing, finer than /proc's 10 ms ticks). */
async function redisCommandStats(url: string): Promise<{ xranges: number; micros: number }> {
  const client = new Redis(url);
  try {
    const info = await client.info('commandstats');
    const xranges = Number(/cmdstat_xrange:calls=(\d+)/.exec(info)?.[1] ?? 0);
    const micros = [...info.matchAll(/,usec=(\d+),/g)].reduce((a, m) => a + Number(m[1]), 0);
    return { xranges, micros };
  } finally {
    client.disconnect();
  }
}

/** Opens a socket that counts `message` frames and resolves `when(n)` once it has n. */
async function socket(port: number): Promise<{ ws: WebSocket; when(n: number): Promise<void>; frames: Array<Record<string, unknown>> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
  const frames: Array<Record<string, unknown>> = [];
  let got = 0;
  let want = Infinity;
  let done = (): void => {};
  ws.on('message', (d: Buffer) => {
    const v = JSON.parse(d.toString()) as Record<string, unknown> | Array<Record<string, unknown>>;
    for (const m of Array.isArray(v) ? v : [v]) {
      frames.push(m);
      if (m['type'] === 'message' && ++got >= want) done();
    }
  });
  await new Promise((r) => ws.once('open', r));
  return {
    ws,
    frames,
    when: (n) => {
      want = n;
      return got >= n ? Promise.resolve() : new Promise<void>((r) => (done = r));
    },
  };
}

async function publishRun(historySize: number): Promise<Sample> {
  const server = await startServer({ port: 0, workers: 1, logLevel: 'silent', mergeMs: 0, historySize });
  const subs = await Promise.all(Array.from({ length: CHANNELS }, () => socket(server.port)));
  subs.forEach((s, i) => s.ws.send(JSON.stringify({ type: 'subscribe', channel: `c${i}` })));
  await new Promise((r) => setTimeout(r, 200));
  const all = Promise.all(subs.map((s, i) => s.when(Math.floor(N / CHANNELS) + (i < N % CHANNELS ? 1 : 0))));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let sent = 0;
  const publisher = async (): Promise<void> => {
    while (sent < N) {
      const i = sent++;
      await server.publish(`c${i % CHANNELS}`, { i });
    }
  };
  await Promise.all(Array.from({ length: 256 }, publisher));
  await all;
  const sample = { ms: performance.now() - t0, cpuMs: cpuMs(cpu0) };
  for (const s of subs) s.ws.close();
  await server.close();
  return sample;
}

async function recoverRun(withSince: boolean, broker: Options = {}): Promise<Sample> {
  const server = await startServer({ port: 0, workers: 1, logLevel: 'silent', mergeMs: 0, historySize: Math.max(100, BEHIND), ...broker });
  const witness = await socket(server.port);
  const channel = `r${Math.random().toString(36).slice(2)}`; // a fresh stream per run (Redis keeps them)
  witness.ws.send(JSON.stringify({ type: 'subscribe', channel }));
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < BEHIND; i++) await server.publish(channel, { i, pad: 'x'.repeat(100) });
  await witness.when(BEHIND);
  const epoch = witness.frames.find((f) => typeof f['epoch'] === 'string')!['epoch'] as string;
  const clients: Array<Awaited<ReturnType<typeof socket>>> = [];
  for (let i = 0; i < CLIENTS; i += 50) clients.push(...(await Promise.all(Array.from({ length: Math.min(50, CLIENTS - i) }, () => socket(server.port)))));
  const redisPid = broker.broker === 'redis' ? redis?.pid ?? null : null;
  const redis0 = redisPid === null ? 0 : sampleTree(redisPid)?.cpuMicros ?? NaN;
  const stats0 = redisPid === null ? null : await redisCommandStats(redis!.url);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // since seq 1: the history holds BEHIND messages (Redis's stream at least that many), so ask for the last BEHIND − 1
  const frame = JSON.stringify(withSince ? { type: 'subscribe', channel, since: { seq: 1, epoch } } : { type: 'subscribe', channel });
  for (const c of clients) c.ws.send(frame);
  if (withSince) await Promise.all(clients.map((c) => c.when(BEHIND - 1)));
  else {
    // the same sockets, no replay: each subscribed, then one live message each
    await new Promise((r) => setTimeout(r, 50));
    await server.publish(channel, { live: true });
    await Promise.all(clients.map((c) => c.when(1)));
  }
  const sample: Sample = { ms: performance.now() - t0, cpuMs: cpuMs(cpu0), redisCpuMs: redisPid === null ? 0 : ((sampleTree(redisPid)?.cpuMicros ?? NaN) - redis0) / 1000 };
  if (stats0 !== null) {
    const stats1 = await redisCommandStats(redis!.url);
    sample.xranges = stats1.xranges - stats0.xranges;
    sample.redisCommandMicros = stats1.micros - stats0.micros;
  }
  for (const c of [witness, ...clients]) c.ws.close();
  await server.close();
  return sample;
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const pub: Record<string, Sample[]> = { 'history 100': [], 'history 0': [] };
const rec: Record<string, Sample[]> = { 'with since': [], 'without since': [], 'with since, redis': [] };
for (let r = 0; r < Number(args.runs); r++) {
  for (const [name, size] of [['history 0', 0], ['history 100', 100]] as const) {
    const s = await publishRun(size);
    pub[name]!.push(s);
    console.log(`publish, ${name}: ${N} messages on ${CHANNELS} channel(s) in ${s.ms.toFixed(0)} ms (${((N / s.ms) * 1000).toFixed(0)}/s), CPU ${((s.cpuMs * 1000) / N).toFixed(2)} µs/message`);
  }
  for (const [name, since] of [['without since', false], ['with since', true]] as const) {
    const s = await recoverRun(since);
    rec[name]!.push(s);
    console.log(`recover, ${name}: ${CLIENTS} sockets${since ? `, ${BEHIND - 1} messages behind each` : ''}: ${s.ms.toFixed(0)} ms, CPU ${s.cpuMs.toFixed(0)} ms`);
  }
  if (redis !== null) {
    const s = await recoverRun(true, { broker: 'redis', redisUrl: redis.url });
    rec['with since, redis']!.push(s);
    console.log(`recover, with since, redis broker: ${CLIENTS} sockets, ${BEHIND - 1} messages behind each: ${s.ms.toFixed(0)} ms, CPU ${s.cpuMs.toFixed(0)} ms (this process) + redis-server ${s.redisCpuMs!.toFixed(0)} ms (/proc); Redis's own account: ${s.xranges} XRANGE, ${s.redisCommandMicros} µs in commands`);
  }
}
await redis?.stop();
const m = (rows: Record<string, Sample[]>, k: string, f: keyof Sample): number => median(rows[k]!.map((s) => s[f] ?? NaN));
console.log(`medians: publish with history / without: time ${(m(pub, 'history 100', 'ms') / m(pub, 'history 0', 'ms')).toFixed(2)}x, CPU ${(m(pub, 'history 100', 'cpuMs') / m(pub, 'history 0', 'cpuMs')).toFixed(2)}x`);
const replayed = CLIENTS * (BEHIND - 1);
console.log(`medians: recovery of ${CLIENTS} × ${BEHIND - 1} messages: ${m(rec, 'with since', 'ms').toFixed(0)} ms, CPU ${m(rec, 'with since', 'cpuMs').toFixed(0)} ms (${((m(rec, 'with since', 'cpuMs') * 1000) / replayed).toFixed(2)} µs per replayed message); without since: ${m(rec, 'without since', 'ms').toFixed(0)} ms, CPU ${m(rec, 'without since', 'cpuMs').toFixed(0)} ms`);
if (redis !== null) console.log(`medians: the same recovery with the Redis broker: ${m(rec, 'with since, redis', 'ms').toFixed(0)} ms, CPU ${m(rec, 'with since, redis', 'cpuMs').toFixed(0)} ms + redis-server ${m(rec, 'with since, redis', 'redisCpuMs').toFixed(0)} ms (${(m(rec, 'with since, redis', 'ms') / m(rec, 'with since', 'ms')).toFixed(2)}x the memory broker's time)`);
