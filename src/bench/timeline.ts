/**
 * The per-second timeline. Two sources, each exact in its own way:
 * - once a second the main thread samples counters: open connections, deliveries and
 *   accepted publishes since the last sample (shared memory, so always current);
 * - the load threads push, for every second since the origin (publish start), the latency
 *   histogram of the deliveries they *received in that second*, and their utilisation. A
 *   saturated thread reports late, but each second's latency lands in that second. The
 *   histograms of one second are merged here once every thread has reported it, and only
 *   its p99 is kept, so memory does not grow with the run's length.
 * Publishing-phase samples fall on whole seconds (t = 1, 2, …); ramp samples get negative t.
 */
import type { Histogram } from 'hdr-histogram-js';
import { wallMs } from './clock.js';
import { addEncoded, newHistogram, p99Ms } from './latency.js';
import type { LoadPool } from './load-pool.js';
import type { LoadResult, SecondReport } from './load-protocol.js';
import type { TimelineSample } from './report.js';

interface RawSample {
  readonly at: number;
  readonly seconds: number;
  readonly open: number;
  readonly deliveries: number;
  readonly publishes: number;
}

const TICK_MS = 1000;
/** Shorter leftovers (e.g. at publish start) are folded into the next sample instead. */
const MIN_SAMPLE_MS = 200;
/** How late a whole-second sample may be taken and still belong to the second before it. */
const SAMPLE_SLACK_MS = 100;

export class Timeline {
  private readonly samples: RawSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lastAt = wallMs();
  private lastDelivered = 0;
  private lastAccepted = 0;
  private origin: number | null = null;
  /** Seconds not yet reported by every thread: merged histogram and reporters so far. */
  private readonly pending = new Map<number, { histogram: Histogram; threads: number }>();
  private readonly p99BySecond = new Map<number, number>();
  /** Per thread, utilisation by second index. */
  private readonly utilization: number[][] = [];
  private newestFinal = -1;
  /** For the live display. */
  lastP99 = 0;
  lastDeliveriesPerSecond = 0;

  constructor(private readonly pool: LoadPool, private readonly accepted: () => number) {
    pool.onSecond = (thread, report) => this.onSecond(thread, report);
  }

  start(): void {
    this.lastAt = wallMs();
    this.schedule();
  }

  /** Publishing starts at `origin`: close the ramp's partial second and tick on whole seconds from there. */
  restart(origin: number): void {
    this.unschedule();
    this.sample(false);
    this.origin = origin;
    this.schedule();
  }

  stop(): void {
    this.unschedule();
    this.sample(false);
  }

  private schedule(): void {
    this.timer = setInterval(() => this.sample(true), TICK_MS);
  }

  private unschedule(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private sample(full: boolean): void {
    const at = wallMs();
    const ms = at - this.lastAt;
    if (!full && ms < MIN_SAMPLE_MS) return; // too short to be a sample; its counts roll into the next
    const live = this.pool.live();
    const accepted = this.accepted();
    const s: RawSample = { at, seconds: ms / 1000, open: live.open, deliveries: live.delivered - this.lastDelivered, publishes: accepted - this.lastAccepted };
    this.samples.push(s);
    this.lastAt = at;
    this.lastDelivered = live.delivered;
    this.lastAccepted = accepted;
    this.lastDeliveriesPerSecond = s.deliveries / s.seconds;
  }

  private onSecond(thread: number, r: SecondReport): void {
    (this.utilization[thread] ??= [])[r.index] = r.utilization;
    let entry = this.pending.get(r.index);
    if (entry === undefined) this.pending.set(r.index, (entry = { histogram: newHistogram(), threads: 0 }));
    addEncoded(entry.histogram, r.histogram);
    if (++entry.threads >= this.pool.threads) this.finalize(r.index);
  }

  private finalize(index: number): void {
    const entry = this.pending.get(index);
    if (entry === undefined) return;
    const p99 = p99Ms(entry.histogram);
    this.p99BySecond.set(index, p99);
    entry.histogram.destroy();
    this.pending.delete(index);
    if (index > this.newestFinal) {
      this.newestFinal = index;
      this.lastP99 = p99;
    }
  }

  /**
   * The samples, with t in seconds relative to publish start (the sample's end) and rates per
   * second. Call after the threads have stopped: their last seconds come with their results.
   * A run that never published was all ramp: its samples end at t = 0.
   */
  report(results: readonly LoadResult[]): TimelineSample[] {
    for (const r of results) if (r.lastSecond !== null) this.onSecond(r.thread, r.lastSecond);
    for (const index of [...this.pending.keys()]) this.finalize(index); // threads that died or stopped early
    const origin = this.origin ?? this.samples[this.samples.length - 1]?.at ?? 0;
    return this.samples.map((s) => {
      const second = Math.floor((s.at - origin - SAMPLE_SLACK_MS) / 1000);
      return {
        t: Math.round((s.at - origin) / 100) / 10,
        open: s.open,
        deliveriesPerSecond: Math.round(s.deliveries / s.seconds),
        publishesPerSecond: Math.round((s.publishes / s.seconds) * 10) / 10,
        p99: this.origin === null || s.at <= origin ? 0 : this.p99BySecond.get(second) ?? 0,
      };
    });
  }

  /** Per thread, utilisation of each second that began before `until` (publish end). */
  utilizationUntil(until: number | null): number[][] {
    if (this.origin === null || until === null) return [];
    const last = Math.ceil((until - this.origin) / 1000);
    return this.utilization.map((secs) => (secs ?? []).slice(0, last).filter((u) => u !== undefined));
  }
}
