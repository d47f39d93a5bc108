/** What a RedisBroker is made with: one Redis, or one node of a Redis Cluster (a lane). */
import type { Counters } from '../transport/counters.js';
import type { Logger } from '../engine/logger.js';
import type { RedisNames } from './redis-script.js';

export interface RedisBrokerOptions {
  /** redis://[user:password@]host[:port][/db] or rediss://… (TLS). */
  readonly url: string;
  /** --channel-ttl: a channel's keys expire this long after its last publication (0 = never). */
  readonly channelTtl: number;
  /** --history-size: each channel's history stream keeps about this many entries (MAXLEN ~). */
  readonly historySize: number;
  readonly counters: Counters;
  readonly log: Logger;
  /** Another node was asked to close every connection of `user` (POST /api/disconnect there): do it here. */
  readonly onDisconnectUser?: (user: string) => void;
  /** Key and Pub/Sub names (default: one Redis); SHARDED_NAMES for a cluster's node. */
  readonly names?: RedisNames;
  /** One node of a Redis Cluster: it reports to the cluster broker instead of keeping brokerUp. */
  readonly lane?: LaneHooks;
}

/** What a cluster node's broker tells the cluster broker. */
export interface LaneHooks {
  /** The connection became usable (true) or was lost (false). */
  state(up: boolean): void;
  /** Redis answered MOVED or ASK, or dropped a sharded subscription itself: slots moved. */
  moved(): void;
}
