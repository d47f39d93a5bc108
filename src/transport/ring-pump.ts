/**
 * RingPump — drives a RingConsumer from an event loop: drains records in bounded batches,
 * hands each to `onRecord`, releases the space, then sleeps in Atomics.waitAsync until the
 * producer flushes. After BUDGET records it yields with setImmediate so that I/O (and uWS's
 * per-turn write coalescing) runs between batches. Right after records it lingers (polls
 * each event-loop turn for LINGER_MS) before sleeping; with `linger: 'adaptive'` only while
 * that nearly always catches the next batch (see PumpOptions).
 *
 * Each batch is read between ring.enter() and ring.leave(), so a producer can cut this
 * consumer loose only between batches (see ring.ts). When enter() finds the slot detached,
 * the pump stops and reports it once through `onDetached`.
 */
import type { RingConsumer } from './ring.js';

const BUDGET = 8192;
/** How long after its last record a consumer keeps polling (each event-loop turn) before it sleeps. */
const LINGER_MS = 0.2;

/** Weight of the newest observation in the adaptive linger's running hit rate. */
const LINGER_ALPHA = 1 / 16;
/**
 * The adaptive linger polls while at least this share of batches came within LINGER_MS of the
 * one before. A miss costs the consumer ~LINGER_MS of polling (~100 event-loop turns here); a
 * hit saves the producer a futex wake (~0.1 ms) and the consumer its wake-up. Measured on the
 * main thread under the rooms load (bench/RESULTS.md), 60-75 % of batches came that soon, and
 * polling after each made its CPU per publication about 1.5x what sleeping did, with no gain
 * in the server's CPU per delivery: so it polls only for a flood, where nearly every batch does.
 */
const LINGER_PAYS = 0.9;

export type RecordHandler = (at: number, kind: number, length: number) => void;

export interface PumpOptions {
  /**
   * 'always' (default): after records, poll every event-loop turn for LINGER_MS before
   * sleeping, which spares the producer an Atomics.notify when the next batch comes soon.
   * 'adaptive': the same only while it pays — while nearly all (LINGER_PAYS) recent batches
   * came within LINGER_MS of the one before: a running rate, learnt from the lingers that caught
   * a batch or did not and, while not lingering, from the gap a wake-up finds. The main thread
   * reads its ingress rings so; the shards' feeds always linger (there the producer is the main
   * thread, whose futex wakes are serial-stage time).
   */
  readonly linger?: 'always' | 'adaptive';
}

export class RingPump {
  private running = false;
  private lastRecordAt = -Infinity;
  private readonly run = (): void => this.pump();
  private readonly adaptive: boolean;
  /** Adaptive linger: the running share of batches that came within LINGER_MS of the previous one. */
  private hitRate = 1;
  /** What the current wait for records is: none, a linger (polling) or a sleep entered without lingering. */
  private waiting: 'none' | 'linger' | 'sleep' = 'none';
  private readonly wake = (): void => {
    if (this.waiting === 'sleep') this.observe(performance.now() - this.lastRecordAt < LINGER_MS);
    this.waiting = 'none';
    this.pump();
  };

  constructor(
    private readonly ring: RingConsumer,
    private readonly onRecord: RecordHandler,
    /** Called after each batch, once its space is released (e.g. to add up counters). */
    private readonly onBatch: (records: number) => void = () => {},
    /** Called once when the slot is found detached: the producer cut this consumer loose. */
    private readonly onDetached: () => void = () => {},
    options: PumpOptions = {},
  ) {
    this.adaptive = options.linger === 'adaptive';
  }

  /** Whether the pump polls after a batch now (always true without the adaptive linger). */
  get lingers(): boolean {
    return !this.adaptive || this.hitRate >= LINGER_PAYS;
  }

  private observe(hit: boolean): void {
    this.hitRate += LINGER_ALPHA * ((hit ? 1 : 0) - this.hitRate);
  }

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
      const now = performance.now();
      if (n > 0) {
        if (this.waiting === 'linger') this.observe(true);
        this.waiting = 'none';
        this.lastRecordAt = now;
      }
      // Busy? Look again on the next turns of the event loop for a moment before sleeping:
      // a sleeping consumer costs the producer an Atomics.notify (a futex wake, ~100 µs on
      // these VMs) per flush, which under load is paid on nearly every publication.
      if (now - this.lastRecordAt < LINGER_MS && (this.waiting === 'linger' || this.lingers)) {
        this.waiting = 'linger';
        this.endBatch(n);
        setImmediate(this.run);
        return;
      }
      const wait = this.ring.sleep();
      if (wait === null) continue; // records arrived while going to sleep
      if (this.waiting === 'linger') this.observe(false);
      // a sleep right after records (not lingering): the wake-up tells whether a linger would have caught the next batch
      this.waiting = this.adaptive && n > 0 ? 'sleep' : 'none';
      this.endBatch(n);
      void wait.then(this.wake);
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
