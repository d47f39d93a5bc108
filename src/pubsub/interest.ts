/**
 * Interest — which channels have local subscribers on some shard, on the main thread.
 * Shards report the 0 ↔ 1 transitions of their own subscriber counts (batched, one message
 * per event-loop turn at most); this keeps, per channel, how many shards are interested
 * and calls `onChange` when that number leaves or reaches 0. A shard that exits loses all
 * its interest at once. Reports are idempotent per shard (a set per shard, not a count),
 * so a shard may repeat an `on` safely — it does after a FORGET raced a subscribe.
 */
export class Interest {
  /** Shards interested, per channel (absent: none). */
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
      if (n === 1) this.onChange(c, true);
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

  has(channel: string): boolean {
    return this.counts.has(channel);
  }

  /** Channels some shard is interested in. */
  get size(): number {
    return this.counts.size;
  }

  private drop(channel: string): void {
    const n = (this.counts.get(channel) ?? 1) - 1;
    if (n > 0) {
      this.counts.set(channel, n);
      return;
    }
    this.counts.delete(channel);
    this.onChange(channel, false);
  }
}
