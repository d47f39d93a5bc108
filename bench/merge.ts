/**
 * `npm run bench:merge`: packet merging (--merge-ms) measured against the uWS floor, in ONE
 * run with the points interleaved — the box is 2 shared cores, so every repeat goes through
 * every point before the next repeat starts, the starting point rotates, and the table shows
 * medians. The loads:
 *
 *   paced   1,000 clients on 1 channel, 500 msg/s × 128 B, open loop (each message alone
 *           would be a write to every socket: 500,000 deliveries/s)
 *   paced-mid  the same at 250 msg/s (250,000 deliveries/s)
 *   paced-low  the same at 100 msg/s (100,000 deliveries/s): below what the box sustains with
 *           the bench client on the same cores, so latency is the server's, not a backlog's
 *   fanout  the standard fan-out scenario (5,000 clients, 1 channel, 32 publishes in flight)
 *
 * Per point: deliveries/s, server CPU per delivery, frames per delivery (framesSent ÷
 * deliveries from /api/stats; the floor sends one frame per message), write system calls
 * per delivery (perf stat on the syscall tracepoints, see lib/syscall-meter.ts), the main
 * thread's share of the server's CPU, p50/p99 latency.
 *
 *   node dist/bench/merge.js [--windows 0,2,5,20,50] [--targets uws-floor,shardcast-1,shardcast-2]
 *       [--loads paced,paced-mid,paced-low,fanout] [--repeats 3] [--duration 10] [--syscalls perf|off]
 *       [--json PATH|none] [--port-base 19300] [--format json|msgpack]
 *   node dist/bench/merge.js --from-json bench/out/merge-<time>.json   # re-render a saved run
 *
 * --format msgpack: Shardcast's clients take MessagePack frames (the floor speaks JSON only and
 * keeps it). Its point is the client: the bench client decodes MessagePack ~3× cheaper, which on
 * a 2-core box leaves more CPU to the server under the paced load.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../src/bench/clock.js';
import { Args } from './lib/args.js';
import { runHarness, usageExit } from './lib/harness.js';
import { describeMachine, type MachineInfo } from './lib/machine.js';
import { LOADS, mergeTable, pointLabel, runFigures, type LoadName, type MergeRun, type Point } from './lib/merge-table.js';
import { runScenario } from './lib/run-scenario.js';
import { benchFlags, scenarios, type Scenario } from './lib/scenarios.js';
import { syscallMeter, syscallMeterProblem } from './lib/syscall-meter.js';
import { renderMarkdown, renderText } from './lib/table.js';
import { displayCommand, targetSpec } from './lib/targets.js';

const KNOWN = ['windows', 'targets', 'loads', 'repeats', 'duration', 'syscalls', 'json', 'from-json', 'port-base', 'host', 'api-key', 'format'];
const TARGETS = ['uws-floor', 'shardcast-1', 'shardcast-2'] as const;
/** Between runs: the previous server's teardown and the clients' TIME_WAIT settle. */
const PAUSE_MS = 1_000;

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
const args = new Args();
const usage = usageExit(KNOWN);
const unknown = args.unknown(KNOWN);
if (unknown.length > 0) usage(`unknown option(s): ${unknown.map((u) => `--${u}`).join(' ')}`);
const windows = args.list('windows', ['0', '2', '5', '20', '50']).map(Number);
const targets = args.list('targets', ['uws-floor', 'shardcast-1']);
const loads = args.list('loads', [...LOADS]);
const repeats = args.num('repeats', 3);
const durationS = args.num('duration', 10);
const syscalls = args.str('syscalls', 'perf');
const host = args.str('host', '127.0.0.1');
const apiKey = args.str('api-key', 'bench-key');
const portBase = args.num('port-base', 19_300);
const format = args.str('format', 'json');
if (format !== 'json' && format !== 'msgpack') usage('--format: json or msgpack');
if (windows.some((w) => !Number.isInteger(w) || w < 0 || w > 1000)) usage(`--windows: whole milliseconds 0-1000, got ${windows.join(',')}`);
if (targets.some((t) => !(TARGETS as readonly string[]).includes(t))) usage(`unknown target in ${targets.join(',')}; known: ${TARGETS.join(', ')}`);
if (loads.some((l) => !(LOADS as readonly string[]).includes(l))) usage(`unknown load in ${loads.join(',')}; known: ${LOADS.join(', ')}`);
if (!Number.isInteger(repeats) || repeats < 1) usage('--repeats: a whole number ≥ 1');
if (syscalls !== 'perf' && syscalls !== 'off') usage('--syscalls: perf or off');
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const jsonPath = args.str('json', `${projectRoot}bench/out/merge-${stamp}.json`);
const command = `node dist/bench/merge.js ${process.argv.slice(2).join(' ')}`.trim();
const log = (line: string): void => console.log(line);

interface MergeRecord {
  machine: MachineInfo;
  command: string;
  loads: Array<Omit<Scenario, 'name'> & { name: LoadName }>;
  points: Point[];
  syscalls: string;
  runs: MergeRun[];
  seconds: number;
}

function loadScenarios(fdLimit: number): MergeRecord['loads'] {
  const fanout = scenarios(false, fdLimit).find((s) => s.name === 'fanout')!;
  const all: MergeRecord['loads'] = [
    {
      name: 'paced',
      title: 'paced high-rate fan-out: 1,000 clients on 1 channel, 500 msg/s',
      input: { connections: 1_000, channels: 1, rate: 500, size: 128, durationMs: durationS * 1000, drainMs: 30_000, rampPerSecond: 2_500 },
    },
    {
      name: 'paced-mid',
      title: 'paced fan-out: 1,000 clients on 1 channel, 250 msg/s',
      input: { connections: 1_000, channels: 1, rate: 250, size: 128, durationMs: durationS * 1000, drainMs: 30_000, rampPerSecond: 2_500 },
    },
    {
      name: 'paced-low',
      title: 'paced fan-out below saturation: 1,000 clients on 1 channel, 100 msg/s',
      input: { connections: 1_000, channels: 1, rate: 100, size: 128, durationMs: durationS * 1000, drainMs: 30_000, rampPerSecond: 2_500 },
    },
    { ...fanout, name: 'fanout', input: { ...fanout.input, durationMs: durationS * 1000 } },
  ];
  return all.filter((l) => loads.includes(l.name));
}

function plannedPoints(): Point[] {
  const out: Point[] = [];
  for (const t of TARGETS) {
    if (!targets.includes(t)) continue;
    if (t === 'uws-floor') out.push({ target: t, mergeMs: null });
    else for (const w of windows) out.push({ target: t, mergeMs: w });
  }
  return out;
}

async function measure(): Promise<MergeRecord> {
  const machine = describeMachine();
  const chosen = loadScenarios(Number(machine.fdLimit));
  const points = plannedPoints();
  const problem = syscalls === 'perf' ? syscallMeterProblem() : 'not asked for (--syscalls off)';
  log(`machine: ${machine.nproc} cpus (${machine.cpuModel}), ${machine.kernel}, node ${machine.node}, uWS ${machine.uws}, load ${machine.loadAverage}`);
  log(`${repeats} × ${chosen.map((l) => l.name).join(', ')} × ${points.map(pointLabel).join(', ')}`);
  if (problem !== null) log(`write system calls not counted: ${problem}`);
  const started = Date.now();
  const runs: MergeRun[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    for (const [li, load] of chosen.entries()) {
      // Rotate the order each repeat, so no point always runs right after the same neighbour.
      const shift = (repeat * Math.max(1, Math.floor(points.length / repeats)) + li) % points.length;
      const order = [...points.slice(shift), ...points.slice(0, shift)];
      for (const point of order) {
        const port = portBase + 2 * points.indexOf(point) + li;
        const input = point.target === 'uws-floor' ? load.input : { ...load.input, format: format as 'json' | 'msgpack' };
        const run = await runScenario({ ...load, input }, point.target, {
          host, apiKey, port,
          serverArgs: point.mergeMs === null ? [] : ['--merge-ms', String(point.mergeMs)],
          meter: problem === null ? syscallMeter : undefined,
        });
        const m: MergeRun = { load: load.name, point, repeat, run };
        runs.push(m);
        log(`- [${repeat + 1}/${repeats}] ${load.name} ${pointLabel(point)}: ${summary(m)}`);
        await sleep(PAUSE_MS);
      }
    }
  }
  return { machine, command, loads: chosen, points, syscalls: problem ?? 'perf stat', runs, seconds: (Date.now() - started) / 1000 };
}

function summary(m: MergeRun): string {
  const r = m.run.report;
  if (r === null) return `FAILED: ${m.run.error}`;
  const f = runFigures(m);
  return [
    `${Math.round(f.perSecond).toLocaleString('en-US')} deliveries/s`,
    `${f.cpuMicrosPerDelivery.toFixed(2)} µs CPU/delivery`,
    `${f.framesPerDelivery.toPrecision(2)} frames/delivery`,
    `${f.writesPerDelivery.toPrecision(2)} writes/delivery`,
    `main ${Math.round(f.mainThreadShare * 100)}%`,
    `p50 ${r.latency.p50} p99 ${r.latency.p99} ms`,
    `lost ${r.deliveries.lost}`,
    `client ${Math.round(f.clientBusy * 100)}%`,
    `box ${m.run.loadAverage.split(' ')[0]}`,
  ].join(', ') + (m.run.error ? ` — ERROR ${m.run.error}` : '') + (r.warnings.length > 0 ? ` — ${r.warnings.join('; ')}` : '');
}

function publish(rec: MergeRecord, save: boolean): void {
  const table = mergeTable(rec.runs, rec.points);
  log(`\nMedians over ${Math.max(...rec.runs.map((m) => m.repeat + 1))} interleaved repeats:\n${renderText(table)}`);
  const spec = (p: Point): string => {
    const s = targetSpec(p.target, host, 0, apiKey);
    return 'unavailable' in s ? s.unavailable : [displayCommand(s).replace('--port 0', '--port PORT'), ...(p.mergeMs === null ? [] : ['--merge-ms', 'W'])].join(' ');
  };
  const servers = [...new Set(rec.points.map(spec))];
  const benches = rec.loads.map((l) => `# ${l.name}\nnode dist/src/cli.js bench ws://127.0.0.1:PORT/ws ${benchFlags(l.input).join(' ')} --api-key ${apiKey} --server-pid PID`);
  log(`\nMarkdown:\n\n\`\`\`sh\n${rec.command}\n${servers.map((s) => `# server: ${s}`).join('\n')}\n${benches.join('\n')}\n\`\`\`\n\n${renderMarkdown(table)}\n`);
  const failed = rec.runs.filter((m) => m.run.report === null || m.run.error !== null);
  for (const m of failed) log(`failed: ${m.load} ${pointLabel(m.point)} repeat ${m.repeat + 1}: ${m.run.error}\n${m.run.serverOutput}`);
  if (save && jsonPath !== 'none') {
    mkdirSync(dirname(jsonPath), { recursive: true });
    writeFileSync(jsonPath, JSON.stringify(rec, null, 2));
    log(`raw results: ${jsonPath}`);
  }
}

async function main(): Promise<number> {
  const fromJson = args.str('from-json', '');
  const rec = fromJson !== '' ? (JSON.parse(readFileSync(fromJson, 'utf8')) as MergeRecord) : await measure();
  publish(rec, fromJson === '');
  return rec.runs.some((m) => m.run.report === null || m.run.error !== null) ? 1 : 0;
}

runHarness(main);
