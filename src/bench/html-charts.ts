/**
 * Escaping, number formatting and inline-SVG line charts for the `--html` bench report.
 * Everything here returns strings that are safe to drop into HTML: text is escaped, numbers
 * pass through the formatters (which print "—" for anything that is not a finite number).
 */

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for element content and double- or single-quoted attribute values. */
export const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);

export const isNum = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);

export const DASH = '—';
const formats = [0, 1, 2, 3].map((d) => new Intl.NumberFormat('en-US', { maximumFractionDigits: d }));

/** Whole number with thousands separators: 1,234,567. */
export const fmtInt = (n: unknown): string => (isNum(n) ? formats[0]!.format(Math.round(n)) : DASH);

/** Separators, and fewer decimals the bigger the number: 1,234 · 56.7 · 3.14. */
export function fmtNum(n: unknown): string {
  if (!isNum(n)) return DASH;
  const a = Math.abs(n);
  return formats[a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3]!.format(n);
}

/** A duration given in milliseconds, in the unit that reads best: 850 µs · 12.3 ms · 4.5 s · 2.1 min. */
export function fmtMs(ms: unknown): string {
  if (!isNum(ms)) return DASH;
  const a = Math.abs(ms);
  if (a === 0) return '0 ms';
  if (a < 1) return `${fmtNum(ms * 1000)} µs`;
  if (a < 1000) return `${fmtNum(ms)} ms`;
  if (a < 60_000) return `${fmtNum(ms / 1000)} s`;
  if (a < 3_600_000) return `${fmtNum(ms / 60_000)} min`;
  return `${fmtNum(ms / 3_600_000)} h`;
}

export function fmtBytes(n: unknown): string {
  if (!isNum(n)) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? fmtInt(v) : fmtNum(v)} ${units[i]}`;
}

/** part ÷ whole as a percentage that never rounds a non-zero share down to "0%". */
export function fmtPct(part: unknown, whole: unknown): string {
  if (!isNum(part) || !isNum(whole) || whole <= 0) return DASH;
  const p = (part / whole) * 100;
  if (p === 0) return '0%';
  if (Math.abs(p) < 0.001) return '<0.001%';
  return `${formats[Math.abs(p) >= 10 ? 1 : 3]!.format(p)}%`;
}

/** Short axis labels: 950 · 12.5k · 3M · 1.25G. */
export function fmtCompact(n: number): string {
  const a = Math.abs(n);
  for (const [d, s] of [[1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) {
    if (a >= d) return `${formats[2]!.format(n / d)}${s}`;
  }
  return formats[3]!.format(n);
}

/** Round-numbered ticks (steps of 1, 2, 2.5 or 5 × 10ⁿ) covering [lo, hi]; `outward` extends past the ends to a tick. */
export function niceTicks(lo: number, hi: number, count: number, outward = false): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9)) ?? 10 * mag;
  if (!(step > 0) || !Number.isFinite(step) || !Number.isFinite(lo / step)) return [lo, hi];
  const first = outward ? Math.floor(lo / step + 1e-9) : Math.ceil(lo / step - 1e-9);
  const last = outward ? Math.ceil(hi / step - 1e-9) : Math.floor(hi / step + 1e-9);
  const ticks: number[] = [];
  for (let i = first; i <= last && ticks.length < 50; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

export interface Point { readonly x: number; readonly y: number; readonly tip: string }
export interface Tick { readonly v: number; readonly label: string }
export interface Marker { readonly x: number; readonly y: number; readonly label: string }

export interface ChartSpec {
  /** Goes into data-chart / data-series attributes (tests and styling key on it). */
  readonly id: string;
  readonly title: string;
  readonly width: number;
  readonly height: number;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly points: readonly Point[];
  readonly color: string;
  readonly xDomain?: readonly [number, number];
  /** Fixed x ticks (the percentile axis); otherwise round numbers across the data. */
  readonly xTicks?: readonly Tick[];
  readonly xFormat?: (v: number) => string;
  readonly yFormat?: (v: number) => string;
  /** Shade x < at (the connection ramp before the first publish). */
  readonly shadeBefore?: { readonly at: number; readonly label: string };
  readonly markers?: readonly Marker[];
  readonly empty: string;
}

const M = { l: 66, r: 22, t: 16, b: 48 } as const;
const r1 = (n: number): string => String(Math.round(n * 10) / 10);
const minMax = (vs: readonly number[]): [number, number] =>
  vs.reduce<[number, number]>(([lo, hi], v) => [Math.min(lo, v), Math.max(hi, v)], [Infinity, -Infinity]);

/** One series as a line (plus a faint area) with gridlines, ticks, axis titles and hover tooltips. */
export function lineChart(s: ChartSpec): string {
  const pw = s.width - M.l - M.r;
  const ph = s.height - M.t - M.b;
  const pts = s.points.filter((p) => isNum(p.x) && isNum(p.y));
  let [x0, x1] = s.xDomain ?? (pts.length ? minMax(pts.map((p) => p.x)) : [0, 1]);
  if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
  const [ylo, yhi] = pts.length ? minMax([...pts.map((p) => p.y), ...(s.markers ?? []).map((m) => m.y)]) : [0, 0];
  const yTicks = niceTicks(Math.min(0, ylo), yhi > Math.min(0, ylo) ? yhi : Math.min(0, ylo) + 1, Math.max(2, Math.floor(ph / 38)), true);
  const [y0, y1] = [yTicks[0]!, yTicks[yTicks.length - 1]!];
  const X = (v: number): number => M.l + ((Math.min(Math.max(v, x0), x1) - x0) / (x1 - x0)) * pw;
  const Y = (v: number): number => M.t + ph - ((v - y0) / (y1 - y0)) * ph;
  const xf = s.xFormat ?? fmtCompact;
  const yf = s.yFormat ?? fmtCompact;
  // with no data, auto ticks would be made-up numbers: keep only fixed ticks (the percentile axis)
  const xTicks = s.xTicks ?? (pts.length ? niceTicks(x0, x1, Math.max(2, Math.floor(pw / 95))).map((v) => ({ v, label: xf(v) })) : []);
  if (!pts.length) yTicks.length = 0;
  const out: string[] = [];
  out.push(`<figure class="chart" data-chart="${esc(s.id)}"><figcaption>${esc(s.title)}</figcaption>`);
  out.push(`<svg viewBox="0 0 ${s.width} ${s.height}" width="${s.width}" height="${s.height}" role="img" aria-label="${esc(s.title)}">`);
  if (s.shadeBefore && s.shadeBefore.at > x0 && pts.some((p) => p.x < s.shadeBefore!.at)) {
    const w = X(s.shadeBefore.at) - M.l;
    out.push(`<rect class="shade" x="${M.l}" y="${M.t}" width="${r1(w)}" height="${ph}"/>`);
    if (w > 40) out.push(`<text class="shade-label" x="${r1(M.l + w / 2)}" y="${M.t + 14}" text-anchor="middle">${esc(s.shadeBefore.label)}</text>`);
  }
  out.push('<g class="grid">');
  for (const t of yTicks) out.push(`<line x1="${M.l}" x2="${M.l + pw}" y1="${r1(Y(t))}" y2="${r1(Y(t))}"/>`);
  for (const t of xTicks) if (t.v >= x0 && t.v <= x1) out.push(`<line x1="${r1(X(t.v))}" x2="${r1(X(t.v))}" y1="${M.t}" y2="${M.t + ph}"/>`);
  out.push('</g><g class="axis">');
  out.push(`<line x1="${M.l}" x2="${M.l + pw}" y1="${M.t + ph}" y2="${M.t + ph}"/><line x1="${M.l}" x2="${M.l}" y1="${M.t}" y2="${M.t + ph}"/>`);
  for (const t of yTicks) out.push(`<text x="${M.l - 8}" y="${r1(Y(t) + 4)}" text-anchor="end">${esc(yf(t))}</text>`);
  for (const t of xTicks) {
    if (t.v < x0 || t.v > x1) continue;
    out.push(`<line x1="${r1(X(t.v))}" x2="${r1(X(t.v))}" y1="${M.t + ph}" y2="${M.t + ph + 5}"/>`);
    const clip = X(t.v) + t.label.length * 3.6 > s.width;
    out.push(`<text x="${r1(clip ? s.width - 2 : X(t.v))}" y="${M.t + ph + 19}" text-anchor="${clip ? 'end' : 'middle'}">${esc(t.label)}</text>`);
  }
  out.push('</g>');
  out.push(`<text class="axis-title" x="${M.l + pw / 2}" y="${s.height - 8}" text-anchor="middle">${esc(s.xLabel)}</text>`);
  out.push(`<text class="axis-title" transform="translate(15 ${M.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(s.yLabel)}</text>`);
  if (pts.length === 0) {
    out.push(`<text class="empty" x="${M.l + pw / 2}" y="${M.t + ph / 2}" text-anchor="middle">${esc(s.empty)}</text>`);
  } else {
    const coords = pts.map((p) => `${r1(X(p.x))},${r1(Y(p.y))}`);
    const base = r1(Y(Math.max(y0, 0)));
    if (pts.length > 1) {
      out.push(`<polygon class="area" fill="${esc(s.color)}" points="${r1(X(pts[0]!.x))},${base} ${coords.join(' ')} ${r1(X(pts[pts.length - 1]!.x))},${base}"/>`);
    }
    out.push(`<polyline class="series" data-series="${esc(s.id)}" stroke="${esc(s.color)}" points="${coords.join(' ')}"/>`);
    const dots = pts.length <= 40 ? 'dot' : 'hit';
    if (pts.length <= 2000) {
      out.push(`<g class="${dots}" fill="${esc(s.color)}">`);
      for (const p of pts) out.push(`<circle cx="${r1(X(p.x))}" cy="${r1(Y(p.y))}" r="${dots === 'dot' ? 3 : 4}"><title>${esc(p.tip)}</title></circle>`);
      out.push('</g>');
    }
    const boxes: Array<readonly [number, number, number, number]> = []; // labels drawn so far: x0, x1, y0, y1
    for (const m of s.markers ?? []) {
      if (!isNum(m.x) || !isNum(m.y) || m.x < x0 || m.x > x1) continue;
      const [cx, cy] = [X(m.x), Y(m.y)];
      const w = m.label.length * 7.2;
      const room = cx - M.l > w + 10;
      const tx = room ? cx - 7 : cx + 7;
      const ty = Math.max(M.t + 10, cy - 9);
      const box = [room ? tx - w : tx, room ? tx : tx + w, ty - 12, ty + 4] as const;
      if (boxes.some((b) => b[0] < box[1] && box[0] < b[1] && b[2] < box[3] && box[2] < b[3])) continue; // would overlap: skip
      boxes.push(box);
      out.push(`<g class="marker"><circle cx="${r1(cx)}" cy="${r1(cy)}" r="4"/>`);
      out.push(`<text x="${r1(tx)}" y="${r1(ty)}" text-anchor="${room ? 'end' : 'start'}">${esc(m.label)}</text></g>`);
    }
  }
  out.push('</svg></figure>');
  return out.join('');
}

/** −log10(1 − p/100): 90 → 1, 99 → 2, 99.9 → 3 … (the HdrHistogram "nines" axis). */
export const nines = (p: number): number => (p >= 100 ? Infinity : -Math.log10((100 - Math.max(0, p)) / 100));

const ninesLabel = (k: number): string => (k === 0 ? '0%' : `${(100 - 10 ** (2 - k)).toFixed(Math.max(0, k - 2))}%`);

/** Latency by percentile on a log "nines" x axis; p100 (the max) sits on the right edge. */
export function percentileChart(
  curve: ReadonlyArray<readonly [number, number]>, markers: ReadonlyArray<readonly [number, number, string]>, width: number, height: number,
): string {
  const finite = curve.filter(([p, v]) => isNum(p) && isNum(v) && p < 100).map(([p]) => nines(p));
  const top = finite.reduce((a, b) => Math.max(a, b), 0);
  const maxN = Math.min(7, Math.max(2, Math.ceil(top - 1e-6)));
  const points = curve
    .filter(([p, v]) => isNum(p) && isNum(v))
    .map(([p, v]) => ({ x: Math.min(nines(p), maxN), y: v, tip: `p${formats[3]!.format(p)}: ${fmtMs(v)}` }));
  return lineChart({
    id: 'latency-percentiles', title: 'Latency by percentile', width, height, color: '#2563eb',
    xLabel: 'percentile (log scale: each gridline adds a nine)', yLabel: 'latency (ms)', points,
    xDomain: [0, maxN], xTicks: Array.from({ length: maxN + 1 }, (_, k) => ({ v: k, label: ninesLabel(k) })),
    yFormat: (v) => (Math.abs(v) >= 1e5 ? fmtCompact(v) : formats[3]!.format(v)),
    markers: markers.filter(([p]) => p >= 100 || nines(p) <= maxN).map(([p, v, label]) => ({ x: Math.min(nines(p), maxN), y: v, label })),
    empty: 'No latency samples',
  });
}
