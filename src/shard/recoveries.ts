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
 */
import { subscribedFrame, type Since } from '../protocol/messages.js';
import { JSON_BIT, MSGPACK_BIT, WireFormat, topicOf } from '../protocol/wire-format.js';
import { RECOVERED_HAS_STATE, RECOVERED_OK, type RecoveredView } from '../transport/recovery-records.js';
import { sendFrame, type ClientSocket, type ShardContext } from './context.js';

interface Request {
  readonly id: number;
  readonly channel: string;
  readonly epoch: number;
  /** The smallest `since` seq among the waiters. */
  after: number;
  formats: number;
  /** Waiting sockets (by ref) and the seq each has. */
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
      r = this.open.get(key);
      if (r === undefined) {
        r = { id: this.nextId++, channel, epoch: since.epoch, after: since.seq, formats: 0, waiters: new Map() };
        this.open.set(key, r);
        if (!this.sendQueued) {
          this.sendQueued = true;
          setImmediate(this.sendOpen); // one request per channel for every socket of this turn
        }
      }
      if (since.seq < r.after) r.after = since.seq;
      r.formats |= format;
    }
    r.waiters.set(client.ref, since.seq);
    (client.channels ??= new Set()).add(channel);
    (client.recovering ??= new Map()).set(channel, r.id);
    ctx.subscribed(topicOf(channel, client.format), 1);
    ctx.count('recoveryWaits');
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
    const key = `${r.channel}\n${r.epoch}`;
    if (this.latest.get(key) === r) this.latest.delete(key);
    const epoch = (a.flags & RECOVERED_HAS_STATE) !== 0 ? a.epoch : null;
    for (const [ref, since] of r.waiters) {
      const ws = this.ctx.clients.get(ref);
      if (ws === undefined || !this.leave(ws, r)) continue;
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
        this.latest.set(key, r);
        continue;
      }
      for (const ref of r.waiters.keys()) {
        const ws = this.ctx.clients.get(ref);
        if (ws === undefined || !this.leave(ws, r)) continue;
        ws.cork(() => this.subscribeNow(ws, r.channel, false));
        this.ctx.count('notRecovered');
      }
    }
    this.open.clear();
  }

  /** Subscribes at this shard's position and says so (`recovered` as given). */
  private subscribeNow(ws: ClientSocket, channel: string, recovered: boolean): void {
    const client = ws.getUserData();
    const topic = topicOf(channel, client.format);
    if (client.channels?.has(channel) !== true) {
      (client.channels ??= new Set()).add(channel);
      this.ctx.subscribed(topic, 1);
    }
    ws.subscribe(topic);
    const last = this.ctx.lastSeq.get(channel);
    sendFrame(ws, subscribedFrame(channel, last?.seq ?? 0, last?.epoch ?? null, recovered));
    if (recovered) this.ctx.count('recovered');
  }
}
