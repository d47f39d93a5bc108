/**
 * Latency histograms (HdrHistogram, via hdr-histogram-js): each load thread records every
 * delivery's latency in integer microseconds, ships its histogram to the main thread in
 * HdrHistogram's compressed encoding, and the main thread adds them up. Three significant
 * digits keeps the error under 0.1 % from 1 µs to an hour, at a fixed few tens of KiB per
 * histogram whatever the number of samples.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import type { LatencyReport } from './report.js';

/** An hour in µs: anything slower is clamped (the run would have ended long before). */
const HIGHEST_MICROS = 3_600_000_000;

export function newHistogram(): Histogram {
  return build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_MICROS,
    numberOfSignificantValueDigits: 3,
  });
}

/** Records a latency given in (fractional) milliseconds; negative clock noise counts as 0. */
export function recordMs(h: Histogram, ms: number): void {
  const micros = ms <= 0 ? 0 : Math.round(ms * 1000);
  h.recordValue(micros > HIGHEST_MICROS ? HIGHEST_MICROS : micros);
}

/** Compressed base64 for postMessage; null for an empty histogram (the common idle case). */
export function encodeHistogram(h: Histogram): string | null {
  return h.totalCount === 0 ? null : encodeIntoCompressedBase64(h);
}

/** Adds an encoded histogram into `into`. */
export function addEncoded(into: Histogram, encoded: string | null): void {
  if (encoded === null) return;
  const h = decodeFromCompressedBase64(encoded);
  into.add(h);
  h.destroy();
}

/** p99 in ms of a histogram, 0 when it has no samples. */
export function p99Ms(h: Histogram): number {
  return h.totalCount === 0 ? 0 : round3(h.getValueAtPercentile(99) / 1000);
}

/** Where the percentile curve is sampled: dense towards the tail, as HdrHistogram plots are. */
export const CURVE_PERCENTILES = [
  0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96.25, 97.5, 98.4375, 99, 99.21875, 99.5, 99.609375, 99.75,
  99.8046875, 99.9, 99.95, 99.975, 99.99, 99.995, 99.999, 100,
];

export function latencyReport(h: Histogram, measuredFrom: 'scheduled' | 'sent'): LatencyReport {
  const n = h.totalCount;
  const at = (p: number): number => (n === 0 ? 0 : round3(h.getValueAtPercentile(p) / 1000));
  return {
    measuredFrom,
    samples: n,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: n === 0 ? 0 : round3(h.maxValue / 1000),
    mean: n === 0 ? 0 : round3(h.mean / 1000),
    curve: n === 0 ? [] : CURVE_PERCENTILES.map((p): [number, number] => [p, p === 100 ? round3(h.maxValue / 1000) : at(p)]),
  };
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
