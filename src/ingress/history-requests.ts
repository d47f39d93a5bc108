/**
 * HistoryRequests — the main thread's answers to one shard worker's history requests
 * (RECOVER records on its ingress ring, recovery-records.ts). Each is read from the Broker,
 * which calls back at the one moment its answer is consistent with the feed, and written
 * into the broadcast ring from that callback (broker contract point 6). An answer the ring
 * has no room for is asked again a little later — from the Broker again, since what the feed
 * holds will have moved on — and nothing is kept once the worker is gone. A state-only
 * request (after = STATE_ONLY, a subscribe without `since` on a shard that does not follow
 * the channel, Redis broker) is read and written the same way, without messages.
 */
import type { Broker, HistoryRead } from '../broker/broker.js';
import type { Fanout } from '../pubsub/fanout.js';
import type { Counters } from '../transport/counters.js';
import type { RecoverRequest, RecoveryAddress } from '../transport/recovery-records.js';

/** How soon a request the ring had no room for is tried again. */
const RETRY_MS = 5;

export class HistoryRequests {
  private waiting: RecoverRequest[] = [];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly shard: number,
    private readonly generation: number,
    private readonly broker: Broker,
    private readonly fanout: Fanout,
    private readonly counters: Counters,
  ) {}

  take(r: RecoverRequest): void {
    const to: RecoveryAddress = { shard: this.shard, generation: this.generation, ref: r.ref };
    this.broker.readHistory(r.channel, r.after, r.epoch, (h: HistoryRead) => {
      if (this.stopped) return;
      // a state-only request (STATE_ONLY) wants no messages, whatever the broker read
      const written = this.fanout.recovered(to, r.channel, r.after, r.formats, h.seq, h.epoch, r.after < 0 ? null : h.messages);
      if (written === 'full') return this.later(r);
      this.counters.mainAdd('recoveryAnswers');
      if (written === 'too-large') this.counters.mainAdd('recoveryTooLarge');
    });
  }

  /** The worker is gone: its requests are not answered. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.waiting = [];
  }

  private later(r: RecoverRequest): void {
    this.waiting.push(r);
    this.timer ??= setTimeout(() => {
      this.timer = null;
      const again = this.waiting;
      this.waiting = [];
      for (const w of again) this.take(w);
    }, RETRY_MS);
  }
}
