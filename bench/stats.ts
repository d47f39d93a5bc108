/** Latency summaries for the bench, in microseconds. */

export interface Summary {
  readonly samples: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Summarises nanosecond samples as microseconds (nearest-rank percentiles). */
export function summarizeNs(samplesNs: readonly number[]): Summary {
  const sorted = Float64Array.from(samplesNs).sort();
  const rank = (p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! / 1000;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    samples: sorted.length,
    p50: rank(50),
    p90: rank(90),
    p99: rank(99),
    max: sorted[sorted.length - 1]! / 1000,
    mean: sum / sorted.length / 1000,
  };
}
