/**
 * ChannelStream — one subscribed channel's place in its sequence, and the rules that turn the
 * frames of successive connections into exactly-once, in-order delivery. Pure bookkeeping (no
 * socket), so every rule is testable with the server's own frames.
 *
 * A message is identified by (epoch, seq) (docs/protocol.md). `message` frames name their epoch
 * only at seq 1 (or when a conflated message stands for seq 1); the others belong to the epoch
 * the connection last learnt for the channel — from `subscribed`, a seq 1, or nothing after a
 * `reset` — so that "stream epoch" is kept per connection, apart from the epoch of the last
 * message delivered.
 */
import type { Delivery, GapEvent, SubscribedEvent, UnrecoveredEvent } from './events.js';
import type { ServerMessage } from './wire.js';

export interface StreamSink {
  /** The answer to a (re)subscription, told before what it implies (a gap, held messages). */
  subscribed(s: SubscribedEvent): void;
  deliver(d: Delivery): void;
  gap(g: GapEvent): void;
  unrecovered(u: UnrecoveredEvent): void;
  reset(channel: string): void;
}

export class ChannelStream {
  /** Epoch and seq of the last message delivered (or the point the subscription started from). */
  private epoch: string | null = null;
  private seq = 0;
  /** Whether a `subscribed` has ever placed the stream in its sequence. */
  private anchored = false;
  /** The epoch of epoch-less messages on the current connection. */
  private streamEpoch: string | null = null;
  /** Frames that came before this connection's `subscribed`: they are judged after it. */
  private pending: ServerMessage[] | null = null;
  /** The answer to the subscribe on the current connection; null until it comes. */
  answer: SubscribedEvent | null = null;
  /** Messages dropped because they had been delivered already. */
  duplicates = 0;

  constructor(
    readonly channel: string,
    private readonly sink: StreamSink,
    /** Subscribed by the server itself (a per-user channel): not resubscribed by the client. */
    readonly implicit = false,
  ) {}

  /** Where a resubscription should resume: after the last message delivered. */
  since(): { seq: number; epoch: string } | null {
    return this.anchored && this.epoch !== null ? { seq: this.seq, epoch: this.epoch } : null;
  }

  /** A new connection: what it sends before its `subscribed` waits for it. */
  awaitSubscribed(): void {
    this.pending = [];
    this.answer = null;
  }

  /** The answer to a subscribe on this connection. */
  subscribed(seq: number, epoch: string | null, recovered: boolean | undefined): SubscribedEvent {
    const resubscribe = this.anchored;
    const lastEpoch = this.epoch;
    const lastSeq = this.seq;
    this.streamEpoch = epoch;
    this.answer = { channel: this.channel, seq, epoch, ...(recovered === undefined ? {} : { recovered }), resubscribe };
    this.sink.subscribed(this.answer);
    if (!this.anchored) {
      this.place(epoch, seq);
      this.anchored = true;
    } else if (recovered === true && epoch === lastEpoch) {
      // N+1..S follow in order; anything up to N that still comes is a duplicate
    } else if (recovered !== undefined || (lastEpoch !== null && epoch !== lastEpoch)) {
      this.place(epoch, seq);
      this.sink.unrecovered({ channel: this.channel, seq, epoch, lastSeq, lastEpoch, reason: recovered === false ? 'not_recovered' : 'epoch_changed' });
    } else if (seq > lastSeq) {
      // a server without recovery: the same epoch (or the first of a new one after a reset) went on without us
      this.place(epoch, seq);
      this.sink.gap({ channel: this.channel, epoch, from: lastSeq + 1, to: seq });
    } else {
      this.epoch = epoch;
    }
    const held = this.pending ?? [];
    this.pending = null;
    for (const m of held) this.frame(m);
    return this.answer;
  }

  /** A `message` or `reset` frame of this channel. */
  frame(m: ServerMessage): void {
    if (this.pending !== null) {
      this.pending.push(m);
      return;
    }
    if (m.type === 'reset') {
      this.place(null, 0);
      this.streamEpoch = null;
      this.sink.reset(this.channel);
      return;
    }
    const seq = m['seq'];
    if (typeof seq !== 'number') return;
    const replaces = typeof m['replaces'] === 'number' ? m['replaces'] : 0;
    if (typeof m['epoch'] === 'string') this.streamEpoch = m['epoch'];
    const epoch = this.streamEpoch;
    if (epoch !== null && epoch !== this.epoch) {
      if (this.epoch === null) {
        this.place(epoch, 0); // the first epoch, or the one after a reset: its seqs start at 1
      } else {
        // a new epoch nobody announced: what the old one still held is unknowable
        const { epoch: lastEpoch, seq: lastSeq } = this;
        this.place(epoch, seq - replaces - 1);
        this.sink.unrecovered({ channel: this.channel, seq: this.seq, epoch, lastSeq, lastEpoch, reason: 'epoch_changed' });
      }
    }
    if (seq <= this.seq) {
      this.duplicates++;
      return;
    }
    const first = seq - replaces;
    if (first > this.seq + 1) this.sink.gap({ channel: this.channel, epoch: this.epoch, from: this.seq + 1, to: first - 1 });
    // seqs it replaces that were delivered already (a replay after recovery) are not skipped
    const skipped = Math.min(replaces, seq - this.seq - 1);
    this.seq = seq;
    this.sink.deliver({ channel: this.channel, seq, epoch: this.epoch, data: m['data'], replaces: Math.max(0, skipped) });
  }

  private place(epoch: string | null, seq: number): void {
    this.epoch = epoch;
    this.seq = seq;
  }
}
