/**
 * ThreadSampler — how busy each thread is, sampled once a second on the main thread from
 * what Node already measures: each shard's event-loop utilisation through its Worker
 * handle (worker.performance, read from the main thread: the shard does nothing), the main
 * thread's own, and the process's CPU time. No message, no work per event.
 *
 * Per thread it keeps the busy seconds since start (a counter, summed over every thread a
 * shard slot has had) and the utilisation over the last second (a gauge). The main thread's
 * CPU share is its busy time over the whole process's CPU time in that second: how much of
 * the work lands on the serial stage.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

const SAMPLE_MS = 1000;

/** A shard slot's current thread (any object that identifies it) and its utilisation since it started. */
export type ShardElu = (shard: number) => { readonly thread: object; readonly elu: EventLoopUtilization } | null;

export class ThreadSampler {
  /** Per shard slot: busy (event-loop active) seconds since start, over all its threads. */
  readonly shardBusySeconds: number[];
  /** Per shard slot: utilisation (0–1) over the last sample; 0 while it has no thread. */
  readonly shardUtilisation: number[];
  mainBusySeconds = 0;
  mainUtilisation = 0;
  /** Main thread busy time ÷ process CPU time over the last sample (0–1). */
  mainCpuShare = 0;
  private readonly last: Array<{ thread: object; active: number; idle: number } | null>;
  private lastMain: EventLoopUtilization = performance.eventLoopUtilization();
  private lastCpu = process.cpuUsage();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly shards: number,
    private readonly shardElu: ShardElu,
  ) {
    this.shardBusySeconds = new Array<number>(shards).fill(0);
    this.shardUtilisation = new Array<number>(shards).fill(0);
    this.last = new Array<{ thread: object; active: number; idle: number } | null>(shards).fill(null);
  }

  start(): void {
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  sample(): void {
    for (let i = 0; i < this.shards; i++) {
      const now = this.shardElu(i);
      if (now === null) {
        this.shardUtilisation[i] = 0;
        this.last[i] = null;
        continue;
      }
      const prev = this.last[i] ?? null;
      // a new thread in the slot counts from its own start
      const base = prev !== null && prev.thread === now.thread ? prev : { active: 0, idle: 0 };
      const active = now.elu.active - base.active;
      const idle = now.elu.idle - base.idle;
      this.shardBusySeconds[i]! += Math.max(0, active) / 1000;
      this.shardUtilisation[i] = active + idle > 0 ? active / (active + idle) : 0;
      this.last[i] = { thread: now.thread, active: now.elu.active, idle: now.elu.idle };
    }
    const main = performance.eventLoopUtilization(this.lastMain);
    this.lastMain = performance.eventLoopUtilization();
    this.mainBusySeconds += main.active / 1000;
    this.mainUtilisation = main.utilization;
    const cpu = process.cpuUsage(this.lastCpu);
    this.lastCpu = process.cpuUsage();
    const cpuMs = (cpu.user + cpu.system) / 1000;
    this.mainCpuShare = cpuMs > 0 ? Math.min(1, main.active / cpuMs) : 0;
  }
}
