/**
 * HandshakeLimiter — WebSocket handshakes per second per client address (IpKey), over all
 * shards, for --max-handshakes-per-ip and --handshake-burst: a token bucket of `burst`
 * tokens refilled at `rate` per second, kept as GCRA (the generic cell rate algorithm) so
 * that one address's whole state is one number, its theoretical arrival time (TAT): the
 * bucket is full when TAT ≤ now, and a handshake is admitted when TAT − now ≤ (burst − 1) /
 * rate, moving TAT to max(TAT, now) + 1 / rate.
 *
 * Why shared and not a token bucket per shard at rate/N: the kernel spreads an address's
 * connections over the shards only on average. With per-shard buckets of burst/N, a client
 * opening `burst` connections at once is refused as soon as one shard gets more than its
 * share (almost always, for small bursts), and burst/N < 1 would refuse everything. The
 * shared bucket is exact, needs no pruning (a full bucket is a word anyone may reuse) and
 * has a fixed size.
 *
 * Word: fingerprint (high 24 bits) | TAT (low 40 bits, microseconds of the monotonic clock
 * — process.hrtime, one clock for every thread — modulo 2^40, about 12.7 days). Differences
 * are taken modulo 2^40; a TAT further ahead of now than any admission can set is a word
 * left over from 12.7 days ago (or more), and counts as a full bucket. A word whose bucket is
 * full is free: a new address may take it over (its old owner loses nothing: a full bucket is
 * what it would start from anyway).
 *
 * Concurrency contract (on top of IpSlots'): writers are the shards, in their upgrade handler
 * only, through compareExchange of the whole word. An admission reads the word and replaces
 * it with the moved TAT only if it is unchanged, so two shards can never both spend the same
 * token. A refusal writes nothing. As in IpTable, two shards taking a new address's first
 * word at the same instant may give it two words while the race lasts (one extra handshake
 * per racing shard at most); and an address whose two lines hold 16 live buckets of others is
 * admitted unchecked (UNTRACKED, counted by the caller).
 */
import type { IpKey } from './ip-key.js';
import { IpSlots } from './ip-slots.js';

/** tryHandshake: no room for a new address; admitted unchecked. */
export const UNTRACKED = -2;

const TIME_MOD = 2 ** 40;
const TIME_MASK = BigInt(TIME_MOD - 1);
/** Clock readings of different shards may be this far apart (a pause between reading and using one). */
const SKEW_US = 1_000_000;

/** Microseconds of the monotonic clock; the same clock in every thread of the process. */
export function monotonicMicros(): number {
  const [s, ns] = process.hrtime();
  return s * 1e6 + Math.floor(ns / 1000);
}

export class HandshakeLimiter extends IpSlots {
  /** Microseconds per token. */
  private readonly interval: number;
  /** How far TAT may be ahead of now for a handshake to pass: (burst − 1) tokens. */
  private readonly tolerance: number;
  /** Beyond this, a TAT is a stale word from an earlier lap of the 40-bit clock. */
  private readonly horizon: number;

  constructor(sab: SharedArrayBuffer, rate: number, burst: number) {
    super(sab);
    if (!(rate > 0) || !(burst >= 1)) throw new RangeError(`HandshakeLimiter needs rate > 0 and burst >= 1 (got ${rate}, ${burst})`);
    this.interval = 1e6 / rate;
    this.tolerance = (burst - 1) * this.interval;
    this.horizon = this.tolerance + this.interval + SKEW_US;
    if (this.horizon >= TIME_MOD / 4) throw new RangeError(`burst / rate too long for the 40-bit clock: ${burst} / ${rate}`);
  }

  /**
   * Spends one token of `key`'s bucket at time `now` (monotonicMicros()): 0 when admitted,
   * UNTRACKED when admitted without a bucket, else (refused) the microseconds until the
   * next token.
   */
  tryHandshake(key: IpKey, now: number): number {
    this.place(key);
    const fp = BigInt(this.fp >>> 8 || 1);
    const { words } = this;
    retry: for (;;) {
      let free = -1;
      let freeWord = 0n;
      for (let k = 0; k < 16; k++) {
        const i = this.candidate(k);
        const w = Atomics.load(words, i);
        if (w !== 0n && w >> 40n === fp) {
          const ahead = Math.max(this.ahead(w, now), 0);
          if (ahead > this.tolerance) return Math.ceil(ahead - this.tolerance);
          if (Atomics.compareExchange(words, i, w, this.word(fp, now + ahead + this.interval)) === w) return 0;
          continue retry;
        }
        if (free < 0 && (w === 0n || this.ahead(w, now) <= 0)) {
          free = i;
          freeWord = w;
        }
      }
      if (free < 0) return UNTRACKED;
      if (Atomics.compareExchange(words, free, freeWord, this.word(fp, now + this.interval)) === freeWord) return 0;
    }
  }

  /** Tokens left in `key`'s bucket at `now` (tests, diagnostics). */
  tokens(key: IpKey, now: number, burst: number): number {
    this.place(key);
    const fp = BigInt(this.fp >>> 8 || 1);
    for (let k = 0; k < 16; k++) {
      const w = Atomics.load(this.words, this.candidate(k));
      if (w !== 0n && w >> 40n === fp) return Math.min(burst, Math.max(0, burst - Math.max(this.ahead(w, now), 0) / this.interval));
    }
    return burst;
  }

  /** TAT − now in microseconds (negative: the bucket is full). */
  private ahead(w: bigint, now: number): number {
    let d = Number(w & TIME_MASK) - (now % TIME_MOD);
    if (d >= TIME_MOD / 2) d -= TIME_MOD;
    else if (d < -TIME_MOD / 2) d += TIME_MOD;
    return d > this.horizon ? 0 : d;
  }

  private word(fp: bigint, tat: number): bigint {
    return (fp << 40n) | BigInt(Math.round(tat) % TIME_MOD);
  }
}
