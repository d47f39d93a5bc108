/**
 * RedisBroker — the broker for several machines: every node publishes through one Redis,
 * whose Lua script (redis-script.ts) gives each channel one order for all nodes, and every
 * node feeds its own Fanout from what Redis sends back. The shards do not change.
 *
 * One connection, RESP3. Pub/Sub messages and command replies then arrive on the same socket,
 * in the order Redis wrote them, and ioredis hands both over synchronously as it parses them
 * (a message as a `messageBuffer` event, a reply through Command.resolve, wrapped here). For
 * one channel that order is its seq order: a script's PUBLISH is written to every subscribed
 * connection before its reply, and every earlier script's messages before that. So:
 * - a channel this node is subscribed to is delivered from its messages, and the reply to
 *   this node's own publish finds its message already delivered (it only answers);
 * - a channel it is not (yet) subscribed to is delivered from the reply, so a publish is
 *   always in the local Fanout before it resolves (contract point 3), subscribed or not;
 * - a message whose seq is not past what the Sequencer holds for its epoch is an echo of
 *   one already delivered, and is dropped. Nothing is buffered to restore order.
 * A message the ring has no room for waits in a bounded FIFO (redis-backlog.ts).
 *
 * On a Redis Cluster the cluster broker (redis-cluster-broker.ts) runs one of these per master
 * (a lane: `lane` hooks, sharded names): the same one-connection argument holds per node,
 * since a channel's script, its SPUBLISH and its subscribers all live on the node of its slot.
 */
import { Command, Redis } from 'ioredis';
import type { Broker, HistoryRead } from './broker.js';
import { ErrorCode } from '../protocol/codes.js';
import { ShardcastError } from '../protocol/errors.js';
import { Payload } from '../protocol/payload.js';
import type { Fanout } from '../pubsub/fanout.js';
import type { Sequencer } from '../pubsub/sequencer.js';
import { fillAndCut, historyRead, readEntries, stateOnly, type Filler } from './recovery-fill.js';
import { GapFill, type Inbound } from './gap-fill.js';
import { RedisDisconnect } from './redis-disconnect.js';
import { Backlog } from './redis-backlog.js';
import { subscribe } from './redis-subscribe.js';
import type { RedisBrokerOptions } from './redis-broker-options.js';
import { CLASSIC_NAMES, DISCONNECT_CHANNEL, decodeMessage, redactUrl, type RedisNames } from './redis-script.js';

export type { LaneHooks, RedisBrokerOptions } from './redis-broker-options.js';

/** How long a channel subscribed for a recovery waits for a shard's interest report. */
const HOLD_MS = 5000;

export class RedisBroker implements Broker {
  private readonly redis: Redis;
  /** Channels with local subscribers: what this node is (or will be, once connected) subscribed to. */
  private readonly interested = new Set<string>();
  /** Interest changes of this turn, net, sent as a few commands on the next. */
  private readonly interestChanges = new Map<string, boolean>();
  private interestFlushQueued = false;
  /** Publications waiting for ring room, in arrival order. */
  private readonly backlog: Backlog;
  private readonly names: RedisNames;
  /** Whether this connection follows DISCONNECT_CHANNEL (on a cluster: the lane of its slot). */
  private disconnectsFollowed: boolean;
  /** Ready and the script loaded: publishes are sent. */
  private up = false;
  private wasUp = false;
  private downSince = 0;
  private lastError = 'not connected yet';
  private closed = false;
  private corked = false;
  private received = 0;
  private countQueued = false;
  private readonly where: string;
  /** Disconnect requests between nodes (POST /api/disconnect). */
  private readonly disconnects: RedisDisconnect;
  /** Channels subscribed for a recovery before any shard reported subscribers: until when. */
  private readonly holds = new Map<string, number>();
  private holdTimer: NodeJS.Timeout | null = null;
  /** Delivers stream entries into the feed (gap fill), as messages from Pub/Sub are. */
  private readonly filler: Filler;
  /** Holes in a channel's seqs (missed while not subscribed) read back from its stream. */
  private readonly gaps: GapFill;

  constructor(
    private readonly fanout: Fanout,
    /** Records what this node hands its Fanout (broker contract point 4). */
    private readonly sequencer: Sequencer,
    private readonly options: RedisBrokerOptions,
  ) {
    this.where = redactUrl(options.url);
    this.names = options.names ?? CLASSIC_NAMES;
    this.disconnectsFollowed = options.lane === undefined;
    this.backlog = new Backlog((p) => this.deliver(p), options.counters);
    this.disconnects = new RedisDisconnect(options.onDisconnectUser);
    this.filler = { fanout, sequencer, deliver: (channel, seq, epoch, data) => this.deliver({ channel, seq, epoch, data, done: null }) };
    this.redis = new Redis(options.url, {
      protocol: 3, // messages and replies on one connection, in one order (see above)
      lazyConnect: true,
      // a publish is sent once or refused: never queued while Redis is away, never sent again
      // after a connection broke (Redis may have run it: a resend would publish it twice)
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false, // onReady subscribes to what is interesting *now*
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000) + Math.floor(Math.random() * 50),
      connectTimeout: 5000,
      connectionName: 'shardcast',
    });
    this.gaps = new GapFill(this.redis, this.names, sequencer, (p) => this.deliver(p), (rest) => this.backlog.requeue(rest), options.counters);
    this.redis.on('ready', () => this.onReady());
    this.redis.on('close', () => this.onDown());
    this.redis.on('error', (err: Error) => {
      this.lastError = err.message;
    });
    this.redis.on(this.names.sharded ? 'smessageBuffer' : 'messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel, message));
    this.redis.on('moved', () => options.lane?.moved());
    if (options.lane === undefined) this.report(false);
  }

  /** Connects; resolves once Redis answers, or after `waitMs` (publishes are refused until it does). */
  async start(waitMs: number): Promise<void> {
    const ready = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      this.redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.redis.connect().catch(() => {}); // a failed first attempt is retried like any other
    await ready;
    if (!this.up) this.options.log.warn(`Redis broker: cannot reach ${this.where} (${this.lastError}); publishes are refused with overloaded until it answers`, { event: 'broker_down', broker: this.where });
  }

  publish(channels: readonly string[], data: Payload): Promise<readonly number[]> {
    if (!this.up || this.redis.status !== 'ready') return Promise.reject(new ShardcastError(ErrorCode.Overloaded, 'Redis is unreachable; retry shortly'));
    return new Promise((resolve, reject) => {
      const n = channels.length;
      const names = this.names;
      const args: Array<string | Buffer | number> = [names.sha, 2 * n];
      for (const c of channels) args.push(names.meta(c), names.history(c));
      const raw = data.raw;
      args.push(typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
      args.push(data.isMsgpack ? 'm' : 'j', this.options.historySize, this.sequencer.newEpoch(), this.options.channelTtl);
      for (const c of channels) args.push(names.pubsub(c));
      const cmd = new Command('evalsha', args);
      // the reply is taken as it is parsed, between the messages around it (see above)
      const settle = cmd.resolve;
      cmd.resolve = (reply: unknown): void => {
        settle(reply);
        this.onPublished(channels, data, reply as number[], resolve);
      };
      (cmd.promise as Promise<unknown>).catch((err: Error) => reject(this.refusal(err)));
      this.cork();
      this.redis.sendCommand(cmd);
    });
  }

  /**
   * Pipelining: the publishes of one turn of the event loop leave in one write (one system
   * call, one TCP segment when they fit) instead of one write each.
   */
  private cork(): void {
    if (this.corked) return;
    const stream = this.redis.stream;
    stream.cork();
    this.corked = true;
    process.nextTick(() => {
      this.corked = false;
      stream.uncork();
    });
  }

  /**
   * From the channel's history stream (XRANGE), answered as the reply is parsed. A channel this
   * node does not follow yet is subscribed first, on the same connection: whatever is published
   * after the SUBSCRIBE arrives as a message, whatever before it is in the XRANGE reply, and an
   * overlap is an echo. At the reply this node's feed is brought up to the stream (gap fill,
   * recovery-fill.ts), then the answer is cut from the entries.
   */
  readHistory(channel: string, after: number, epoch: number, answer: (h: HistoryRead) => void): void {
    if (!this.up || this.redis.status !== 'ready') {
      this.fanout.closeWindow(channel);
      return answer(stateOnly(this.sequencer.get(channel)));
    }
    // a SUBSCRIBE only queued for this turn's end (interestChanges) would go out after the read
    if (!this.interested.has(channel) || this.interestChanges.has(channel)) this.holdForRecovery(channel);
    const [name, ...args] = historyRead(this.names.history(channel), after, epoch, this.sequencer.get(channel));
    const cmd = new Command(name, args, { replyEncoding: null });
    let answered = false;
    const settle = cmd.resolve;
    cmd.resolve = (reply: unknown): void => {
      settle(reply);
      answered = true;
      answer(fillAndCut(this.filler, channel, after, epoch, readEntries(reply)));
    };
    (cmd.promise as Promise<unknown>).catch(() => {
      if (answered) return;
      this.fanout.closeWindow(channel);
      answer(stateOnly(this.sequencer.get(channel)));
    });
    this.redis.sendCommand(cmd);
  }

  /**
   * Subscribes to a channel no local subscriber has reported yet (the shard's report travels
   * apart from its request); if no report comes within HOLD_MS, it is unsubscribed again.
   */
  private holdForRecovery(channel: string): void {
    this.holds.set(channel, Date.now() + HOLD_MS);
    this.interestChanges.delete(channel); // subscribed now; an UNSUBSCRIBE queued is left to the hold's end
    this.subscribe([this.names.pubsub(channel)], true);
    this.holdTimer ??= setTimeout(() => this.releaseHolds(), HOLD_MS);
  }

  private releaseHolds(): void {
    this.holdTimer = null;
    const now = Date.now();
    const off: string[] = [];
    for (const [c, until] of this.holds) {
      if (until > now) continue;
      this.holds.delete(c);
      if (!this.interested.has(c)) off.push(c);
    }
    if (off.length > 0 && this.up) this.sendInterest(off, false);
    if (this.holds.size > 0 && !this.closed) this.holdTimer = setTimeout(() => this.releaseHolds(), HOLD_MS);
  }

  setInterest(channel: string, interested: boolean): void {
    this.holds.delete(channel); // the shards' word decides from now on
    if (interested) this.interested.add(channel);
    else this.interested.delete(channel);
    this.interestChanges.set(channel, interested);
    if (!this.interestFlushQueued) {
      this.interestFlushQueued = true;
      setImmediate(() => this.flushInterest());
    }
  }

  disconnectUser(user: string): Promise<number> {
    return this.disconnects.send(this.redis, this.names.sharded, this.up && this.redis.status === 'ready', user);
  }

  /** On a cluster: whether this node's connection follows DISCONNECT_CHANNEL (the lane of its slot does). */
  followDisconnects(on: boolean): void {
    if (on === this.disconnectsFollowed) return;
    this.disconnectsFollowed = on;
    if (this.up) this.subscribe([DISCONNECT_CHANNEL], on);
  }

  /** Ready and the script loaded: publishes are sent (the cluster broker checks every node of a publish first). */
  get connected(): boolean {
    return this.up && this.redis.status === 'ready';
  }

  /** Channels this connection follows (the cluster broker moves them when their slot moves). */
  get following(): ReadonlySet<string> {
    return this.interested;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.backlog.close();
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.gaps.clear();
    this.up = false;
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => {});
    this.redis.disconnect();
  }

  private onReady(): void {
    if (this.closed) return;
    // first on the connection: every EVALSHA after it finds the script (Redis may be new)
    this.redis.script('LOAD', this.names.script).catch((err: Error) => {
      this.options.log.error(`Redis broker: ${this.where} refused the publish script (Redis 7.0 or later is needed): ${err.message}`, { event: 'broker_error', broker: this.where });
    });
    this.interestChanges.clear();
    if (this.disconnectsFollowed) this.subscribe([DISCONNECT_CHANNEL], true); // lost with the connection: made good on the next ready
    this.sendInterest([...this.interested], true);
    // after an outage: what was published meanwhile is read from the streams, behind the SUBSCRIBEs
    if (this.wasUp) this.gaps.catchUp(this.interested);
    this.up = true;
    this.report(true);
    if (!this.wasUp) this.options.log.info(`Redis broker: connected to ${this.where}`, { event: 'broker_up', broker: this.where });
    else {
      this.options.log.warn(`Redis broker: ${this.where} reachable again after ${Date.now() - this.downSince} ms; publishing resumes (what was published meanwhile is read back from the history streams)`, { event: 'broker_up', broker: this.where, downMs: Date.now() - this.downSince });
    }
    this.wasUp = true;
  }

  private onDown(): void {
    if (!this.up || this.closed) return;
    this.up = false;
    this.downSince = Date.now();
    this.report(false);
    this.options.counters.mainAdd('brokerDisconnects');
    this.options.log.warn(`Redis broker: lost ${this.where} (${this.lastError}); publishes are refused with overloaded until it is back; clients stay connected`, { event: 'broker_down', broker: this.where });
  }

  private onMessage(channel: Buffer, message: Buffer): void {
    if (channel.length === DISCONNECT_CHANNEL.length && channel.toString('latin1') === DISCONNECT_CHANNEL) return void (this.disconnects.received(message) || this.options.counters.mainAdd('brokerDropped'));
    this.received++;
    if (!this.countQueued) {
      this.countQueued = true;
      setImmediate(() => this.countReceived());
    }
    const name = this.names.channelOf(channel);
    const m = name.length > 0 ? decodeMessage(message) : null;
    if (m === null) {
      this.options.counters.mainAdd('brokerDropped'); // not ours: another program on our channel names
      return;
    }
    this.offer({ channel: name, seq: m.seq, epoch: m.epoch, data: Payload.of(m.data), done: null });
  }

  private onPublished(channels: readonly string[], data: Payload, reply: number[], resolve: (seqs: readonly number[]) => void): void {
    const n = channels.length;
    const seqs = new Array<number>(n);
    for (let i = 0; i < n; i++) seqs[i] = reply[2 * i]!;
    // delivered in order, so the last channel's delivery means all of them are in
    for (let i = 0; i < n; i++) {
      this.offer({ channel: channels[i]!, seq: seqs[i]!, epoch: reply[2 * i + 1]!, data, done: i === n - 1 ? () => resolve(seqs) : null });
    }
  }

  /** Delivers at once, or behind the publications already waiting for ring room (or for a gap to be read). */
  private offer(p: Inbound): void {
    if (!this.gaps.holds(p)) this.backlog.offer(p);
  }

  /** Hands one publication to the Fanout unless it is an echo; false when the ring has no room now. */
  private deliver(p: Inbound): boolean {
    const s = this.sequencer.get(p.channel);
    if (s === undefined || s.epoch !== p.epoch || p.seq > s.seq) {
      const r = this.fanout.deliver([p.channel], [p.seq], [p.epoch], p.data);
      if (r === 'full') return false;
      if (r === 'too-large') this.options.counters.mainAdd('brokerDropped'); // larger than half this node's ring
      else {
        const before = this.sequencer.channels;
        this.sequencer.commit(p.channel, p.seq, p.epoch, Date.now());
        if (this.sequencer.channels !== before) this.options.counters.mainSet('channelsLive', this.sequencer.channels);
      }
    }
    p.done?.();
    return true;
  }

  private flushInterest(): void {
    this.interestFlushQueued = false;
    if (!this.up) {
      this.interestChanges.clear(); // onReady subscribes to the whole set
      return;
    }
    const on: string[] = [];
    const off: string[] = [];
    for (const [c, v] of this.interestChanges) (v ? on : off).push(c);
    this.interestChanges.clear();
    this.sendInterest(on, true);
    this.sendInterest(off, false);
  }

  private sendInterest(channels: readonly string[], on: boolean): void {
    this.subscribe(channels.map((c) => this.names.pubsub(c)), on);
  }

  private subscribe(names: readonly string[], on: boolean): void {
    subscribe(this.redis, this.names.sharded, names, on);
  }

  /** brokerUp for one Redis; the cluster broker's hook for one of its nodes. */
  private report(up: boolean): void {
    if (this.options.lane !== undefined) this.options.lane.state(up);
    else this.options.counters.mainSet('brokerUp', up ? 1 : 0);
  }

  private countReceived(): void {
    this.countQueued = false;
    this.options.counters.mainAdd('brokerReceived', this.received);
    this.received = 0;
  }

  private refusal(err: Error): ShardcastError {
    if (err.message.startsWith('NOSCRIPT')) {
      // someone flushed the script cache: load it again; this publish did not run
      this.redis.script('LOAD', this.names.script).catch(() => {});
    } else if (err.message.startsWith('MOVED') || err.message.startsWith('ASK')) {
      this.options.lane?.moved(); // the slot is elsewhere now; this publish did not run
    } else if (this.up && err.name === 'ReplyError') {
      this.options.log.warn(`Redis broker: a publish was refused by Redis: ${err.message}`);
    }
    return new ShardcastError(ErrorCode.Overloaded, `Redis did not take the publish (${err.message}); retry shortly`);
  }
}
