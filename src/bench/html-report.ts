/**
 * `shardcast bench --html FILE`: one self-contained page (inline CSS and SVG, no scripts, no
 * network) that shows a BenchReport. Every string from the report is escaped — failure and
 * close reasons and warnings can carry server-supplied text.
 */
import { formatName, type BenchReport, type TimelineSample } from './report.js';
import {
  DASH, esc, fmtBytes, fmtCompact, fmtInt, fmtMs, fmtNum, fmtPct, isNum, lineChart, percentileChart,
  type Point,
} from './html-charts.js';

type Flag = 'bad' | 'ok' | '';
/** A count that is a problem when non-zero: red when > 0, green when 0. */
const zeroIsGood = (n: unknown): Flag => (!isNum(n) ? '' : n > 0 ? 'bad' : 'ok');
const flagClass = (f: Flag): string => (f ? ` flag-${f}` : '');

const CSS = `
:root{--bg:#f4f6f9;--card:#fff;--line:#e2e6ec;--text:#1b2230;--muted:#667085;--blue:#2563eb;--red:#c81e1e;--redbg:#fdf0f0;
--green:#047857;--greenbg:#ecfdf5;--amber:#b45309;--amberbg:#fffbeb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
font-variant-numeric:tabular-nums}
main{max-width:1220px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:22px;margin:2px 0 6px;word-break:break-all}
h2{font-size:16px;margin:28px 0 10px}
h3{font-size:13px;margin:0 0 8px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}h3.gap{margin-top:22px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
header{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px}
.kicker{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.08em;display:flex;gap:10px;align-items:center}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12px;font-weight:600;letter-spacing:.02em;text-transform:none}
.outcome-completed{background:var(--greenbg);color:var(--green)}.outcome-time-limit{background:var(--amberbg);color:var(--amber)}
.outcome-aborted,.outcome-other{background:var(--redbg);color:var(--red)}
.meta{color:var(--muted);margin:0 0 12px}
.cmd{background:#f1f3f7;border-radius:6px;padding:6px 10px;margin:0 0 14px;overflow-wrap:anywhere}
.params{display:flex;flex-wrap:wrap;gap:8px 28px;margin:0}
.params div{min-width:90px}.params dt{color:var(--muted);font-size:12px}.params dd{margin:0;font-weight:600}
.warnings{margin-top:16px;background:var(--amberbg);border:1px solid #f3d08a;border-left:5px solid #e59e0b;border-radius:8px;padding:12px 18px}
.warnings h2{margin:0 0 4px;font-size:15px;color:var(--amber)}.warnings ul{margin:0;padding-left:20px}
.warnings li{overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(5,1fr);gap:12px;margin-top:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px;min-width:0}
.card .label{color:var(--muted);font-size:12px}.card .value{font-size:24px;font-weight:650;margin:2px 0;white-space:nowrap;
overflow:hidden;text-overflow:ellipsis}.card .sub{color:var(--muted);font-size:12px}
.card.flag-bad{border-color:#f5b5b5;background:var(--redbg)}.card.flag-bad .value{color:var(--red)}
.card.flag-ok .value{color:var(--green)}
.panel{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;min-width:0}
.grid-lat{display:grid;grid-template-columns:minmax(0,2.3fr) minmax(0,1fr);gap:14px}
.grid2{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:14px}
.grid3{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:14px;align-items:start}
figure{margin:0}figcaption{font-weight:600;margin-bottom:4px}
svg{width:100%;height:auto;display:block;font-size:12px}
.grid line{stroke:#edf0f4}.axis line{stroke:#98a2b3}.axis text{fill:#475467}
.axis-title{fill:#475467;font-size:12px;font-weight:600}
.series{fill:none;stroke-width:2;stroke-linejoin:round;stroke-linecap:round}.area{opacity:.08;stroke:none}
.hit circle{opacity:0}.hit circle:hover,.dot circle:hover{opacity:1;r:5}
.marker circle{fill:#fff;stroke:#1e3a8a;stroke-width:2}.marker text{fill:#1e3a8a;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:4px}
.shade{fill:#f2f4f7}.shade-label{fill:#98a2b3;font-size:11px}.empty{fill:#98a2b3;font-size:14px}
.note{color:var(--muted);font-size:12px;margin:8px 0 0}.warn-note{color:var(--red)}
table{width:100%;border-collapse:collapse}
td,th{padding:5px 0;border-bottom:1px solid #f0f2f5;text-align:left;vertical-align:top}
th{font-weight:normal;color:var(--muted);padding-right:10px}td{text-align:right;font-weight:600}
td.pct{color:var(--muted);font-weight:normal;padding-left:8px;width:1%}
th.reason{color:var(--text);overflow-wrap:anywhere}
tr.sub th{padding-left:12px}
td.flag-bad{color:var(--red)}td.flag-ok{color:var(--green)}
.sect th{padding-top:12px;font-size:12px;text-transform:uppercase;letter-spacing:.04em;font-weight:600}
.none{color:var(--muted);font-style:italic}
footer{margin-top:28px;color:var(--muted);font-size:12px;text-align:center}
@media (max-width:900px){.cards{grid-template-columns:repeat(2,1fr)}.grid-lat,.grid2,.grid3{grid-template-columns:1fr}}
@media print{body{background:#fff}.panel,.card,header{break-inside:avoid}}
`;

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? esc(iso) : `${esc(d.toISOString().slice(0, 19).replace('T', ' '))} UTC`;
}

function header(r: BenchReport): string {
  const o = r.options;
  const m = r.machine;
  const outcome = ({ completed: 'completed', 'time-limit': 'time-limit', aborted: 'aborted' } as const)[r.outcome] ?? 'other';
  const params: Array<[string, string]> = [
    ['Connections', `${fmtInt(o.connections)}`],
    ['Ramp', `${fmtInt(o.rampPerSecond)}/s`],
    ['Channels', fmtInt(o.channels)],
    ['Frames', formatName(o.format)],
    ['Publish via', String(o.publish).toUpperCase()],
  ];
  if (o.rate !== null && o.rate !== undefined) params.push(['Rate (open loop)', `${fmtNum(o.rate)} msg/s`]);
  if (o.inflight !== null && o.inflight !== undefined) params.push(['In flight (closed loop)', fmtInt(o.inflight)]);
  params.push(['Message size', fmtBytes(o.size)]);
  if (o.durationMs !== null && o.durationMs !== undefined) params.push(['Duration', fmtMs(o.durationMs)]);
  if (o.messages !== null && o.messages !== undefined) params.push(['Messages', fmtInt(o.messages)]);
  params.push(['Load threads', fmtInt(o.threads)]);
  const machine = `${fmtInt(m.cpus)} × ${m.cpuModel} · ${fmtBytes(m.memoryBytes)} · ${m.platform} · Node ${m.node}`;
  return `<header>
<div class="kicker">Shardcast bench <span class="badge outcome-${outcome}" data-outcome="${esc(r.outcome)}">${esc(r.outcome)}</span></div>
<h1>${esc(o.url)}</h1>
<p class="meta">Started ${when(r.startedAt)} · ${esc(machine)}</p>
<div class="cmd"><code>shardcast ${esc(r.command)}</code></div>
<dl class="params">${params.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>
</header>`;
}

function warnings(r: BenchReport): string {
  const ws = r.warnings ?? [];
  if (ws.length === 0) return '';
  return `<section class="warnings" role="alert"><h2>⚠ ${ws.length === 1 ? '1 warning' : `${fmtInt(ws.length)} warnings`}</h2>
<ul>${ws.map((w) => `<li>${esc(w)}</li>`).join('')}</ul></section>`;
}

/** "0.04% of expected", or "none expected" when there was nothing to take a share of. */
const share = (part: number, whole: number, noun: string): string =>
  (isNum(whole) && whole > 0 ? `${fmtPct(part, whole)} of ${noun}` : `none ${noun}`);

function card(metric: string, label: string, value: number | string, sub: string, flag: Flag = ''): string {
  // counts stay exact up to 10 digits; beyond that an SI suffix keeps the card readable (exact figure on hover)
  const shown = typeof value === 'string' ? value : isNum(value) && Math.abs(value) >= 1e10 ? fmtCompact(Math.round(value)) : fmtInt(value);
  const full = typeof value === 'string' ? value : fmtInt(value);
  return `<div class="card${flagClass(flag)}" data-metric="${esc(metric)}"><div class="label">${esc(label)}</div>` +
    `<div class="value" title="${esc(full)}">${esc(shown)}</div><div class="sub">${esc(sub)}</div></div>`;
}

function cards(r: BenchReport): string {
  const d = r.deliveries;
  const l = r.latency;
  const c = r.connections;
  const has = isNum(l.samples) && l.samples > 0;
  const lat = (v: number): string => (has ? fmtMs(v) : DASH);
  const from = l.measuredFrom === 'scheduled' ? 'from scheduled send' : 'from actual send';
  return `<section class="cards">
${card('deliveries-per-second', 'Deliveries / s', d.perSecond, `${fmtInt(d.delivered)} delivered`)}
${card('p50', 'Latency p50', lat(l.p50), has ? from : 'no samples')}
${card('p99', 'Latency p99', lat(l.p99), has ? `${fmtInt(l.samples)} samples` : 'no samples')}
${card('p999', 'Latency p99.9', lat(l.p999), has ? `max ${fmtMs(l.max)}` : 'no samples')}
${card('connections-open', 'Connections open', c.open, `of ${fmtInt(c.attempted)} attempted`)}
${card('lost', 'Lost', d.lost, share(d.lost, d.expected, 'expected'), zeroIsGood(d.lost))}
${card('duplicated', 'Duplicated', d.duplicated, share(d.duplicated, d.delivered, 'delivered'), zeroIsGood(d.duplicated))}
${card('out-of-order', 'Out of order', d.outOfOrder, share(d.outOfOrder, d.delivered, 'delivered'), zeroIsGood(d.outOfOrder))}
${card('seq-gaps', 'Seq gaps', d.seqGaps, `${fmtInt(d.seqGapMessages)} messages skipped`, zeroIsGood(d.seqGaps))}
${card('connections-failed', 'Connections failed', c.failed, share(c.failed, c.attempted, 'attempted'), zeroIsGood(c.failed))}
</section>`;
}

function latencySection(r: BenchReport): string {
  const l = r.latency;
  const has = isNum(l.samples) && l.samples > 0;
  const markers: Array<readonly [number, number, string]> = has
    ? [[50, l.p50, `p50 ${fmtMs(l.p50)}`], [99, l.p99, `p99 ${fmtMs(l.p99)}`], [99.9, l.p999, `p99.9 ${fmtMs(l.p999)}`], [100, l.max, `max ${fmtMs(l.max)}`]]
    : [];
  const lat = (v: number): string => (has ? fmtMs(v) : DASH);
  const rows: Array<[string, string]> = [
    ['Samples', fmtInt(l.samples)], ['p50', lat(l.p50)], ['p90', lat(l.p90)], ['p99', lat(l.p99)], ['p99.9', lat(l.p999)],
    ['max', lat(l.max)], ['mean', lat(l.mean)],
    ['Measured from', l.measuredFrom === 'scheduled' ? 'scheduled publish time' : 'send time'],
  ];
  const tl = (r.timeline ?? []).filter((x) => x.t >= 0 && isNum(x.p99) && isNum(x.deliveriesPerSecond));
  const worst = tl.reduce<TimelineSample | null>((a, x) => (a === null || x.p99 > a.p99 ? x : a), null);
  const peak = tl.reduce<TimelineSample | null>((a, x) => (a === null || x.deliveriesPerSecond > a.deliveriesPerSecond ? x : a), null);
  const secs: Array<[string, string]> = [
    ['Worst second, p99', worst ? `${fmtMs(worst.p99)} at ${fmtNum(worst.t)} s` : DASH],
    ['Peak deliveries', peak ? `${fmtInt(peak.deliveriesPerSecond)}/s at ${fmtNum(peak.t)} s` : DASH],
  ];
  return `<h2>Latency</h2><div class="grid-lat">
<div class="panel">${percentileChart(l.curve ?? [], markers, 820, 340)}
<p class="note">End-to-end, publish → delivery, over every delivery. ${l.measuredFrom === 'scheduled'
    ? 'Open loop: measured from the scheduled publish time, so queueing behind a slow publisher counts (no coordinated omission).'
    : 'Closed loop: measured from the time each publish was sent.'}</p></div>
<div class="panel"><h3>Percentiles</h3>${table(rows.map(([k, v]) => row(k, v)))}
<h3 class="gap">Second by second</h3>${table(secs.map(([k, v]) => row(k, v)))}</div>
</div>`;
}

function series(tl: readonly TimelineSample[], pick: (s: TimelineSample) => number, tip: (v: number) => string): Point[] {
  return tl.map((s) => ({ x: s.t, y: pick(s), tip: `t = ${fmtNum(s.t)} s: ${tip(pick(s))}` }));
}

function timelineSection(r: BenchReport): string {
  const tl = r.timeline ?? [];
  const common = { width: 560, height: 250, xLabel: 'seconds since first publish', xFormat: fmtCompact, shadeBefore: { at: 0, label: 'ramp' } };
  const empty = 'No timeline samples';
  const charts = [
    lineChart({ ...common, id: 'deliveries-per-second', title: 'Deliveries per second', yLabel: 'deliveries / s', color: '#2563eb',
      points: series(tl, (s) => s.deliveriesPerSecond, (v) => `${fmtInt(v)} deliveries/s`), empty }),
    lineChart({ ...common, id: 'p99-per-second', title: 'p99 latency per second', yLabel: 'p99 (ms)', color: '#c2410c',
      points: series(tl, (s) => s.p99, fmtMs), empty }),
    lineChart({ ...common, id: 'publishes-per-second', title: 'Publishes per second', yLabel: 'publishes / s', color: '#7c3aed',
      points: series(tl, (s) => s.publishesPerSecond, (v) => `${fmtInt(v)} publishes/s`), empty }),
    lineChart({ ...common, id: 'open-connections', title: 'Open connections', yLabel: 'connections', color: '#059669',
      points: series(tl, (s) => s.open, (v) => `${fmtInt(v)} open`), empty }),
  ];
  const note = tl.some((s) => s.t < 0) ? '<p class="note">Shaded: connection ramp before the first publish. Hover a point for its value.</p>' : '';
  return `<h2>Over time</h2><div class="grid2">${charts.map((c) => `<div class="panel">${c}</div>`).join('')}</div>${note}`;
}

const row = (k: string, v: string, flag: Flag = '', pct = '', cls = ''): string =>
  `<tr${cls ? ` class="${cls}"` : ''}><th>${esc(k)}</th><td class="${flagClass(flag).trim()}">${esc(v)}</td><td class="pct">${pct === DASH ? '' : esc(pct)}</td></tr>`;
const sect = (title: string): string => `<tr class="sect"><th colspan="3">${esc(title)}</th></tr>`;
const table = (rows: readonly string[]): string => `<table>${rows.join('')}</table>`;

/** Counts by reason, biggest first, at most 12 rows then a total for the rest. */
function reasons(title: string, rec: Readonly<Record<string, number>> | undefined, total: number, bad: boolean): string[] {
  const entries = Object.entries(rec ?? {}).sort((a, b) => (isNum(b[1]) ? b[1] : 0) - (isNum(a[1]) ? a[1] : 0));
  if (entries.length === 0) return [sect(title), `<tr><th class="none" colspan="3">none</th></tr>`];
  const shown = entries.slice(0, 12).map(([k, n]) =>
    `<tr class="sub"><th class="reason">${esc(k)}</th><td class="${bad && isNum(n) && n > 0 ? 'flag-bad' : ''}">${esc(fmtInt(n))}</td>` +
    `<td class="pct">${total > 0 ? esc(fmtPct(n, total)) : ''}</td></tr>`);
  const rest = entries.slice(12).reduce((a, [, n]) => a + (isNum(n) ? n : 0), 0);
  if (entries.length > 12) shown.push(row(`${fmtInt(entries.length - 12)} more reasons`, fmtInt(rest), '', fmtPct(rest, total), 'sub'));
  return [sect(title), ...shown];
}

/** Slow consumers (--slow-fraction): the figures above are the healthy connections'; these are theirs. */
function slowRows(r: BenchReport): string[] {
  const sl = r.slow;
  if (!sl) return [];
  const closed = Object.values(sl.closedByServer ?? {}).reduce((a, n) => a + (isNum(n) ? n : 0), 0);
  return [
    sect('Slow clients (not counted above)'),
    row('Stopped reading', fmtInt(sl.connections)), row('Still open at the end', fmtInt(sl.stillOpen)),
    row('Received', fmtInt(sl.deliveredToSlow), '', fmtPct(sl.deliveredToSlow, sl.expected)),
    row('Skipped (seq gaps)', fmtInt(sl.seqGapMessages)),
    ...reasons('Slow clients closed by server', sl.closedByServer, closed, false),
  ];
}

/** Cut and reconnected connections (--reconnect-fraction): their deliveries are in the figures above. */
function reconnectRows(r: BenchReport): string[] {
  const rc = r.reconnects;
  if (!rc) return [];
  const failed = Object.values(rc.failed ?? {}).reduce((a, n) => a + (isNum(n) ? n : 0), 0);
  return [
    sect(`Reconnects (cut at ${fmtInt(rc.atMs)} ms, away ${fmtInt(rc.delayMs)} ms)`),
    row('Cut', fmtInt(rc.dropped)), row('Recovered', fmtInt(rc.recovered), '', fmtPct(rc.recovered, rc.dropped)),
    row('Not recovered', fmtInt(rc.notRecovered), zeroIsGood(rc.notRecovered), fmtPct(rc.notRecovered, rc.dropped)),
    ...reasons('Could not come back', rc.failed, failed, true),
  ];
}

function details(r: BenchReport): string {
  const c = r.connections;
  const d = r.deliveries;
  const p = r.publishes;
  const cl = r.client;
  const s = r.server;
  const m = r.machine;
  const refused = Object.values(p.refused ?? {}).reduce((a, n) => a + (isNum(n) ? n : 0), 0);
  const closes = Object.values(c.closedByServer ?? {}).reduce((a, n) => a + (isNum(n) ? n : 0), 0);
  const conn = table([
    row('Attempted', fmtInt(c.attempted)), row('Open', fmtInt(c.open), '', fmtPct(c.open, c.attempted)),
    row('Failed', fmtInt(c.failed), zeroIsGood(c.failed), fmtPct(c.failed, c.attempted)),
    row('Connect rate', `${fmtNum(c.connectRate)}/s`),
    ...reasons('Failures by reason', c.failures, c.failed, true),
    ...reasons('Closed by server', c.closedByServer, closes, true),
  ]);
  const del = table([
    row('Expected', fmtInt(d.expected)), row('Delivered', fmtInt(d.delivered), '', fmtPct(d.delivered, d.expected)),
    row('Lost', fmtInt(d.lost), zeroIsGood(d.lost), fmtPct(d.lost, d.expected)),
    row('Duplicated', fmtInt(d.duplicated), zeroIsGood(d.duplicated), fmtPct(d.duplicated, d.delivered)),
    row('Out of order', fmtInt(d.outOfOrder), zeroIsGood(d.outOfOrder), fmtPct(d.outOfOrder, d.delivered)),
    row('Seq gaps', fmtInt(d.seqGaps), zeroIsGood(d.seqGaps)),
    row('Messages skipped by gaps', fmtInt(d.seqGapMessages), zeroIsGood(d.seqGapMessages)),
    row('Per second', `${fmtInt(d.perSecond)}/s`),
    ...slowRows(r),
    ...reconnectRows(r),
  ]);
  const pub = table([
    row('Attempted', fmtInt(p.attempted)), row('Accepted', fmtInt(p.accepted), '', fmtPct(p.accepted, p.attempted)),
    row('Refused', fmtInt(refused), zeroIsGood(refused), fmtPct(refused, p.attempted)),
    row('Per second', `${fmtNum(p.perSecond)}/s`),
    ...reasons('Refused by reason', p.refused, refused, true),
  ]);
  const util = isNum(cl.maxThreadUtilization) ? `${fmtNum(cl.maxThreadUtilization * 100)}%` : DASH;
  const client = table([
    row('CPU per 1k deliveries', isNum(cl.cpuMicrosPer1kDeliveries) ? `${fmtNum(cl.cpuMicrosPer1kDeliveries)} µs` : DASH),
    row('Busiest thread utilisation', util, cl.saturated ? 'bad' : ''),
    row('Saturated', cl.saturated ? 'yes' : 'no', cl.saturated ? 'bad' : 'ok'),
  ]) + (cl.saturated
    ? '<p class="note warn-note">The load generator was the bottleneck: these numbers understate the server. Use more load threads or a second client machine.</p>'
    : '');
  let server: string;
  if (s === null || s === undefined) {
    server = '<p class="none">Not measured — pass --server-pid for a local server, or make its /api/stats reachable.</p>';
  } else {
    const rssDelta = isNum(s.rssBytesBefore) && isNum(s.rssBytesAfter) ? s.rssBytesAfter - s.rssBytesBefore : null;
    const counters = Object.entries(s.counters ?? {});
    server = table([
      row('Source', s.source === 'pid' ? 'process (--server-pid)' : '/api/stats'),
      row('CPU per 1k deliveries', isNum(s.cpuMicrosPer1kDeliveries) ? `${fmtNum(s.cpuMicrosPer1kDeliveries)} µs` : DASH),
      row('RSS before', fmtBytes(s.rssBytesBefore)), row('RSS after', fmtBytes(s.rssBytesAfter)),
      row('RSS change', rssDelta === null ? DASH : `${rssDelta >= 0 ? '+' : '−'}${fmtBytes(Math.abs(rssDelta))}`),
      sect('Counters'),
      ...(counters.length ? counters.map(([k, n]) => row(k, fmtInt(n), '', '', 'sub')) : ['<tr><th class="none" colspan="3">none</th></tr>']),
    ]);
  }
  const load = (m.loadAverage ?? []).map((n) => fmtNum(n)).join(' · ') || DASH;
  const machine = table([
    row('CPUs', fmtInt(m.cpus)), row('Model', m.cpuModel), row('Memory', fmtBytes(m.memoryBytes)),
    row('Platform', m.platform), row('Node', m.node), row('Load average', load),
  ]);
  const panel = (title: string, body: string, id: string): string => `<div class="panel" data-table="${id}"><h3>${esc(title)}</h3>${body}</div>`;
  return `<h2>Details</h2><div class="grid3">
${panel('Connections', conn, 'connections')}${panel('Deliveries', del, 'deliveries')}${panel('Publishes', pub, 'publishes')}
${panel('Client cost', client, 'client')}${panel('Server cost', server, 'server')}${panel('Machine', machine, 'machine')}
</div>`;
}

/** The whole page for `--html FILE`. */
export function renderHtml(report: BenchReport): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shardcast bench · ${esc(report.options.url)} · ${esc(report.startedAt)}</title>
<style>${CSS}</style></head>
<body><main>
${header(report)}
${warnings(report)}
${cards(report)}
${latencySection(report)}
${timelineSection(report)}
${details(report)}
<footer>Generated by shardcast bench · report format v${esc(report.version)} · self-contained: no scripts, no network</footer>
</main></body></html>
`;
}
