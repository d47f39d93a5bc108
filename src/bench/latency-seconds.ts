/**
 * LatencySeconds — one load thread's latency, second by second since the first publish (the
 * origin): each delivery goes into the current second's histogram; every second that ends —
 * quiet ones too — is posted with the thread's event-loop utilisation over it, and folded into
 * the run's total. The second under way at the stop travels with the result instead (the task
 * result and the port are separate channels, so a message posted then could arrive after it).
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { Histogram } from 'hdr-histogram-js';
import { wallMs } from './clock.js';
import { encodeHistogram, newHistogram, recordMs } from './latency.js';
import type { SecondReport } from './load-protocol.js';

export class LatencySeconds {
  /** Latency of the current second, and of everything before it. */
  private readonly interval: Histogram = newHistogram();
  private readonly total: Histogram = newHistogram();
  private origin = 0;
  private second = 0;
  /** When the current second ends; Infinity until publishing starts (and after the stop). */
  private secondEnd = Infinity;
  private timer: NodeJS.Timeout | null = null;
  private eluAtSecond: EventLoopUtilization = performance.eventLoopUtilization();
  private eluAtStart: EventLoopUtilization | null = null;

  constructor(private readonly post: (second: SecondReport) => void) {}

  /** Publishing started at `origin` (wall-clock ms). */
  start(origin: number): void {
    this.eluAtStart = this.eluAtSecond = performance.eventLoopUtilization();
    this.origin = origin;
    this.second = Math.max(0, Math.floor((wallMs() - origin) / 1000));
    this.secondEnd = origin + (this.second + 1) * 1000;
    // Quiet seconds must be reported too; busy ones roll over on the next delivery anyway.
    this.timer = setInterval(() => this.roll(wallMs()), 100);
  }

  /** A first delivery at `now` of a message sent (or scheduled) at `tMs`. */
  record(now: number, tMs: number): void {
    if (now >= this.secondEnd) this.roll(now);
    recordMs(this.interval, now - tMs);
  }

  /** Event-loop utilisation since start(); 0 before it. */
  utilizationSinceStart(): number {
    const start = this.eluAtStart;
    return start === null ? 0 : performance.eventLoopUtilization(performance.eventLoopUtilization(), start).utilization;
  }

  /** Stops the clock: the second under way, if publishing had started; later deliveries go to the total only. */
  stop(): SecondReport | null {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.secondEnd === Infinity) return null;
    const partial = performance.eventLoopUtilization(performance.eventLoopUtilization(), this.eluAtSecond).utilization;
    const last: SecondReport = { ev: 'second', index: this.second, histogram: encodeHistogram(this.interval), utilization: partial };
    this.secondEnd = Infinity;
    return last;
  }

  /** The whole run's histogram, encoded; frees both histograms (call once, last). */
  finish(): string | null {
    this.flush();
    const encoded = encodeHistogram(this.total);
    this.interval.destroy();
    this.total.destroy();
    return encoded;
  }

  /** Reports every second that has ended by `now` (empty ones too) and starts the current one. */
  private roll(now: number): void {
    while (now >= this.secondEnd) {
      const elu = performance.eventLoopUtilization();
      const utilization = performance.eventLoopUtilization(elu, this.eluAtSecond).utilization;
      this.eluAtSecond = elu;
      this.post({ ev: 'second', index: this.second, histogram: encodeHistogram(this.interval), utilization });
      this.flush();
      this.second++;
      this.secondEnd = this.origin + (this.second + 1) * 1000;
    }
  }

  private flush(): void {
    if (this.interval.totalCount === 0) return;
    this.total.add(this.interval);
    this.interval.reset();
  }
}
