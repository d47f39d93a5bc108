/**
 * The standard scenarios — fan-out, rooms, idle memory, slow consumers, latency — run with the
 * bench client (`runBench`, what `shardcast bench` runs) against Shardcast with 1 and 2 shards
 * and the two baselines, each scenario on a fresh server process, and written up as ONE
 * comparison table (absolute figures and ratios to the uWS floor).
 *
 *   node dist/bench/standard.js [--quick] [--scenarios fanout,rooms,idle,slow,latency]
 *       [--targets uws-floor,shardcast-1,shardcast-2,ws-hub (also: shardcast-1-jwt,shardcast-2-jwt)]
 *       [--results bench/RESULTS.md|none]
 *       [--json PATH|none] [--port-base 19100]
 *   node dist/bench/standard.js --from-json bench/out/standard-<time>.json   # re-render a saved run
 *
 * A full default run (every scenario and target) rewrites the generated section of
 * bench/RESULTS.md; a --quick or filtered run does not unless --results is given.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../src/bench/clock.js';
import { Args } from './lib/args.js';
import { runHarness, usageExit } from './lib/harness.js';
import { comparisonTable, problems, slowText, stopText } from './lib/comparison.js';
import { describeMachine, type MachineInfo } from './lib/machine.js';
import { writeGeneratedSection } from './lib/results-file.js';
import { runScenario, type ScenarioRun } from './lib/run-scenario.js';
import { ALL_SCENARIOS, isScenarioName, scenarios, type Scenario } from './lib/scenarios.js';
import { renderMarkdown, renderText } from './lib/table.js';
import { ALL_TARGETS, KNOWN_TARGETS, isTargetName, type TargetName } from './lib/targets.js';

const KNOWN = ['quick', 'scenarios', 'targets', 'results', 'json', 'from-json', 'port-base', 'host', 'api-key'];
/** Between runs: the previous server's teardown and the clients' TIME_WAIT settle. */
const PAUSE_MS = 1_000;

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
const args = new Args();
const usage = usageExit(KNOWN);
const unknown = args.unknown(KNOWN);
if (unknown.length > 0) usage(`unknown option(s): ${unknown.map((u) => `--${u}`).join(' ')}`);
const quick = args.bool('quick', false);
const host = args.str('host', '127.0.0.1');
const apiKey = args.str('api-key', 'bench-key');
const portBase = args.num('port-base', 19_100);
const targets = args.list('targets', ALL_TARGETS);
const names = args.list('scenarios', ALL_SCENARIOS);
if (targets.some((t) => !isTargetName(t))) usage(`unknown target in ${targets.join(',')}; known: ${KNOWN_TARGETS.join(', ')}`);
if (names.some((n) => !isScenarioName(n))) usage(`unknown scenario in ${names.join(',')}; known: ${ALL_SCENARIOS.join(', ')}`);
const defaultResults = `${projectRoot}bench/RESULTS.md`;
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const jsonPath = args.str('json', `${projectRoot}bench/out/standard-${stamp}.json`);
const command = `node dist/bench/standard.js ${process.argv.slice(2).join(' ')}`.trim();
const log = (line: string): void => console.log(line);

/** Everything a run produces; what --json saves and --from-json reloads. */
interface RunRecord {
  machine: MachineInfo;
  command: string;
  quick: boolean;
  scenarios: Scenario[];
  runs: ScenarioRun[];
  seconds: number;
}

async function measure(): Promise<RunRecord> {
  const machine = describeMachine();
  const chosen = scenarios(quick, Number(machine.fdLimit)).filter((s) => names.includes(s.name));
  log(`machine: ${machine.nproc} cpus (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.kernel}, node ${machine.node}, ` +
    `uWS ${machine.uws}, ws ${machine.ws}, ulimit -n ${machine.fdLimit}, load ${machine.loadAverage}`);
  log(`${quick ? 'quick run' : 'full run'}: ${chosen.map((s) => s.name).join(', ')} × ${targets.join(', ')}`);
  const started = Date.now();
  const runs: ScenarioRun[] = [];
  for (const s of chosen) {
    log(`\n## ${s.name} — ${s.title}`);
    for (const target of targets as TargetName[]) {
      const port = portBase + 10 * ALL_SCENARIOS.indexOf(s.name) + KNOWN_TARGETS.indexOf(target);
      const run = await runScenario(s, target, { host, apiKey, port });
      runs.push(run);
      log(`- ${target}: ${summary(run)}`);
      await sleep(PAUSE_MS);
    }
  }
  return { machine, command, quick, scenarios: chosen, runs, seconds: (Date.now() - started) / 1000 };
}

function summary(run: ScenarioRun): string {
  const r = run.report;
  if (r === null) return `FAILED: ${run.error}`;
  const parts = [
    `${r.connections.open}/${r.connections.attempted} open`,
    `${r.publishes.accepted} published`,
    `${Math.round(r.deliveries.perSecond).toLocaleString('en-US')} deliveries/s`,
    `server ${r.server?.cpuMicrosPer1kDeliveries ?? '?'} µs/1k`,
    `p50 ${r.latency.p50} p99 ${r.latency.p99} ms`,
    `lost ${r.deliveries.lost}`,
    `dup ${r.deliveries.duplicated}`,
  ];
  if (r.slow) parts.push(`slow ${slowText(r)}`);
  if (run.scenario === 'idle' && run.rssBaselineBytes !== null && r.server?.rssBytesAfter != null) {
    parts.push(`RSS ${(run.rssBaselineBytes / 2 ** 20).toFixed(1)} → ${(r.server.rssBytesAfter / 2 ** 20).toFixed(1)} MiB`);
  }
  parts.push(stopText(run.stop), `${run.seconds.toFixed(0)} s`);
  return parts.join(', ') + (run.error ? ` — ERROR ${run.error}` : '');
}

function describe(s: Scenario): string {
  const i = s.input;
  const conns = (i.connections ?? 0).toLocaleString('en-US');
  const per = Math.round((i.connections ?? 0) / (i.channels ?? 1)).toLocaleString('en-US');
  const size = (i.size ?? 0) >= 1024 ? `${(i.size ?? 0) / 1024} KiB` : `${i.size} B`;
  const pace = i.inflight != null ? `closed loop, ${i.inflight} publishes in flight` : `open loop, ${i.rate} msg/s`;
  const secs = `${(i.durationMs ?? 0) / 1000} s`;
  switch (s.name) {
    case 'fanout':
      return `**fanout** — ${conns} clients on 1 channel; ${size} data; ${pace}, for ${secs}.`;
    case 'rooms':
      return `**rooms** — ${conns} clients on ${i.channels} channels (${per} per room); ${size} data; ${pace}, for ${secs}; publishes round-robin over the rooms.`;
    case 'idle':
      return `**idle** — ${conns} connections (the fd limit less 1,000 of headroom, at most 20,000; the bench and the server are separate ` +
        `processes with a limit each), all subscribed to one channel; one ${size} message a second for ${secs} checks they are all ` +
        `alive. *server RSS* = (VmRSS at the end − VmRSS ${(s.rssBaselineAfterMs ?? 0) / 1000} s after start, before any client) ÷ connections.`;
    case 'slow': {
      const slow = Math.max(1, Math.round((i.slowFraction ?? 0) * (i.connections ?? 0)));
      const mb = (((i.rate ?? 0) * (i.durationMs ?? 0)) / 1000) * (i.size ?? 0) / 1e6;
      return `**slow** — ${conns} clients on 1 channel, of which ${slow} (${(i.slowFraction ?? 0) * 100} %, \`--slow-fraction ${i.slowFraction}\`) ` +
        `pause their socket reads once subscribed and read again when publishing ends; ${pace} × ${size} for ${secs} = ${mb.toFixed(1)} MB ` +
        `for every client, more than loopback's socket buffers of a stopped reader (~4 MB here) plus a 1 MiB server limit. ` +
        `lost and dup count the healthy clients only; *slow clients* says what the server did with the others (closed, with which ` +
        `code, or kept open) and how much of what was published for them they got once they read again.`;
    }
    case 'latency':
      return `**latency** — ${conns} clients on ${i.channels} channels (${per} each); ${size} data; ${pace} for ${secs} ` +
        `(${((i.rate ?? 0) * Number(per.replace(/,/g, ''))).toLocaleString('en-US')} deliveries/s, well below what every target sustains; one channel would be ` +
        `${((i.rate ?? 0) * (i.connections ?? 0)).toLocaleString('en-US')}/s, beyond the ws hub on this box).`;
  }
}

function markdown(rec: RunRecord, tableMd: string, issues: string[]): string {
  const m = rec.machine;
  const list = (items: string[]): string => items.map((l) => `- ${l}`).join('\n');
  const servers = new Map<string, string>();
  for (const run of rec.runs) if (run.serverCommand) servers.set(run.target, run.serverCommand.replace(/--port \d+/, '--port PORT'));
  const loads = rec.scenarios.map((s) => {
    const run = rec.runs.find((x) => x.scenario === s.name);
    return `# ${s.name}\n${(run?.benchCommand ?? '').replace(/127\.0\.0\.1:\d+/, '127.0.0.1:PORT')}`;
  });
  return [
    '## Standard scenarios',
    '',
    `Generated by \`${rec.command}\` (the second half of \`npm run bench\`) on ${new Date(rec.runs[0]?.report?.startedAt ?? Date.now()).toISOString().slice(0, 16).replace('T', ' ')} UTC` +
      `${rec.quick ? ' — a **--quick** sanity run, not comparable with the full one' : ''}; ${(rec.seconds / 60).toFixed(1)} minutes. ` +
      'Every BenchReport of the run, timelines included, is saved as JSON under bench/out/ (not committed).',
    '',
    `**Machine:** ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB RAM, ${m.kernel}; Node ${m.node}; uWebSockets.js ${m.uws}; ` +
      `ws ${m.ws}; \`ulimit -n\` ${m.fdLimit} per process; loopback only; load average at start ${m.loadAverage}. The bench ` +
      'clients run on the same 2 cores as the server, and the box is shared with other sessions: *box load* is the 1-minute ' +
      'load average when each run started.',
    '',
    '**Commands** (from the project root; `npm run bench` = `npx tsc -p . && node dist/bench/run.js`: the ring bench, then this):',
    '',
    '```sh',
    rec.command,
    ...[...servers].map(([t, c]) => `# server ${t}: ${c}`),
    '```',
    '',
    'Each run is the bench client against a fresh server; by hand the same load is (PID of that server; PORT = ' +
      `${portBase} + 10 × scenario (${ALL_SCENARIOS.map((n, i) => `${n} ${i}`).join(', ')}) + target ` +
      `(${KNOWN_TARGETS.map((t, i) => `${t} ${i}`).join(', ')})):`,
    '',
    '```sh',
    ...loads,
    '```',
    '',
    '**Scenarios.**',
    '',
    list(rec.scenarios.map(describe)),
    '',
    '**Method.** One `runBench` per scenario and target — the code of `shardcast bench`, called by the harness in its own ' +
      'process: lean raw-socket WebSocket clients on load threads, connection *i* subscribed to channel `bench-<i mod channels>`, ' +
      'publishes over `POST /api/publish` with the bearer key, round-robin over the channels; every delivery checked per ' +
      'connection by seq (lost, duplicated, out of order, gaps). *Closed loop* (`N in flight`): as fast as the server answers; ' +
      'latency from the send time. *Open loop* (`R/s`): a fixed schedule; latency from the scheduled time, so a stall cannot ' +
      'hide. Latency includes writing the message to every subscriber and the clients\' own queueing on the shared cores. ' +
      '*deliveries/s* = deliveries ÷ (first publish → last delivery). *server CPU* = utime + stime of the server process (all ' +
      'threads, and any children) from /proc, from just before the first publish to the end of the drain, per 1,000 deliveries ' +
      '(to every client, slow ones included); *kernel* is the system share of it. *lost* = accepted publishes × subscribers − ' +
      'deliveries received. *server RSS*: VmRSS at the end of the drain, every client still connected. *client busy*: the ' +
      'event-loop utilisation of the busiest load thread (receiving) and of the publishing thread while publishing — above ' +
      '90 % the client, not the server, set the pace. ' +
      'Ratios are to the uWS floor in the same scenario (for CPU, latency and memory, lower is better; for deliveries/s, higher).',
    '',
    '### Comparison',
    '',
    tableMd,
    '',
    ...(issues.length > 0 ? ['### Problems and warnings observed', '', list(issues), ''] : []),
  ].join('\n');
}

function publish(rec: RunRecord, save: boolean): void {
  const table = comparisonTable(rec.runs);
  log(`\nComparison:\n${renderText(table)}`);
  const issues = problems(rec.runs);
  if (issues.length > 0) log(`\nProblems and warnings:\n${issues.map((l) => `  ${l}`).join('\n')}`);
  for (const run of rec.runs) if (run.serverOutput) log(`\n--- ${run.scenario} / ${run.target} server output ---\n${run.serverOutput.trimEnd()}`);
  if (save && jsonPath !== 'none') {
    mkdirSync(dirname(jsonPath), { recursive: true });
    writeFileSync(jsonPath, JSON.stringify(rec, null, 2));
    log(`\nraw results: ${jsonPath}`);
  }
  // Only a complete full run replaces the published results, unless --results says otherwise.
  const complete = !rec.quick && ALL_TARGETS.every((t) => rec.runs.some((r) => r.target === t)) &&
    ALL_SCENARIOS.every((n) => rec.scenarios.some((sc) => sc.name === n));
  const resultsPath = args.str('results', complete ? defaultResults : 'none');
  if (resultsPath !== 'none') {
    writeGeneratedSection(resultsPath, markdown(rec, renderMarkdown(table), issues));
    log(`wrote the generated section of ${resultsPath}`);
  } else {
    log('bench/RESULTS.md not updated (a --quick or filtered run); --results bench/RESULTS.md writes it anyway');
  }
}

async function main(): Promise<number> {
  const fromJson = args.str('from-json', '');
  const rec = fromJson !== '' ? (JSON.parse(readFileSync(fromJson, 'utf8')) as RunRecord) : await measure();
  publish(rec, fromJson === '');
  return rec.runs.some((r) => r.report === null || r.error !== null) ? 1 : 0;
}

runHarness(main);
