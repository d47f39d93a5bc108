/**
 * The dashboard's wiring on the main thread: its DashboardFeed (src/observe) fed from what
 * the engine owns, the routes the admin port serves for it (--admin-port), the shards'
 * viewers on the public port (a shard reports which searches its open pages asked for; it
 * is sent each sample once, whatever its number of viewers), and its two metrics.
 *
 *   admin port:  browser ─SSE─ node:http (main) ─ DashboardFeed
 *   public port: browser ─SSE─ shard (uWS) ─postMessage─ main ─ DashboardFeed
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import { DASHBOARD_HEADERS, FEED_PATH, PUBLISH_PATH, loadDashboardAssets } from '../dashboard/dashboard-assets.js';
import { DashboardFeed, searchOf, type FeedSink } from '../observe/dashboard-feed.js';
import type { ThreadSampler } from '../observe/thread-sampler.js';
import { ErrorCode, httpStatus } from '../protocol/codes.js';
import { ShardcastError } from '../protocol/errors.js';
import type { Sequencer } from '../pubsub/sequencer.js';
import type { Counters } from '../transport/counters.js';
import type { RawRoute } from './admin-server.js';
import type { Config } from './config.js';
import type { ChannelInfo } from './control-routes.js';
import type { ToShard } from './control.js';
import type { Supervisor } from './supervisor.js';

export interface DashboardDeps {
  readonly config: () => Config;
  readonly counters: Counters;
  readonly threads: ThreadSampler;
  readonly sequencer: Sequencer;
  readonly registry: Registry;
  lag(shard: number): number;
  supervisor(): Supervisor;
  channels(): Promise<ChannelInfo[]>;
  publishMany(channels: readonly string[], data: unknown): Promise<number[]>;
  /** The public port (where the watch panel's WebSocket and /api/publish are). */
  publicPort(): number;
  onError(err: Error): void;
}

export class EngineDashboard {
  readonly feed: DashboardFeed;
  /** Per shard with open pages: its sink. */
  private readonly shardSinks = new Map<number, FeedSink & { searches: string[] }>();

  constructor(private readonly d: DashboardDeps) {
    this.feed = new DashboardFeed({
      counters: d.counters,
      threads: d.threads,
      lag: (shard) => d.lag(shard),
      restarts: (shard) => d.supervisor().restarts(shard),
      up: () => d.supervisor().listening,
      subscribers: () => d.channels(),
      seqs: () => d.sequencer.entries(),
      seqState: (channel) => d.sequencer.get(channel),
    }, () => this.pageSettings(), (err) => d.onError(err));
    const feed = this.feed;
    new Gauge({ name: 'shardcast_dashboard_viewers', help: '/dashboard feeds open now: pages on the admin port, plus one per shard with pages open on the public port', registers: [d.registry], collect() { this.set(feed.viewers); } });
    new Counter({ name: 'shardcast_dashboard_samples_total', help: 'Samples the dashboard feed took: one a second while a page is open, none while no page is', registers: [d.registry], collect() { this.reset(); this.inc(feed.samples); } });
  }

  /** What a page is told besides the samples: where to subscribe and publish. */
  private pageSettings(): Record<string, unknown> {
    const c = this.d.config();
    return { port: this.d.publicPort(), tls: c.tlsCert !== null, adminPort: c.adminPort !== null, publishPath: c.adminPort !== null ? PUBLISH_PATH : '/api/publish', keyNeeded: c.apiKeys.length > 0, broker: c.broker, ringSize: c.ringSize };
  }

  /** A shard's pages: the searches they asked for ([] = none open), and a new page waiting for its hello. */
  watch(shard: number, searches: string[], hello: number | null): void {
    const supervisor = this.d.supervisor();
    if (hello !== null) supervisor.send(shard, { type: 'dashboard-hello', ref: hello, hello: this.feed.hello() } satisfies ToShard);
    const sink = this.shardSinks.get(shard);
    if (searches.length === 0) return this.shardGone(shard);
    if (sink !== undefined) {
      sink.searches = searches; // a new search gets its table at the next refresh
      return;
    }
    const fresh = {
      searches,
      sample: (json: string) => supervisor.send(shard, { type: 'dashboard-sample', sample: json }),
      channels: (tables: ReadonlyMap<string, string>) => supervisor.send(shard, { type: 'dashboard-channels', tables: fresh.searches.flatMap((q): Array<[string, string]> => (tables.has(q) ? [[q, tables.get(q)!]] : [])) }),
    };
    this.shardSinks.set(shard, fresh);
    this.feed.add(fresh);
  }

  /** A shard's worker exited: its pages went with it. */
  shardGone(shard: number): void {
    const sink = this.shardSinks.get(shard);
    if (sink === undefined) return;
    this.shardSinks.delete(shard);
    this.feed.remove(sink);
  }

  /** The admin port's dashboard routes (--admin-port with --dashboard on). */
  adminRoutes(): ReadonlyMap<string, RawRoute> {
    const routes = new Map<string, RawRoute>();
    for (const [path, asset] of loadDashboardAssets()) {
      routes.set(path, { method: 'GET', handle: (_req, res) => void res.writeHead(200, { 'content-type': asset.type, ...DASHBOARD_HEADERS }).end(asset.body) });
    }
    routes.set(FEED_PATH, { method: 'GET', handle: (req, res) => this.serveFeed(req, res) });
    routes.set(PUBLISH_PATH, { method: 'POST', handle: (req, res) => this.publish(req, res) });
    return routes;
  }

  private serveFeed(req: IncomingMessage, res: ServerResponse): void {
    const search = searchOf(new URL(req.url ?? '/', 'http://x').searchParams.get('q'));
    res.writeHead(200, { 'content-type': 'text/event-stream', ...DASHBOARD_HEADERS, 'cache-control': 'no-store' });
    res.write(`retry: 2000\nevent: hello\ndata: ${this.feed.hello()}\n\n`);
    // a page that reads too slowly loses samples rather than growing this process's memory
    const write = (text: string): void => void (res.writableNeedDrain || res.write(text));
    const sink: FeedSink = {
      searches: [search],
      sample: (json) => write(`event: sample\ndata: ${json}\n\n`),
      channels: (tables) => {
        const t = tables.get(search);
        if (t !== undefined) write(`event: channels\ndata: ${t}\n\n`);
      },
    };
    this.feed.add(sink);
    res.on('close', () => this.feed.remove(sink));
  }

  /** POST /dashboard/publish {"channel":C,"data":…} | {"channels":[…],"data":…} → {"seq"} | {"seqs"}, as /api/publish. */
  private publish(req: IncomingMessage, res: ServerResponse): void {
    const max = this.d.config().maxPayload;
    const chunks: Buffer[] = [];
    let size = 0;
    const answer = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const fail = (code: ErrorCode, message: string): void => answer(httpStatus[code], { error: { code, message } });
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        fail(ErrorCode.PayloadTooLarge, `body above the ${max}-byte limit`);
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > max) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return fail(ErrorCode.BadJson, 'the body is not valid JSON');
      }
      const b = body as { channel?: unknown; channels?: unknown; data?: unknown } | null;
      const channels = typeof b?.channel === 'string' ? [b.channel] : Array.isArray(b?.channels) ? (b.channels as unknown[]) : null;
      if (b === null || typeof b !== 'object' || channels === null || !('data' in b) || !channels.every((c) => typeof c === 'string')) return fail(ErrorCode.BadMessage, 'expected {"channel":C,"data":…} or {"channels":[…],"data":…}');
      this.d.publishMany(channels as string[], b.data).then(
        (seqs) => answer(200, typeof b.channel === 'string' ? { seq: seqs[0] } : { seqs }),
        (err: Error) => (err instanceof ShardcastError ? fail(err.code, err.message) : fail(ErrorCode.Internal, 'internal error')),
      );
    });
  }
}
