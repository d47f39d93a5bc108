/**
 * RingPump — drives a RingConsumer from an event loop: drains records in bounded batches,
 * hands each to `onRecord`, releases the space, then sleeps in Atomics.waitAsync until the
 * producer flushes. After BUDGET records it yields with setImmediate so that I/O (and uWS's
 * per-turn write coalescing) runs between batches.
 *
 * Between batches it does one of three things:
 *   - linger: right after a record, look again on the next event-loop turns for LINGER_MS
 *     before sleeping. A sleeping consumer costs its producer an Atomics.notify per flush and
 *     itself a wake-up per batch; polling costs the consumer all the time it polls. Polling
 *     about as long as a sleep and wake-up cost (on these VMs some tens of µs) keeps either
 *     cost within 2× of what knowing the future would have cost (bench/RESULTS.md, "Linger and nap").
 *   - nap (only with `nap`, while `nap.when()` says so): after a batch, wait `nap.ms` on a
 *     timer without asking to be woken, and take what came meanwhile as one batch: nobody pays
 *     a notify, the consumer wakes once per nap instead of once per flush, and does not poll.
 *     What arrives during the nap waits up to `nap.ms`, so `when` must say that the producers
 *     are busy (main's ingress: many HTTP publishes in flight), never that one publisher is
 *     waiting for each answer.
 *   - sleep (the producer wakes it on its next flush), when nothing came for LINGER_MS.
 *
 * Each batch is read between ring.enter() and ring.leave(), so a producer can cut this
 * consumer loose only between batches (see ring.ts). When enter() finds the slot detached,
 * the pump stops and reports it once through `onDetached`.
 */
import type { RingConsumer } from './ring.js';

const BUDGET = 8192;
/** How long after its last record a consumer keeps polling (each event-loop turn) before it sleeps. */
const LINGER_MS = 0.05;

/** Napping between batches (see above). */
export interface PumpNap {
  readonly ms: number;
  /** Asked after each batch: whether to nap rather than linger. */
  readonly when: () => boolean;
}

export type RecordHandler = (at: number, kind: number, length: number) => void;

export class RingPump {
  private running = false;
  private lastRecordAt = -Infinity;
  private readonly run = (): void => this.pump();
  private napTimer: NodeJS.Timeout | null = null;
  /** Naps taken (for tests and profiling). */
  naps = 0;

  constructor(
    private readonly ring: RingConsumer,
    private readonly onRecord: RecordHandler,
    /** Called after each batch, once its space is released (e.g. to add up counters). */
    private readonly onBatch: (records: number) => void = () => {},
    /** Called once when the slot is found detached: the producer cut this consumer loose. */
    private readonly onDetached: () => void = () => {},
    /** Nap instead of lingering while `nap.when()` says so (main's ingress); null: never. */
    private readonly nap: PumpNap | null = null,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.pump();
  }

  /** Stops after the current batch; a pending wait is left to resolve harmlessly, a nap is cancelled. */
  stop(): void {
    this.running = false;
    if (this.napTimer !== null) clearTimeout(this.napTimer);
    this.napTimer = null;
  }

  /**
   * Stops for good and gives the slot up, so it holds no ring space from now on (a shard
   * that is closing must not hold the feed for everyone while its clients say goodbye).
   */
  detach(): void {
    this.stop();
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
      if (n > 0) {
        this.lastRecordAt = performance.now();
        if (this.nap !== null && this.nap.when()) {
          this.endBatch(n);
          this.naps++;
          // unref'd like a pending waitAsync: a napping consumer keeps no event loop alive
          if (this.napTimer === null) this.napTimer = setTimeout(this.run, this.nap.ms).unref();
          else this.napTimer.refresh();
          return;
        }
      }
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
