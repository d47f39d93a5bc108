/**
 * Interest — which channels have local subscribers on some shard, and in which formats, on
 * the main thread. Shards report the 0 ↔ 1 transitions of their own subscriber counts per
 * topic — a channel in one format (wire-format.ts) — batched, one message per event-loop
 * turn at most; this keeps, per topic, which shards are interested, tells the Fanout
 * which formats to encode (formatsOf), and calls `onChange` when a channel gains its first
 * interested topic or loses its last. A shard that exits loses all its interest at once.
 * Reports are idempotent per shard (the shards interested are a set, not a count), so a shard
 * may repeat an `on` or send an `off` for a topic it never reported — it does both (see
 * ShardContext.sendInterest).
 */
import { JSON_BIT, MSGPACK_BIT, WireFormat, splitTopic, topicOf } from '../protocol/wire-format.js';

export class Interest {
  /**
   * The shards interested, per topic (absent: none): the shard's number when it is one —
   * the common case, and the only one for a per-user channel whose user is on one shard —
   * a set of them from the second on. One map entry per topic, no set per shard: with a
   * per-user channel per connected user, this table has an entry per user.
   */
  private readonly shards = new Map<string, number | Set<number>>();

  constructor(
    private readonly shardCount: number,
    private readonly onChange: (channel: string, interested: boolean) => void,
  ) {}

  /** Applies one shard's report. */
  apply(shard: number, on: readonly string[], off: readonly string[]): void {
    if (!(shard >= 0 && shard < this.shardCount)) return;
    for (const c of on) {
      const held = this.shards.get(c);
      if (held === undefined) {
        this.shards.set(c, shard);
        this.topicChanged(c, true);
      } else if (typeof held !== 'number') held.add(shard);
      else if (held !== shard) this.shards.set(c, new Set([held, shard]));
    }
    for (const c of off) this.drop(c, shard);
  }

  /** The shard exited: none of its subscribers remain. */
  dropShard(shard: number): void {
    // deleting the entry being visited is safe in a Map iteration; rare (a shard exited)
    for (const c of this.shards.keys()) this.drop(c, shard);
  }

  /** Whether some shard has subscribers of `channel`, in any format. */
  has(channel: string): boolean {
    return this.shards.has(channel) || this.shards.has(topicOf(channel, WireFormat.Msgpack));
  }

  /** The formats (JSON_BIT | MSGPACK_BIT) some shard has subscribers of `channel` in. */
  formatsOf(channel: string): number {
    return (this.shards.has(channel) ? JSON_BIT : 0) | (this.shards.has(topicOf(channel, WireFormat.Msgpack)) ? MSGPACK_BIT : 0);
  }

  /** Topics some shard is interested in. */
  get size(): number {
    return this.shards.size;
  }

  /** A topic's first shard came or its last went: the channel changes if its other format has none. */
  private topicChanged(topic: string, interested: boolean): void {
    const { channel, format } = splitTopic(topic);
    const other = topicOf(channel, format === WireFormat.Json ? WireFormat.Msgpack : WireFormat.Json);
    if (!this.shards.has(other)) this.onChange(channel, interested);
  }

  /** `shard` has no subscribers of `topic` (any more). */
  private drop(topic: string, shard: number): void {
    const held = this.shards.get(topic);
    if (held === undefined) return;
    if (typeof held !== 'number') {
      if (held.delete(shard) && held.size === 1) this.shards.set(topic, held.values().next().value!);
      return;
    }
    if (held !== shard) return;
    this.shards.delete(topic);
    this.topicChanged(topic, false);
  }
}
