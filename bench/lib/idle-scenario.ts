/**
 * Idle memory: how much server RSS each connected, subscribed but silent client costs.
 * RSS is read before connecting and again after the connections have sat idle for a while,
 * so allocation bursts from the connect storm have had a chance to settle.
 */
import { sleep } from './clock.js';
import { ClientPool } from './client-pool.js';
import { loadAverage } from './machine.js';
import { sampleTree } from './proc-stats.js';
import { ServerProcess, type ServerSpec, type StopResult } from './server-process.js';
import { displayCommand } from './targets.js';

export interface IdleConfig {
  host: string;
  channel: string;
  connections: number;
  threads: number;
  connectWindow: number;
  settleMs: number;
}

export interface IdleResult {
  target: string;
  command: string;
  loadAverage: string;
  requested: number;
  ready: number;
  failures: Record<string, number>;
  connectMs: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  bytesPerConnection: number;
  stop: StopResult | null;
  error: string | null;
  serverOutput: string;
}

export async function runIdle(spec: ServerSpec, port: number, cfg: IdleConfig, log: (l: string) => void): Promise<IdleResult> {
  const result: IdleResult = {
    target: spec.name, command: displayCommand(spec), loadAverage: loadAverage(), requested: cfg.connections,
    ready: 0, failures: {}, connectMs: 0, rssBeforeBytes: 0, rssAfterBytes: 0, bytesPerConnection: NaN,
    stop: null, error: null, serverOutput: '',
  };
  let server: ServerProcess | null = null;
  let pool: ClientPool | null = null;
  try {
    server = await ServerProcess.start(spec, cfg.host, port, 20_000);
    await sleep(cfg.settleMs); // let startup allocations (JIT, worker threads) finish first
    result.rssBeforeBytes = sampleTree(server.pid).rssBytes;
    pool = await ClientPool.open(
      {
        host: cfg.host, port, path: '/ws', channel: cfg.channel, connections: cfg.connections, threads: cfg.threads,
        subscribe: true, sampleEvery: Number.MAX_SAFE_INTEGER, connectWindow: cfg.connectWindow, connectTimeoutMs: 20_000,
      },
      90_000 + cfg.connections * 10,
    );
    result.ready = pool.ready.ready;
    result.failures = pool.ready.failures;
    result.connectMs = pool.ready.ms;
    await sleep(cfg.settleMs);
    result.rssAfterBytes = sampleTree(server.pid).rssBytes;
    const open = pool.progress().open;
    result.bytesPerConnection = open > 0 ? (result.rssAfterBytes - result.rssBeforeBytes) / open : NaN;
    log(
      `  ${spec.name}: ${open}/${cfg.connections} idle connections, RSS ${mib(result.rssBeforeBytes)} → ` +
        `${mib(result.rssAfterBytes)} MiB = ${result.bytesPerConnection.toFixed(0)} B/connection`,
    );
    result.stop = await server.stop(20_000);
    log(`  ${spec.name}: stopped (code ${result.stop.code}, signal ${result.stop.signal}, ${result.stop.ms} ms${result.stop.forced ? ', SIGKILL needed' : ''})`);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    log(`  ${spec.name}: ERROR ${result.error}`);
  } finally {
    if (pool) await pool.close().catch(() => pool?.terminate());
    if (server?.running) {
      if (result.stop === null) result.stop = await server.stop(10_000).catch(() => null);
      server.killNow();
    }
    result.serverOutput = server?.tail ?? '';
  }
  return result;
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}
