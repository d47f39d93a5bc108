/**
 * The bench's one clock: wall-clock milliseconds as `performance.timeOrigin + performance.now()`.
 * Each worker thread has its own timeOrigin, but origin + now agrees across the threads of a
 * process to well under 0.1 ms (measured), so a publish timestamp taken on the main thread and
 * a receive time taken on a load thread subtract to a latency. Being wall-clock time, payload
 * timestamps also mean something to any other client on the same host.
 */
import { performance } from 'node:perf_hooks';

export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Adds 1 to `map[key]` (reasons tallied for the report). */
export function tally(map: Record<string, number>, key: string, n = 1): void {
  map[key] = (map[key] ?? 0) + n;
}

/** Adds every count of `from` into `into`. */
export function mergeTally(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, n] of Object.entries(from)) tally(into, k, n);
}
