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
import type { ControlRoute, FromShard, HttpAnswer, ToShard } from './control.js';
import { Counters, createCounters, type MainCounterName, type ShardCounterName, MainCounter, ShardCounter } from '../transport/counters.js';
import { Payload, holdsBinary, packValue } from '../protocol/payload.js';
import { splitTopic } from '../protocol/wire-format.js';
import { ShardcastError } from '../protocol/errors.js';
import { Fanout } from '../pubsub/fanout.js';
import { ChannelPatterns } from '../auth/channel-patterns.js';
import { IngressReader } from '../ingress/ingress-reader.js';
import { Interest } from '../pubsub/interest.js';
import { Sequencer } from '../pubsub/sequencer.js';
import { IpcServer } from '../ingress/ipc-server.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from '../observe/metrics.js';
import { checkChannelList, serialiseData } from '../protocol/messages.js';
import { checkUser, userChannel } from '../protocol/user-channel.js';
import { createRing, type RingHandle } from '../transport/ring.js';
import { StallWatch } from './stall-watch.js';
import { anonymousSummary, listeningLine } from './start-line.js';
import { Supervisor } from './supervisor.js';
import '../transport/uws.js'; // fail fast, on the main thread, if the native uWS binary does not load

/** How long GET /api/channels waits for the shards' reports. */
const CHANNELS_QUERY_TIMEOUT_MS = 2000;

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

export interface ShardcastServer {
  readonly config: Config;
  /** The port the shards listen on (useful with port 0). */
  readonly port: number;
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
  /** Closes every connection of `user` on every shard with 4500; resolves with how many. */
  disconnectUser(user: string): Promise<number>;
  /** Channels with local subscribers, summed over shards. */
  channels(): Promise<ChannelInfo[]>;
  stats(): Stats;
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
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
  return startWithConfig(config, logger ?? createLogger(config.logLevel));
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
  private readonly metricsRegistry;
  private ipc: IpcServer | null = null;
  private closing: Promise<void> | null = null;
  private queries = new Map<number, { pending: number; sums: Map<string, number>; done: () => void }>();
  private nextQuery = 1;
  /** disconnectUser() calls waiting for the shards' counts. */
  private disconnects = new Map<number, { pending: number; add: (closed: number) => void; done: () => void }>();

  constructor(
    readonly config: Config,
    private readonly log: Logger,
  ) {
    this.counters = new Counters(createCounters(config.workers));
    this.broadcast = createRing({ capacity: config.ringSize, maxConsumers: config.workers });
    // formats in use per channel as the shards reported them (Interest, made below); merge windows; conflation
    const conflate = new ChannelPatterns(config.conflate);
    this.fanout = new Fanout(this.broadcast, { formatsOf: (c) => this.interest.formatsOf(c), mergeMs: config.mergeMs, mergeMaxBytes: config.mergeMaxBytes, conflated: (c) => conflate.matches(c) });
    this.broker = createBroker(config, this.fanout, this.sequencer, this.counters, log, (c) => this.interest.has(c));
    this.interest = new Interest(config.workers, (channel, interested) => this.broker.setInterest?.(channel, interested));
    this.metricsRegistry = createMetrics(this.counters, (shard) => this.fanout.lag(shard), config.ringSize);
    this.supervisor = new Supervisor(config, this.broadcast, this.counters, {
      attach: (shard) => {
        this.fanout.attach(shard);
        return this.sequencer.snapshot();
      },
      detach: (shard) => {
        // the worker has exited: its subscribers are gone, and so is its interest
        this.fanout.detach(shard);
        this.interest.dropShard(shard);
      },
      ingressReady: (shard, generation, ring, worker) => this.startReader(shard, generation, ring, worker),
      ingressGone: (shard) => {
        this.readers.get(shard)?.stop();
        this.readers.delete(shard);
      },
      onMessage: (shard, m) => this.onShardMessage(shard, m),
    }, log);
    this.stallWatch = new StallWatch(this.fanout, config.workers, config.shardStallTimeout, (shard, ms) => {
      this.counters.mainAdd('shardStalls');
      this.supervisor.markStalled(shard);
      this.log.error(`shard ${shard} left its feed unread for ${ms} ms: cut loose so publishing goes on; it closes its clients with 4002 and is replaced when it runs again`);
    });
  }

  get port(): number {
    return this.supervisor.listenPort;
  }

  async start(): Promise<void> {
    try {
      await startBroker(this.broker);
      await this.supervisor.start();
      this.stallWatch.start();
      if (this.config.ipcSocket !== null) {
        this.ipc = await IpcServer.listen(this.config.ipcSocket, this.broker, this.counters, this.config.maxPayload, this.log);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.log.info(listeningLine(this.config, this.port, this.ipc !== null));
    if (this.config.allowAnonymous) this.log.info(anonymousSummary(this.config));
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

  channels(): Promise<ChannelInfo[]> {
    return new Promise((resolve) => {
      const query = this.nextQuery++;
      const sums = new Map<string, number>();
      const done = (): void => {
        clearTimeout(timer);
        this.queries.delete(query);
        resolve([...sums].map(([channel, subscribers]) => ({ channel, subscribers })).sort((a, b) => a.channel.localeCompare(b.channel)));
      };
      // a shard that dies mid-query must not hang the answer
      const timer = setTimeout(done, CHANNELS_QUERY_TIMEOUT_MS);
      const pending = this.supervisor.broadcast({ type: 'channels-query', query });
      if (pending === 0) return done();
      this.queries.set(query, { pending, sums, done });
    });
  }

  async disconnectUser(user: string): Promise<number> {
    checkUser(user);
    return new Promise((resolve) => {
      const query = this.nextQuery++;
      let closed = 0;
      const done = (): void => {
        clearTimeout(timer);
        this.disconnects.delete(query);
        resolve(closed);
      };
      // a shard that dies mid-query must not hang the answer (its connections closed with it)
      const timer = setTimeout(done, CHANNELS_QUERY_TIMEOUT_MS);
      const pending = this.supervisor.broadcast({ type: 'disconnect-user', query, user });
      if (pending === 0) return done();
      this.disconnects.set(query, {
        pending,
        add: (n) => {
          closed += n;
        },
        done,
      });
    });
  }

  stats(): Stats {
    const c = this.counters;
    const shards = Array.from({ length: this.config.workers }, (_, shard) => {
      const row = { shard } as { shard: number } & Record<ShardCounterName, number>;
      for (const name of Object.keys(ShardCounter) as ShardCounterName[]) row[name] = c.shard(shard, name);
      return row;
    });
    const totals = {} as Record<ShardCounterName, number>;
    for (const name of Object.keys(ShardCounter) as ShardCounterName[]) totals[name] = c.total(name);
    const main = {} as Record<MainCounterName, number>;
    for (const name of Object.keys(MainCounter) as MainCounterName[]) main[name] = c.main(name);
    const feedLag = shards.map((s) => this.fanout.lag(s.shard));
    return { connections: c.openTotal, feedLag, shards, totals, main, liveShards: this.supervisor.liveShards };
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
    if (!stopped) throw new Error(`shards did not stop within ${this.config.shutdownTimeout + 2000} ms`);
    this.log.info(`shardcast stopped in ${Date.now() - started} ms`);
  }

  private startReader(shard: number, generation: number, ring: RingHandle, worker: Worker): void {
    this.readers.get(shard)?.stop();
    const reader = new IngressReader(shard, generation, ring, worker, this.broker, this.fanout, this.counters, (why) => {
      this.log.error(`shard ${shard}: ${why}; restarting the shard`);
      worker.postMessage({ type: 'fail', reason: why } satisfies ToShard);
    });
    this.readers.set(shard, reader);
    reader.start();
  }

  private onShardMessage(shard: number, m: FromShard): void {
    switch (m.type) {
      case 'channels-report': {
        const q = this.queries.get(m.query);
        if (!q) return;
        for (const [topic, n] of m.channels) {
          const c = splitTopic(topic).channel;
          q.sums.set(c, (q.sums.get(c) ?? 0) + n);
        }
        if (--q.pending === 0) q.done();
        return;
      }
      case 'http-control':
        void this.answerControl(m.route).then(
          (answer) => this.supervisor.send(shard, { type: 'http-answer', ref: m.ref, answer }),
          (err: Error) => {
            this.log.error(`control route ${m.route} failed: ${err.stack ?? err.message}`);
            const body = JSON.stringify({ error: { code: ErrorCode.Internal, message: 'internal error' } });
            this.supervisor.send(shard, { type: 'http-answer', ref: m.ref, answer: { status: 500, contentType: 'application/json', body } });
          },
        );
        return;
      case 'interest':
        this.interest.apply(shard, m.on, m.off);
        return;
      case 'log':
        this.log[m.level](m.message);
        return;
      case 'http-disconnect':
        void this.disconnectUser(m.user).then((closed) =>
          this.supervisor.send(shard, { type: 'http-answer', ref: m.ref, answer: { status: 200, contentType: 'application/json', body: `{"closed":${closed}}` } }),
        );
        return;
      case 'disconnected': {
        const d = this.disconnects.get(m.query);
        if (!d) return;
        d.add(m.closed);
        if (--d.pending === 0) d.done();
        return;
      }
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

  private async answerControl(route: ControlRoute): Promise<HttpAnswer> {
    switch (route) {
      case 'channels':
        return { status: 200, contentType: 'application/json', body: JSON.stringify({ channels: await this.channels() }) };
      case 'stats':
        return { status: 200, contentType: 'application/json', body: JSON.stringify(this.stats()) };
      case 'metrics':
        return { status: 200, contentType: this.metricsRegistry.contentType, body: await this.metrics() };
      default: {
        const never: never = route;
        throw new Error(`unknown control route ${String(never)}`);
      }
    }
  }
}
