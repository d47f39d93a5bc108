/**
 * ShardContext — what the parts of one shard share: its config, its uWS app, its tables.
 * Everything here belongs to the shard's own thread; nothing is shared with other shards
 * (they have their own), so there is no lock anywhere.
 */
import type { Config } from '../engine/config.js';
import type { Permissions } from '../auth/permissions.js';
import { Counters } from '../transport/counters.js';
import type { FromShard } from '../engine/control.js';
import { writePublish, type PublishRequest } from '../transport/records.js';
import { writeRecover, type RecoverRequest } from '../transport/recovery-records.js';
import { RingProducer, type RingHandle } from '../transport/ring.js';
import { readSnapshot, type ChannelSnapshot } from '../transport/channel-snapshot.js';
import { channelOfKey } from '../protocol/user-channel.js';
import { UserSockets } from './user-sockets.js';
import { HeldRequests } from './held-requests.js';
import type { TemplatedApp, WebSocket } from '../transport/uws.js';
import { WireFormat, frameFor, splitTopic, topicOf } from '../protocol/wire-format.js';

/** Per-connection state, kept small: idle memory per connection is a product figure. */
export interface Client {
  /** Its reply reference (see nextRef); the public id is `${shard}.${generation}-${ref}`. */
  readonly ref: number;
  /** Channels subscribed (null until the first subscribe). */
  channels: Set<string> | null;
  /** Its word in the connections-per-address table, released on close (NO_SLOT: none). */
  readonly ipSlot: number;
  /** Publish token bucket (see PublishLimiter): tokens left, and when it was last refilled (ms). */
  tokens: number;
  tokensAt: number;
  /** Who it is and what it may do; shared with every connection of the same token (refresh replaces it). */
  perms: Permissions;
  /** Its frames' format, chosen at the handshake. */
  readonly format: WireFormat;
  /** Channels subscribed with `since` whose history is on its way: the request each waits for (recoveries.ts). */
  recovering?: Map<string, number>;
}

export type ClientSocket = WebSocket<Client>;

/**
 * Sends one server frame, built as JSON text (or JSON bytes, as replies from the main
 * thread come), to one client in its format: per-connection frames only (welcome,
 * subscribed, error, ack, …); publications go through uWS publish, encoded once per format.
 */
export function sendFrame(ws: ClientSocket, json: string | Uint8Array): void {
  const format = ws.getUserData().format;
  if (format === WireFormat.Json) ws.send(json, false);
  else ws.send(frameFor(typeof json === 'string' ? json : Buffer.from(json).toString('utf8'), format), true);
}

/** The uWS topic of `channel` for this client (its format's subscribers). */
export function clientTopic(ws: ClientSocket, channel: string): string {
  return topicOf(channel, ws.getUserData().format);
}

/** A channel's state as this shard knows it, updated in place by each publication. */
export interface LastSeq {
  seq: number;
  epoch: number;
}

export class ShardContext {
  readonly counters: Counters;
  /** Open connections by number: for acks and the slow-consumer sweep. */
  readonly clients = new Map<number, ClientSocket>();
  /** HTTP requests waiting for the main thread (publish replies, control routes). */
  readonly pending: HeldRequests;
  /** Local subscriber count per topic (a channel in one format), for GET /api/channels and interest. */
  readonly channelCounts = new Map<string, number>();
  /** Authenticated connections per user: per-user channels are not uWS topics (user-sockets.ts). */
  readonly users = new UserSockets();
  /** Topics of channelCounts in MessagePack: while 0, the feed does not look for MessagePack subscribers. */
  msgpackTopics = 0;
  /**
   * Last seq and epoch per channel with state, as of this shard's position in the feed
   * (entries come with publications and go with FORGET records).
   */
  readonly lastSeq = new Map<string, LastSeq>();
  private readonly ingress: RingProducer;
  private ingressFlushQueued = false;
  private reportedHighWater = 0;
  /**
   * Topics whose local subscribers came or went this turn, and whether there are any now:
   * the report is sent once per turn. Main's Interest keeps a set per shard, so repeating an
   * `on` or sending an `off` it never had an `on` for is harmless — which is why the shard
   * keeps no copy of what it reported (one set entry less per channel and per user).
   */
  private readonly touched = new Map<string, boolean>();
  private interestQueued = false;
  private readonly reportInterest = (): void => this.sendInterest();
  private lastRef = 0;
  closing = false;

  constructor(
    readonly shard: number,
    readonly generation: number,
    /** Replaced (apiKeys and jwt only) on a credential reload: read it at each use, never keep a field of it. */
    public config: Config,
    readonly app: TemplatedApp,
    ingress: RingHandle,
    counters: SharedArrayBuffer,
    readonly post: (m: FromShard) => void,
  ) {
    this.counters = new Counters(counters);
    this.pending = new HeldRequests(this.counters, shard);
    this.ingress = new RingProducer(ingress);
    this.lastSeq = new Map(); // filled when the feed slot is attached (setSnapshot)
  }

  /** Every channel's seq and epoch as of the feed position this shard starts reading at. */
  setSnapshot(seqs: ChannelSnapshot): void {
    readSnapshot(seqs, (c, seq, epoch) => this.lastSeq.set(c, { seq, epoch }));
    this.counters.shardSet(this.shard, 'channelStates', this.lastSeq.size);
  }

  /**
   * A fresh reply reference: the number a reply from the main thread is addressed to — a
   * connection's (acks) or a held HTTP request's (answers); the reply's target says which
   * table to look in. One counter serves both. It never wraps (exact up to 2^53: centuries
   * at a million a second), so an answer can never reach a newer connection that took a
   * recycled number; with (shard, generation) it addresses a reply (see records.ts).
   */
  nextRef(): number {
    return ++this.lastRef;
  }

  count(name: Parameters<Counters['shardAdd']>[1], n = 1): void {
    this.counters.shardAdd(this.shard, name, n);
  }

  /** Sends a publish to the main thread; false when the ingress ring is full. */
  forwardPublish(req: PublishRequest): boolean {
    if (!writePublish(this.ingress, req)) {
      this.count('rejectedOverloaded');
      return false;
    }
    this.flushIngressSoon();
    return true;
  }

  /** Sends a history request (recovery-records.ts) to the main thread; false when the ingress ring is full. */
  forwardRecover(req: RecoverRequest): boolean {
    if (!writeRecover(this.ingress, req)) return false;
    this.flushIngressSoon();
    return true;
  }

  /** What is written to the ingress ring is published once per microtask checkpoint. */
  private flushIngressSoon(): void {
    if (!this.ingressFlushQueued) {
      this.ingressFlushQueued = true;
      queueMicrotask(() => {
        this.ingressFlushQueued = false;
        this.ingress.flush();
        // a gauge main reads for /metrics; it changes only when the ring filled further
        if (this.ingress.highWater !== this.reportedHighWater) this.counters.shardSet(this.shard, 'ingressHighWater', (this.reportedHighWater = this.ingress.highWater));
      });
    }
  }

  /** A subscriber of `topic` (topicOf: a channel in one format) came or went. */
  subscribed(topic: string, delta: 1 | -1): void {
    const n = (this.channelCounts.get(topic) ?? 0) + delta;
    if (n <= 0) this.channelCounts.delete(topic);
    else this.channelCounts.set(topic, n);
    if (delta === 1 ? n === 1 : n <= 0) {
      this.touch(topic, n > 0);
      if (splitTopic(topic).format === WireFormat.Msgpack) this.msgpackTopics += delta;
    }
  }

  /** Local subscribers per topic, per-user channels included (GET /api/channels). */
  channelReport(): Array<[string, number]> {
    const report = [...this.channelCounts];
    for (const [key, format, n] of this.users.counts()) report.push([topicOf(channelOfKey(key), format), n]);
    return report;
  }

  /** A user's first connection here in `format` came (true) or its last went (false). */
  userInterest(key: string, format: WireFormat, wanted: boolean): void {
    this.touch(topicOf(channelOfKey(key), format), wanted);
  }

  /** Tells main again that this shard has subscribers of `topic` (after a FORGET raced them). */
  reassertInterest(topic: string): void {
    this.touch(topic, true);
  }

  private touch(topic: string, wanted: boolean): void {
    this.touched.set(topic, wanted);
    if (this.interestQueued) return;
    this.interestQueued = true;
    // once per turn of the event loop, not per subscribe: a client subscribing to 200
    // channels costs one message
    setImmediate(this.reportInterest);
  }

  /** Reports the state at the end of the turn of each topic that came or went during it. */
  private sendInterest(): void {
    this.interestQueued = false;
    const on: string[] = [];
    const off: string[] = [];
    for (const [topic, wanted] of this.touched) (wanted ? on : off).push(topic);
    this.touched.clear();
    this.post({ type: 'interest', on, off });
  }
}
