/**
 * IpSlots — the shared layout under the per-address tables (IpTable: connections per address;
 * HandshakeLimiter: handshake rate per address): one SharedArrayBuffer of 64-bit words, each
 * word one address's whole state, so that a key and its value only ever change together, in
 * one Atomics.compareExchange.
 *
 *   Int32[0..2]   hash seeds (random per process)      written once by main, before any shard exists
 *   Int32[3]      lines                                 written once by main
 *   BigUint64 words from byte 64, grouped in lines of 8 words (one 64-byte cache line)
 *
 * An address may live in any of the 16 words of two lines chosen by two seeded hashes of its
 * key, and is recognised there by a fingerprint from a third hash (0 never is one: a word of 0
 * is free). With 8-way lines and two choices, an address finds no free word only when all 16
 * are taken by others. The tables have 4 words per --max-connections (a power of two, 8 KiB
 * to 32 MiB), so even with every connection from its own address they are at most a quarter
 * full, and then no insertion in 400,000 simulated ones failed (half full: 1 in 4,000, which
 * only --max-connections above 1,048,576 can reach, where the size is capped). An address that
 * finds no room is let through unchecked (fail open: the limits are against a few addresses
 * holding much, not a reason to refuse the many) and counted (ipTableFull).
 *
 * Concurrency contract: the header is written by the main thread before the buffer reaches a
 * shard (workerData: the worker's start orders it). Words are written only with
 * Atomics.compareExchange of the whole word, by any shard, and read with Atomics.load; a
 * shard acts on a word it read only through a compareExchange expecting exactly that word, so
 * a stale read costs a retry, never a wrong state. No locks: a shard stalled at any point
 * leaves every word valid. What the subclasses add to this is in their own headers.
 */
import { hashIpKey, type IpKey } from './ip-key.js';

export const LINE_WORDS = 8;
const HEADER_BYTES = 64;
/** Smallest table: 8 KiB. */
export const MIN_WORDS = 1024;
/** Largest table: 32 MiB of words; enough for --max-connections 1,000,000 at 4 words each. */
export const MAX_WORDS = 1 << 22;

/** Words for a table serving up to `maxConnections` addresses at once: 4 each, a power of two, capped. */
export function ipSlotsWords(maxConnections: number): number {
  let words = MIN_WORDS;
  while (words < 4 * maxConnections && words < MAX_WORDS) words *= 2;
  return words;
}

/**
 * A new table of `words` (a power of two, at least two lines). `seeds` only for tests: a
 * server always draws random ones, so a peer cannot know which addresses share its lines.
 */
export function createIpSlots(words: number, seeds?: readonly [number, number, number]): SharedArrayBuffer {
  if (!Number.isInteger(words) || words < 2 * LINE_WORDS || (words & (words - 1)) !== 0) {
    throw new RangeError(`an IP table needs a power of two of at least ${2 * LINE_WORDS} words, not ${words}`);
  }
  const sab = new SharedArrayBuffer(HEADER_BYTES + 8 * words);
  const head = new Int32Array(sab, 0, 4);
  const s = seeds ?? crypto.getRandomValues(new Int32Array(3));
  head[0] = s[0]!;
  head[1] = s[1]!;
  head[2] = s[2]!;
  head[3] = words / LINE_WORDS;
  return sab;
}

export class IpSlots {
  protected readonly words: BigUint64Array;
  private readonly seedFp: number;
  private readonly seedLine1: number;
  private readonly seedLine2: number;
  private readonly lineMask: number;
  // Set by place() for the key last placed (one shard, one thread: no sharing).
  /** Fingerprint, 32 bits, never 0. */
  protected fp = 0;
  /** First word of each candidate line (different lines). */
  protected line1 = 0;
  protected line2 = 0;

  constructor(readonly sab: SharedArrayBuffer) {
    const head = new Int32Array(sab, 0, 4);
    this.seedFp = head[0]!;
    this.seedLine1 = head[1]!;
    this.seedLine2 = head[2]!;
    this.lineMask = head[3]! - 1;
    this.words = new BigUint64Array(sab, HEADER_BYTES);
  }

  get size(): number {
    return this.words.length;
  }

  /** Words in use now (not 0): for tests and diagnostics, a racy snapshot. */
  used(): number {
    let n = 0;
    for (let i = 0; i < this.words.length; i++) if (Atomics.load(this.words, i) !== 0n) n++;
    return n;
  }

  protected place(key: IpKey): void {
    this.fp = hashIpKey(key, this.seedFp) || 1;
    const a = hashIpKey(key, this.seedLine1) & this.lineMask;
    let b = hashIpKey(key, this.seedLine2) & this.lineMask;
    if (b === a) b = a ^ 1;
    this.line1 = a * LINE_WORDS;
    this.line2 = b * LINE_WORDS;
  }

  /** The k-th candidate word (0..15) of the key last placed: line 1, then line 2. */
  protected candidate(k: number): number {
    return k < LINE_WORDS ? this.line1 + k : this.line2 + k - LINE_WORDS;
  }
}

/** The per-address tables a server shares with its shards; null where that limit is off. */
export interface IpTables {
  readonly connections: SharedArrayBuffer | null;
  readonly handshakes: SharedArrayBuffer | null;
}

/** Created once by the main thread, for the server's whole life: restarted shards attach to the same tables. */
export function createIpTables(config: { readonly maxConnections: number; readonly maxConnectionsPerIp: number; readonly maxHandshakesPerIp: number }): IpTables {
  const words = ipSlotsWords(config.maxConnections);
  return {
    connections: config.maxConnectionsPerIp > 0 ? createIpSlots(words) : null,
    handshakes: config.maxHandshakesPerIp > 0 ? createIpSlots(words) : null,
  };
}
