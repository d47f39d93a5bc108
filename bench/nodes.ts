/**
 * Several nodes on one Redis against one node, in ONE run with the setups interleaved (the box
 * is 2 shared cores: every repeat goes through every setup, the starting one rotated; the
 * table shows medians and ratios to `one-memory` of the same run):
 *
 *   one-memory  one node, --workers 2, memory broker (the baseline)
 *   one-redis   one node, --workers 2, Redis broker (what Redis alone costs)
 *   two-redis   two nodes, --workers 1 each, on one Redis (the same two shard threads, split
 *               over two processes; the bench client sends connection i to node i % 2 and
 *               publishes through the first, so every message crosses Redis to reach half
 *               the subscribers)
 *
 * Two loads: `paced` (open loop, latency from the scheduled time; the default) and `fanout`
 * (closed loop, as fast as the setup takes it — on a 2-core box that shares its cores with the
 * bench client it measures the client: 100 % busy, seconds of backlog; run it with the client
 * on another machine). Server CPU is every process of the setup — the nodes and,
 * for the Redis setups, redis-server — per delivery.
 *
 *   node dist/bench/nodes.js [--setups one-memory,one-redis,two-redis] [--loads paced,fanout]
 *       [--repeats 3] [--clients 1000] [--rate 100] [--duration 10] [--json PATH|none]
 *
 * Needs redis-server on PATH (a private instance on a free loopback port, no persistence).
 */
import { fileURLToPath } from 'node:url';
import { sleep } from '../src/bench/clock.js';
import type { BenchInput } from '../src/bench/options.js';
import type { BenchReport } from '../src/bench/report.js';
import { runBench } from '../src/bench/run.js';
import { RedisServer } from '../test/helpers/redis.js';
import { Args } from './lib/args.js';
import { figure, median, requirePositive } from './lib/figures.js';
import { usageExit } from './lib/harness.js';
import { loadAverage } from './lib/machine.js';
import { ServerProcess } from './lib/server-process.js';
import { runRedisHarness } from './lib/redis-harness.js';
import { renderMarkdown } from './lib/table.js';

const KNOWN = ['setups', 'loads', 'repeats', 'clients', 'rate', 'duration', 'json'];
const SETUPS = ['one-memory', 'one-redis', 'two-redis'] as const;
const LOADS = ['paced', 'fanout'] as const;
type Setup = (typeof SETUPS)[number];
type Load = (typeof LOADS)[number];
const API_KEY = 'bench-key';
const HOST = '127.0.0.1';

const args = new Args();
const usage = usageExit(KNOWN);
const unknown = args.unknown(KNOWN);
if (unknown.length > 0) usage(`unknown option(s): ${unknown.map((u) => `--${u}`).join(' ')}`);
const setups = args.list('setups', [...SETUPS]) as Setup[];
const loads = args.list('loads', ['paced']) as Load[];
const repeats = args.num('repeats', 3);
const clients = args.num('clients', 1000);
const rate = args.num('rate', 100);
const durationS = args.num('duration', 10);
if (setups.some((s) => !(SETUPS as readonly string[]).includes(s))) usage(`--setups: some of ${SETUPS.join(',')}`);
if (loads.some((l) => !(LOADS as readonly string[]).includes(l))) usage(`--loads: some of ${LOADS.join(',')}`);
requirePositive(usage, { repeats, clients, rate, duration: durationS });
const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));

interface Row {
  setup: Setup;
  load: Load;
  repeat: number;
  loadAverage: string;
  deliveriesPerSecond: number;
  cpuMicrosPerDelivery: number;
  p50: number;
  p99: number;
  lost: number;
  clientBusiest: number;
  warnings: readonly string[];
}

function loadInput(load: Load, urls: string[], pids: number[]): BenchInput {
  const common = { url: urls, connections: clients, channels: 1, size: 128, apiKey: API_KEY, serverPid: pids, drainMs: 30_000 };
  return load === 'paced'
    ? { ...common, rate, durationMs: durationS * 1000 }
    : { ...common, inflight: 32, durationMs: durationS * 1000 };
}

async function runOnce(setup: Setup, load: Load, repeat: number, redis: RedisServer): Promise<Row> {
  const redisFlags = setup === 'one-memory' ? [] : ['--broker', 'redis', '--redis-url', redis.url];
  const perNode = setup === 'two-redis' ? ['1', '1'] : ['2'];
  const nodes: ServerProcess[] = [];
  const la = loadAverage();
  try {
    for (const [i, workers] of perNode.entries()) {
      const spec = { name: `${setup}-${i}`, command: process.execPath, args: [cli, 'serve', '--host', HOST, '--port', '0', '--workers', workers, '--api-key', API_KEY, ...redisFlags] };
      nodes.push(await ServerProcess.start(spec, HOST, 0, 20_000));
    }
    const pids = [...nodes.map((n) => n.pid), ...(setup === 'one-memory' ? [] : [redis.pid!])];
    const r: BenchReport = await runBench(loadInput(load, nodes.map((n) => `ws://${HOST}:${n.port}/ws`), pids));
    return {
      setup, load, repeat, loadAverage: la,
      deliveriesPerSecond: r.deliveries.perSecond,
      cpuMicrosPerDelivery: (r.server?.cpuMicrosPer1kDeliveries ?? NaN) / 1000,
      p50: r.latency.p50,
      p99: r.latency.p99,
      lost: r.deliveries.lost + r.deliveries.duplicated,
      clientBusiest: r.client.maxThreadUtilization,
      warnings: r.warnings,
    };
  } finally {
    for (const n of nodes) await n.stop(15_000);
  }
}

function table(rows: Row[]): string {
  const out: string[][] = [];
  for (const load of loads) {
    const base = rows.filter((r) => r.load === load && r.setup === 'one-memory');
    const b = { dps: median(base.map((r) => r.deliveriesPerSecond)), cpu: median(base.map((r) => r.cpuMicrosPerDelivery)), p99: median(base.map((r) => r.p99)) };
    for (const setup of setups) {
      const rs = rows.filter((r) => r.load === load && r.setup === setup);
      const dps = median(rs.map((r) => r.deliveriesPerSecond));
      const cpu = median(rs.map((r) => r.cpuMicrosPerDelivery));
      const p99 = median(rs.map((r) => r.p99));
      const ratio = (x: number, y: number): string => (base.length > 0 ? ` (${(x / y).toFixed(2)}×)` : '');
      out.push([
        load, setup, String(rs.length), figure(dps) + ratio(dps, b.dps), figure(cpu, 2) + ratio(cpu, b.cpu), figure(median(rs.map((r) => r.p50)), 1),
        figure(p99, 1) + ratio(p99, b.p99), String(rs.reduce((a, r) => a + r.lost, 0)), `${Math.round(Math.max(...rs.map((r) => r.clientBusiest)) * 100)}%`,
        rs.map((r) => r.loadAverage.split(' ')[0]).join(', '),
      ]);
    }
  }
  const head = ['load', 'setup', 'runs', 'deliveries/s (× one-memory)', 'server CPU µs per delivery (× one-memory)', 'p50 ms', 'p99 ms (×)', 'lost + dup (all runs)', 'client busiest thread', '1-min load at start'];
  return renderMarkdown({ headers: head, rows: out });
}

runRedisHarness('nodes', args.has('json') ? args.str('json', 'none') : null, async (redis) => {
  const rows: Row[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    const order = setups.map((_, i) => setups[(i + repeat) % setups.length]!);
    for (const load of loads) {
      for (const setup of order) {
        process.stderr.write(`repeat ${repeat + 1}/${repeats} · ${load} · ${setup} · load ${loadAverage()}\n`);
        const row = await runOnce(setup, load, repeat, redis);
        for (const w of row.warnings) process.stderr.write(`  warning: ${w}\n`);
        rows.push(row);
        await sleep(1000);
      }
    }
  }
  return rows;
}, table);
