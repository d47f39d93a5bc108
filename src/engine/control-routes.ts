/**
 * Control routes — the read-only HTTP answers that need every shard's view, computed on the
 * main thread: for a shard that forwarded the request (public port), or for the admin
 * server (--admin-port). One place, so both ports answer alike.
 */
import type { ControlRoute, HttpAnswer } from './control.js';
import { MainCounter, ShardCounter, type Counters, type MainCounterName, type ShardCounterName } from '../transport/counters.js';

export interface ChannelInfo {
  channel: string;
  subscribers: number;
}

export interface Stats {
  connections: number;
  /** Per shard: bytes of the broadcast ring not read yet. */
  feedLag: number[];
  shards: Array<{ shard: number } & Record<ShardCounterName, number>>;
  totals: Record<ShardCounterName, number>;
  main: Record<MainCounterName, number>;
  liveShards: number;
}

/** What the routes read from the engine. */
export interface RouteSources {
  channels(): Promise<ChannelInfo[]>;
  stats(): Stats;
  metrics(): Promise<string>;
  readonly metricsContentType: string;
  readiness(): HttpAnswer;
}

export async function answerRoute(route: ControlRoute, s: RouteSources): Promise<HttpAnswer> {
  switch (route) {
    case 'channels':
      return { status: 200, contentType: 'application/json', body: JSON.stringify({ channels: await s.channels() }) };
    case 'stats':
      return { status: 200, contentType: 'application/json', body: JSON.stringify(s.stats()) };
    case 'metrics':
      return { status: 200, contentType: s.metricsContentType, body: await s.metrics() };
    case 'readyz':
      return s.readiness();
    default: {
      const never: never = route;
      throw new Error(`unknown control route ${String(never)}`);
    }
  }
}

/** Every counter, per shard, summed, and the main thread's: the body of GET /api/stats. */
export function buildStats(c: Counters, lag: (shard: number) => number, liveShards: number): Stats {
  const shardNames = Object.keys(ShardCounter) as ShardCounterName[];
  const shards = Array.from({ length: c.shards }, (_, shard) => {
    const row = { shard } as { shard: number } & Record<ShardCounterName, number>;
    for (const name of shardNames) row[name] = c.shard(shard, name);
    return row;
  });
  const totals = {} as Record<ShardCounterName, number>;
  for (const name of shardNames) totals[name] = c.total(name);
  const main = {} as Record<MainCounterName, number>;
  for (const name of Object.keys(MainCounter) as MainCounterName[]) main[name] = c.main(name);
  return { connections: c.openTotal, feedLag: shards.map((s) => lag(s.shard)), shards, totals, main, liveShards };
}
