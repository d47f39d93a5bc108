/**
 * Counters — the engine's instrumentation, in one SharedArrayBuffer so that shards count
 * without messages and the main thread reads everything for stats() and /metrics.
 * Each slot has exactly one writer thread (the shard owning the block, or main for the main
 * block), except OPEN_TOTAL which every shard updates with Atomics.add to enforce
 * --max-connections across shards. Writers bump with Atomics.add; readers Atomics.load.
 *
 *   Int32[0]            OPEN_TOTAL   open connections over all shards
 *   BigInt64 block 0    main counters  (MainCounter)
 *   BigInt64 block 1+i  shard i        (ShardCounter)
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
  recoveryWaits: 28, // subscribes with `since` that waited for main's history
  recovered: 29, // subscribes with `since` answered recovered:true
  notRecovered: 30, // subscribes with `since` answered recovered:false
  replayedMessages: 31, // messages replayed to recovering sockets
  // JWT on the handshake: upgrades refused with 401, one slot per stable reason
  authRefusedMissing: 32,
  authRefusedMalformed: 33,
  authRefusedSignature: 34,
  authRefusedExpired: 35,
  authRefusedNotYetValid: 36,
  authRefusedAudience: 37,
  authRefusedIssuer: 38,
  authRefusedAlgorithm: 39,
  tokenCacheHits: 40, // handshakes and refreshes whose token was verified before (no crypto)
  forbiddenSubscribe: 41, // subscribes outside the token's channels
  forbiddenPublish: 42, // publishes outside the token's publish patterns
  closedTokenExpired: 43, // connections closed with 4003
  tokenRefreshes: 44, // refresh messages accepted
  refreshesRefused: 45, // refresh messages refused (invalid token, or another sub)
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
} as const;
export type MainCounterName = keyof typeof MainCounter;

const BLOCK = 64; // BigInt64 slots per block (room to grow without relayout)
const HEAD = 8; // bytes before the first block (Int32 OPEN_TOTAL + padding)

for (const block of [ShardCounter, MainCounter]) {
  if (Math.max(...Object.values(block)) >= BLOCK) throw new Error('counters: a block outgrew BLOCK; raise it');
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
