/**
 * ChannelActivity — the dashboard's busiest channels: subscribers (summed over the shards'
 * channel reports, the answer behind /api/channels) and messages per second (the difference
 * of each channel's seq between two refreshes: the sequencer counts every publication
 * anyway, so the rate costs the hot path nothing). Only the top rows per search are kept
 * (TopRows: a row that is not among the busiest so far costs one comparison), so what a viewer
 * receives stays bounded however many channels there are. The pass over the channels is the
 * dashboard's one cost that grows with them: DashboardFeed spaces refreshes by how long the
 * last one took (`lastCostMs`), and none runs while nobody watches.
 */
import { performance } from 'node:perf_hooks';

/** A channel's sequencer state. */
export interface SeqState {
  readonly seq: number;
  readonly epoch: number;
}

export interface ChannelSources {
  /** Channels with local subscribers on some shard, summed over the shards. */
  subscribers(): Promise<ReadonlyArray<{ channel: string; subscribers: number }>>;
  /**
   * Every channel with sequence state, in the order the channels got it (a Map's insertion
   * order: a channel forgotten and named again comes after every older one).
   */
  seqs(): Iterable<readonly [string, SeqState]>;
  /** One channel's state, if it has one. */
  seqState(channel: string): SeqState | undefined;
}

/** One row: channel, subscribers, messages per second (null: not measured yet). */
export type ChannelRow = [channel: string, subscribers: number, rate: number | null];

export interface ChannelTable {
  /** The search ('' for none). */
  q: string;
  rows: ChannelRow[];
  /** Channels the search matched, of which `rows` are the busiest. */
  matched: number;
}

/** Rows per table: the top by subscribers and the top by messages/s, together. */
export const TOP_CHANNELS = 50;
/** A search longer than this is cut (it names a channel, at most 256 characters, as messages.ts allows). */
export const MAX_SEARCH = 256;

export class ChannelActivity {
  /** The last refresh's channels, in the sources' order, with their seqs and epochs then. */
  private prev = new SeqColumns();
  /** The columns the next refresh fills (two sets, swapped: a refresh allocates nothing per channel). */
  private spare = new SeqColumns();
  private prevAt = 0;
  /** Main-thread milliseconds the last refresh's pass took (not counting the shards' answers in flight). */
  lastCostMs = 0;

  constructor(private readonly sources: ChannelSources) {}

  /** Forgets the last seqs (no viewer left). */
  clear(): void {
    this.prev = new SeqColumns();
    this.spare = new SeqColumns();
    this.prevAt = 0;
  }

  /** One table per search in `searches`. */
  async refresh(searches: readonly string[]): Promise<Map<string, ChannelTable>> {
    const subscribed = await this.sources.subscribers();
    const t0 = performance.now();
    const now = Date.now();
    const dt = this.prevAt === 0 ? 0 : (now - this.prevAt) / 1000;
    const subs = new Map<string, number>();
    for (const { channel, subscribers } of subscribed) subs.set(channel, subscribers);
    const tops = [...new Set(searches)].map((q) => new SearchTop(q));
    // the channels come in the order they came last time, less the forgotten ones, then the
    // new ones: one walk along the last refresh's columns finds each one's seq then (no map)
    const prev = this.prev;
    const next = this.spare;
    next.length = 0;
    let j = 0;
    for (const [channel, s] of this.sources.seqs()) {
      next.push(channel, s);
      while (j < prev.length && prev.names[j] !== channel) j++;
      const known = j < prev.length && prev.epochs[j] === s.epoch && s.seq >= prev.seqs[j]!;
      // a channel new since the last refresh (or a new incarnation of one): all its seqs came since
      const published = known ? s.seq - prev.seqs[j]! : s.seq;
      if (j < prev.length) j++;
      const rate = dt === 0 ? null : Math.round((published / dt) * 10) / 10;
      const n = subs.get(channel) ?? 0;
      for (const t of tops) t.offer(channel, n, rate);
    }
    // subscribed, never published: no state, nothing to rate
    for (const [channel, n] of subs) if (this.sources.seqState(channel) === undefined) for (const t of tops) t.offer(channel, n, dt === 0 ? null : 0);
    this.spare = prev;
    this.prev = next;
    this.prevAt = now;
    const tables = new Map(tops.map((t) => [t.q, t.table()]));
    this.lastCostMs = performance.now() - t0;
    return tables;
  }
}

/** Channel names with a seq and an epoch each, in columns (a few bytes a channel, no object per channel). */
class SeqColumns {
  /** Past `length`, names of an earlier refresh may linger until overwritten. */
  names: string[] = [];
  seqs = new Float64Array(1024);
  epochs = new Uint32Array(1024);
  length = 0;

  push(name: string, s: SeqState): void {
    if (this.length === this.seqs.length) {
      const seqs = new Float64Array(this.length * 2);
      seqs.set(this.seqs);
      this.seqs = seqs;
      const epochs = new Uint32Array(this.length * 2);
      epochs.set(this.epochs);
      this.epochs = epochs;
    }
    this.names[this.length] = name;
    this.seqs[this.length] = s.seq;
    this.epochs[this.length++] = s.epoch;
  }
}

/** The busiest channels matching one search (a case-insensitive part of the name). */
class SearchTop {
  private readonly needle: string;
  private readonly bySubs = new TopRows(1);
  private readonly byRate = new TopRows(2);
  private matched = 0;

  constructor(readonly q: string) {
    this.needle = q.toLowerCase();
  }

  offer(channel: string, subscribers: number, rate: number | null): void {
    if (this.needle !== '' && !channel.toLowerCase().includes(this.needle)) return;
    this.matched++;
    if (!this.bySubs.wants(subscribers) && !this.byRate.wants(rate ?? 0)) return;
    const row: ChannelRow = [channel, subscribers, rate];
    this.bySubs.add(row);
    this.byRate.add(row);
  }

  table(): ChannelTable {
    const rows = [...new Set([...this.bySubs.rows, ...this.byRate.rows])].sort((a, b) => b[1] - a[1] || (b[2] ?? 0) - (a[2] ?? 0) || a[0].localeCompare(b[0]));
    return { q: this.q, rows, matched: this.matched };
  }
}

/** The TOP_CHANNELS rows with the largest value in column `col`, largest first. */
export class TopRows {
  readonly rows: ChannelRow[] = [];

  constructor(private readonly col: 1 | 2) {}

  private key(r: ChannelRow): number {
    return r[this.col] ?? 0;
  }

  /** Whether a row with this value would get in (ties with the smallest kept do not). */
  wants(v: number): boolean {
    return this.rows.length < TOP_CHANNELS || v > this.key(this.rows[this.rows.length - 1]!);
  }

  add(row: ChannelRow): void {
    const v = this.key(row);
    if (!this.wants(v)) return;
    let i = this.rows.length;
    while (i > 0 && this.key(this.rows[i - 1]!) < v) i--;
    this.rows.splice(i, 0, row);
    if (this.rows.length > TOP_CHANNELS) this.rows.pop();
  }
}
