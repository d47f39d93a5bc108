/**
 * Small pieces the interleaved harnesses (merge.ts, nodes.ts, socketio.ts) share: medians over
 * repeats, a figure's text, the check of their numeric options, and the raw rows kept as JSON.
 */
import { mkdirSync, writeFileSync } from 'node:fs';

/** The median of the finite values; NaN when there is none. */
export function median(values: readonly number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** A figure with `digits` decimals and thousands separators; — when there is none. */
export function figure(x: number, digits = 0): string {
  return Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—';
}

/** Exits through `usage` unless every option is a positive number. */
export function requirePositive(usage: (message: string) => never, options: Readonly<Record<string, number>>): void {
  for (const [flag, v] of Object.entries(options)) if (!Number.isFinite(v) || v <= 0) usage(`--${flag}: a positive number`);
}

/** Writes the run's raw rows to `path` (default bench/out/NAME-TIME.json; "none": nowhere) and says where on stderr. */
export function keepRawRows(name: string, path: string | null, rows: unknown): void {
  const file = path ?? `bench/out/${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  if (file === 'none') return;
  mkdirSync('bench/out', { recursive: true });
  writeFileSync(file, JSON.stringify({ argv: process.argv.slice(2), rows }, null, 2));
  process.stderr.write(`raw rows: ${file}\n`);
}
