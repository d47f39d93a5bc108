/**
 * Interest — which channels have local subscribers on some shard, and in which formats, on
 * the main thread. Shards report the 0 ↔ 1 transitions of their own subscriber counts per
 * topic — a channel in one format (wire-format.ts) — batched, one message per event-loop
 * turn at most; this keeps, per topic, how many shards are interested, tells the Fanout
 * which formats to encode (formatsOf), and calls `onChange` when a channel gains its first
 * interested topic or loses its last. A shard that exits loses all its interest at once.
 * Reports are idempotent per shard (a set per shard, not a count), so a shard may repeat an
 * `on` safely — it does after a FORGET raced a subscribe.
 */
import { JSON_BIT, MSGPACK_BIT, WireFormat, splitTopic, topicOf } from '../protocol/wire-format.js';

export class Interest {
  /** Shards interested, per topic (absent: none). */
  private readonly counts = new Map<string, number>();
  private readonly byShard: Array<Set<string>>;

  constructor(
    shards: number,
    private readonly onChange: (channel: string, interested: boolean) => void,
  ) {
    this.byShard = Array.from({ length: shards }, () => new Set<string>());
  }

  /** Applies one shard's report. */
  apply(shard: number, on: readonly string[], off: readonly string[]): void {
    const mine = this.byShard[shard];
    if (mine === undefined) return;
    for (const c of on) {
      if (mine.has(c)) continue;
      mine.add(c);
      const n = (this.counts.get(c) ?? 0) + 1;
      this.counts.set(c, n);
      if (n === 1) this.topicChanged(c, true);
    }
    for (const c of off) if (mine.delete(c)) this.drop(c);
  }

  /** The shard exited: none of its subscribers remain. */
  dropShard(shard: number): void {
    const mine = this.byShard[shard];
    if (mine === undefined) return;
    for (const c of mine) this.drop(c);
    mine.clear();
  }

  /** Whether some shard has subscribers of `channel`, in any format. */
  has(channel: string): boolean {
    return this.counts.has(channel) || this.counts.has(topicOf(channel, WireFormat.Msgpack));
  }

  /** The formats (JSON_BIT | MSGPACK_BIT) some shard has subscribers of `channel` in. */
  formatsOf(channel: string): number {
    return (this.counts.has(channel) ? JSON_BIT : 0) | (this.counts.has(topicOf(channel, WireFormat.Msgpack)) ? MSGPACK_BIT : 0);
  }

  /** Topics some shard is interested in. */
  get size(): number {
    return this.counts.size;
  }

  /** A topic's first shard came or its last went: the channel changes if its other format has none. */
  private topicChanged(topic: string, interested: boolean): void {
    const { channel, format } = splitTopic(topic);
    const other = topicOf(channel, format === WireFormat.Json ? WireFormat.Msgpack : WireFormat.Json);
    if (!this.counts.has(other)) this.onChange(channel, interested);
  }

  private drop(channel: string): void {
    const n = (this.counts.get(channel) ?? 1) - 1;
    if (n > 0) {
      this.counts.set(channel, n);
      return;
    }
    this.counts.delete(channel);
    this.topicChanged(channel, false);
  }
}
