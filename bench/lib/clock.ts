/**
 * One monotonic microsecond clock that agrees across worker threads of the same process.
 *
 * `performance.now()` is cheap but each worker thread has its own `timeOrigin`, so raw values
 * from the publisher (main thread) and the clients (worker threads) are not comparable.
 * `process.hrtime()` is process-wide (uv_hrtime, CLOCK_MONOTONIC) but allocates an array per
 * call. Both read the same underlying clock, so we measure the constant offset between them
 * once per thread and from then on pay only for `performance.now()`.
 */
import { performance } from 'node:perf_hooks';

function hrtimeMicros(): number {
  const [s, ns] = process.hrtime();
  return s * 1e6 + ns / 1e3;
}

const offsetMicros = hrtimeMicros() - performance.now() * 1e3;

/** Microseconds on a clock shared by every thread of this process (fractional). */
export function monoMicros(): number {
  return performance.now() * 1e3 + offsetMicros;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with a labelled error if `promise` has not settled within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
