/**
 * Counters — the engine's instrumentation, in one SharedArrayBuffer so that shards count
 * without messages and the main thread reads everything for stats() and /metrics.
 * Each slot has exactly one writer thread (the shard owning the block, or main for the main
 * block), except OPEN_TOTAL which every shard updates with Atomics.add to enforce
 * --max-connections across shards. Writers bump with Atomics.add; readers Atomics.load.
 *
 *   Int32[0]            OPEN_TOTAL   open connections over all shards
 *   BigInt64 block 0    main counters  (MainCounter)
 *   BigInt64 block 1+i  shard i        (ShardCounter; then CLOSE_CODES and LATENCY_BUCKETS_MS)
 */

/** Per-shard counters. */
export const ShardCounter = {
  connectionsOpen: 0, // gauge
  connectionsOpened: 1,
  connectionsRefused: 2, // over --max-connections
  closedSlowConsumer: 3,
  closedTooBig: 4,
  errorFrames: 5,
  clientPublishes: 6,
  httpPublishes: 7,
  publications: 8, // publication records processed by this shard
  deliveries: 9, // messages handed to uWS for local subscribers (sum of subscribers × messages per publication frame)
  rejectedOverloaded: 10, // shard → main ring full
  httpErrors: 11, // HTTP error answers (4xx/5xx) of every kind
  feedBatches: 12, // batches read from the broadcast ring: publications ÷ this = records per wake-up
  rejectedRateLimited: 13, // client publishes over --client-publish-rate
  closedPolicyViolation: 14, // connections closed with 1008 (kept publishing past the rate limit)
  rejectedForbidden: 15, // client publishes to channels outside --client-publish
  closedStalled: 16, // connections closed with 4002 when this shard found itself cut loose
  connectionsRefusedPerIp: 17, // over --max-connections-per-ip
  handshakesRateLimited: 18, // over --max-handshakes-per-ip
  ipTableFull: 19, // upgrades let through unchecked: no room in a per-IP table for their address
  channelStates: 20, // gauge: channels in the shard's seq map (channels with state, as of its feed position)
  channelResets: 21, // `reset` frames published: a channel was forgotten while it had local subscribers
  originRefused: 22, // upgrades refused with origin_not_allowed (--allowed-origins)
  closedDisconnected: 23, // connections closed with 4500 (POST /api/disconnect, disconnectUser())
  transcodes: 24, // frames this shard made in a format main had not encoded yet (its interest report was on its way)
  transcodeFailures: 25, // such frames that could not be made (never expected: main refuses data without a form in every format in use)
  msgpackConnections: 26, // connections opened with the MessagePack format
  framesSent: 27, // publication frames handed to uWS for local subscribers (a merged frame holds several deliveries)
  bytesSent: 28, // bytes of those frames (subscribers × frame bytes; uWS adds the WebSocket header)
  deliveriesMsgpack: 29, // of `deliveries`, those to MessagePack connections
  ingressHighWater: 30, // gauge: most bytes this shard's ingress ring held unread, seen when it re-measured its room
  recoveryWaits: 31, // subscribes with `since` that waited for main's history
  recovered: 32, // subscribes with `since` answered recovered:true
  notRecovered: 33, // subscribes with `since` answered recovered:false
  replayedMessages: 34, // messages replayed to recovering sockets
  // JWT on the handshake: upgrades refused with 401, one slot per stable reason
  authRefusedMissing: 35,
  authRefusedMalformed: 36,
  authRefusedSignature: 37,
  authRefusedExpired: 38,
  authRefusedNotYetValid: 39,
  authRefusedAudience: 40,
  authRefusedIssuer: 41,
  authRefusedAlgorithm: 42,
  tokenCacheHits: 43, // handshakes and refreshes whose token was verified before (no crypto)
  forbiddenSubscribe: 44, // subscribes outside the token's channels
  forbiddenPublish: 45, // publishes outside the token's publish patterns
  closedTokenExpired: 46, // connections closed with 4003
  tokenRefreshes: 47, // refresh messages accepted
  refreshesRefused: 48, // refresh messages refused (invalid token, or another sub)
  stateWaits: 49, // subscribes without `since` that waited for the channel's position from main (Redis broker: a channel this shard did not follow)
  httpWaiting: 50, // gauge: HTTP requests held open for main's answer (held-requests.ts)
} as const;
export type ShardCounterName = keyof typeof ShardCounter;

/** Main-thread counters. */
export const MainCounter = {
  published: 0, // publications sequenced (one per channel)
  rejectedOverloaded: 1, // broadcast ring full
  shardFaults: 2,
  shardRestarts: 3,
  ipcPublishes: 4,
  apiPublishes: 5, // in-process publish()
  rejectedTooLarge: 6, // publications too large for the broadcast ring at any time
  shardStalls: 7, // shards cut loose from the broadcast ring after --shard-stall-timeout
  channelsLive: 8, // gauge: channels with sequencer state
  channelsForgotten: 9, // channel states dropped (idle for --channel-ttl with no subscriber)
  rejectedTooManyChannels: 10, // publishes refused by --max-channels
  brokerUp: 11, // gauge: 1 while the Redis broker's connection is ready (0 with the memory broker)
  brokerDisconnects: 12, // times the Redis broker lost its connection
  brokerReceived: 13, // messages that arrived from Redis Pub/Sub
  brokerDropped: 14, // messages from Redis not delivered here: not ours, or no ring room for too long
  historyMessages: 15, // gauge: messages held in channel histories (memory broker)
  historyBytes: 16, // gauge: their bytes (data + per-message overhead)
  recoveryAnswers: 17, // history answers written for shards (one serves every socket waiting on that shard and channel)
  recoveryTooLarge: 18, // history answers refused because the replay passed its size limit (recovered:false)
  brokerGapReads: 19, // XRANGE reads of a hole in a channel's seqs (Redis broker: missed while not subscribed, or during an outage)
  brokerGapFilled: 20, // stream entries those reads returned
  brokerPartialPublishes: 21, // multi-channel publishes done on some channels only (Redis Cluster: a node failed mid-publish)
} as const;
export type MainCounterName = keyof typeof MainCounter;

/**
 * Connections closed, per close code (sent or received; 1006: lost without a close frame):
 * one slot each, then one for any other code. A fixed list keeps the label bounded.
 */
export const CLOSE_CODES = [1000, 1001, 1005, 1006, 1008, 1009, 1011, 4001, 4002, 4003, 4500] as const;
const CLOSE_BASE = 52; // CLOSE_CODES.length + 1 slots ("other" last)

/**
 * Publish accepted → handed to uWS, per shard, as a histogram with fixed bounds (ms): a
 * shard counts each delivered publication into one slot (no message per event); the
 * registry sums the shards. The last slot (past the last bound) is +Inf; then the sum (µs).
 */
export const LATENCY_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000] as const;
const LATENCY_BASE = 64; // LATENCY_BUCKETS_MS.length + 1 bucket slots, then the sum
const LATENCY_SUM = LATENCY_BASE + LATENCY_BUCKETS_MS.length + 1;

const BLOCK = 128; // BigInt64 slots per block (room to grow without relayout)
const HEAD = 8; // bytes before the first block (Int32 OPEN_TOTAL + padding)

for (const block of [ShardCounter, MainCounter]) {
  if (Math.max(...Object.values(block)) >= CLOSE_BASE) throw new Error('counters: a block outgrew its named slots; move CLOSE_BASE');
}
if (CLOSE_BASE + CLOSE_CODES.length + 1 > LATENCY_BASE || LATENCY_SUM >= BLOCK) throw new Error('counters: slot ranges overlap; raise BLOCK');

/** A close code's slot index among CLOSE_CODES (the last one: any other code). */
export function closeCodeIndex(code: number): number {
  const i = (CLOSE_CODES as readonly number[]).indexOf(code);
  return i < 0 ? CLOSE_CODES.length : i;
}

/** The bucket of a latency in ms: the first bound it does not pass (LATENCY_BUCKETS_MS.length: +Inf). */
export function latencyBucket(ms: number): number {
  let i = 0;
  while (i < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[i]!) i++;
  return i;
}

export function createCounters(shards: number): SharedArrayBuffer {
  return new SharedArrayBuffer(HEAD + 8 * BLOCK * (1 + shards));
}

export class Counters {
  private readonly open: Int32Array;
  private readonly big: BigInt64Array;

  constructor(readonly sab: SharedArrayBuffer) {
    this.open = new Int32Array(sab, 0, 1);
    this.big = new BigInt64Array(sab, HEAD);
  }

  get shards(): number {
    return this.big.length / BLOCK - 1;
  }

  /** Reserves one connection under `max`; false (nothing taken) when full. */
  tryOpen(max: number): boolean {
    if (Atomics.add(this.open, 0, 1) >= max) {
      Atomics.sub(this.open, 0, 1);
      return false;
    }
    return true;
  }

  closeOne(): void {
    Atomics.sub(this.open, 0, 1);
  }

  get openTotal(): number {
    return Atomics.load(this.open, 0);
  }

  shardAdd(shard: number, name: ShardCounterName, n = 1): void {
    Atomics.add(this.big, BLOCK * (1 + shard) + ShardCounter[name], BigInt(n));
  }

  /** Sets a gauge slot of `shard` (its one writer: the shard, or main before it starts). */
  shardSet(shard: number, name: ShardCounterName, v: number): void {
    Atomics.store(this.big, BLOCK * (1 + shard) + ShardCounter[name], BigInt(v));
  }

  shard(shard: number, name: ShardCounterName): number {
    return Number(Atomics.load(this.big, BLOCK * (1 + shard) + ShardCounter[name]));
  }

  mainAdd(name: MainCounterName, n = 1): void {
    Atomics.add(this.big, MainCounter[name], BigInt(n));
  }

  /** Sets a main gauge slot (main thread only). */
  mainSet(name: MainCounterName, v: number): void {
    Atomics.store(this.big, MainCounter[name], BigInt(v));
  }

  main(name: MainCounterName): number {
    return Number(Atomics.load(this.big, MainCounter[name]));
  }

  /** One connection of `shard` closed with `code` (its close handler: once per connection). */
  closedWith(shard: number, code: number): void {
    Atomics.add(this.big, BLOCK * (1 + shard) + CLOSE_BASE + closeCodeIndex(code), 1n);
  }

  /** Connections of `shard` closed with CLOSE_CODES[i] (i = CLOSE_CODES.length: any other code). */
  closed(shard: number, i: number): number {
    return Number(Atomics.load(this.big, BLOCK * (1 + shard) + CLOSE_BASE + i));
  }

  /** Adds a shard's batch of latency observations: counts per bucket, and their sum in µs. */
  addLatencies(shard: number, buckets: Float64Array, sumUs: number): void {
    const base = BLOCK * (1 + shard) + LATENCY_BASE;
    for (let i = 0; i < buckets.length; i++) if (buckets[i]! > 0) Atomics.add(this.big, base + i, BigInt(buckets[i]!));
    Atomics.add(this.big, BLOCK * (1 + shard) + LATENCY_SUM, BigInt(Math.round(sumUs)));
  }

  /** Observations of `shard` in latency bucket i (not cumulative), and their sum (µs) with i = -1. */
  latency(shard: number, i: number): number {
    return Number(Atomics.load(this.big, BLOCK * (1 + shard) + (i < 0 ? LATENCY_SUM : LATENCY_BASE + i)));
  }

  /** After a shard died: whatever connections it still counted as open are gone. */
  resetShardGauge(shard: number): void {
    const slot = BLOCK * (1 + shard) + ShardCounter.connectionsOpen;
    const left = Number(Atomics.exchange(this.big, slot, 0n));
    if (left !== 0) Atomics.sub(this.open, 0, left);
  }

  /** Sum of a shard counter over all shards. */
  total(name: ShardCounterName): number {
    let n = 0;
    for (let i = 0; i < this.shards; i++) n += this.shard(i, name);
    return n;
  }
}
