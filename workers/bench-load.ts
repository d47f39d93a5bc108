/**
 * Piscina task entry for `shardcast bench` load threads: one task per thread, running for the
 * whole test (see src/bench/load-thread.ts). Piscina only ever runs bench client threads;
 * Shardcast's own shards are never pool workers (a pool may terminate its workers).
 */
import type { LoadResult, LoadTask } from '../src/bench/load-protocol.js';
import { runLoadThread } from '../src/bench/load-thread.js';

export default function benchLoad(task: LoadTask): Promise<LoadResult> {
  return runLoadThread(task);
}
