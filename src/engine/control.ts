/**
 * Control messages between the main thread and shard workers (postMessage). This is the
 * control plane only — start-up, queries, rare error replies, shutdown. Publications and
 * acks never travel here; they go through the rings.
 */
import type { Config } from './config.js';
import type { JwtSettings } from '../auth/jwt-settings.js';
import type { ErrorCode } from '../protocol/codes.js';
import type { ErrorDetail } from '../protocol/errors.js';
import type { IpTables } from '../limits/ip-slots.js';
import type { RingHandle } from '../transport/ring.js';
import type { ChannelSnapshot } from '../transport/channel-snapshot.js';

/** workerData of a shard worker. */
export interface ShardInit {
  readonly shard: number;
  /** Starts of this shard slot before this one: makes connection ids unique across restarts. */
  readonly generation: number;
  readonly config: Config;
  /** The port to listen on (claimed by the main thread; never 0). */
  readonly port: number;
  readonly broadcast: RingHandle; // main → shards broadcast ring; this shard reads slot `shard` through its Feed
  readonly ingress: RingHandle; // this shard → main
  readonly counters: SharedArrayBuffer;
  /** Per-address limits, shared by every shard (the same tables across restarts). */
  readonly ipTables: IpTables;
}

/** A small HTTP answer computed on the main thread and sent by the shard holding the request. */
export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export type ToShard =
  /**
   * Answer to `attach-feed`: the shard's feed slot is attached at the current position, and
   * `seqs` is every channel's last seq and epoch at that position.
   */
  | { type: 'feed-attached'; seqs: ChannelSnapshot }
  | { type: 'shutdown' }
  /** The main thread found this shard's ingress ring corrupt: fail (1011) and be replaced. */
  | { type: 'fail'; reason: string }
  | { type: 'channels-query'; query: number }
  | { type: 'http-answer'; ref: number; answer: HttpAnswer }
  /** Close every connection of `user` on this shard (4500) and report how many (`disconnected`). */
  | { type: 'disconnect-user'; query: number; user: string }
  /** A publish from this shard was refused (ring full): tell the client. */
  | { type: 'publish-refused'; target: 'ws' | 'http'; ref: number; code: ErrorCode; message: string; ackId: string; detail?: ErrorDetail }
  /** New API keys and JWT key material (a reload, credentials.ts): use them, then confirm. */
  | { type: 'credentials'; query: number; apiKeys: readonly string[]; jwt: JwtSettings | null }
  /** The dashboard: what a new page is sent first (`ref`: the page, from `dashboard-watch`). */
  | { type: 'dashboard-hello'; ref: number; hello: string }
  /** The dashboard: one sample (JSON text) for every page open on this shard. */
  | { type: 'dashboard-sample'; sample: string }
  /** The dashboard: the channel tables (JSON text) of the searches this shard's pages asked for. */
  | { type: 'dashboard-channels'; tables: Array<[search: string, table: string]> }
  /** Test hooks (testHooks only): a fatal error, or a shard thread that blocks for `ms`. */
  | { type: 'inject-fault'; where: 'timer' | 'ws-message' }
  | { type: 'inject-stall'; ms: number };

/** Read-only HTTP routes the main thread answers for any shard. */
export type ControlRoute = 'channels' | 'stats' | 'metrics' | 'readyz';

export type FromShard =
  /** The shard is about to read its feed: attach its slot now (not earlier, see Supervisor). */
  | { type: 'attach-feed' }
  | { type: 'listening'; port: number }
  | { type: 'listen-failed'; message: string }
  | { type: 'channels-report'; query: number; channels: Array<[string, number]> }
  | { type: 'http-control'; ref: number; route: ControlRoute }
  /** POST /api/disconnect reached this shard: main asks every shard, then answers `ref` with {"closed":n}. */
  | { type: 'http-disconnect'; ref: number; user: string }
  /** Answer to `disconnect-user`: connections this shard closed. */
  | { type: 'disconnected'; query: number; closed: number }
  /**
   * Topics (a channel in one format, wire-format.ts) whose local subscriber count went
   * 0 → 1 (on) or 1 → 0 (off) since the last report: at most one per event-loop turn. Idempotent per shard: an `on` for a channel
   * already on changes nothing.
   */
  | { type: 'interest'; on: string[]; off: string[] }
  /** Something the operator should see (rare by construction: never one per message). */
  | { type: 'log'; level: 'warn' | 'error'; message: string }
  /**
   * Dashboard pages open on this shard: their searches ([] = none, stop sending), sent when
   * one opens or closes; `hello`: a new page's ref, to be sent `dashboard-hello`.
   */
  | { type: 'dashboard-watch'; searches: string[]; hello: number | null }
  /** Answer to `credentials`: this shard checks with the new credentials from now on. */
  | { type: 'credentials-applied'; query: number }
  | { type: 'fault'; message: string; stack: string }
  | { type: 'closed' };
