/**
 * The final report as text for a terminal (stdout): the headline figures first, then the
 * reasons behind anything that went wrong, a condensed per-second timeline, and the warnings
 * last, where the eye lands when the command returns. Problems are red only when non-zero.
 */
import { fmtBytes, fmtInt, fmtMs, fmtPct, fmtSeconds, paint, type Paint } from './format.js';
import { formatName, type BenchReport, type TimelineSample } from './report.js';

const LABEL = 14;
/** Longer timelines are folded into groups of seconds so the table stays on one screen. */
const MAX_TIMELINE_ROWS = 24;

export function renderTerminalReport(r: BenchReport, color = false): string {
  const p = paint(color);
  const out: string[] = [];
  const o = r.options;
  const m = r.machine;
  const outcome = r.outcome === 'completed' ? p.green(r.outcome) : r.outcome === 'time-limit' ? p.yellow(r.outcome) : p.red(r.outcome);
  out.push('');
  out.push(`${p.bold('Shardcast bench')} · ${o.url} · ${outcome}`);
  out.push(p.dim(`  ${r.startedAt.slice(0, 19).replace('T', ' ')} UTC · ${m.cpus} × ${m.cpuModel} · ${fmtBytes(m.memoryBytes)} · ` +
    `Node ${m.node} · load ${m.loadAverage.map((n) => n.toFixed(2)).join(' ')}`));
  const load = o.rate !== null ? `open loop ${fmtInt(o.rate)} msg/s` : `closed loop, ${fmtInt(o.inflight ?? 0)} in flight`;
  const span = [o.durationMs !== null ? `${o.durationMs / 1000} s` : null, o.messages !== null ? `${fmtInt(o.messages)} messages` : null]
    .filter(Boolean).join(', ');
  out.push(p.dim(`  ${fmtInt(o.connections)} connections on ${fmtInt(o.channels)} channel${o.channels === 1 ? '' : 's'} ` +
    `(ramp ${fmtInt(o.rampPerSecond)}/s) · ${formatName(o.format)} frames · ${o.publish.toUpperCase()} ingress · ${load} · ${fmtBytes(o.size)} · ${span} · ` +
    `${o.threads} load thread${o.threads === 1 ? '' : 's'}`));
  out.push('');

  const c = r.connections;
  const d = r.deliveries;
  const pub = r.publishes;
  const refused = sum(pub.refused);
  const bad = (n: number, text = fmtInt(n)): string => (n > 0 ? p.red(text) : p.green(text));
  out.push(row(p, 'Connections', [['attempted', fmtInt(c.attempted)], ['open', fmtInt(c.open)], ['failed', bad(c.failed)],
    ['closed by server', bad(sum(c.closedByServer))], ['connect rate', `${fmtInt(c.connectRate)}/s`]]));
  out.push(row(p, 'Publishes', [['attempted', fmtInt(pub.attempted)], ['accepted', fmtInt(pub.accepted)],
    ['refused', refused > 0 ? p.yellow(fmtInt(refused)) : fmtInt(refused)], ['rate', `${pub.perSecond.toFixed(1)}/s`]]));
  out.push(row(p, 'Deliveries', [...(r.slow ? [['to healthy connections:', ''] as [string, string]] : []), ['expected', fmtInt(d.expected)],
    ['delivered', fmtInt(d.delivered)], ['rate', `${fmtInt(d.perSecond)}/s`]]));
  out.push(row(p, '', [['lost', bad(d.lost)], ['duplicated', bad(d.duplicated)], ['out of order', bad(d.outOfOrder)],
    ['seq gaps', `${bad(d.seqGaps)} (${fmtInt(d.seqGapMessages)} skipped)`]]));
  const sl = r.slow;
  if (sl) {
    const closed = sum(sl.closedByServer);
    out.push(row(p, 'Slow clients', [[`${fmtInt(sl.connections)} stopped reading once subscribed, read again when publishing ended:`, '']]));
    out.push(row(p, '', [['closed by server', closed > 0 ? `${fmtInt(closed)} (${reasonList(sl.closedByServer)})` : '0'],
      ['still open', fmtInt(sl.stillOpen)], ['received', `${fmtInt(sl.deliveredToSlow)} of ${fmtInt(sl.expected)}`],
      ['skipped (seq gaps)', fmtInt(sl.seqGapMessages)]]));
  }
  const rc = r.reconnects;
  if (rc) {
    const failed = sum(rc.failed);
    out.push(row(p, 'Reconnects', [[`${fmtInt(rc.dropped)} cut at ${fmtSeconds(rc.atMs)}${rc.delayMs > 0 ? `, away ${fmtSeconds(rc.delayMs)}` : ''}, resubscribed with since:`, '']]));
    out.push(row(p, '', [['recovered', fmtInt(rc.recovered)], ['not recovered', bad(rc.notRecovered)],
      ['could not come back', failed > 0 ? p.yellow(`${fmtInt(failed)} (${reasonList(rc.failed)})`) : '0']]));
  }
  const l = r.latency;
  if (l.samples > 0) {
    out.push(row(p, 'Latency', [['p50', fmtMs(l.p50)], ['p90', fmtMs(l.p90)], ['p99', p.bold(fmtMs(l.p99))], ['p99.9', fmtMs(l.p999)],
      ['max', fmtMs(l.max)], ['mean', fmtMs(l.mean)]]));
    out.push(row(p, '', [[`${fmtInt(l.samples)} samples, measured from the ${l.measuredFrom === 'scheduled' ? 'scheduled send time (open loop)' : 'send time (closed loop)'}`, '']]));
  } else {
    out.push(row(p, 'Latency', [['no samples', '']]));
  }
  const cl = r.client;
  const busy = cl.saturated ? p.red(fmtPct(cl.maxThreadUtilization)) : fmtPct(cl.maxThreadUtilization);
  out.push(row(p, 'Client cost', [[`${fmtInt(cl.cpuMicrosPer1kDeliveries)} µs CPU per 1k deliveries`, ''], ['busiest load thread', busy],
    ...(cl.publisherUtilization !== undefined ? [['publisher thread', fmtPct(cl.publisherUtilization)] as [string, string]] : [])]));
  const s = r.server;
  if (s === null) {
    out.push(row(p, 'Server cost', [[p.dim('not measured (give --server-pid, or make /api/stats reachable)'), '']]));
  } else {
    const cpu = s.cpuMicrosPer1kDeliveries !== null ? `${fmtInt(s.cpuMicrosPer1kDeliveries)} µs CPU per 1k deliveries` : 'CPU not measured';
    const rss = s.rssBytesBefore !== null && s.rssBytesAfter !== null
      ? `RSS ${fmtBytes(s.rssBytesBefore)} → ${fmtBytes(s.rssBytesAfter)}` : 'RSS not measured';
    const shares = [
      ...(typeof s.cpuSystemShare === 'number' ? [`${fmtPct(s.cpuSystemShare)} kernel`] : []),
      ...(typeof s.mainThreadCpuShare === 'number' ? [`${fmtPct(s.mainThreadCpuShare)} main thread`] : []),
    ];
    const kernel = shares.length > 0 ? ` (${shares.join(', ')})` : '';
    out.push(row(p, 'Server cost', [[`${s.source === 'pid' ? '/proc' : '/api/stats'}:`, ''], [cpu + kernel, ''], [rss, '']]));
    const counters = Object.entries(s.counters);
    if (counters.length > 0) {
      const flagged = new Set(['closedSlowConsumer', 'closedTooBig', 'connectionsRefused', 'rejectedOverloaded', 'shardFaults', 'shardRestarts']);
      out.push(row(p, '', counters.map(([k, n]) => [k, flagged.has(k) ? bad(n) : fmtInt(n)])));
    }
  }

  const reasonRows = [
    ...reasons('connection failures', c.failures),
    ...reasons('closed by server', c.closedByServer),
    ...reasons('refused publishes', pub.refused),
  ];
  if (reasonRows.length > 0) {
    out.push('', p.bold('By reason'));
    const w = Math.max(...reasonRows.map(([, k]) => k.length));
    for (const [what, k, n] of reasonRows) out.push(`  ${what.padEnd(20)} ${k.padEnd(w)}  ${p.red(fmtInt(n).padStart(9))}`);
  }

  if (r.timeline.length > 0) {
    out.push('', p.bold('Timeline') + p.dim('  (t = seconds since the first publish; negative: ramp)'));
    out.push(p.dim(`  ${'t'.padStart(7)} ${'open'.padStart(9)} ${'pub/s'.padStart(9)} ${'deliv/s'.padStart(11)} ${'p99'.padStart(10)}`));
    for (const x of fold(r.timeline)) {
      out.push(`  ${x.t.toFixed(1).padStart(7)} ${fmtInt(x.open).padStart(9)} ${fmtInt(x.publishesPerSecond).padStart(9)} ` +
        `${fmtInt(x.deliveriesPerSecond).padStart(11)} ${(x.p99 > 0 ? fmtMs(x.p99) : '-').padStart(10)}`);
    }
  }

  if (r.warnings.length > 0) {
    out.push('', p.yellow(p.bold(`Warnings (${r.warnings.length})`)));
    for (const w of r.warnings) out.push(`  ${p.yellow('!')} ${w}`);
  }
  out.push('');
  return out.join('\n');
}

function row(p: Paint, label: string, pairs: ReadonlyArray<readonly [string, string]>): string {
  const cells = pairs.map(([k, v]) => (v === '' ? k : `${p.dim(k)} ${v}`));
  return `${p.bold(label.padEnd(LABEL))}${cells.join('   ')}`;
}

function reasons(what: string, rec: Readonly<Record<string, number>>): Array<[string, string, number]> {
  return Object.entries(rec).sort((a, b) => b[1] - a[1]).map(([k, n], i): [string, string, number] => [i === 0 ? what : '', k, n]);
}

function reasonList(rec: Readonly<Record<string, number>>): string {
  return Object.entries(rec).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${fmtInt(n)}`).join(', ');
}

function sum(rec: Readonly<Record<string, number>>): number {
  return Object.values(rec).reduce((a, b) => a + b, 0);
}

/** Folds consecutive samples into groups when there are too many rows: rates averaged, p99 the worst. */
function fold(tl: readonly TimelineSample[]): TimelineSample[] {
  if (tl.length <= MAX_TIMELINE_ROWS) return [...tl];
  const group = Math.ceil(tl.length / MAX_TIMELINE_ROWS);
  const out: TimelineSample[] = [];
  for (let i = 0; i < tl.length; i += group) {
    const g = tl.slice(i, i + group);
    const avg = (pick: (s: TimelineSample) => number): number => g.reduce((a, s) => a + pick(s), 0) / g.length;
    out.push({
      t: g[g.length - 1]!.t,
      open: g[g.length - 1]!.open,
      publishesPerSecond: avg((s) => s.publishesPerSecond),
      deliveriesPerSecond: avg((s) => s.deliveriesPerSecond),
      p99: Math.max(...g.map((s) => s.p99)),
    });
  }
  return out;
}
