/**
 * Feed — a shard's end of the broadcast ring. For each publication it hands the frame bytes,
 * as they sit in shared memory, to uWS's native pub/sub for this shard's local subscribers:
 * uWS copies them once and coalesces everything published in one turn into one write per
 * socket. No per-recipient work happens in JavaScript — except for per-user channels, whose
 * publications reach one user's connections (usually one) and are sent to each of them
 * (UserSockets: a uWS topic per user cost more memory than it saved). Replies meant for this shard worker
 * (its shard and generation) are routed to the waiting WebSocket or HTTP request; other
 * workers' replies are skipped, and so are history answers (RECOVERED) for other workers.
 *
 * The main thread attaches this shard's slot just before the Feed is built (so the shard
 * starts reading at once) and may cut it loose if the shard stalls; the Feed then calls
 * `onCutLoose` the next time it runs.
 */
import { resetFrame } from '../protocol/messages.js';
import { WireFormat, frameFor, topicOf, transcodeFrame } from '../protocol/wire-format.js';
import { RecordKind, ReplyTarget, readForget, readPublication, readReply, type ForgetView, type PublicationView, type ReplyView } from '../transport/records.js';
import { readRecovered, recoveredAddress, type RecoveredView } from '../transport/recovery-records.js';
import { RingConsumer, type RingHandle } from '../transport/ring.js';
import { RingPump } from '../transport/ring-pump.js';
import { sendFrame, type ClientSocket, type ShardContext } from './context.js';
import { userKeyOf } from '../protocol/user-channel.js';
import { answerPending } from './http-api.js';
import { sendJson } from './http-reply.js';
import { nowMs } from '../transport/clock.js';
import { LATENCY_BUCKETS_MS, latencyBucket } from '../transport/counters.js';

export class Feed {
  readonly pump: RingPump;
  private readonly ring: RingConsumer;
  private readonly pub: PublicationView = { seq: 0, epoch: 0, channel: '', count: 0, stamp: 0, json: new Uint8Array(0), msgpack: new Uint8Array(0) };
  private readonly forget: ForgetView = { epoch: 0, channel: '' };
  private readonly reply: ReplyView = { shard: 0, generation: 0, target: ReplyTarget.None, ref: 0, body: new Uint8Array(0) };
  /** deliverUser's frames made here for the publication at hand, per format (null: none possible). */
  private readonly made: Array<string | Uint8Array | null | undefined> = [undefined, undefined];
  private deliveries = 0;
  private msgpackDeliveries = 0;
  private frames = 0;
  private bytes = 0;
  private publications = 0;
  /**
   * Acceptance stamps of this batch's delivered publications: their latency (accepted on
   * main → handed to uWS here) is taken once, at the batch's end, with one clock read, and
   * added to the shared histogram slots (no message, no per-recipient work).
   */
  private readonly stamps = new Float64Array(1024);
  private stamped = 0;
  private readonly buckets = new Float64Array(LATENCY_BUCKETS_MS.length + 1);

  constructor(
    private readonly ctx: ShardContext,
    handle: RingHandle,
    onCutLoose: () => void,
    /** A history answer for this worker (Recoveries.answer). */
    private readonly onRecovered: (a: RecoveredView) => void,
  ) {
    this.ring = new RingConsumer(handle, ctx.shard);
    this.pump = new RingPump(
      this.ring,
      (at, kind) => this.onRecord(at, kind),
      () => this.onBatch(),
      onCutLoose,
    );
  }

  private onRecord(at: number, kind: number): void {
    switch (kind as RecordKind) {
      case RecordKind.Publication: {
        const p = readPublication(this.ring, at, this.pub);
        const last = this.ctx.lastSeq.get(p.channel);
        if (last === undefined) this.ctx.lastSeq.set(p.channel, { seq: p.seq, epoch: p.epoch });
        else {
          last.seq = p.seq;
          last.epoch = p.epoch;
        }
        this.publications += p.count;
        const user = userKeyOf(p.channel);
        let handed: boolean;
        if (user !== null) handed = this.deliverUser(p, user);
        else {
          handed = this.deliverFormat(p, WireFormat.Json, p.json);
          // no MessagePack subscriber on this shard: not even a topic name to make
          if (this.ctx.msgpackTopics > 0) handed = this.deliverFormat(p, WireFormat.Msgpack, p.msgpack) || handed;
        }
        if (handed) {
          this.stamps[this.stamped++] = p.stamp;
          if (this.stamped === this.stamps.length) this.observeLatencies();
        }
        return;
      }
      case RecordKind.Reply: {
        const r = readReply(this.ring, at, this.reply);
        if (r.shard === this.ctx.shard && r.generation === this.ctx.generation) this.deliverReply(r);
        return;
      }
      case RecordKind.Forget:
        this.onForget(readForget(this.ring, at, this.forget));
        return;
      case RecordKind.Recovered: {
        const to = recoveredAddress(this.ring, at);
        if (to.shard === this.ctx.shard && to.generation === this.ctx.generation) this.onRecovered(readRecovered(this.ring, at));
        return;
      }
      case RecordKind.Publish: // shards' own kinds, only on the ingress rings: a producer bug here too
      case RecordKind.Recover:
      default:
        throw new Error(`feed: unknown record kind ${kind}`); // a producer bug: fail loudly
    }
  }

  /** Hands the publication's frame in `format` to uWS for this shard's subscribers in that format; whether it had any. */
  private deliverFormat(p: PublicationView, format: WireFormat, frame: Uint8Array): boolean {
    const { app } = this.ctx;
    const topic = topicOf(p.channel, format);
    const subscribers = app.numSubscribers(topic);
    if (subscribers === 0) return false;
    let bytes = frame.byteLength;
    if (bytes === 0) {
      // main had not heard of these subscribers when it encoded: make the frame here, once
      const made = this.transcode(p, format);
      if (made === null) return false;
      bytes = typeof made === 'string' ? Buffer.byteLength(made) : made.byteLength;
      app.publish(topic, made, format === WireFormat.Msgpack, false);
    } else {
      app.publish(topic, frame, format === WireFormat.Msgpack, false);
    }
    this.deliveries += subscribers * p.count;
    if (format === WireFormat.Msgpack) this.msgpackDeliveries += subscribers * p.count;
    this.frames += subscribers;
    this.bytes += subscribers * bytes;
    return true;
  }

  /** Counts the stamped publications into the latency histogram, as of now. */
  private observeLatencies(): void {
    const now = nowMs();
    let sumUs = 0;
    for (let i = 0; i < this.stamped; i++) {
      const ms = Math.max(0, now - this.stamps[i]!);
      this.buckets[latencyBucket(ms)]!++;
      sumUs += ms * 1000;
    }
    this.ctx.counters.addLatencies(this.ctx.shard, this.buckets, sumUs);
    this.buckets.fill(0);
    this.stamped = 0;
  }

  /** A per-user publication: sent to each of the user's connections here, in its format. */
  /** A per-user publication to this shard's connections of the user (few: a send each); false when it has none. */
  private deliverUser(p: PublicationView, key: string): boolean {
    const held = this.ctx.users.get(key);
    if (held === undefined) return false;
    // a frame main did not encode is made once per format, not per connection
    this.made[WireFormat.Json] = this.made[WireFormat.Msgpack] = undefined;
    if (!Array.isArray(held)) this.sendUser(p, held);
    else for (const ws of held) this.sendUser(p, ws);
    return true;
  }

  private sendUser(p: PublicationView, ws: ClientSocket): void {
    const { format, recovering } = ws.getUserData();
    // still waiting for its position (Recoveries.wait): this publication is before it
    if (recovering !== undefined && recovering.size > 0 && recovering.has(p.channel)) return;
    let frame: string | Uint8Array | null | undefined = format === WireFormat.Json ? p.json : p.msgpack;
    if (frame.byteLength === 0) {
      frame = this.made[format] === undefined ? (this.made[format] = this.transcode(p, format)) : this.made[format];
      if (frame === null || frame === undefined) return;
    }
    ws.send(frame, format === WireFormat.Msgpack, false);
    this.deliveries += p.count;
    if (format === WireFormat.Msgpack) this.msgpackDeliveries += p.count;
    this.frames++;
    this.bytes += typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
  }

  private transcode(p: PublicationView, to: WireFormat): string | Uint8Array | null {
    const { ctx } = this;
    try {
      const made = transcodeFrame(to === WireFormat.Json ? p.msgpack : p.json, to);
      ctx.count('transcodes');
      return made;
    } catch (err) {
      ctx.count('transcodeFailures');
      ctx.post({ type: 'log', level: 'error', message: `shard ${ctx.shard}: publication ${p.channel}#${p.seq} has no ${to === WireFormat.Json ? 'JSON' : 'MessagePack'} form: ${(err as Error).message}` });
      return null;
    }
  }

  /**
   * Main dropped the channel's state. Main forgets only channels no shard reported
   * subscribers of, so local subscribers here mean a subscribe raced the decision: they
   * are told once (one uWS publish, not a send each) that what they knew of the seq is
   * void and the next message is seq 1 of a new epoch, and main hears of them again.
   */
  private onForget(f: ForgetView): void {
    const { ctx } = this;
    if (ctx.lastSeq.get(f.channel)?.epoch === f.epoch) ctx.lastSeq.delete(f.channel);
    const user = userKeyOf(f.channel);
    if (user !== null) {
      this.resetUser(f.channel, user);
      return;
    }
    for (const format of [WireFormat.Json, WireFormat.Msgpack]) {
      const topic = topicOf(f.channel, format);
      if (ctx.app.numSubscribers(topic) === 0) continue;
      ctx.app.publish(topic, frameFor(resetFrame(f.channel), format), format === WireFormat.Msgpack, false);
      ctx.count('channelResets');
      ctx.reassertInterest(topic);
    }
  }

  /** onForget for a per-user channel: each of the user's connections here is told, counted and reported once per format, as a topic would be. */
  private resetUser(channel: string, key: string): void {
    const { ctx } = this;
    const told = [false, false];
    for (const ws of ctx.users.list(key)) {
      const format = ws.getUserData().format;
      sendFrame(ws, resetFrame(channel));
      if (told[format]) continue;
      told[format] = true;
      ctx.count('channelResets');
      ctx.reassertInterest(topicOf(channel, format));
    }
  }

  private deliverReply(r: ReplyView): void {
    if (r.target === ReplyTarget.WebSocket) {
      const ws = this.ctx.clients.get(r.ref);
      if (ws !== undefined) sendFrame(ws, r.body);
    } else if (r.target === ReplyTarget.Http) {
      const body = Buffer.from(r.body).toString('utf8');
      answerPending(this.ctx, r.ref, (res) => sendJson(res, 200, body));
    }
  }

  private onBatch(): void {
    const { ctx } = this;
    ctx.count('feedBatches');
    ctx.counters.shardSet(ctx.shard, 'channelStates', ctx.lastSeq.size);
    if (this.publications > 0) {
      ctx.count('publications', this.publications);
      this.publications = 0;
    }
    if (this.deliveries > 0) {
      ctx.count('deliveries', this.deliveries);
      ctx.count('framesSent', this.frames);
      ctx.count('bytesSent', this.bytes);
      if (this.msgpackDeliveries > 0) ctx.count('deliveriesMsgpack', this.msgpackDeliveries);
      this.deliveries = this.frames = this.bytes = this.msgpackDeliveries = 0;
    }
    if (this.stamped > 0) this.observeLatencies();
  }
}
