/**
 * ShardContext — what the parts of one shard share: its config, its uWS app, its tables.
 * Everything here belongs to the shard's own thread; nothing is shared with other shards
 * (they have their own), so there is no lock anywhere.
 */
import type { Config } from '../config.js';
import { Counters } from '../counters.js';
import type { FromShard } from '../control.js';
import { writePublish, type PublishRequest } from '../records.js';
import { RingProducer, type RingHandle } from '../ring.js';
import type { HttpResponse, TemplatedApp, WebSocket } from '../uws.js';

/** Per-connection state, kept small: idle memory per connection is a product figure. */
export interface Client {
  /** Shard-local number; the public id is `${shard}.${generation}-${n}`. */
  readonly n: number;
  /** Channels subscribed (null until the first subscribe). */
  channels: Set<string> | null;
  /** Its word in the connections-per-address table, released on close (NO_SLOT: none). */
  readonly ipSlot: number;
  /** Publish token bucket (see PublishLimiter): tokens left, and when it was last refilled (ms). */
  tokens: number;
  tokensAt: number;
}

export type ClientSocket = WebSocket<Client>;

export interface PendingHttp {
  readonly res: HttpResponse;
  aborted: boolean;
}

export class ShardContext {
  readonly counters: Counters;
  /** Open connections by number: for acks and the slow-consumer sweep. */
  readonly clients = new Map<number, ClientSocket>();
  /** HTTP requests waiting for the main thread (publish replies, control routes). */
  readonly pending = new Map<number, PendingHttp>();
  /** Local subscriber count per channel, for GET /api/channels. */
  readonly channelCounts = new Map<string, number>();
  /** Last seq seen per channel, as of this shard's position in the feed. */
  readonly lastSeq: Map<string, number>;
  private readonly ingress: RingProducer;
  private ingressFlushQueued = false;
  private nextRef = 1;
  closing = false;

  constructor(
    readonly shard: number,
    readonly generation: number,
    readonly config: Config,
    readonly app: TemplatedApp,
    ingress: RingHandle,
    counters: SharedArrayBuffer,
    readonly post: (m: FromShard) => void,
  ) {
    this.counters = new Counters(counters);
    this.ingress = new RingProducer(ingress);
    this.lastSeq = new Map(); // filled when the feed slot is attached
  }

  /**
   * A fresh number for a connection or a pending request. It never wraps (exact up to 2^53:
   * centuries at a million a second), so an answer can never reach a newer connection that
   * took a recycled number; with (shard, generation) it addresses a reply (see records.ts).
   */
  ref(): number {
    return this.nextRef++;
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
    if (!this.ingressFlushQueued) {
      this.ingressFlushQueued = true;
      queueMicrotask(() => {
        this.ingressFlushQueued = false;
        this.ingress.flush();
      });
    }
    return true;
  }

  subscribed(channel: string, delta: 1 | -1): void {
    const n = (this.channelCounts.get(channel) ?? 0) + delta;
    if (n <= 0) this.channelCounts.delete(channel);
    else this.channelCounts.set(channel, n);
  }
}
