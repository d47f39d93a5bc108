/**
 * DashboardSampler — one second of the engine as the dashboard shows it, read from what is
 * counted anyway: the shared counters (rates are differences between two reads), the
 * latency histogram's slots (p50/p99 of the second, interpolated inside a bucket), the
 * broadcast ring's lag per shard and the ThreadSampler's utilisation figures. Nothing here is
 * counted per message; it runs only while a dashboard is open (DashboardFeed's timer).
 */
import { CLOSE_CODES, LATENCY_BUCKETS_MS, type Counters, type MainCounterName, type ShardCounterName } from '../transport/counters.js';
import type { ThreadSampler } from './thread-sampler.js';

export interface SampleSources {
  readonly counters: Counters;
  /** Bytes of the broadcast ring a shard has not read yet. */
  lag(shard: number): number;
  readonly threads: ThreadSampler;
  /** Times a shard slot was restarted since start. */
  restarts(shard: number): number;
  /** Per shard: up and listening. */
  up(): readonly boolean[];
}

/** What the page plots; rates are per second over the last interval. */
export interface Sample {
  t: number;
  conns: number;
  shardConns: number[];
  opened: number;
  closed: number;
  /** Connections closed since start, per CLOSE_CODES entry, then any other code. */
  closes: number[];
  /** Publishes per second by where they entered. */
  pub: { ws: number; http: number; ipc: number; api: number; broker: number };
  deliveries: number;
  frames: number;
  bytes: number;
  /** Publishes refused per second (overloaded, rate limited, forbidden, too large, too many channels). */
  refused: number;
  /** Publish accepted → handed to uWS over the interval, ms (null: nothing delivered). */
  p50: number | null;
  p99: number | null;
  lag: number[];
  elu: number[];
  restarts: number[];
  up: boolean[];
  mainCpu: number;
  mainElu: number;
  channels: number;
}

const SHARD_RATES = ['connectionsOpened', 'clientPublishes', 'httpPublishes', 'deliveries', 'framesSent', 'bytesSent', 'rejectedOverloaded', 'rejectedRateLimited', 'rejectedForbidden', 'forbiddenPublish'] as const satisfies readonly ShardCounterName[];
const MAIN_RATES = ['ipcPublishes', 'apiPublishes', 'brokerReceived', 'rejectedOverloaded', 'rejectedTooLarge', 'rejectedTooManyChannels'] as const satisfies readonly MainCounterName[];
const BUCKETS = LATENCY_BUCKETS_MS.length + 1;

/** Cumulative readings: the base the next sample's rates are measured against. */
interface Reading {
  at: number;
  shard: Record<(typeof SHARD_RATES)[number], number>;
  main: Record<(typeof MAIN_RATES)[number], number>;
  closes: number[];
  latency: number[];
}

export class DashboardSampler {
  private last: Reading;

  constructor(private readonly s: SampleSources) {
    this.last = this.read();
  }

  /** Starts the rates afresh (after a pause with no viewer: the gap is not averaged in). */
  reset(): void {
    this.last = this.read();
  }

  sample(): Sample {
    const { counters, threads } = this.s;
    const now = this.read();
    const prev = this.last;
    this.last = now;
    const dt = Math.max(0.001, (now.at - prev.at) / 1000);
    const rate = (a: number, b: number): number => Math.max(0, a - b) / dt;
    const shard = (n: (typeof SHARD_RATES)[number]): number => rate(now.shard[n], prev.shard[n]);
    const main = (n: (typeof MAIN_RATES)[number]): number => rate(now.main[n], prev.main[n]);
    const shards = Array.from({ length: counters.shards }, (_, i) => i);
    const latency = now.latency.map((v, i) => Math.max(0, v - prev.latency[i]!));
    return {
      t: now.at,
      conns: counters.openTotal,
      shardConns: shards.map((i) => counters.shard(i, 'connectionsOpen')),
      opened: shard('connectionsOpened'),
      closed: rate(sum(now.closes), sum(prev.closes)),
      closes: now.closes,
      pub: { ws: shard('clientPublishes'), http: shard('httpPublishes'), ipc: main('ipcPublishes'), api: main('apiPublishes'), broker: main('brokerReceived') },
      deliveries: shard('deliveries'),
      frames: shard('framesSent'),
      bytes: shard('bytesSent'),
      refused: shard('rejectedOverloaded') + shard('rejectedRateLimited') + shard('rejectedForbidden') + shard('forbiddenPublish') + main('rejectedOverloaded') + main('rejectedTooLarge') + main('rejectedTooManyChannels'),
      p50: quantile(latency, 0.5),
      p99: quantile(latency, 0.99),
      lag: shards.map((i) => this.s.lag(i)),
      elu: shards.map((i) => round(threads.shardUtilisation[i] ?? 0)),
      restarts: shards.map((i) => this.s.restarts(i)),
      up: [...this.s.up()],
      mainCpu: round(threads.mainCpuShare),
      mainElu: round(threads.mainUtilisation),
      channels: counters.main('channelsLive'),
    };
  }

  private read(): Reading {
    const c = this.s.counters;
    const shard = {} as Reading['shard'];
    for (const n of SHARD_RATES) shard[n] = c.total(n);
    const main = {} as Reading['main'];
    for (const n of MAIN_RATES) main[n] = c.main(n);
    const closes = new Array<number>(CLOSE_CODES.length + 1).fill(0);
    const latency = new Array<number>(BUCKETS).fill(0);
    for (let s = 0; s < c.shards; s++) {
      for (let i = 0; i < closes.length; i++) closes[i]! += c.closed(s, i);
      for (let i = 0; i < BUCKETS; i++) latency[i]! += c.latency(s, i);
    }
    return { at: Date.now(), shard, main, closes, latency };
  }
}

/**
 * The q-quantile of a histogram's counts (not cumulative; the last slot is past the last
 * bound): linear inside the bucket it falls in, as Prometheus' histogram_quantile does; a
 * quantile in the open last bucket is reported as the last bound. Null for no observations.
 */
export function quantile(counts: readonly number[], q: number): number | null {
  const total = sum(counts);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (seen + n >= rank && n > 0) {
      if (i >= LATENCY_BUCKETS_MS.length) return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]!;
      const lo = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1]!;
      const hi = LATENCY_BUCKETS_MS[i]!;
      return round(lo + (hi - lo) * ((rank - seen) / n));
    }
    seen += n;
  }
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]!;
}

function sum(xs: readonly number[]): number {
  let n = 0;
  for (const x of xs) n += x;
  return n;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The labels of Sample.closes, in order. */
export const CLOSE_LABELS: readonly string[] = [...CLOSE_CODES.map(String), 'other'];
