/**
 * What the main thread and the load threads exchange. Each load thread runs one long piscina
 * task for the whole test; besides the task's argument and result, they talk over a
 * MessagePort handed over in the task (ramp done, per-second ticks, stop), and live counters
 * sit in a SharedArrayBuffer: the progress display polls it every 250 ms at no cost to the
 * load threads (a message per update would cost them).
 */
import type { MessagePort } from 'node:worker_threads';
import type { BenchFormat, WsTarget } from './options.js';
import type { ReconnectTotals } from './reconnects.js';

export interface LoadTask {
  /** This thread's number, 0-based. */
  readonly thread: number;
  /** Every node; connection i (global index) goes to targets[i % targets.length]. */
  readonly targets: readonly WsTarget[];
  /** Global index of this thread's first connection; connection i subscribes to channel i % channels. */
  readonly firstConnection: number;
  readonly connections: number;
  readonly channels: number;
  readonly channelPrefix: string;
  /** This thread's share of --ramp. */
  readonly rampPerSecond: number;
  /** Handshakes in flight at once, so a burst never overflows the server's accept queue. */
  readonly connectWindow: number;
  readonly connectTimeoutMs: number;
  readonly format: BenchFormat;
  /**
   * Slow consumers: `slowConnections` of all `totalConnections`, spread evenly (connection i is
   * slow when ⌊(i+1)·slow/total⌋ > ⌊i·slow/total⌋). They pause reading once subscribed and
   * resume at measure-end.
   */
  readonly slowConnections: number;
  /** --reconnect-fraction: this many of all the connections (spread as slow ones are) are cut and reconnect with `since`, once, reconnectAtMs after publishing starts. */
  readonly reconnectConnections: number;
  readonly reconnectAtMs: number;
  /** How long a cut connection stays away (an outage), 0: it connects again at once. */
  readonly reconnectDelayMs: number;
  readonly totalConnections: number;
  readonly counters: SharedArrayBuffer;
  readonly port: MessagePort;
}

export type ToLoadThread =
  /**
   * Publishing starts at `origin` (wall-clock ms): the thread snapshots its event-loop
   * utilisation, starts bucketing latency by second since `origin`, and answers with its
   * subscribers per channel at this moment (what "expected deliveries" is computed from).
   */
  | { readonly cmd: 'measure-start'; readonly origin: number }
  /** Publishing ended: utilisation is measured up to here, and slow connections read again. */
  | { readonly cmd: 'measure-end' }
  /** Close every connection and finish the task. */
  | { readonly cmd: 'stop' };

export type FromLoadThread =
  /** Every connection of the thread is subscribed or has failed. */
  | { readonly ev: 'ready' }
  /** Open, subscribed connections per channel (index = channel number): healthy, and slow. */
  | { readonly ev: 'started'; readonly subscribers: number[]; readonly slowSubscribers: number[] }
  /**
   * Second `index` since the origin is over (by this thread's clock): the latency of the
   * deliveries received in it, and the thread's utilisation. Sent for every second, in order,
   * even empty ones, and pushed by the thread itself, so a saturated thread's seconds are
   * late but never misattributed.
   */
  | { readonly ev: 'second'; readonly index: number; readonly histogram: string | null; readonly utilization: number };

/** The task's result. */
export interface LoadResult {
  readonly thread: number;
  readonly attempted: number;
  /** Connections subscribed when the ramp ended. */
  readonly ready: number;
  readonly failed: number;
  /** Connections still open when the stop came. */
  readonly openAtStop: number;
  readonly failures: Record<string, number>;
  readonly closedByServer: Record<string, number>;
  /** Wall-clock ms (timeOrigin + now). */
  readonly firstAttemptAt: number;
  readonly lastReadyAt: number;
  readonly firstDeliveryAt: number;
  readonly lastDeliveryAt: number;
  readonly delivered: number;
  readonly duplicated: number;
  readonly outOfOrder: number;
  readonly seqGaps: number;
  readonly seqGapMessages: number;
  readonly foreign: number;
  readonly misrouted: number;
  readonly unsequenced: number;
  readonly unparsableFrames: number;
  readonly serverErrors: Record<string, number>;
  /** The latency of every first delivery, encoded (latency.ts). */
  readonly histogram: string | null;
  /** Event-loop utilisation between measure-start and measure-end (or stop). */
  readonly utilization: number;
  /** The second under way when the stop came (not sent as a 'second' message); null before publishing. */
  readonly lastSecond: SecondReport | null;
  /** This thread's slow connections (null when it has none); the delivery counts above are the healthy ones'. */
  readonly slow: SlowTotals | null;
  /** This thread's cut-and-reconnected connections (null without --reconnect-fraction). */
  readonly reconnects: ReconnectTotals | null;
}

export interface SlowTotals {
  readonly connections: number;
  readonly closedByServer: Record<string, number>;
  readonly openAtStop: number;
  readonly delivered: number;
  readonly duplicated: number;
  readonly seqGapMessages: number;
}

/** Whether global connection i is one of `slow` slow consumers out of `total`. */
export function isSlowConnection(i: number, slow: number, total: number): boolean {
  return slow > 0 && Math.floor(((i + 1) * slow) / total) > Math.floor((i * slow) / total);
}

export type SecondReport = Extract<FromLoadThread, { ev: 'second' }>;

/** Float64 slots per thread in the counters buffer; each slot has one writer, its thread. */
export const C = {
  attempted: 0,
  ready: 1,
  failed: 2,
  open: 3,
  closedByServer: 4,
  delivered: 5,
  duplicated: 6,
  outOfOrder: 7,
  lastDeliveryAt: 8,
  seqGaps: 9,
  /** Slow connections: first copies received, and how many are open. */
  slowDelivered: 10,
  slowOpen: 11,
} as const;
export const COUNTER_SLOTS = 12;

export function createCounters(threads: number): SharedArrayBuffer {
  return new SharedArrayBuffer(threads * COUNTER_SLOTS * Float64Array.BYTES_PER_ELEMENT);
}
