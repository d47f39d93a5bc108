/**
 * Metrics — Prometheus exposition of the engine's counters. prom-client aggregates only
 * cluster processes, not threads, so shards count into the shared Counters block and this
 * registry reads it in collect() when scraped: no messages, no per-event calls.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { MainCounter, ShardCounter, type Counters, type MainCounterName, type ShardCounterName } from '../transport/counters.js';
import { addLabelledMetrics } from './labelled-metrics.js';
import { addRuntimeMetrics, type RingSources } from './runtime-metrics.js';
import type { ThreadSampler } from './thread-sampler.js';

const SHARD_HELP: Record<ShardCounterName, string> = {
  connectionsOpen: 'WebSocket connections open, per shard',
  connectionsOpened: 'WebSocket connections accepted since start',
  connectionsRefused: 'WebSocket upgrades refused by --max-connections',
  closedSlowConsumer: 'Connections closed with 4001 because their send buffer passed --max-backpressure',
  closedTooBig: 'Connections closed with 1009 for a frame above --max-payload',
  errorFrames: 'Error frames sent to clients (bad input, refusals)',
  clientPublishes: 'Publishes received from WebSocket clients (to channels they may publish to)',
  httpPublishes: 'Publishes received on POST /api/publish',
  publications: 'Publications read from the broadcast ring',
  deliveries: 'Messages handed to uWS for local subscribers (a merged frame counts each message it holds)',
  framesSent: 'Publication frames handed to uWS for local subscribers (with --merge-ms, one frame holds a window of messages)',
  bytesSent: 'Bytes of the publication frames handed to uWS for local subscribers (subscribers x frame bytes; WebSocket headers not included)',
  deliveriesMsgpack: 'Of the deliveries, those to MessagePack connections',
  httpWaiting: 'HTTP requests held open until the main thread answers them (publishes on their way, control routes)',
  ingressHighWater: 'Most bytes of the shard\'s ingress ring seen unread (exposed as shardcast_ingress_ring_high_water_bytes)',
  rejectedOverloaded: 'Publishes refused because the shard-to-main ring was full',
  httpErrors: 'HTTP error answers (4xx and 5xx)',
  feedBatches: 'Batches read from the broadcast ring (publications per batch = how much uWS can coalesce per write)',
  rejectedRateLimited: 'Client publishes refused with rate_limited (over --client-publish-rate)',
  closedPolicyViolation: 'Connections closed with 1008 for publishing on after rate_limited',
  rejectedForbidden: 'Client publishes refused with publish_forbidden (channel outside --client-publish)',
  closedStalled: 'Connections closed with 4002 because their shard stalled and was cut loose',
  connectionsRefusedPerIp: 'WebSocket upgrades refused by --max-connections-per-ip (HTTP 429)',
  handshakesRateLimited: 'WebSocket upgrades refused by --max-handshakes-per-ip (HTTP 429)',
  ipTableFull: 'WebSocket upgrades let through unchecked by a per-IP limit: its table had no room for their address',
  channelStates: 'Channels in the shard\'s seq map (channels with state, as of the shard\'s position in the feed)',
  channelResets: 'Reset frames published: a channel\'s state was dropped while the shard had subscribers of it',
  originRefused: 'WebSocket upgrades refused with origin_not_allowed (Origin not in --allowed-origins; HTTP 403)',
  closedDisconnected: 'Connections closed with 4500: their user was disconnected by the server (POST /api/disconnect, disconnectUser())',
  transcodes: 'Publication frames a shard made in a format the main thread had not encoded yet (its subscribers in that format were new)',
  transcodeFailures: 'Publication frames a shard could not make in a format its subscribers needed (not expected; logged)',
  msgpackConnections: 'WebSocket connections opened with the MessagePack format since start',
  recoveryWaits: 'Subscribes with since that waited for the main thread\'s history (the others were answered at once)',
  recovered: 'Subscribes with since answered recovered:true (missed messages replayed, or none missed)',
  notRecovered: 'Subscribes with since answered recovered:false (another epoch, history too short, replay too large, or no ring room)',
  replayedMessages: 'Messages replayed to recovering connections',
  authRefusedMissing: 'WebSocket upgrades refused with 401 unauthorized: no token (JWT configured)',
  authRefusedMalformed: 'WebSocket upgrades refused with 401 unauthorized: token malformed, too long, or its claims unusable',
  authRefusedSignature: 'WebSocket upgrades refused with 401 unauthorized: bad signature or no key for its kid',
  authRefusedExpired: 'WebSocket upgrades refused with 401 unauthorized: token expired',
  authRefusedNotYetValid: 'WebSocket upgrades refused with 401 unauthorized: token not yet valid (nbf)',
  authRefusedAudience: 'WebSocket upgrades refused with 401 unauthorized: wrong audience (--jwt-audience)',
  authRefusedIssuer: 'WebSocket upgrades refused with 401 unauthorized: wrong issuer (--jwt-issuer)',
  authRefusedAlgorithm: 'WebSocket upgrades refused with 401 unauthorized: algorithm not allowed for the configured key (alg none, algorithm confusion)',
  tokenCacheHits: 'Tokens accepted without a signature check of their own: from the shard\'s cache of verified tokens, or joining the check of the same token under way',
  forbiddenSubscribe: 'Subscribes refused with forbidden: channel outside the connection\'s permissions (its token\'s channels claim, or --anonymous-channels)',
  forbiddenPublish: 'Client publishes refused with forbidden: channel outside the token\'s publish claim',
  closedTokenExpired: 'Connections closed with 4003: their token expired without a refresh',
  tokenRefreshes: 'Refresh messages accepted (new token, same sub)',
  refreshesRefused: 'Refresh messages refused (invalid token, or another sub)',
  stateWaits: 'Subscribes without since (per-user subscriptions included) that waited for the channel\'s seq and epoch from the main thread: Redis broker, a channel the shard did not follow yet',
};

const MAIN_HELP: Record<MainCounterName, string> = {
  published: 'Publications sequenced (one per channel)',
  rejectedOverloaded: 'Publishes refused because the broadcast ring was full',
  shardFaults: 'Shards that hit a fatal error',
  shardRestarts: 'Shards started again after exiting',
  ipcPublishes: 'Publishes received on the IPC socket',
  apiPublishes: 'Publishes made through the in-process API',
  rejectedTooLarge: 'Publishes refused because all their channels together exceed half the broadcast ring',
  shardStalls: 'Shards cut loose from the broadcast ring after not reading it for --shard-stall-timeout',
  channelsLive: 'Channels with sequencer state (at most --max-channels)',
  channelsForgotten: 'Channel states dropped after --channel-ttl with no publication and no subscriber',
  rejectedTooManyChannels: 'Publishes refused because they would create a channel past --max-channels',
  brokerUp: '1 while the Redis broker is connected and publishing (--broker redis); 0 while Redis is unreachable, and with the memory broker',
  brokerDisconnects: 'Times the Redis broker lost its connection (publishes are refused with overloaded until it is back)',
  brokerReceived: 'Messages received from Redis Pub/Sub (channels with local subscribers; a node\'s own publications included)',
  historyMessages: 'Messages held in channel histories for recovery (memory broker; bounded by --history-size, --history-ttl, --history-max-bytes)',
  historyBytes: 'Bytes of channel histories (data plus a fixed overhead per message; at most --history-max-bytes)',
  recoveryAnswers: 'History answers written to the broadcast ring (one per shard, channel and turn, whatever the number of sockets waiting)',
  recoveryTooLarge: 'History answers that said recovered:false because the replay was larger than a quarter of --ring-size',
  brokerGapReads: 'Reads of a channel\'s history stream to fill a hole in its seqs on this node (a message past seq + 1, or the catch-up after Redis was unreachable)',
  brokerGapFilled: 'Stream entries read by those reads (echoes of what had arrived are skipped when delivered)',
  brokerPartialPublishes: 'Publishes on several channels refused with partial: published on some channels, not on others (--redis-cluster: a node failed mid-publish)',
  brokerDropped: 'Messages from Redis not delivered locally: not in Shardcast\'s format, larger than half the ring, or past the backlog kept while the ring was full',
};

/** Counter slots that hold a current value, exposed as gauges (no _total suffix). */
const SHARD_GAUGES: ReadonlySet<ShardCounterName> = new Set(['connectionsOpen', 'channelStates', 'httpWaiting']);
/** Slots exposed by another family (runtime-metrics.ts), not under their own name. */
const SHARD_ELSEWHERE: ReadonlySet<ShardCounterName> = new Set(['ingressHighWater']);
const MAIN_GAUGES: ReadonlySet<MainCounterName> = new Set(['channelsLive', 'brokerUp', 'historyMessages', 'historyBytes']);

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function createMetrics(counters: Counters, feedLag: (shard: number) => number, rings: RingSources, threads: ThreadSampler): Registry {
  const feedCapacity = rings.broadcastCapacity;
  const registry = new Registry();
  // event-loop lag sampled every 100 ms, not the default 10: an idle server should stay idle
  collectDefaultMetrics({ register: registry, prefix: 'shardcast_', eventLoopMonitoringPrecision: 100 });
  for (const name of Object.keys(ShardCounter) as ShardCounterName[]) {
    if (SHARD_ELSEWHERE.has(name)) continue;
    const gauge = SHARD_GAUGES.has(name);
    const config = {
      name: `shardcast_shard_${snake(name)}${gauge ? '' : '_total'}`,
      help: SHARD_HELP[name],
      labelNames: ['shard'] as const,
      registers: [registry],
    };
    if (gauge) {
      new Gauge({ ...config, collect() { for (let i = 0; i < counters.shards; i++) this.set({ shard: String(i) }, counters.shard(i, name)); } });
    } else {
      new Counter({ ...config, collect() { this.reset(); for (let i = 0; i < counters.shards; i++) this.inc({ shard: String(i) }, counters.shard(i, name)); } });
    }
  }
  for (const name of Object.keys(MainCounter) as MainCounterName[]) {
    if (MAIN_GAUGES.has(name)) new Gauge({ name: `shardcast_${snake(name)}`, help: MAIN_HELP[name], registers: [registry], collect() { this.set(counters.main(name)); } });
    else new Counter({ name: `shardcast_${snake(name)}_total`, help: MAIN_HELP[name], registers: [registry], collect() { this.reset(); this.inc(counters.main(name)); } });
  }
  // a shard that stops reading holds the broadcast ring for everyone (publishers then get
  // `overloaded`): this is the figure to alert on
  new Gauge({
    name: 'shardcast_shard_feed_lag_bytes',
    help: `Bytes of the broadcast ring a shard has not read yet (capacity ${feedCapacity})`,
    labelNames: ['shard'] as const,
    registers: [registry],
    collect() { for (let i = 0; i < counters.shards; i++) this.set({ shard: String(i) }, feedLag(i)); },
  });
  new Gauge({ name: 'shardcast_connections_open', help: 'WebSocket connections open over all shards', registers: [registry], collect() { this.set(counters.openTotal); } });
  addLabelledMetrics(registry, counters);
  addRuntimeMetrics(registry, counters, rings, threads);
  return registry;
}
