/**
 * The one comparison table of the standard scenarios: a row per scenario and target, absolute
 * figures with the ratio to the uWS floor in the same scenario, plus the list of things a
 * reader must not miss (errors, losses, unclean exits, client saturation).
 */
import type { BenchReport } from '../../src/bench/report.js';
import type { ScenarioRun } from './run-scenario.js';
import type { StopResult } from './server-process.js';
import type { Table } from './table.js';

const FLOOR = 'uws-floor';
const DASH = '—';

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : DASH);
const ms = (n: number): string => (!Number.isFinite(n) ? DASH : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const pct = (u: number): string => (Number.isFinite(u) ? `${Math.round(u * 100)}%` : DASH);
const withRatio = (text: string, value: number, floor: number | null): string =>
  floor === null || !Number.isFinite(value) || !Number.isFinite(floor) || floor <= 0 || text === DASH ? text : `${text} (${(value / floor).toFixed(2)}×)`;

/** Idle memory: server RSS growth per open connection, in bytes. */
export function bytesPerConnection(run: ScenarioRun): number {
  const r = run.report;
  const after = r?.server?.rssBytesAfter ?? null;
  if (r === null || after === null || run.rssBaselineBytes === null || r.connections.open === 0) return NaN;
  return (after - run.rssBaselineBytes) / r.connections.open;
}

interface Figures {
  perSecond: number;
  cpu: number;
  p99: number;
  rssPerConnection: number;
}

function figures(run: ScenarioRun): Figures {
  const r = run.report;
  return {
    perSecond: r?.deliveries.perSecond ?? NaN,
    cpu: r?.server?.cpuMicrosPer1kDeliveries ?? NaN,
    p99: r && r.latency.samples > 0 ? r.latency.p99 : NaN,
    rssPerConnection: bytesPerConnection(run),
  };
}

function load(r: BenchReport): string {
  const o = r.options;
  const size = o.size >= 1024 ? `${o.size / 1024} KiB` : `${o.size} B`;
  return `${o.rate !== null ? `${o.rate}/s` : `${o.inflight} in flight`} × ${size}`;
}

function shortClose(label: string): string {
  return label.replace(/^close /, '');
}

/** What the server did with the slow consumers, in a few words. */
export function slowText(r: BenchReport): string {
  const s = r.slow;
  if (!s) return '';
  const closed = Object.values(s.closedByServer).reduce((a, b) => a + b, 0);
  const parts: string[] = [];
  if (closed > 0) {
    const how = Object.entries(s.closedByServer).sort((a, b) => b[1] - a[1])
      .map(([k, n]) => (n === closed ? shortClose(k) : `${shortClose(k)} ×${n}`)).join(', ');
    parts.push(`${closed} closed (${how})`);
  }
  if (s.stillOpen > 0) parts.push(`${s.stillOpen} kept open`);
  parts.push(`got ${pct(s.expected > 0 ? s.deliveredToSlow / s.expected : NaN)} of their ${int(s.expected)}`);
  if (s.seqGapMessages > 0) parts.push(`${int(s.seqGapMessages)} skipped`);
  if (closed + s.stillOpen < s.subscribed) parts.push(`${s.subscribed - closed - s.stillOpen} closed by the client`);
  return parts.join('; ');
}

export function comparisonTable(runs: readonly ScenarioRun[]): Table {
  const rows: string[][] = [];
  for (const run of runs) {
    const r = run.report;
    const floorRun = runs.find((x) => x.scenario === run.scenario && x.target === FLOOR && x.report !== null);
    const floor = floorRun && floorRun !== run ? figures(floorRun) : null;
    const f = figures(run);
    const box = run.loadAverage.split(' ')[0] ?? '';
    if (r === null) {
      rows.push([run.scenario, run.target, `failed: ${(run.error ?? 'no report').split('\n')[0]!.slice(0, 90)}`, ...Array<string>(13).fill(DASH), box]);
      continue;
    }
    const idle = run.scenario === 'idle';
    const c = r.connections;
    const clients = c.failed === 0 ? int(c.attempted) : `${int(c.attempted - c.failed)}/${int(c.attempted)}`;
    const lat = r.latency.samples > 0 && !idle;
    const rss = idle
      ? withRatio(`${int(f.rssPerConnection)} B/conn`, f.rssPerConnection, floor?.rssPerConnection ?? null)
      : r.server?.rssBytesAfter != null ? `${(r.server.rssBytesAfter / 2 ** 20).toFixed(0)} MiB` : DASH;
    rows.push([
      run.scenario,
      run.target,
      clients,
      load(r),
      int(r.publishes.accepted),
      idle ? DASH : withRatio(int(f.perSecond), f.perSecond, floor?.perSecond ?? null),
      idle ? DASH : withRatio(int(f.cpu), f.cpu, floor?.cpu ?? null),
      idle ? DASH : pct(r.server?.cpuSystemShare ?? NaN),
      lat ? ms(r.latency.p50) : DASH,
      lat ? withRatio(ms(f.p99), f.p99, floor?.p99 ?? null) : DASH,
      lat ? ms(r.latency.p999) : DASH,
      int(r.deliveries.lost),
      int(r.deliveries.duplicated),
      rss,
      slowText(r) || DASH,
      `${pct(r.client.maxThreadUtilization)} / ${pct(r.client.publisherUtilization ?? NaN)}`,
      box,
    ]);
  }
  return {
    headers: [
      'scenario', 'target', 'clients', 'load', 'published', 'deliveries/s (× floor)', 'server CPU µs per 1k deliveries (× floor)',
      'kernel', 'p50 ms', 'p99 ms (× floor)', 'p99.9 ms', 'lost', 'dup', 'server RSS', 'slow clients', 'client busy (load / publish thread)', 'box load',
    ],
    rows,
  };
}

export function stopText(stop: StopResult | null): string {
  if (stop === null) return 'not stopped';
  if (stop.forced) return `SIGTERM ignored for ${stop.ms} ms: SIGKILL needed`;
  if (stop.signal !== null) return `ended by signal ${stop.signal}`;
  return `exit ${stop.code} after ${stop.ms} ms${stop.orphans > 0 ? `, ${stop.orphans} orphan processes killed` : ''}`;
}

/** Errors, unclean exits, healthy losses and every bench warning worth reading, one line each. */
export function problems(runs: readonly ScenarioRun[]): string[] {
  const out: string[] = [];
  for (const run of runs) {
    const who = `${run.scenario} / ${run.target}`;
    if (run.error !== null) out.push(`${who}: ${run.error.split('\n')[0]}`);
    const s = run.stop;
    if (s !== null && (s.forced || s.code !== 0 || s.signal !== null || s.orphans > 0)) out.push(`${who}: SIGTERM → ${stopText(s)}`);
    const r = run.report;
    if (r === null) continue;
    if (r.outcome !== 'completed') out.push(`${who}: outcome ${r.outcome}`);
    const baseline = !run.target.startsWith('shardcast');
    for (const w of r.warnings) {
      // The baselines have no /api/stats: nothing to report about that.
      if (baseline && w.startsWith('server counters not read')) continue;
      out.push(`${who}: ${w}`);
    }
  }
  return out;
}
