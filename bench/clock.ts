/**
 * One clock for every thread: process.hrtime reads CLOCK_MONOTONIC, shared by all threads of
 * the process, so a timestamp taken in one worker can be subtracted from one taken in another
 * (performance.now() cannot: each worker has its own time origin). As a double, nanoseconds
 * since boot stay exact for ~104 days of uptime.
 */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Blocks this thread for about `micros` µs without spinning (nobody notifies `idle`). */
const idle = new Int32Array(new SharedArrayBuffer(4));
export function pauseMicros(micros: number): void {
  Atomics.wait(idle, 0, 0, micros / 1000);
}
