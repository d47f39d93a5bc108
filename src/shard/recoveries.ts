/**
 * Recoveries — one shard's subscribes with `since` that wait for the main thread's history.
 *
 * A recovering socket is not subscribed to its topic yet: it holds a place in client.channels
 * (so limits, interest and close count it) and in client.recovering, and the shard asks main
 * for the channel's messages after the smallest `since` of every socket waiting for the same
 * channel and epoch — one RECOVER record on the ingress ring per channel per turn, however
 * many sockets reconnect at once. Main answers with a RECOVERED record in the broadcast ring,
 * behind every publication of the channel it has written and ahead of every later one. When
 * the feed reaches it, each waiting socket gets its `subscribed` frame, then its own suffix
 * of the replay, and only then ws.subscribe: the replay ends exactly where live delivery
 * begins, with no buffering per socket. Publications of the channel that the feed brings
 * while a request is pending do not reach its sockets (they are not subscribed yet): main
 * wrote them before its answer, so they are in the replay.
 *
 * A socket may join a request already sent only if this shard has read its `since` (so main
 * had written it before the answer, and the replay reaches it); otherwise it waits for the
 * next one. Outcomes of the other cases (docs/protocol.md, "Recovery"):
 * - the socket closed, or unsubscribed, before the answer: it is skipped (its ref is gone, or
 *   its client.recovering no longer names this request);
 * - the channel was forgotten meanwhile: main's answer carries the new state (no state, or a
 *   new epoch), and the socket gets recovered:false;
 * - the ingress ring is full: recovered:false at once, subscribed from this shard's position;
 * - this worker exits: its sockets are gone; main's late answer is skipped by the next worker
 *   (another generation).
 *
 * The same request, "state only" (after = STATE_ONLY: no replay), answers a subscribe without
 * `since` when the broker is on several nodes (Redis) and this shard does not follow the
 * channel: its own seq may be 0 or stale, and its node may not be subscribed to the channel in
 * Redis yet. The answer carries the channel's true seq and epoch at the point of the feed where
 * this node holds it exactly up to that seq (the broker subscribed first and filled the feed up
 * to the stream), so live delivery continues right after it. Such a socket may join any request
 * of the channel still unanswered, sent or not, with or without `since`: the answer is a
 * position in the feed, and every later publication comes behind it.
 */
import { subscribedFrame, type Since } from '../protocol/messages.js';
import { userKeyOf } from '../protocol/user-channel.js';
import { JSON_BIT, MSGPACK_BIT, WireFormat, topicOf } from '../protocol/wire-format.js';
import { RECOVERED_HAS_STATE, RECOVERED_OK, STATE_ONLY, type RecoveredView } from '../transport/recovery-records.js';
import { sendFrame, type ClientSocket, type ShardContext } from './context.js';

interface Request {
  readonly id: number;
  readonly channel: string;
  /** Its key in `open` and `latest`: channel and epoch (state only: no epoch). */
  readonly key: string;
  readonly epoch: number;
  /** The smallest `since` seq among the waiters (STATE_ONLY: a state-only request). */
  after: number;
  formats: number;
  /** Waiting sockets (by ref) and the seq each has (STATE_ONLY: it wants the position only). */
  readonly waiters: Map<number, number>;
}

export class Recoveries {
  private nextId = 1;
  /** Requests sent to main, by id. */
  private readonly sent = new Map<number, Request>();
  /** The latest request sent per channel and epoch (a key of both), which late sockets may join. */
  private readonly latest = new Map<string, Request>();
  /** Requests of this turn, not sent yet, per channel and epoch. */
  private readonly open = new Map<string, Request>();
  /** The newest unanswered request per channel (sent or not), which a state-only socket joins. */
  private readonly unanswered = new Map<string, Request>();
  private sendQueued = false;
  private readonly sendOpen = (): void => this.send();

  constructor(private readonly ctx: ShardContext) {}

  /** Requests sent and not answered yet (tests, stats). */
  get pending(): number {
    return this.sent.size + this.open.size;
  }

  /**
   * Subscribes `ws` to `channel` from `since`: at once when this shard is exactly there (or
   * the socket already follows the channel), otherwise through main's history. The caller
   * has checked permissions and limits.
   */
  subscribe(ws: ClientSocket, channel: string, since: Since): void {
    const { ctx } = this;
    const client = ws.getUserData();
    const last = ctx.lastSeq.get(channel);
    const here = last !== undefined && last.epoch === since.epoch;
    if (here && last.seq === since.seq) {
      this.subscribeNow(ws, channel, true);
      return;
    }
    const format = client.format === WireFormat.Msgpack ? MSGPACK_BIT : JSON_BIT;
    const key = `${channel}\n${since.epoch}`;
    let r = this.latest.get(key);
    if (r === undefined || since.seq < r.after || (r.formats & format) === 0 || !here || since.seq > last.seq) {
      r = this.open.get(key) ?? this.request(channel, key, since.seq, since.epoch);
      if (since.seq < r.after) r.after = since.seq;
      r.formats |= format;
    }
    r.waiters.set(client.ref, since.seq);
    (client.channels ??= new Set()).add(channel);
    (client.recovering ??= new Map()).set(channel, r.id);
    ctx.subscribed(topicOf(channel, client.format), 1);
    ctx.count('recoveryWaits');
  }

  /**
   * Whether a subscribe without `since` must wait for the channel's position from main: with a
   * broker on several nodes, unless this shard follows the channel already — it has a socket
   * subscribed and answered (uWS's count leaves out waiting ones), so its node is subscribed
   * in Redis and its feed current. A per-user channel's sockets are not topics: the caller
   * says whether the user had a connection here, and one waiting means a request is open.
   */
  mustWait(channel: string, user: { hadConnections: boolean } | null): boolean {
    const { ctx } = this;
    if (ctx.config.broker === 'memory') return false; // its shards' state is the truth
    if (user !== null) return !user.hadConnections || this.unanswered.has(channel);
    return ctx.app.numSubscribers(topicOf(channel, WireFormat.Json)) === 0 && ctx.app.numSubscribers(topicOf(channel, WireFormat.Msgpack)) === 0;
  }

  /**
   * Subscribes `ws` at the channel's position as main's answer gives it (mustWait said so).
   * The caller has counted it in (client.channels and interest, or the user's table).
   */
  wait(ws: ClientSocket, channel: string): void {
    const client = ws.getUserData();
    const r = this.unanswered.get(channel) ?? this.request(channel, `${channel}\n`, STATE_ONLY, 0);
    r.waiters.set(client.ref, STATE_ONLY);
    (client.recovering ??= new Map()).set(channel, r.id);
    this.ctx.count('stateWaits');
  }

  /** A new request, sent with the others of this turn. */
  private request(channel: string, key: string, after: number, epoch: number): Request {
    const r: Request = { id: this.nextId++, channel, key, epoch, after, formats: 0, waiters: new Map() };
    this.open.set(key, r);
    this.unanswered.set(channel, r);
    if (!this.sendQueued) {
      this.sendQueued = true;
      setImmediate(this.sendOpen); // one request per channel for every socket of this turn
    }
    return r;
  }

  /** An unsubscribe while the recovery is pending: the socket leaves it (false: it was not recovering). */
  cancel(ws: ClientSocket, channel: string): boolean {
    const client = ws.getUserData();
    if (client.recovering?.delete(channel) !== true) return false;
    client.channels?.delete(channel);
    this.ctx.subscribed(topicOf(channel, client.format), -1);
    return true;
  }

  /** Main's answer for this worker: serves every socket still waiting for it. */
  answer(a: RecoveredView): void {
    const r = this.sent.get(a.ref);
    if (r === undefined) return;
    this.sent.delete(a.ref);
    if (this.latest.get(r.key) === r) this.latest.delete(r.key);
    if (this.unanswered.get(r.channel) === r) this.unanswered.delete(r.channel);
    const epoch = (a.flags & RECOVERED_HAS_STATE) !== 0 ? a.epoch : null;
    for (const [ref, since] of r.waiters) {
      const ws = this.ctx.clients.get(ref);
      if (ws === undefined || !this.leave(ws, r)) continue;
      if (since === STATE_ONLY) {
        ws.cork(() => this.settle(ws, r.channel, a.seq, epoch, undefined));
        continue;
      }
      // main checked the epoch; a socket that claims more than was written is simply current
      const ok = (a.flags & RECOVERED_OK) !== 0 && since >= a.after;
      ws.cork(() => {
        sendFrame(ws, subscribedFrame(r.channel, a.seq, epoch, ok));
        if (ok) this.replay(ws, a, since);
        ws.subscribe(topicOf(r.channel, ws.getUserData().format));
      });
      this.ctx.count(ok ? 'recovered' : 'notRecovered');
    }
  }

  /** Sends the socket its messages after `since`, in its format. */
  private replay(ws: ClientSocket, a: RecoveredView, since: number): void {
    const binary = ws.getUserData().format === WireFormat.Msgpack;
    const frames = binary ? a.msgpack : a.json;
    let sent = 0;
    for (let i = Math.max(0, since - a.after); i < frames.length; i++, sent++) ws.send(frames[i]!, binary);
    if (sent > 0) this.ctx.count('replayedMessages', sent);
  }

  /** Takes the socket out of request `r`: false when it left already (unsubscribed, or joined another). */
  private leave(ws: ClientSocket, r: Request): boolean {
    const recovering = ws.getUserData().recovering;
    if (recovering?.get(r.channel) !== r.id) return false;
    recovering.delete(r.channel);
    return true;
  }

  /** Sends this turn's requests; one the ingress ring has no room for is answered recovered:false at once. */
  private send(): void {
    this.sendQueued = false;
    for (const [key, r] of this.open) {
      if (this.ctx.forwardRecover({ ref: r.id, after: r.after, epoch: r.epoch, formats: r.formats, channel: r.channel })) {
        this.sent.set(r.id, r);
        if (r.after !== STATE_ONLY) this.latest.set(key, r);
        continue;
      }
      if (this.unanswered.get(r.channel) === r) this.unanswered.delete(r.channel);
      for (const [ref, since] of r.waiters) {
        const ws = this.ctx.clients.get(ref);
        if (ws === undefined || !this.leave(ws, r)) continue;
        ws.cork(() => this.subscribeNow(ws, r.channel, since === STATE_ONLY ? undefined : false));
        if (since !== STATE_ONLY) this.ctx.count('notRecovered');
      }
    }
    this.open.clear();
  }

  /** Subscribes at this shard's position and says so (`recovered` as given; undefined: not asked). */
  private subscribeNow(ws: ClientSocket, channel: string, recovered: boolean | undefined): void {
    const client = ws.getUserData();
    if (client.channels?.has(channel) !== true && userKeyOf(channel) === null) {
      (client.channels ??= new Set()).add(channel);
      this.ctx.subscribed(topicOf(channel, client.format), 1);
    }
    const last = this.ctx.lastSeq.get(channel);
    this.settle(ws, channel, last?.seq ?? 0, last?.epoch ?? null, recovered);
    if (recovered === true) this.ctx.count('recovered');
  }

  /** Tells the socket its position, then lets live delivery reach it (a per-user channel's socket is in the user's table already). */
  private settle(ws: ClientSocket, channel: string, seq: number, epoch: number | null, recovered: boolean | undefined): void {
    sendFrame(ws, subscribedFrame(channel, seq, epoch, recovered));
    if (userKeyOf(channel) === null) ws.subscribe(topicOf(channel, ws.getUserData().format));
  }
}
