/**
 * RedisClusterBroker — the Redis broker past one Redis: a Redis Cluster (--redis-cluster).
 * Each master gets its own RedisBroker (a lane: one RESP3 connection, sharded names, sharded
 * Pub/Sub), so everything redis-broker.ts says about one order per channel holds per channel:
 * a channel's keys and its sharded Pub/Sub channel share one slot (hash tag, redis-script.ts),
 * hence one node and one lane. ioredis's Cluster client is kept for the topology only: it reads
 * CLUSTER SLOTS from the seeds, again every few seconds and whenever a lane meets MOVED/ASK,
 * and after each reading channels whose slot moved are followed on their new node (what was
 * published there meanwhile is read back from the stream by the lane's gap fill when the next
 * message shows the hole).
 *
 * The one exception to all-or-none (broker.ts rule 2): a publish on channels of several slots
 * runs one script per slot, and no Redis operation spans slots. Every node involved must be
 * connected or nothing is sent (overloaded, as with one Redis); if a script then fails while
 * others ran (a node lost mid-publish, a failover, OOM), the publish is refused with `partial`
 * (PartialPublishError): the seqs given, the channels not published. Counted in
 * brokerPartialPublishes. Never an answer of success for a half-done publish.
 */
import { Cluster } from 'ioredis';
import type { Broker, HistoryRead } from './broker.js';
import { ErrorCode } from '../protocol/codes.js';
import { PartialPublishError, ShardcastError } from '../protocol/errors.js';
import type { Payload } from '../protocol/payload.js';
import type { Fanout } from '../pubsub/fanout.js';
import type { Sequencer } from '../pubsub/sequencer.js';
import { RedisBroker } from './redis-broker.js';
import type { RedisBrokerOptions } from './redis-broker-options.js';
import { stateOnly } from './recovery-fill.js';
import { DISCONNECT_CHANNEL, SHARDED_NAMES, redactUrl } from './redis-script.js';
import { SLOTS, keySlot } from './redis-slot.js';

/** How often the topology is read again without a MOVED to prompt it (a failover, a reshard). */
const REFRESH_MS = 2000;

export interface RedisClusterOptions extends Omit<RedisBrokerOptions, 'url' | 'names' | 'lane'> {
  /** Seed nodes: redis://[user:password@]host:port (or rediss://), one scheme and one set of credentials. */
  readonly seeds: readonly string[];
}

/** The channels of one publish that share a slot: one script. */
interface Group {
  readonly lane: RedisBroker | undefined;
  readonly at: number[];
  readonly channels: string[];
}

export class RedisClusterBroker implements Broker {
  private readonly cluster: Cluster;
  /** One broker per master, by `host:port`. */
  private readonly lanes = new Map<string, RedisBroker>();
  private readonly up = new Set<RedisBroker>();
  /** Slot → the master that holds it (`host:port`), as last read. */
  private owners: Array<string | undefined> = new Array<string | undefined>(SLOTS);
  private known = false;
  /** Channels with local subscribers, and the lane each is followed on (null: none known yet). */
  private readonly placed = new Map<string, RedisBroker | null>();
  /** start() has passed its wait: lanes made from now on connect at once. */
  private startWaitMs = -1;
  private disconnectLane: RedisBroker | null = null;
  private readonly template: URL;
  private closed = false;

  constructor(
    private readonly fanout: Fanout,
    private readonly sequencer: Sequencer,
    private readonly options: RedisClusterOptions,
  ) {
    this.template = new URL(options.seeds[0]!);
    const tls = this.template.protocol === 'rediss:';
    this.cluster = new Cluster(
      options.seeds.map((s) => {
        const u = new URL(s);
        return { host: u.hostname, port: Number(u.port || 6379) };
      }),
      {
        lazyConnect: true,
        enableReadyCheck: false, // a cluster missing a node still has a topology to read
        enableOfflineQueue: false,
        slotsRefreshInterval: REFRESH_MS,
        clusterRetryStrategy: () => 1000,
        redisOptions: {
          username: decodeURIComponent(this.template.username) || undefined,
          password: decodeURIComponent(this.template.password) || undefined,
          connectionName: 'shardcast-topology',
          ...(tls ? { tls: {} } : {}),
        },
      },
    );
    this.cluster.on('refresh', () => this.place());
    this.cluster.on('error', () => {}); // the lanes log what matters: their own connection
    this.cluster.on('node error', () => {});
    options.counters.mainSet('brokerUp', 0);
  }

  /** Reads the topology and connects every master; resolves once they answer, or after `waitMs`. */
  async start(waitMs: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    const known = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      this.cluster.once('refresh', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.cluster.connect().catch(() => {});
    await known;
    this.startWaitMs = waitMs;
    if (!this.known) {
      this.options.log.warn(`Redis broker: cannot read the cluster's slots from ${this.options.seeds.map(redactUrl).join(', ')}; publishes are refused with overloaded until it answers`, { event: 'broker_down', broker: 'cluster' });
      return;
    }
    await Promise.all([...this.lanes.values()].map((l) => l.start(Math.max(0, deadline - Date.now()))));
  }

  publish(channels: readonly string[], data: Payload): Promise<readonly number[]> {
    if (channels.length === 1) {
      const lane = this.laneOf(channels[0]!);
      return lane === undefined ? Promise.reject(this.unknown()) : lane.publish(channels, data);
    }
    const groups = new Map<number, Group>();
    channels.forEach((c, i) => {
      const slot = keySlot(c);
      let g = groups.get(slot);
      if (g === undefined) groups.set(slot, (g = { lane: this.laneOf(c), at: [], channels: [] }));
      g.at.push(i);
      g.channels.push(c);
    });
    const all = [...groups.values()];
    if (all.length === 1) return all[0]!.lane === undefined ? Promise.reject(this.unknown()) : all[0]!.lane.publish(channels, data);
    // all or none as far as it can be known beforehand: every node of the publish is connected
    for (const g of all) {
      if (g.lane === undefined) return Promise.reject(this.unknown());
      if (!g.lane.connected) return Promise.reject(new ShardcastError(ErrorCode.Overloaded, 'a Redis Cluster node of these channels is unreachable; nothing was published; retry shortly'));
    }
    return Promise.allSettled(all.map((g) => g.lane!.publish(g.channels, data))).then((results) => {
      const seqs = new Array<number>(channels.length);
      const published: Record<string, number> = {};
      const failed: string[] = [];
      let cause: unknown = null;
      results.forEach((r, k) => {
        const g = all[k]!;
        if (r.status === 'fulfilled') {
          g.at.forEach((i, j) => {
            seqs[i] = r.value[j]!;
            published[channels[i]!] = r.value[j]!;
          });
        } else {
          cause ??= r.reason;
          failed.push(...g.channels);
        }
      });
      if (failed.length === 0) return seqs;
      if (failed.length === channels.length) throw cause; // none published: the usual refusal
      this.options.counters.mainAdd('brokerPartialPublishes');
      throw new PartialPublishError(published, failed, cause instanceof Error ? cause.message : String(cause));
    });
  }

  setInterest(channel: string, interested: boolean): void {
    const was = this.placed.get(channel);
    if (!interested) {
      was?.setInterest(channel, false);
      this.placed.delete(channel);
      return;
    }
    const lane = this.laneOf(channel);
    if (lane === undefined) return void this.placed.set(channel, was ?? null); // placed when the topology is read
    if (was != null && was !== lane) was.setInterest(channel, false);
    this.placed.set(channel, lane);
    lane.setInterest(channel, true);
  }

  readHistory(channel: string, after: number, epoch: number, answer: (h: HistoryRead) => void): void {
    const lane = this.laneOf(channel);
    if (lane !== undefined) return lane.readHistory(channel, after, epoch, answer);
    this.fanout.closeWindow(channel);
    answer(stateOnly(this.sequencer.get(channel)));
  }

  disconnectUser(user: string): Promise<number> {
    if (this.disconnectLane === null) return Promise.reject(this.unknown());
    return this.disconnectLane.disconnectUser(user);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cluster.disconnect();
    await Promise.all([...this.lanes.values()].map((l) => l.close()));
  }

  private laneOf(channel: string): RedisBroker | undefined {
    const key = this.owners[keySlot(channel)];
    return key === undefined ? undefined : this.lanes.get(key);
  }

  private unknown(): ShardcastError {
    return new ShardcastError(ErrorCode.Overloaded, 'the Redis Cluster\'s slots are not known yet (no seed node answered); retry shortly');
  }

  /** After each reading of the slots: a lane per master, every followed channel on the lane of its slot. */
  private place(): void {
    if (this.closed) return;
    const owners = new Array<string | undefined>(SLOTS);
    const masters = new Set<string>();
    for (let s = 0; s < SLOTS; s++) {
      const key = this.cluster.slots[s]?.[0];
      owners[s] = key;
      if (key !== undefined) masters.add(key);
    }
    for (const key of masters) if (!this.lanes.has(key)) this.lanes.set(key, this.makeLane(key));
    const moved = owners.some((key, s) => key !== this.owners[s]);
    this.owners = owners;
    this.known = true;
    for (const [key, lane] of this.lanes) {
      if (masters.has(key)) continue;
      this.lanes.delete(key); // no slots any more (a failed-over master, a removed node)
      this.up.delete(lane);
      void lane.close();
    }
    for (const [channel, was] of moved ? this.placed : []) {
      const lane = this.laneOf(channel);
      if (lane === was || lane === undefined) continue;
      was?.setInterest(channel, false);
      this.placed.set(channel, lane);
      lane.setInterest(channel, true);
    }
    const d = this.laneOf(DISCONNECT_CHANNEL) ?? null;
    if (d !== this.disconnectLane) {
      this.disconnectLane?.followDisconnects(false);
      d?.followDisconnects(true);
      this.disconnectLane = d;
    }
    this.countUp();
  }

  private makeLane(key: string): RedisBroker {
    const u = new URL(this.template.href);
    const colon = key.lastIndexOf(':');
    u.hostname = key.slice(0, colon);
    u.port = key.slice(colon + 1);
    u.pathname = '';
    const lane: RedisBroker = new RedisBroker(this.fanout, this.sequencer, {
      ...this.options,
      url: u.href,
      names: SHARDED_NAMES,
      lane: {
        state: (up) => {
          if (up) this.up.add(lane);
          else this.up.delete(lane);
          this.countUp();
        },
        moved: () => this.cluster.refreshSlotsCache(),
      },
    });
    if (this.startWaitMs >= 0) lane.start(this.startWaitMs).catch(() => {}); // a master that appeared later (start() starts the first ones)
    return lane;
  }

  /** brokerUp: 1 while every master is connected (a publish on any channel can be taken). */
  private countUp(): void {
    this.options.counters.mainSet('brokerUp', this.known && this.lanes.size > 0 && this.up.size === this.lanes.size ? 1 : 0);
  }
}
