/**
 * Log-linear latency histogram in integer microseconds: exact below 128 µs, then 64
 * sub-buckets per power of two (≤ 1.6 % relative error). Fixed size, so each client thread
 * records millions of samples without allocation and the main thread merges plain arrays.
 */
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS; // 64
const MAX_EXP = 31; // values are clamped below 2^31 µs (~36 min)
export const HISTOGRAM_BUCKETS = SUB + (MAX_EXP - SUB_BITS) * SUB;

export class LatencyHistogram {
  readonly counts: Float64Array;
  total = 0;
  max = 0;

  constructor(counts?: ArrayLike<number>) {
    this.counts = new Float64Array(HISTOGRAM_BUCKETS);
    if (counts) {
      this.counts.set(counts);
      for (let i = 0; i < this.counts.length; i++) {
        this.total += this.counts[i]!;
        // The exact max is not carried over; the bucket edge bounds it within 1.6 %.
        if (this.counts[i]! > 0) this.max = bucketUpper(i);
      }
    }
  }

  record(micros: number): void {
    let v = micros <= 0 ? 0 : Math.floor(micros);
    if (v >= 2 ** MAX_EXP) v = 2 ** MAX_EXP - 1;
    this.counts[bucketOf(v)]!++;
    this.total++;
    if (v > this.max) this.max = v;
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    if (other.max > this.max) this.max = other.max;
  }

  /** Upper edge of the bucket holding the q-quantile, in µs; NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(bucketUpper(i), this.max);
    }
    return this.max;
  }
}

function bucketOf(v: number): number {
  if (v < 2 * SUB) return v;
  const exp = 31 - Math.clz32(v); // ≥ SUB_BITS + 1
  return SUB + (exp - SUB_BITS) * SUB + ((v >>> (exp - SUB_BITS)) - SUB);
}

function bucketUpper(i: number): number {
  if (i < 2 * SUB) return i;
  const exp = Math.floor((i - SUB) / SUB) + SUB_BITS;
  const sub = ((i - SUB) % SUB) + SUB;
  return ((sub + 1) << (exp - SUB_BITS)) - 1;
}
