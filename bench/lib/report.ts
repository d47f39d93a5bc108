/**
 * Turns scenario results into comparison tables (absolute numbers plus ratios against the
 * uWS floor and the ws hub) and checks them against Shardcast's stated goals.
 */
import type { FanoutResult, PassKind, PassResult } from './fanout-scenario.js';
import type { IdleResult } from './idle-scenario.js';
import type { StopResult } from './server-process.js';
import type { Table } from './table.js';

export const GOALS = {
  cpuVsFloorMax: 1.25,
  hubVsShardcastMin: 5,
  idleBytesPerConnectionMax: 2048,
} as const;

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const dec = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const ratio = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');

export function stopText(stop: StopResult | null): string {
  if (stop === null) return 'not stopped';
  if (stop.forced) return `SIGKILL needed`;
  if (stop.signal !== null) return `signal ${stop.signal}`;
  return stop.code === 0 ? `exit 0 (${stop.ms} ms)` : `exit ${stop.code}`;
}

function pass(r: FanoutResult, kind: PassKind): PassResult | undefined {
  return r.passes.find((p) => p.kind === kind);
}

export function fanoutTable(results: FanoutResult[], kind: PassKind): Table {
  const floor = results.find((r) => r.target === 'uws-floor');
  const floorCpu = floor ? pass(floor, kind)?.serverCpuMicrosPer1k ?? NaN : NaN;
  const rows: string[][] = [];
  for (const r of results) {
    const p = pass(r, kind);
    if (!p) {
      rows.push([r.target, r.error ? `failed: ${r.error.split('\n')[0]!.slice(0, 80)}` : 'not run', ...Array<string>(16).fill('—'), stopText(r.stop), r.loadAverage.split(' ')[0]!]);
      continue;
    }
    rows.push([
      r.target,
      p.load,
      int(r.clientsReady),
      int(p.published),
      int(p.received),
      int(p.lost),
      int(p.duplicates),
      int(p.reordered),
      int(p.deliveriesPerSec),
      dec(p.seconds),
      int(p.serverCpuMicrosPer1k),
      `${Math.round(p.serverSysShare * 100)}%`,
      ratio(p.serverCpuMicrosPer1k / floorCpu),
      int(p.clientCpuMicrosPer1k),
      dec(p.p50Ms),
      dec(p.p99Ms),
      int(p.rejected503),
      p.end,
      stopText(r.stop),
      r.loadAverage.split(' ')[0]!,
    ]);
  }
  return {
    headers: [
      'target', 'publish', 'clients', 'published', 'delivered', 'lost', 'dup', 'reordered', 'deliveries/s', 'seconds',
      'server CPU µs/1k', 'server sys', 'vs floor', 'client CPU µs/1k', 'p50 ms', 'p99 ms', '503s', 'end', 'SIGTERM', 'box load',
    ],
    rows,
  };
}

export function idleTable(results: IdleResult[]): Table {
  const floor = results.find((r) => r.target === 'uws-floor')?.bytesPerConnection ?? NaN;
  return {
    headers: ['target', 'connections', 'RSS before MiB', 'RSS after MiB', 'bytes/connection', 'vs floor', 'SIGTERM', 'box load'],
    rows: results.map((r) =>
      r.error && r.ready === 0
        ? [r.target, `failed: ${r.error.split('\n')[0]!.slice(0, 80)}`, '—', '—', '—', '—', stopText(r.stop), r.loadAverage.split(' ')[0]!]
        : [
            r.target,
            `${int(r.ready)}/${int(r.requested)}`,
            dec(r.rssBeforeBytes / 2 ** 20, 1),
            dec(r.rssAfterBytes / 2 ** 20, 1),
            int(r.bytesPerConnection),
            ratio(r.bytesPerConnection / floor),
            stopText(r.stop),
            r.loadAverage.split(' ')[0]!,
          ],
    ),
  };
}

/** One line per CPU goal and Shardcast variant: measured ratio, the goal, PASS/FAIL. */
export function fanoutVerdicts(fanout: FanoutResult[], kind: PassKind): string[] {
  const lines: string[] = [];
  const cpuOf = (name: string): number => {
    const r = fanout.find((x) => x.target === name);
    return r ? pass(r, kind)?.serverCpuMicrosPer1k ?? NaN : NaN;
  };
  const floor = cpuOf('uws-floor');
  const hub = cpuOf('ws-hub');
  for (const sc of ['shardcast-1', 'shardcast-2']) {
    if (!fanout.some((r) => r.target === sc)) continue;
    const cpu = cpuOf(sc);
    const vsFloor = cpu / floor;
    const hubRatio = hub / cpu;
    lines.push(`${sc}: server CPU per delivery = ${ratio(vsFloor)} the uWS floor (goal ≤ ${GOALS.cpuVsFloorMax}×): ${verdict(vsFloor <= GOALS.cpuVsFloorMax, vsFloor)}`);
    lines.push(`${sc}: the ws hub needs ${ratio(hubRatio)} its CPU per delivery (goal ≥ ${GOALS.hubVsShardcastMin}×): ${verdict(hubRatio >= GOALS.hubVsShardcastMin, hubRatio)}`);
  }
  return lines;
}

export function idleVerdicts(idle: IdleResult[]): string[] {
  return idle
    .filter((r) => r.target.startsWith('shardcast'))
    .map((r) => {
      const b = r.bytesPerConnection;
      return `${r.target}: idle server RSS = ${int(b)} B/connection (goal < ${GOALS.idleBytesPerConnectionMax}): ${verdict(b < GOALS.idleBytesPerConnectionMax, b)}`;
    });
}

function verdict(ok: boolean, value: number): string {
  return !Number.isFinite(value) ? 'n/a' : ok ? 'PASS' : 'FAIL';
}
