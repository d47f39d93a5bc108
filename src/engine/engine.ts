/**
 * startServer — builds and connects the engine's parts on the main thread (the control
 * plane and sequencer) and starts the shards:
 *
 *   ingress (HTTP/WS via shards' ingress rings, IPC socket, in-process API)
 *     → Broker (sequence) → Fanout (encode once, write once) → broadcast ring
 *     → every Shard's Feed → uWS publish to local subscribers
 */
import type { Worker } from 'node:worker_threads';
import type { Broker } from '../broker/broker.js';
import { createBroker, forgetNow, startBroker } from './brokers.js';
import { ErrorCode } from '../protocol/codes.js';
import { resolveConfig, type Config, type Options } from './config.js';
import { CredentialReload, type CredentialSummary } from './credentials.js';
import { ShardQueries } from './shard-queries.js';
import { disconnectAnswer, disconnectEverywhere, type UserDisconnect } from './user-disconnect.js';
import type { ControlRoute, FromShard, HttpAnswer, ToShard } from './control.js';
import { Counters, createCounters } from '../transport/counters.js';
import { answerRoute, buildStats, type ChannelInfo, type RouteSources, type Stats } from './control-routes.js';
import { readiness } from './readiness.js';
import { Payload, holdsBinary, packValue } from '../protocol/payload.js';
import { splitTopic } from '../protocol/wire-format.js';
import { ShardcastError } from '../protocol/errors.js';
import { Fanout } from '../pubsub/fanout.js';
import { ChannelPatterns } from '../auth/channel-patterns.js';
import { IngressReader } from '../ingress/ingress-reader.js';
import { Interest } from '../pubsub/interest.js';
import { Sequencer } from '../pubsub/sequencer.js';
import { IpcServer } from '../ingress/ipc-server.js';
import { ADMIN_CONTROL, AdminServer } from './admin-server.js';
import { createLogger, type Logger } from './logger.js';
import type { Registry } from 'prom-client';
import type { ThreadSampler } from '../observe/thread-sampler.js';
import { engineMetrics } from './engine-metrics.js';
import { EngineDashboard } from './engine-dashboard.js';
import { checkChannelList, serialiseData } from '../protocol/messages.js';
import { checkUser, userChannel } from '../protocol/user-channel.js';
import { createRing, type RingHandle } from '../transport/ring.js';
import { StallWatch } from './stall-watch.js';
import { anonymousSummary, listeningLine } from './start-line.js';
import { Supervisor } from './supervisor.js';
import '../transport/uws.js'; // fail fast, on the main thread, if the native uWS binary does not load

/** How long a question to every shard waits for their answers. */
const SHARD_QUERY_TIMEOUT_MS = 2000;

export type { ChannelInfo, Stats } from './control-routes.js';

export interface ShardcastServer {
  readonly config: Config;
  /** The port the shards listen on (useful with port 0). */
  readonly port: number;
  /** The admin port (--admin-port; useful with 0), or null when the admin routes are on `port`. */
  readonly adminPort: number | null;
  /** Publishes `data` (any JSON value) on a channel; resolves with its seq. */
  publish(channel: string, data: unknown): Promise<number>;
  /** Publishes the same data on several channels; one seq per channel, in order. */
  publishMany(channels: readonly string[], data: unknown): Promise<number[]>;
  /**
   * Publishes `data` to every open connection of one user (a token's `sub`, 1–256
   * characters) on every shard, and to no one else: a `message` on the user's per-user
   * channel (docs/protocol.md, "Per-user delivery"); resolves with its seq.
   */
  publishToUser(user: string, data: unknown): Promise<number>;
  /**
   * Closes every connection of `user` on every shard with 4500; resolves with how many. With
   * --broker redis every other node closes the user's connections too; when Redis cannot be
   * reached this node's are closed and the promise rejects with `overloaded` (retry: it is idempotent).
   */
  disconnectUser(user: string): Promise<number>;
  /** Channels with local subscribers, summed over shards. */
  channels(): Promise<ChannelInfo[]>;
  stats(): Stats;
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
  /**
   * Reads the API key and JWT key files again (what SIGHUP does) and resolves once every
   * shard uses them; open connections stay. Rejects with a ConfigError, changing nothing,
   * when a file no longer passes the start-up checks (docs/security.md, "Key rotation").
   */
  reloadCredentials(): Promise<CredentialSummary>;
  /** Graceful shutdown: clients get 1001, every shard closes its sockets, then resolves. */
  close(): Promise<void>;
  /** Test-only (testHooks): makes a shard hit a fatal error. */
  injectFault(shard: number, where?: 'timer' | 'ws-message'): void;
  /** Test-only (testHooks): blocks a shard's thread for `ms` (a stalled feed reader). */
  injectStall(shard: number, ms: number): void;
  /**
   * Test-only (testHooks): forgets a channel's state now, ignoring its subscribers and idle
   * time (as a sweep that raced a subscribe would). False when it had no state.
   */
  injectForget(channel: string): boolean;
}

export async function startServer(options: Options = {}, logger?: Logger): Promise<ShardcastServer> {
  const config = resolveConfig(options); // a ConfigError rejects the promise
  return startWithConfig(config, logger ?? createLogger(config.logLevel, undefined, config.logFormat));
}

/** Starts from an already validated Config (the CLI validates flags and env first). */
export async function startWithConfig(config: Config, log: Logger): Promise<ShardcastServer> {
  const engine = new Engine(config, log);
  await engine.start();
  return engine;
}

class Engine implements ShardcastServer {
  private readonly counters: Counters;
  /** The broadcast ring (main → every shard); a shard reads it through its Feed. */
  private readonly broadcast: RingHandle;
  private readonly fanout: Fanout;
  /** Last seq and epoch per channel as of the feed position: the snapshot a starting shard gets. */
  private readonly sequencer = new Sequencer();
  private readonly broker: Broker;
  /** Which channels have subscribers on some shard (reported by the shards). */
  private readonly interest: Interest;
  private readonly supervisor: Supervisor;
  private readonly stallWatch: StallWatch;
  private readonly readers = new Map<number, IngressReader>();
  private readonly metricsRegistry: Registry;
  /** Event-loop utilisation of every thread, sampled each second for /metrics. */
  private readonly threads: ThreadSampler;
  private ipc: IpcServer | null = null;
  private admin: AdminServer | null = null;
  private closing: Promise<void> | null = null;
  /** Questions to every shard: channels(), disconnectUser(), reloadCredentials(). */
  private readonly queries: ShardQueries;
  private readonly credentials: CredentialReload;
  /** start() has finished: until then /readyz says "starting". */
  private started = false;
  /** What the control routes (/api/stats, /metrics, /readyz, …) read, on either port. */
  private readonly routes: RouteSources;
  /** /dashboard's feed: a timer only while a page is open (engine-dashboard.ts). */
  private readonly dashboard: EngineDashboard;

  constructor(
    /** Its apiKeys and jwt change on a credential reload (credentials.ts). */
    public config: Config,
    private readonly log: Logger,
  ) {
    this.counters = new Counters(createCounters(config.workers));
    this.broadcast = createRing({ capacity: config.ringSize, maxConsumers: config.workers });
    // formats in use per channel as the shards reported them (Interest, made below); merge windows; conflation
    const conflate = new ChannelPatterns(config.conflate);
    this.fanout = new Fanout(this.broadcast, { formatsOf: (c) => this.interest.formatsOf(c), mergeMs: config.mergeMs, mergeMaxBytes: config.mergeMaxBytes, conflated: (c) => conflate.matches(c) });
    this.broker = createBroker(config, this.fanout, this.sequencer, this.counters, log, (user) => void this.closeUserHere(user), (c) => this.interest.has(c));
    this.interest = new Interest(config.workers, (channel, interested) => this.broker.setInterest?.(channel, interested));
    ({ registry: this.metricsRegistry, threads: this.threads } = engineMetrics(config, this.counters, this.fanout, () => this.supervisor, this.readers));
    this.supervisor = new Supervisor(config, this.broadcast, this.counters, {
      attach: (shard) => {
        this.fanout.attach(shard);
        return this.sequencer.snapshot();
      },
      detach: (shard) => {
        // the worker has exited: its subscribers are gone, and so is its interest
        this.fanout.detach(shard);
        this.interest.dropShard(shard);
        this.dashboard.shardGone(shard);
      },
      ingressReady: (shard, generation, ring, worker) => this.startReader(shard, generation, ring, worker),
      ingressGone: (shard) => {
        this.readers.get(shard)?.stop();
        this.readers.delete(shard);
      },
      onMessage: (shard, m) => this.onShardMessage(shard, m),
    }, log);
    this.queries = new ShardQueries(this.supervisor, SHARD_QUERY_TIMEOUT_MS);
    this.dashboard = new EngineDashboard({ config: () => this.config, counters: this.counters, threads: this.threads, sequencer: this.sequencer, registry: this.metricsRegistry, lag: (i) => this.fanout.lag(i), supervisor: () => this.supervisor, channels: () => this.channels(), publishMany: (c, d) => this.publishMany(c, d), publicPort: () => this.port, onError: (err) => this.log.error(`dashboard: ${err.message}`, { event: 'dashboard_error' }) });
    this.credentials = new CredentialReload(this.queries, () => this.config, (c) => (this.config = this.supervisor.config = c));
    this.routes = {
      channels: () => this.channels(),
      stats: () => this.stats(),
      metrics: () => this.metrics(),
      metricsContentType: this.metricsRegistry.contentType,
      readiness: () => readiness({ listening: this.supervisor.listening, broker: config.broker, brokerUp: this.counters.main('brokerUp') === 1, phase: this.closing ? 'stopping' : this.started ? 'running' : 'starting' }),
    };
    this.stallWatch = new StallWatch(this.fanout, config.workers, config.shardStallTimeout, (shard, ms) => {
      this.counters.mainAdd('shardStalls');
      this.supervisor.markStalled(shard);
      this.log.error(`shard ${shard} left its feed unread for ${ms} ms: cut loose so publishing goes on; it closes its clients with 4002 and is replaced when it runs again`, { event: 'shard_stall', shard, ms });
    });
  }

  get port(): number {
    return this.supervisor.listenPort;
  }

  get adminPort(): number | null {
    return this.admin?.port ?? null;
  }

  async start(): Promise<void> {
    try {
      // first: an orchestrator asking /readyz during start-up gets "starting", not a refused connection
      if (this.config.adminPort !== null) {
        this.admin = await AdminServer.listen(this.config.adminHost, this.config.adminPort, this.config.apiKeys, { control: ADMIN_CONTROL, answer: (route) => this.answerControl(route), ...(this.config.dashboard ? { raw: this.dashboard.adminRoutes() } : {}) });
      }
      await startBroker(this.broker);
      await this.supervisor.start();
      this.stallWatch.start();
      this.threads.start();
      if (this.config.ipcSocket !== null) {
        this.ipc = await IpcServer.listen(this.config.ipcSocket, this.broker, this.counters, this.config.maxPayload, this.log);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.started = true;
    this.log.info(listeningLine(this.config, this.port, this.ipc !== null), { event: 'start', host: this.config.host, port: this.port, shards: this.config.workers, broker: this.config.broker, adminPort: this.adminPort });
    if (this.admin !== null) this.log.info(`admin routes (/metrics, /api/stats, /readyz${this.config.dashboard ? ', /dashboard' : ''}) on ${this.config.adminHost}:${this.admin.port}, not on the public port`, { event: 'admin_listening', host: this.config.adminHost, port: this.admin.port });
    if (this.config.allowAnonymous) this.log.info(anonymousSummary(this.config), { event: 'anonymous_access' });
  }

  publish(channel: string, data: unknown): Promise<number> {
    return this.publishMany([channel], data).then((s) => s[0]!);
  }

  async publishMany(channels: readonly string[], data: unknown): Promise<number[]> {
    if (this.closing) throw new ShardcastError(ErrorCode.ShuttingDown, 'server is shutting down');
    checkChannelList(channels);
    return this.publishTo(channels, data);
  }

  async publishToUser(user: string, data: unknown): Promise<number> {
    if (this.closing) throw new ShardcastError(ErrorCode.ShuttingDown, 'server is shutting down');
    const seqs = await this.publishTo([userChannel(checkUser(user))], data);
    return seqs[0]!;
  }

  /** Publishes to channels already checked (ordinary names, or a per-user channel). */
  private async publishTo(channels: readonly string[], data: unknown): Promise<number[]> {
    // binary data travels as MessagePack (JSON has no form for it); the rest as JSON text
    const payload = holdsBinary(data) ? Payload.msgpack(packValue(data)) : Payload.json(serialiseData(data));
    if (payload.byteLength > this.config.maxPayload) {
      throw new ShardcastError(ErrorCode.PayloadTooLarge, `data above the ${this.config.maxPayload}-byte limit`);
    }
    try {
      const seqs = await this.broker.publish(channels, payload);
      this.counters.mainAdd('apiPublishes');
      this.counters.mainAdd('published', seqs.length);
      return [...seqs];
    } catch (err) {
      if (err instanceof ShardcastError && err.code === ErrorCode.Overloaded) this.counters.mainAdd('rejectedOverloaded');
      if (err instanceof ShardcastError && err.code === ErrorCode.PayloadTooLarge) this.counters.mainAdd('rejectedTooLarge');
      throw err;
    }
  }

  async channels(): Promise<ChannelInfo[]> {
    const sums = new Map<string, number>();
    await this.queries.ask((query) => ({ type: 'channels-query', query }), (channels: Array<[string, number]>) => {
      for (const [topic, n] of channels) {
        const c = splitTopic(topic).channel;
        sums.set(c, (sums.get(c) ?? 0) + n);
      }
    });
    return [...sums].map(([channel, subscribers]) => ({ channel, subscribers })).sort((a, b) => a.channel.localeCompare(b.channel));
  }

  async disconnectUser(user: string): Promise<number> {
    const { closed, nodes } = await this.disconnectEverywhere(user);
    if (nodes instanceof ShardcastError) throw nodes;
    return closed;
  }

  private disconnectEverywhere(user: string): Promise<UserDisconnect> {
    checkUser(user);
    return disconnectEverywhere(user, (u) => this.closeUserHere(u), this.broker);
  }

  private async closeUserHere(user: string): Promise<number> {
    let closed = 0;
    await this.queries.ask((query) => ({ type: 'disconnect-user', query, user }), (n: number) => (closed += n));
    return closed;
  }

  reloadCredentials(): Promise<CredentialSummary> {
    return this.credentials.reload();
  }

  stats(): Stats {
    return buildStats(this.counters, (shard) => this.fanout.lag(shard), this.supervisor.liveShards);
  }

  metrics(): Promise<string> {
    return this.metricsRegistry.metrics();
  }

  injectFault(shard: number, where: 'timer' | 'ws-message' = 'timer'): void {
    if (!this.config.testHooks) throw new Error('injectFault needs the testHooks option');
    this.supervisor.send(shard, { type: 'inject-fault', where });
  }

  injectStall(shard: number, ms: number): void {
    if (!this.config.testHooks) throw new Error('injectStall needs the testHooks option');
    this.supervisor.send(shard, { type: 'inject-stall', ms });
  }

  injectForget(channel: string): boolean {
    if (!this.config.testHooks) throw new Error('injectForget needs the testHooks option');
    return forgetNow(this.broker, channel);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const started = Date.now();
    this.stallWatch.stop();
    this.threads.stop();
    this.dashboard.feed.stop();
    await this.ipc?.close();
    this.fanout.flush();
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      this.supervisor.stop().then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), this.config.shutdownTimeout + 2000))),
    ]);
    clearTimeout(timer);
    for (const r of this.readers.values()) r.stop();
    await this.broker.close();
    await this.admin?.close(); // last: /readyz says "shutting down" until the shards are gone
    if (!stopped) throw new Error(`shards did not stop within ${this.config.shutdownTimeout + 2000} ms`);
    this.log.info(`shardcast stopped in ${Date.now() - started} ms`, { event: 'stopped', ms: Date.now() - started });
  }

  private startReader(shard: number, generation: number, ring: RingHandle, worker: Worker): void {
    this.readers.get(shard)?.stop();
    const reader = new IngressReader(shard, generation, ring, worker, this.broker, this.fanout, this.counters, (why) => {
      this.log.error(`shard ${shard}: ${why}; restarting the shard`, { event: 'shard_fail', shard });
      worker.postMessage({ type: 'fail', reason: why } satisfies ToShard);
    });
    this.readers.set(shard, reader);
    reader.start();
  }

  private onShardMessage(shard: number, m: FromShard): void {
    switch (m.type) {
      case 'channels-report':
        this.queries.answer(m.query, m.channels);
        return;
      case 'http-control':
        void this.answerControl(m.route).then(
          (answer) => this.supervisor.send(shard, { type: 'http-answer', ref: m.ref, answer }),
          () => {
            const body = JSON.stringify({ error: { code: ErrorCode.Internal, message: 'internal error' } });
            this.supervisor.send(shard, { type: 'http-answer', ref: m.ref, answer: { status: 500, contentType: 'application/json', body } });
          },
        );
        return;
      case 'interest':
        this.interest.apply(shard, m.on, m.off);
        return;
      case 'log':
        this.log[m.level](m.message, { event: 'shard_log', shard });
        return;
      case 'http-disconnect':
        void this.disconnectEverywhere(m.user).then((r) => this.supervisor.send(shard, { type: 'http-answer', ref: m.ref, answer: disconnectAnswer(r) }));
        return;
      case 'disconnected':
        this.queries.answer(m.query, m.closed);
        return;
      case 'dashboard-watch':
        this.dashboard.watch(shard, m.searches, m.hello);
        return;
      case 'credentials-applied':
        this.queries.answer(m.query, null);
        return;
      case 'attach-feed':
      case 'listening':
      case 'listen-failed':
      case 'fault':
      case 'closed':
        return; // handled by the Supervisor
      default: {
        const never: never = m;
        throw new Error(`unknown shard message ${JSON.stringify(never)}`);
      }
    }
  }

  /** A control route's answer, for a shard or the admin port; a failure is logged and rejects. */
  private answerControl(route: ControlRoute): Promise<HttpAnswer> {
    return answerRoute(route, this.routes).catch((err: Error) => {
      this.log.error(`control route ${route} failed: ${err.stack ?? err.message}`, { event: 'route_error', route });
      throw err;
    });
  }
}

