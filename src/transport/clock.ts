/**
 * nowMs — one clock for every thread of the process, in milliseconds with sub-millisecond
 * resolution: a time taken on the main thread and one taken on a shard can be subtracted
 * (the publication stamp → the shard's "handed to uWS", for the latency histogram).
 * performance.now() alone counts from each thread's own start; adding the thread's
 * timeOrigin puts every thread on the same (wall-clock-anchored, monotonic) scale.
 */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
