/**
 * RssSampler — the server process's resident memory (VmRSS of it and any descendants, from
 * /proc), sampled on a timer and labelled with the phase of the run, so that the baseline,
 * the peak under attack and the level after it can be read off one series.
 */
import { sampleTree } from '../../src/bench/server-probe.js';

export interface RssSample {
  /** ms since the sampler started */
  t: number;
  phase: string;
  bytes: number;
}

export class RssSampler {
  readonly samples: RssSample[] = [];
  phase = 'start';
  private readonly t0 = Date.now();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly pid: number, private readonly intervalMs = 250) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Takes a sample now; null when the process is gone. */
  sample(): number | null {
    const s = sampleTree(this.pid);
    if (s === null) return null;
    this.samples.push({ t: Date.now() - this.t0, phase: this.phase, bytes: s.rssBytes });
    return s.rssBytes;
  }

  /** Highest sample of a phase (0 if none). */
  peak(phase: string): number {
    return this.samples.filter((s) => s.phase === phase).reduce((m, s) => Math.max(m, s.bytes), 0);
  }

  /** ms since the sampler started (the time axis of the samples). */
  now(): number {
    return Date.now() - this.t0;
  }

  /** Median of the samples taken between t0 and t1 (sampler time; 0 if none). */
  medianBetween(t0: number, t1: number): number {
    const xs = this.samples.filter((s) => s.t >= t0 && s.t <= t1).map((s) => s.bytes).sort((a, b) => a - b);
    return xs.length === 0 ? 0 : xs[Math.floor(xs.length / 2)]!;
  }

  /** Median of the last `n` samples of a phase (0 if none). */
  settled(phase: string, n = 4): number {
    const xs = this.samples.filter((s) => s.phase === phase).slice(-n).map((s) => s.bytes).sort((a, b) => a - b);
    return xs.length === 0 ? 0 : xs[Math.floor(xs.length / 2)]!;
  }
}
