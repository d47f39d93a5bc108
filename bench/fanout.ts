/**
 * Fan-out and idle-memory benchmark: drives the uWS floor, Shardcast (1 and 2 workers) and
 * the ws hub through the same WebSocket/HTTP subset and compares CPU per delivery, delivery
 * rate, latency, loss and idle memory per connection.
 *
 *   node dist/bench/fanout.js [--clients 5000] [--messages 2000] [--rate 10]
 *       [--targets uws-floor,shardcast-1,shardcast-2,ws-hub] [--scenarios fanout,idle]
 *       [--saturate true] [--sat-messages 1000] [--sat-window 32] [--idle 19000]
 *       [--threads 1] [--sample-every 10] [--warmup 20] [--results bench/RESULTS.md|none] [--json PATH|none]
 *   node dist/bench/fanout.js --from-json bench/out/fanout-<time>.json   # re-render a saved run
 *
 * See bench/RESULTS.md for what each number means.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Args } from './lib/args.js';
import { sleep } from './lib/clock.js';
import { runFanout, type FanoutConfig, type FanoutResult } from './lib/fanout-scenario.js';
import { runIdle, type IdleConfig, type IdleResult } from './lib/idle-scenario.js';
import { describeMachine, type MachineInfo } from './lib/machine.js';
import { processTree } from './lib/proc-stats.js';
import { fanoutTable, fanoutVerdicts, idleTable, idleVerdicts } from './lib/report.js';
import { writeFanoutSection } from './lib/results-file.js';
import { killAllServers } from './lib/server-process.js';
import { renderMarkdown, renderText } from './lib/table.js';
import { ALL_TARGETS, isTargetName, targetSpec, type TargetName } from './lib/targets.js';

const KNOWN = [
  'clients', 'messages', 'rate', 'targets', 'scenarios', 'saturate', 'sat-messages', 'sat-window', 'idle', 'threads',
  'sample-every', 'connect-window', 'warmup', 'quiet-ms', 'settle-ms', 'port-base', 'api-key', 'host', 'results', 'json', 'from-json',
];

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
const args = new Args();
const unknown = args.unknown(KNOWN);
if (unknown.length > 0) {
  console.error(`unknown option(s): ${unknown.map((u) => `--${u}`).join(' ')}\nknown: ${KNOWN.map((k) => `--${k}`).join(' ')}`);
  process.exit(2);
}

const machine = describeMachine();
const host = args.str('host', '127.0.0.1');
const apiKey = args.str('api-key', 'bench-key');
const targets = args.list('targets', ALL_TARGETS);
const bad = targets.filter((t) => !isTargetName(t));
if (bad.length > 0) {
  console.error(`unknown target(s): ${bad.join(', ')}; known: ${ALL_TARGETS.join(', ')}`);
  process.exit(2);
}
const scenarios = args.list('scenarios', ['fanout', 'idle']);
const portBase = args.num('port-base', 19100);
const fdLimit = Number(machine.fdLimit);
// Both our clients and the server hold one fd per connection; keep headroom under the limit.
const idleDefault = Number.isFinite(fdLimit) ? Math.max(0, Math.min(19_000, fdLimit - 1_000)) : 10_000;

const fanoutCfg: FanoutConfig = {
  host,
  apiKey,
  channel: 'bench',
  clients: args.num('clients', 5_000),
  messages: args.num('messages', 2_000),
  rate: args.num('rate', 10),
  saturate: args.bool('saturate', true),
  satMessages: args.num('sat-messages', 1_000),
  satWindow: args.num('sat-window', 32),
  threads: args.num('threads', 1),
  sampleEvery: args.num('sample-every', 10),
  connectWindow: args.num('connect-window', 256),
  quietMs: args.num('quiet-ms', 5_000),
  warmupMessages: args.num('warmup', 20),
};
const idleCfg: IdleConfig = {
  host,
  channel: 'idle',
  connections: args.num('idle', idleDefault),
  threads: args.num('threads', 1),
  connectWindow: args.num('connect-window', 256),
  settleMs: args.num('settle-ms', 3_000),
};
const resultsPath = args.str('results', `${projectRoot}bench/RESULTS.md`);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const jsonPath = args.str('json', `${projectRoot}bench/out/fanout-${stamp}.json`);
const command = `node dist/bench/fanout.js ${process.argv.slice(2).join(' ')}`.trim();

const log = (line: string): void => console.log(line);

/** Everything a run produces; also what --json saves and --from-json reloads. */
interface RunRecord {
  machine: MachineInfo;
  command: string;
  fanoutCfg: FanoutConfig;
  idleCfg: IdleConfig;
  fanout: FanoutResult[];
  idle: IdleResult[];
  unavailable: string[];
}

async function measure(): Promise<RunRecord> {
  log(`machine: ${machine.nproc} cpus (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.kernel}, node ${machine.node}, uWS ${machine.uws}, ws ${machine.ws}, ulimit -n ${machine.fdLimit}, load ${machine.loadAverage}`);
  const run: RunRecord = { machine, command, fanoutCfg, idleCfg, fanout: [], idle: [], unavailable: [] };
  for (const [i, name] of targets.entries()) {
    const target = name as TargetName;
    if (scenarios.includes('fanout')) {
      const port = portBase + i;
      const spec = targetSpec(target, host, port, apiKey);
      if ('unavailable' in spec) {
        run.unavailable.push(`${target}: ${spec.unavailable}`);
        log(`- ${target}: skipped, ${spec.unavailable}`);
      } else {
        log(`- fan-out ${target}: ${fanoutCfg.clients} clients × ${fanoutCfg.messages} messages at ${fanoutCfg.rate}/s`);
        run.fanout.push(await runFanout(spec, port, fanoutCfg, log));
        await sleep(2_000); // let TIME_WAIT churn and the previous server's teardown settle
      }
    }
    if (scenarios.includes('idle') && idleCfg.connections > 0) {
      const port = portBase + 50 + i;
      const spec = targetSpec(target, host, port, apiKey);
      if ('unavailable' in spec) {
        if (!scenarios.includes('fanout')) run.unavailable.push(`${target}: ${spec.unavailable}`);
      } else {
        log(`- idle ${target}: ${idleCfg.connections} connections`);
        run.idle.push(await runIdle(spec, port, idleCfg, log));
        await sleep(2_000);
      }
    }
  }
  return run;
}

/** Prints the tables and verdicts, saves the raw record and writes the RESULTS.md section. */
function publish(run: RunRecord, save: boolean): void {
  const { fanout, idle, unavailable } = run;
  const sections: string[] = [];
  for (const kind of ['paced', 'saturation'] as const) {
    if (!fanout.some((r) => r.passes.some((p) => p.kind === kind)) && !fanout.some((r) => r.error)) continue;
    if (kind === 'saturation' && !run.fanoutCfg.saturate) continue;
    const t = fanoutTable(fanout, kind);
    log(`\nFan-out, ${kind} pass:\n${renderText(t)}`);
    sections.push(`### Fan-out, ${kind} pass\n\n${renderMarkdown(t)}`);
  }
  if (idle.length > 0) {
    const t = idleTable(idle);
    log(`\nIdle memory:\n${renderText(t)}`);
    sections.push(`### Idle memory\n\n${renderMarkdown(t)}`);
  }
  const goals = [
    ...fanoutVerdicts(fanout, 'paced').map((l) => `paced pass, ${l}`),
    ...(run.fanoutCfg.saturate ? fanoutVerdicts(fanout, 'saturation').map((l) => `saturation pass, ${l}`) : []),
    ...idleVerdicts(idle),
  ];
  if (goals.length > 0) log(`\nGoals:\n${goals.map((l) => `  ${l}`).join('\n')}`);
  if (unavailable.length > 0) log(`\nNot measured:\n${unavailable.map((l) => `  ${l}`).join('\n')}`);
  const problems = describeProblems(fanout, idle);
  if (problems.length > 0) log(`\nProblems observed:\n${problems.map((l) => `  ${l}`).join('\n')}`);

  if (save && jsonPath !== 'none') {
    mkdirSync(dirname(jsonPath), { recursive: true });
    writeFileSync(jsonPath, JSON.stringify(run, null, 2));
    log(`\nraw results: ${jsonPath}`);
  }
  if (resultsPath !== 'none') {
    writeFanoutSection(resultsPath, markdown(run, sections, goals, problems));
    log(`wrote the fan-out section of ${resultsPath}`);
  }
}

async function main(): Promise<number> {
  const fromJson = args.str('from-json', '');
  const run = fromJson !== '' ? (JSON.parse(readFileSync(fromJson, 'utf8')) as RunRecord) : await measure();
  publish(run, fromJson === '');
  return run.fanout.some((r) => r.error) || run.idle.some((r) => r.error) ? 1 : 0;
}

/** Things a reader must not miss: errors, unclean exits, losses, duplicates, dropped connections. */
function describeProblems(fanout: FanoutResult[], idle: IdleResult[]): string[] {
  const out: string[] = [];
  for (const r of fanout) {
    if (r.error) out.push(`${r.target} fan-out: ${r.error.split('\n')[0]}`);
    if (Object.keys(r.connectFailures).length > 0) out.push(`${r.target}: connect failures (retried) ${JSON.stringify(r.connectFailures)}`);
    if (r.stop && (r.stop.code !== 0 || r.stop.forced || r.stop.orphans > 0)) out.push(`${r.target}: SIGTERM → ${JSON.stringify(r.stop)}`);
    for (const p of r.passes) {
      const issues: string[] = [];
      if (p.unconfirmed > 0) issues.push(`${p.unconfirmed} deliveries of publishes whose HTTP request went unanswered`);
      if (p.lost !== 0) issues.push(`lost ${p.lost} (${p.incompleteConnections} connections incomplete)`);
      if (p.duplicates > 0) issues.push(`${p.duplicates} duplicates`);
      if (p.reordered > 0) issues.push(`${p.reordered} out-of-order seqs`);
      if (p.strays > 0) issues.push(`${p.strays} late deliveries from the previous pass`);
      if (p.droppedConnections > 0) issues.push(`${p.droppedConnections} connections dropped ${JSON.stringify(p.dropReasons)}`);
      if (p.publishFailed > 0) issues.push(`${p.publishFailed} publishes failed ${JSON.stringify(p.publishErrors)}`);
      if (p.rejected503 > 0) issues.push(`${p.rejected503} publishes got 503 (retried)`);
      if (p.serverProcesses > 1) issues.push(`server ran as ${p.serverProcesses} processes (CPU summed)`);
      if (issues.length > 0) out.push(`${r.target} ${p.kind}: ${issues.join('; ')}`);
    }
  }
  for (const r of idle) {
    if (r.error) out.push(`${r.target} idle: ${r.error.split('\n')[0]}`);
    if (r.ready < r.requested) out.push(`${r.target} idle: only ${r.ready}/${r.requested} connected ${JSON.stringify(r.failures)}`);
    if (r.stop && (r.stop.code !== 0 || r.stop.forced || r.stop.orphans > 0)) out.push(`${r.target} idle: SIGTERM → ${JSON.stringify(r.stop)}`);
  }
  return out;
}

function markdown(run: RunRecord, sections: string[], goals: string[], problems: string[]): string {
  const { machine: m, fanoutCfg: f, idleCfg: i } = run;
  const list = (items: string[]): string => items.map((l) => `- ${l}`).join('\n');
  const commands = [
    ...run.fanout.map((r) => `# ${r.target} (fan-out): ${r.command}`),
    ...run.idle.map((r) => `# ${r.target} (idle): ${r.command}`),
  ];
  return [
    '## Fan-out and idle memory',
    '',
    `Generated by \`bench/fanout.ts\`; raw numbers of every run are saved as JSON under bench/out/ (not committed).`,
    '',
    `**Machine:** ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB RAM, ${m.kernel}; Node ${m.node}; ` +
      `uWebSockets.js ${m.uws}; ws ${m.ws}; \`ulimit -n\` ${m.fdLimit}; load average at start ${m.loadAverage}. ` +
      'The machine is shared with other sessions and noisy, and the bench clients run on the same 2 cores as ' +
      'the server: the *box load* column is the 1-minute load average when each target started.',
    '',
    '**Commands** (from the project root, after `npx tsc -p .`):',
    '',
    '```sh',
    run.command,
    ...commands,
    '```',
    '',
    '**Method.** Per target: start the server, open the clients (lean raw-socket WebSocket clients in ' +
      `${f.threads} worker thread${f.threads === 1 ? '' : 's'} of the bench process), subscribe all to one channel, ` +
      `wait for every \`subscribed\`, publish ${f.warmupMessages} unmeasured warm-up messages, then publish 128-byte ` +
      'JSON `data` over `POST /api/publish`. The *paced* pass publishes ' +
      `${f.messages} messages open-loop at ${f.rate}/s; the *saturation* pass publishes ${f.satMessages} messages ` +
      `with ${f.satWindow} requests in flight. deliveries/s = deliveries ÷ (first publish → last delivery). ` +
      'Server CPU = utime+stime of the server process (all threads, plus any child processes) from /proc, from ' +
      'just before the first publish to the last delivery, per 1,000 deliveries; *server sys* is the kernel share ' +
      'of it. Client CPU is the whole bench process (clients and publisher). Latency = receive time − publish ' +
      `time on one monotonic clock, sampled on every ${f.sampleEvery}th connection; it includes the time the ` +
      'server needs to write the message to every socket (a fan-out to 5,000 sockets is not instantaneous) and ' +
      "the clients' own queueing on the shared cores. Loss counts acknowledged (HTTP 200) publishes that some " +
      'subscriber did not receive; duplicates and seq order are checked per connection. Idle memory = server ' +
      `VmRSS after ${i.connections} connections sat subscribed and idle for ${i.settleMs} ms, minus VmRSS before ` +
      'connecting, ÷ connections. *SIGTERM* = how the server exited when stopped with its clients still connected.',
    '',
    ...sections.flatMap((s) => [s, '']),
    ...(goals.length > 0 ? ['### Goals', '', list(goals), ''] : []),
    ...(run.unavailable.length > 0 ? ['### Not measured', '', list(run.unavailable), ''] : []),
    ...(problems.length > 0 ? ['### Problems observed', '', list(problems), ''] : []),
  ].join('\n');
}

main()
  .then((code) => {
    killAllServers();
    // Anything of ours still alive at this point is a bug in the harness; say so loudly.
    const leftovers = processTree(process.pid).filter((p) => p !== process.pid);
    if (leftovers.length > 0) console.error(`warning: child processes still alive: ${leftovers.join(' ')}`);
    process.exit(code);
  })
  .catch((err: unknown) => {
    console.error(err);
    killAllServers();
    process.exit(1);
  });
