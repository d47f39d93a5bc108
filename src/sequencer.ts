/**
 * Sequencer — the per-channel sequence numbers. Seq starts at 1 and grows by 1 for each
 * publication on a channel, so a client can see a gap. It lives on the main thread, the
 * only writer; shards learn seqs from the publications themselves.
 */
export class Sequencer {
  private readonly last = new Map<string, number>();

  /** The last seq given on `channel` (0 when none). */
  lastSeq(channel: string): number {
    return this.last.get(channel) ?? 0;
  }

  /** Records that `seq` was given on `channel`. */
  commit(channel: string, seq: number): void {
    this.last.set(channel, seq);
  }

  get channels(): number {
    return this.last.size;
  }

  /** Every channel's last seq, for a shard that starts (or restarts) mid-stream. */
  snapshot(): Array<[string, number]> {
    return [...this.last];
  }
}
