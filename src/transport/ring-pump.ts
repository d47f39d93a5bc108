/**
 * RingPump — drives a RingConsumer from an event loop: drains records in bounded batches,
 * hands each to `onRecord`, releases the space, then sleeps in Atomics.waitAsync until the
 * producer flushes. No polling. After BUDGET records it yields with setImmediate so that
 * I/O (and uWS's per-turn write coalescing) runs between batches.
 *
 * Each batch is read between ring.enter() and ring.leave(), so a producer can cut this
 * consumer loose only between batches (see ring.ts). When enter() finds the slot detached,
 * the pump stops and reports it once through `onDetached`.
 */
import type { RingConsumer } from './ring.js';

const BUDGET = 8192;
/** How long after its last record a consumer keeps polling (each event-loop turn) before it sleeps. */
const LINGER_MS = 0.2;

export type RecordHandler = (at: number, kind: number, length: number) => void;

export class RingPump {
  private running = false;
  private lastRecordAt = -Infinity;
  private readonly run = (): void => this.pump();

  constructor(
    private readonly ring: RingConsumer,
    private readonly onRecord: RecordHandler,
    /** Called after each batch, once its space is released (e.g. to add up counters). */
    private readonly onBatch: (records: number) => void = () => {},
    /** Called once when the slot is found detached: the producer cut this consumer loose. */
    private readonly onDetached: () => void = () => {},
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.pump();
  }

  /** Stops after the current batch; a pending wait is left to resolve harmlessly. */
  stop(): void {
    this.running = false;
  }

  /**
   * Stops for good and gives the slot up, so it holds no ring space from now on (a shard
   * that is closing must not hold the feed for everyone while its clients say goodbye).
   */
  detach(): void {
    this.running = false;
    this.ring.detachSelf();
  }

  /**
   * Processes everything available now, synchronously (shutdown: flush before closing).
   * Returns the records processed, or -1 when the slot was cut loose.
   */
  drain(): number {
    if (!this.ring.enter()) return -1;
    let n = 0;
    try {
      for (let at = this.ring.next(); at >= 0; at = this.ring.next()) {
        this.onRecord(at, this.ring.kind, this.ring.length);
        n++;
      }
      this.ring.release();
    } finally {
      this.ring.leave();
    }
    if (n > 0) this.onBatch(n);
    return n;
  }

  private pump(): void {
    if (!this.running) return;
    if (!this.ring.enter()) {
      this.running = false;
      this.onDetached();
      return;
    }
    let n = 0;
    for (;;) {
      const at = this.ring.next();
      if (at >= 0) {
        this.onRecord(at, this.ring.kind, this.ring.length);
        if (++n < BUDGET) continue;
        this.endBatch(n);
        setImmediate(this.run);
        return;
      }
      this.ring.release();
      if (n > 0) this.lastRecordAt = performance.now();
      // Busy? Look again on the next turns of the event loop for a moment before sleeping:
      // a sleeping consumer costs the producer an Atomics.notify (a futex wake, ~100 µs on
      // these VMs) per flush, which under load is paid on nearly every publication.
      if (performance.now() - this.lastRecordAt < LINGER_MS) {
        this.endBatch(n);
        setImmediate(this.run);
        return;
      }
      const wait = this.ring.sleep();
      if (wait === null) continue; // records arrived while going to sleep
      this.endBatch(n);
      void wait.then(this.run);
      return;
    }
  }

  /** Releases the batch's space and lets the producer cut this slot loose again. */
  private endBatch(n: number): void {
    this.ring.release();
    this.ring.leave();
    if (n > 0) this.onBatch(n);
  }
}
