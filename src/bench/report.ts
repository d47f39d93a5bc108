/**
 * BenchReport — everything one `shardcast bench` run measured, as written by `--json FILE`
 * and rendered by the terminal table and `--html FILE`. Times in milliseconds unless a name
 * says otherwise; counts are whole numbers. Adding fields is fine; renaming is a breaking
 * change for people who archive these files.
 */
import type { ReconnectTotals } from './reconnects.js';

export interface BenchReport {
  readonly version: 1;
  /** ISO time the run started. */
  readonly startedAt: string;
  /** The command line that produced it (argv after `shardcast`). */
  readonly command: string;
  readonly options: BenchOptionsSnapshot;
  readonly machine: MachineInfo;
  /** Every connection, healthy and slow. */
  readonly connections: ConnectionReport;
  /** The healthy connections only: with --slow-fraction, slow consumers are reported in `slow`. */
  readonly deliveries: DeliveryReport;
  readonly publishes: PublishReport;
  readonly latency: LatencyReport;
  /** One sample per second of the run (progress and the HTML time series). */
  readonly timeline: readonly TimelineSample[];
  /** The bench client's own cost, to tell whether it was the bottleneck. */
  readonly client: ClientCost;
  /** Server CPU and memory when its pid is local (--server-pid) or its /api/stats is reachable; null otherwise. */
  readonly server: ServerCost | null;
  /** What the server did with the connections that stopped reading (--slow-fraction); absent without them. */
  readonly slow?: SlowReport;
  /** The connections cut once while publishing and reconnected with `since` (--reconnect-fraction); absent without them. */
  readonly reconnects?: ReconnectReport;
  /** Human-readable warnings (client saturated, server unreachable, run cut short …). */
  readonly warnings: readonly string[];
  /** How the run ended. */
  readonly outcome: 'completed' | 'time-limit' | 'aborted';
}

export interface BenchOptionsSnapshot {
  readonly url: string;
  readonly connections: number;
  readonly channels: number;
  readonly rampPerSecond: number;
  readonly publish: 'http' | 'ws' | 'ipc';
  /** Open loop: messages per second; null in closed-loop mode. */
  readonly rate: number | null;
  /** Closed loop: publishes in flight at most; null in open-loop mode. */
  readonly inflight: number | null;
  readonly size: number;
  readonly durationMs: number | null;
  readonly messages: number | null;
  readonly threads: number;
  /** The load connections' format (publishing is JSON either way). */
  readonly format: 'json' | 'msgpack';
  /** Share of the connections that stopped reading (0 when none did). */
  readonly slowFraction?: number;
  readonly reconnectFraction?: number;
}

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryBytes: number;
  readonly platform: string;
  readonly node: string;
  readonly loadAverage: readonly number[];
}

export interface ConnectionReport {
  readonly attempted: number;
  readonly open: number;
  readonly failed: number;
  /** Connections opened per second during the ramp. */
  readonly connectRate: number;
  /** Failures and server-side closes by reason, e.g. {"ECONNREFUSED": 3, "close 4001 slow consumer": 2, "HTTP 503": 10}. */
  readonly failures: Readonly<Record<string, number>>;
  readonly closedByServer: Readonly<Record<string, number>>;
}

export interface DeliveryReport {
  /**
   * Deliveries that should have arrived: Σ over accepted publishes of the subscribers of its
   * channel. With --slow-fraction, only healthy subscribers count here (and in lost).
   */
  readonly expected: number;
  readonly delivered: number;
  readonly lost: number;
  readonly duplicated: number;
  /** Per-channel seq jumps seen by clients (count of jumps, and messages skipped by them). */
  readonly seqGaps: number;
  readonly seqGapMessages: number;
  readonly outOfOrder: number;
  /** delivered ÷ (first publish → last delivery). */
  readonly perSecond: number;
}

/**
 * The cut connections (--reconnect-fraction): what the server answered their resubscription.
 * Their deliveries are in `deliveries` with everyone's: a message they missed and did not get
 * back is lost there, a seq gap.
 */
export interface ReconnectReport extends ReconnectTotals {
  /** When they were cut, after the first publish, and how long they stayed away. */
  readonly atMs: number;
  readonly delayMs: number;
}

/**
 * The slow consumers: connections that paused their socket reads right after subscribing and
 * resumed when publishing ended, so they then read whatever the server had kept for them —
 * and, if it closed them, the close frame queued behind it.
 */
export interface SlowReport {
  readonly connections: number;
  /** Slow connections subscribed when publishing started. */
  readonly subscribed: number;
  /** How the server closed slow connections, by reason, e.g. {"close 4001 slow consumer": 10}. */
  readonly closedByServer: Readonly<Record<string, number>>;
  /** Slow connections still open when the run stopped (the server kept or skipped their messages). */
  readonly stillOpen: number;
  /** Deliveries to the slow connections if the server had kept everything for them. */
  readonly expected: number;
  /** What they received (before pausing, and after resuming). */
  readonly deliveredToSlow: number;
  /** Messages skipped by seq jumps on slow connections (a server that drops for slow readers). */
  readonly seqGapMessages: number;
  readonly duplicated: number;
}

export interface PublishReport {
  readonly attempted: number;
  readonly accepted: number;
  /** Refused publishes by reason, e.g. {"HTTP 503 overloaded": 12}. */
  readonly refused: Readonly<Record<string, number>>;
  readonly perSecond: number;
}

export interface LatencyReport {
  /** End-to-end: delivery time − scheduled publish time (open loop) or send time (closed loop). */
  readonly measuredFrom: 'scheduled' | 'sent';
  readonly samples: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
  /** The percentile curve for plotting: [percentile 0-100, latency ms] pairs, ascending. */
  readonly curve: ReadonlyArray<readonly [number, number]>;
}

export interface TimelineSample {
  /** Seconds since the first publish (negative during the ramp). */
  readonly t: number;
  readonly open: number;
  readonly deliveriesPerSecond: number;
  readonly publishesPerSecond: number;
  /** p99 latency of the deliveries in this second. */
  readonly p99: number;
}

export interface ClientCost {
  /** CPU of the whole bench process (all threads) per 1,000 deliveries, in µs. */
  readonly cpuMicrosPer1kDeliveries: number;
  /** Busiest load thread's event-loop utilisation, 0–1: near 1 means the client was the bottleneck. */
  readonly maxThreadUtilization: number;
  readonly saturated: boolean;
  /** Event-loop utilisation of the publishing (main) thread while publishing, 0–1. */
  readonly publisherUtilization?: number;
}

export interface ServerCost {
  readonly source: 'pid' | 'stats-endpoint';
  /** CPU per 1,000 deliveries in µs (pid source only; null otherwise). */
  readonly cpuMicrosPer1kDeliveries: number | null;
  readonly rssBytesBefore: number | null;
  readonly rssBytesAfter: number | null;
  /** /api/stats counters that matter, when reachable (e.g. closedSlowConsumer, rejectedOverloaded). */
  readonly counters: Readonly<Record<string, number>>;
  /** Kernel share of the CPU above, 0–1 (pid source only). */
  readonly cpuSystemShare?: number | null;
  /**
   * The server process's main thread's share of the CPU above, 0–1 (pid source only; its
   * descendants count in the whole, not in this share). A single-threaded server reads ~1.
   */
  readonly mainThreadCpuShare?: number | null;
}

/** A frame format as the reports print it; reports written before formats existed were JSON. */
export function formatName(format: BenchOptionsSnapshot['format'] | undefined): string {
  return format === 'msgpack' ? 'MessagePack' : 'JSON';
}
