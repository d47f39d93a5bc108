/**
 * ChannelActivity — the dashboard's busiest channels: subscribers (summed over the shards'
 * channel reports, the answer behind /api/channels) and messages per second (the difference
 * of each channel's seq between two refreshes: the sequencer counts every publication
 * anyway, so the rate costs the hot path nothing). Only the top rows per search go out, so
 * what a viewer receives stays bounded however many channels there are; the work is a pass
 * over the channels every refresh, and only while someone watches.
 */

export interface ChannelSources {
  /** Channels with local subscribers on some shard, summed over the shards. */
  subscribers(): Promise<ReadonlyArray<{ channel: string; subscribers: number }>>;
  /** Every channel with sequence state: its last seq and its epoch. */
  seqs(): Iterable<readonly [string, { readonly seq: number; readonly epoch: number }]>;
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
  private prev = new Map<string, { seq: number; epoch: number }>();
  private prevAt = 0;

  constructor(private readonly sources: ChannelSources) {}

  /** Forgets the last seqs (no viewer left: the memory goes too). */
  clear(): void {
    this.prev = new Map();
    this.prevAt = 0;
  }

  /** One table per search in `searches`. */
  async refresh(searches: readonly string[]): Promise<Map<string, ChannelTable>> {
    const subscribed = await this.sources.subscribers();
    const now = Date.now();
    const dt = this.prevAt === 0 ? 0 : (now - this.prevAt) / 1000;
    const next = new Map<string, { seq: number; epoch: number }>();
    const rows = new Map<string, ChannelRow>();
    for (const [channel, s] of this.sources.seqs()) {
      next.set(channel, { seq: s.seq, epoch: s.epoch });
      const before = this.prev.get(channel);
      // a channel new since the last refresh, or a new epoch (restarted at seq 1): all its seqs came since
      const published = before !== undefined && before.epoch === s.epoch ? s.seq - before.seq : s.seq;
      const rate = dt === 0 ? null : Math.round((published / dt) * 10) / 10;
      rows.set(channel, [channel, 0, rate]);
    }
    for (const { channel, subscribers } of subscribed) {
      const row = rows.get(channel);
      if (row !== undefined) row[1] = subscribers;
      else rows.set(channel, [channel, subscribers, dt === 0 ? null : 0]);
    }
    this.prev = next;
    this.prevAt = now;
    const tables = new Map<string, ChannelTable>();
    for (const q of new Set(searches)) tables.set(q, top([...rows.values()], q));
    return tables;
  }
}

/** The busiest rows matching `q` (a case-insensitive part of the name). */
export function top(all: readonly ChannelRow[], q: string): ChannelTable {
  const needle = q.toLowerCase();
  const matching = needle === '' ? all : all.filter((r) => r[0].toLowerCase().includes(needle));
  const bySubs = [...matching].sort((a, b) => b[1] - a[1]).slice(0, TOP_CHANNELS);
  const byRate = [...matching].sort((a, b) => (b[2] ?? 0) - (a[2] ?? 0)).slice(0, TOP_CHANNELS);
  const rows = [...new Set([...bySubs, ...byRate])].sort((a, b) => b[1] - a[1] || (b[2] ?? 0) - (a[2] ?? 0) || a[0].localeCompare(b[0]));
  return { q, rows, matched: matching.length };
}
