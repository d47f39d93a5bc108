/**
 * What the orchestrator and the healthy thread (healthy-thread.ts) say to each other, and
 * the figures the thread reports. Kept apart from the thread's entry file, which runs when
 * imported.
 *
 *   parent → thread: start | phase {phase} | stop
 *   thread → parent: ready {shards} | result {result} | failed {error}
 */
import type { LedgerVerdict } from './ledger.js';

export interface HealthyInit {
  port: number;
  apiKey: string;
  localAddress: string;
  seed: number;
  channels: string[];
  subscribers: number;
  /** Keep connecting (up to 4 × subscribers) until this many shards have a healthy subscriber. */
  minShards: number;
  /** One publish every intervalMs, at most maxInflight unanswered. */
  intervalMs: number;
  maxInflight: number;
  /** Bytes of padding in each message's data: [min, max]. */
  padBytes: [number, number];
  probeIntervalMs: number;
  drainMs: number;
}

export type Phase = 'before' | 'attack' | 'after';
export const PHASES: readonly Phase[] = ['before', 'attack', 'after'];

export interface PhaseFigures {
  published: number;
  accepted: number;
  /** Refusals by "status code" (e.g. "503 overloaded"). */
  refused: Record<string, number>;
  /** Requests with no answer (timeout, connection error): their fate is unknown. */
  unanswered: number;
  /** Ticks skipped because maxInflight requests were still out. */
  skipped: number;
  probesOk: number;
  probesFailed: number;
  probeMaxMs: number;
}

export interface HealthyResult {
  shards: number[];
  ledger: LedgerVerdict;
  phases: Record<Phase, PhaseFigures>;
  probeFailures: string[];
  drained: boolean;
}

export type HealthyMessage =
  | { type: 'ready'; shards: number[] }
  | { type: 'result'; result: HealthyResult }
  | { type: 'failed'; error: string };
