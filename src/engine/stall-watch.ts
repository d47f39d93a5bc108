/**
 * StallWatch — keeps one stalled shard from holding the broadcast ring for everyone. Every
 * shard reads every record, so a shard whose thread is blocked (a long synchronous task, a
 * runaway GC, a bug) stops freeing ring space and, once the ring is full, every publish on
 * every shard is refused `overloaded`. A shard that has records waiting but has not moved
 * its read position for --shard-stall-timeout is cut loose: its slot stops counting, and
 * publishing goes on for the others. When the shard runs again it finds its slot detached
 * (it has lost records), closes its clients with 4002 so they reconnect to a healthy shard,
 * and exits; the Supervisor replaces it.
 *
 * The cut only happens between two of the shard's batches (RingProducer.cut): a shard busy
 * inside a long batch is working, not stalled, and its bytes are never written over while
 * it reads them. Runs on the main thread, the ring's producer, with one timer.
 */
import type { Fanout } from '../pubsub/fanout.js';

export class StallWatch {
  /** Per shard: read position at the last look (-1: nothing pending), and since when it has not moved (ms). */
  private readonly lastPos: number[];
  private readonly since: number[];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly fanout: Fanout,
    shards: number,
    /** 0 turns the watch off. */
    private readonly timeoutMs: number,
    private readonly onCut: (shard: number, stalledMs: number) => void,
  ) {
    this.lastPos = new Array<number>(shards).fill(-1);
    this.since = new Array<number>(shards).fill(0);
  }

  start(): void {
    if (this.timeoutMs === 0 || this.timer) return;
    // a few looks per timeout: a stall is noticed within timeout + interval
    const interval = Math.min(500, Math.max(25, this.timeoutMs / 4));
    this.timer = setInterval(() => this.check(performance.now()), interval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at every shard (the timer calls it; exposed for tests of the rule). */
  check(now: number): void {
    for (let shard = 0; shard < this.lastPos.length; shard++) {
      if (!this.fanout.attached(shard) || this.fanout.lag(shard) === 0) {
        this.lastPos[shard] = -1; // nothing waiting: it cannot be stalled
        continue;
      }
      const pos = this.fanout.readPosition(shard);
      if (pos !== this.lastPos[shard]) {
        this.lastPos[shard] = pos;
        this.since[shard] = now;
        continue;
      }
      const stalled = now - this.since[shard]!;
      if (stalled >= this.timeoutMs && this.fanout.cut(shard)) {
        this.lastPos[shard] = -1;
        this.onCut(shard, Math.round(stalled));
      }
    }
  }
}
