/**
 * One fan-out measurement against one server: start it, connect and subscribe the clients,
 * run a paced (open-loop) pass and optionally a saturation pass, then stop the server and
 * confirm it exited. Every step is time-bounded and every error path kills what it started.
 */
import { sleep } from './clock.js';
import { ClientPool } from './client-pool.js';
import { loadAverage } from './machine.js';
import { sampleTree } from './proc-stats.js';
import { Publisher, type PublishStats } from './publisher.js';
import { ServerProcess, type ServerSpec, type StopResult } from './server-process.js';
import { displayCommand } from './targets.js';

export interface FanoutConfig {
  host: string;
  apiKey: string;
  channel: string;
  clients: number;
  messages: number;
  rate: number;
  saturate: boolean;
  satMessages: number;
  satWindow: number;
  threads: number;
  sampleEvery: number;
  connectWindow: number;
  /** A pass ends this long after the last delivery if not everything arrived. */
  quietMs: number;
  /** Messages of an unmeasured paced pass first, so JIT warm-up on both sides is not billed. */
  warmupMessages: number;
}

export type PassKind = 'warmup' | 'paced' | 'saturation';
export type PassEnd = 'complete' | 'stalled' | 'deadline';

export interface PassResult {
  kind: PassKind;
  /** Target publish rate (paced) or requests in flight (saturation). */
  load: string;
  published: number;
  rejected503: number;
  publishFailed: number;
  publishErrors: Record<string, number>;
  expected: number;
  received: number;
  /** Acknowledged publishes × ready connections − their deliveries. */
  lost: number;
  /** Deliveries of publishes whose HTTP request got no answer (so they were not expected). */
  unconfirmed: number;
  duplicates: number;
  strays: number;
  reordered: number;
  incompleteConnections: number;
  droppedConnections: number;
  dropReasons: Record<string, number>;
  end: PassEnd;
  /** First publish sent → last delivery received. */
  seconds: number;
  deliveriesPerSec: number;
  publishesPerSec: number;
  serverCpuMs: number;
  serverCpuMicrosPer1k: number;
  /** Share of the server CPU spent in the kernel. */
  serverSysShare: number;
  clientCpuMs: number;
  /** Share of the client CPU spent in the kernel (socket reads dominate it). */
  clientSysShare: number;
  clientCpuMicrosPer1k: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  latencySamples: number;
  /** Last delivery minus last accepted publish: how far fan-out trailed the publisher. */
  drainLagMs: number;
  serverProcesses: number;
}

export interface FanoutResult {
  target: string;
  command: string;
  port: number;
  loadAverage: string;
  clientsReady: number;
  connectFailures: Record<string, number>;
  connectMs: number;
  passes: PassResult[];
  stop: StopResult | null;
  error: string | null;
  serverOutput: string;
}

type Log = (line: string) => void;

export async function runFanout(spec: ServerSpec, port: number, cfg: FanoutConfig, log: Log): Promise<FanoutResult> {
  const result: FanoutResult = {
    target: spec.name, command: displayCommand(spec), port, loadAverage: loadAverage(),
    clientsReady: 0, connectFailures: {}, connectMs: 0, passes: [], stop: null, error: null, serverOutput: '',
  };
  let server: ServerProcess | null = null;
  let pool: ClientPool | null = null;
  const publisher = new Publisher(cfg.host, port, cfg.apiKey, cfg.channel);
  try {
    server = await ServerProcess.start(spec, cfg.host, port, 20_000);
    log(`  ${spec.name}: pid ${server.pid} listening on ${port}; opening ${cfg.clients} connections`);
    pool = await ClientPool.open(
      {
        host: cfg.host, port, path: '/ws', channel: cfg.channel, connections: cfg.clients, threads: cfg.threads,
        subscribe: true, sampleEvery: cfg.sampleEvery, connectWindow: cfg.connectWindow, connectTimeoutMs: 15_000,
      },
      60_000 + cfg.clients * 20,
    );
    result.clientsReady = pool.ready.ready;
    result.connectFailures = pool.ready.failures;
    result.connectMs = pool.ready.ms;
    log(`  ${spec.name}: ${pool.ready.ready}/${cfg.clients} subscribed in ${pool.ready.ms} ms (${pool.ready.attempts} attempts)`);
    if (pool.ready.ready === 0) throw new Error(`no connection became ready: ${JSON.stringify(pool.ready.failures)}`);

    // Publish indexes never repeat across passes, so a late delivery is recognised as a stray.
    let base = 0;
    if (cfg.warmupMessages > 0) {
      const warm = await runPass(server, pool, publisher, cfg, 'warmup', base, cfg.warmupMessages);
      base += cfg.warmupMessages;
      log(`  ${spec.name}: warm-up ${describe(warm)}`);
      await sleep(500);
    }
    const paced = await runPass(server, pool, publisher, cfg, 'paced', base, cfg.messages);
    base += cfg.messages;
    result.passes.push(paced);
    log(`  ${spec.name}: paced ${describe(paced)}`);
    if (cfg.saturate) {
      await sleep(1_000); // let the paced pass's tail (if any) settle before counting again
      const sat = await runPass(server, pool, publisher, cfg, 'saturation', base, cfg.satMessages);
      result.passes.push(sat);
      log(`  ${spec.name}: saturation ${describe(sat)}`);
    }
    // Stop while clients are still connected: shutting down with live connections is the real case.
    result.stop = await server.stop(15_000);
    log(`  ${spec.name}: stopped (code ${result.stop.code}, signal ${result.stop.signal}, ${result.stop.ms} ms${result.stop.forced ? ', SIGKILL needed' : ''})`);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    log(`  ${spec.name}: ERROR ${result.error}`);
  } finally {
    publisher.close();
    if (pool) await pool.close().catch(() => pool?.terminate());
    if (server?.running) {
      if (result.stop === null && result.error !== null) {
        // Still try the clean path once so the report says whether SIGTERM works.
        result.stop = await server.stop(10_000).catch(() => null);
      }
      server.killNow();
    }
    result.serverOutput = server?.tail ?? '';
  }
  return result;
}

function describe(p: PassResult): string {
  return (
    `${p.received}/${p.expected} in ${p.seconds.toFixed(2)} s (${p.end}), ${fmt(p.deliveriesPerSec)} deliveries/s, ` +
    `server ${p.serverCpuMicrosPer1k.toFixed(0)} µs/1k (${Math.round(p.serverSysShare * 100)}% sys), client ${p.clientCpuMicrosPer1k.toFixed(0)} µs/1k ` +
    `(${Math.round(p.clientSysShare * 100)}% sys), ` +
    `p50 ${p.p50Ms.toFixed(2)} ms p99 ${p.p99Ms.toFixed(2)} ms, lost ${p.lost}, dup ${p.duplicates}, 503 ${p.rejected503}`
  );
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function runPass(
  server: ServerProcess, pool: ClientPool, publisher: Publisher, cfg: FanoutConfig,
  kind: PassKind, base: number, messages: number,
): Promise<PassResult> {
  await pool.startPass(base, messages);
  const ready = pool.progress().open;
  const cpu0 = sampleTree(server.pid);
  const client0 = process.cpuUsage();
  const budgetMs = kind === 'saturation' ? 180_000 : (messages / cfg.rate) * 1000 * 2 + 60_000;
  const publishing: Promise<PublishStats> =
    kind === 'saturation'
      ? publisher.saturate(base, messages, cfg.satWindow, budgetMs)
      : publisher.openLoop(base, messages, cfg.rate, budgetMs);
  const stats = await publishing;
  const expected = stats.ok * ready;
  // Unanswered publishes may still fan out; wait for them too, or for the quiet timeout.
  const waitFor = (stats.ok + stats.unanswered) * ready;

  // Wait for the fan-out to finish: everything arrived, nothing moved for quietMs, or time is up.
  const hardStop = Date.now() + 120_000;
  let last = -1;
  let lastChange = Date.now();
  let end: PassEnd;
  for (;;) {
    const p = pool.progress();
    if (p.received >= waitFor) {
      end = 'complete';
      break;
    }
    if (p.received !== last) {
      last = p.received;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > cfg.quietMs) {
      end = 'stalled';
      break;
    }
    if (Date.now() > hardStop) {
      end = 'deadline';
      break;
    }
    await sleep(10);
  }
  const cpu1 = sampleTree(server.pid);
  const client = process.cpuUsage(client0);
  const report = await pool.report();

  const ackedSet = new Set(stats.acked);
  let ackedDeliveries = 0;
  report.perIndex.forEach((n, k) => {
    if (ackedSet.has(base + k)) ackedDeliveries += n;
  });
  const seconds = Math.max(1e-6, (report.lastDeliveryMicros - stats.firstSendMicros) / 1e6);
  const serverCpuMicros = cpu1.cpuMicros - cpu0.cpuMicros;
  const clientCpuMicros = client.user + client.system;
  const per1k = (micros: number): number => (report.received > 0 ? (micros / report.received) * 1000 : NaN);
  return {
    kind,
    load: kind === 'saturation' ? `${cfg.satWindow} in flight` : `${cfg.rate}/s`,
    published: stats.ok,
    rejected503: stats.rejected,
    publishFailed: stats.failed,
    publishErrors: stats.errors,
    expected,
    received: report.received,
    lost: expected - ackedDeliveries,
    unconfirmed: report.received - ackedDeliveries,
    duplicates: report.duplicates,
    strays: report.strays,
    reordered: report.reordered,
    incompleteConnections: report.incompleteConnections,
    droppedConnections: report.droppedConnections,
    dropReasons: report.dropReasons,
    end,
    seconds,
    deliveriesPerSec: report.received / seconds,
    publishesPerSec: stats.ok / Math.max(1e-6, (stats.lastAckMicros - stats.firstSendMicros) / 1e6),
    serverCpuMs: serverCpuMicros / 1000,
    serverCpuMicrosPer1k: per1k(serverCpuMicros),
    serverSysShare: (cpu1.sysMicros - cpu0.sysMicros) / Math.max(1, serverCpuMicros),
    clientCpuMs: clientCpuMicros / 1000,
    clientSysShare: client.system / Math.max(1, clientCpuMicros),
    clientCpuMicrosPer1k: per1k(clientCpuMicros),
    p50Ms: report.latency.quantile(0.5) / 1000,
    p99Ms: report.latency.quantile(0.99) / 1000,
    maxMs: report.latency.max / 1000,
    latencySamples: report.latencySamples,
    drainLagMs: Math.max(0, (report.lastDeliveryMicros - stats.lastSendMicros) / 1000),
    serverProcesses: cpu1.processes,
  };
}

