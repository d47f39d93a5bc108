/**
 * The packet-merging table (bench/merge.ts): one row per load and point (a target at a merge
 * window), each figure the median over that point's repeats, CPU and writes also as ratios
 * to the uWS floor's median in the same load of the same run.
 */
import { median } from './figures.js';
import type { ScenarioRun } from './run-scenario.js';
import type { Table } from './table.js';

export const LOADS = ['paced', 'paced-mid', 'paced-low', 'fanout'] as const;
export type LoadName = (typeof LOADS)[number];

/** One server configuration measured: a target, with a merge window for Shardcast. */
export interface Point {
  readonly target: 'uws-floor' | 'shardcast-1' | 'shardcast-2';
  /** --merge-ms; null for the floor (no such option: every message is its own frame). */
  readonly mergeMs: number | null;
}

export interface MergeRun {
  readonly load: LoadName;
  readonly point: Point;
  readonly repeat: number;
  readonly run: ScenarioRun;
}

/** Per-run figures; NaN where the run did not measure it. */
export interface RunFigures {
  perSecond: number;
  cpuMicrosPerDelivery: number;
  framesPerDelivery: number;
  writesPerDelivery: number;
  mainThreadShare: number;
  p50: number;
  p99: number;
  lost: number;
  clientBusy: number;
}

export function pointLabel(p: Point): string {
  return p.mergeMs === null ? p.target : `${p.target} W=${p.mergeMs}`;
}

export function runFigures(m: MergeRun): RunFigures {
  const r = m.run.report;
  const delivered = r?.deliveries.delivered ?? 0;
  const counters = r?.server?.counters ?? {};
  const frames = m.point.target === 'uws-floor' ? delivered : counters['framesSent'] ?? NaN;
  const serverDeliveries = m.point.target === 'uws-floor' ? delivered : counters['deliveries'] ?? NaN;
  const writes = m.run.metered?.['writes'] ?? NaN;
  return {
    perSecond: r?.deliveries.perSecond ?? NaN,
    cpuMicrosPerDelivery: (r?.server?.cpuMicrosPer1kDeliveries ?? NaN) / 1000,
    framesPerDelivery: serverDeliveries > 0 ? frames / serverDeliveries : NaN,
    writesPerDelivery: delivered > 0 ? writes / delivered : NaN,
    mainThreadShare: r?.server?.mainThreadCpuShare ?? NaN,
    p50: r && r.latency.samples > 0 ? r.latency.p50 : NaN,
    p99: r && r.latency.samples > 0 ? r.latency.p99 : NaN,
    lost: r?.deliveries.lost ?? NaN,
    clientBusy: r?.client.maxThreadUtilization ?? NaN,
  };
}

/** Median of every figure over the runs of one load and point. */
export function medianFigures(runs: readonly MergeRun[]): RunFigures & { repeats: number; failed: number } {
  const figs = runs.map(runFigures);
  const med = (k: keyof RunFigures): number => median(figs.map((f) => f[k]));
  return {
    perSecond: med('perSecond'), cpuMicrosPerDelivery: med('cpuMicrosPerDelivery'), framesPerDelivery: med('framesPerDelivery'),
    writesPerDelivery: med('writesPerDelivery'), mainThreadShare: med('mainThreadShare'), p50: med('p50'), p99: med('p99'),
    lost: figs.reduce((a, f) => a + (Number.isFinite(f.lost) ? f.lost : 0), 0), clientBusy: med('clientBusy'),
    repeats: runs.length, failed: runs.filter((m) => m.run.report === null || m.run.error !== null).length,
  };
}

const DASH = '—';
const fixed = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : DASH);
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : DASH);
const ms = (n: number): string => (!Number.isFinite(n) ? DASH : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const pct = (u: number): string => (Number.isFinite(u) ? `${Math.round(u * 100)}%` : DASH);
const ratio = (v: number, floor: number): string => (Number.isFinite(v) && Number.isFinite(floor) && floor > 0 ? ` (${(v / floor).toFixed(2)}×)` : '');
/** Per-delivery figures far below 1 read better with a few significant digits. */
const small = (n: number): string => (!Number.isFinite(n) ? DASH : n >= 0.1 ? n.toFixed(2) : n.toPrecision(2));

export function mergeTable(runs: readonly MergeRun[], points: readonly Point[]): Table {
  const rows: string[][] = [];
  for (const load of LOADS) {
    const ofLoad = runs.filter((m) => m.load === load);
    if (ofLoad.length === 0) continue;
    const floor = medianFigures(ofLoad.filter((m) => m.point.target === 'uws-floor'));
    for (const p of points) {
      const mine = ofLoad.filter((m) => m.point.target === p.target && m.point.mergeMs === p.mergeMs);
      if (mine.length === 0) continue;
      const f = medianFigures(mine);
      const isFloor = p.target === 'uws-floor';
      const budget = (p.mergeMs ?? 0) + 50;
      rows.push([
        load,
        pointLabel(p),
        f.failed > 0 ? `${f.repeats - f.failed}/${f.repeats}` : String(f.repeats),
        int(f.perSecond) + (isFloor ? '' : ratio(f.perSecond, floor.perSecond)),
        fixed(f.cpuMicrosPerDelivery, 2) + (isFloor ? '' : ratio(f.cpuMicrosPerDelivery, floor.cpuMicrosPerDelivery)),
        isFloor ? '1 (by design)' : small(f.framesPerDelivery),
        small(f.writesPerDelivery) + (isFloor ? '' : ratio(f.writesPerDelivery, floor.writesPerDelivery)),
        pct(f.mainThreadShare),
        ms(f.p50),
        ms(f.p99) + (load.startsWith('paced') && Number.isFinite(f.p99) ? (f.p99 < budget ? ` (< ${budget})` : ` (≥ ${budget}!)`) : ''),
        int(f.lost),
        pct(f.clientBusy),
      ]);
    }
  }
  return {
    headers: [
      'load', 'server', 'runs', 'deliveries/s (× floor)', 'server CPU µs per delivery (× floor)', 'frames per delivery',
      'write syscalls per delivery (× floor)', 'main thread share of server CPU', 'p50 ms', 'p99 ms (< W + 50?)', 'lost (all runs)',
      'client busiest thread',
    ],
    rows,
  };
}
