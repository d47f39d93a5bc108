/**
 * IngressReader — the main thread's end of one shard's ingress ring: publishes that the
 * shard's WebSocket clients and HTTP callers made, already validated by the shard. Each is
 * sequenced through the Broker; the answer (ack or HTTP body) goes back through the feed,
 * right behind the publication, and a refusal (overloaded) as a control message. History
 * requests of recovering subscribers go to HistoryRequests.
 */
import type { Worker } from 'node:worker_threads';
import type { Broker } from '../broker/broker.js';
import { ErrorCode } from '../protocol/codes.js';
import type { ToShard } from '../engine/control.js';
import type { Counters } from '../transport/counters.js';
import { PartialPublishError, ShardcastError } from '../protocol/errors.js';
import type { Fanout } from '../pubsub/fanout.js';
import { ackFrame, ackFrameMaxBytes, httpPublishBody, httpPublishBodyMaxBytes } from '../protocol/messages.js';
import { Payload } from '../protocol/payload.js';
import { RecordKind, ReplyTarget, readPublishView, type PublishView, type ReplyAddress } from '../transport/records.js';
import { readRecover } from '../transport/recovery-records.js';
import { RingConsumer, type RingHandle } from '../transport/ring.js';
import { HistoryRequests } from './history-requests.js';
import { RingPump } from '../transport/ring-pump.js';

/**
 * Main naps INGRESS_NAP_MS between batches of a shard's publishes while that shard holds at
 * least INGRESS_NAP_QUEUE HTTP requests for an answer: main is the one serial stage, and its
 * wake-ups per batch (and polling after them) were most of its CPU under pipelined publishers
 * (bench/RESULTS.md, "Linger and nap"). Those publishers' requests already queue; a
 * publisher that waits for each answer (fewer in flight) is never delayed by a nap.
 */
const INGRESS_NAP_MS = 1;
const INGRESS_NAP_QUEUE = 8;

export class IngressReader {
  private readonly ring: RingConsumer;
  private readonly pump: RingPump;
  /** Publications sequenced in the current batch (publishNow answers within it). */
  private published = 0;
  /** The shard's history requests (subscribes with `since`). */
  private readonly history: HistoryRequests;

  constructor(
    private readonly shard: number,
    /** Which start of the shard slot wrote this ring: part of every reply's address. */
    private readonly generation: number,
    handle: RingHandle,
    private readonly worker: Worker,
    private readonly broker: Broker,
    private readonly fanout: Fanout,
    private readonly counters: Counters,
    /** The ring can no longer be trusted: stop the shard (it is replaced). */
    private readonly onCorrupt: (why: string) => void,
  ) {
    this.ring = new RingConsumer(handle, 0);
    this.history = new HistoryRequests(shard, generation, broker, fanout, counters);
    // counted once per batch: a shared-counter add (and a BigInt) per publish is serial-path work
    this.pump = new RingPump(this.ring, (at, kind, length) => this.onRecord(at, kind, length), () => this.countBatch(), undefined, {
      ms: INGRESS_NAP_MS,
      when: () => counters.shard(shard, 'httpWaiting') >= INGRESS_NAP_QUEUE,
    });
  }

  start(): void {
    this.pump.start();
  }

  /** Bytes of this shard's ingress ring not read yet (for /metrics). */
  get unread(): number {
    return this.ring.unread;
  }

  stop(): void {
    this.pump.stop();
    this.history.stop();
  }

  private countBatch(): void {
    if (this.published === 0) return;
    this.counters.mainAdd('published', this.published);
    this.published = 0;
  }

  private onRecord(at: number, kind: number, length: number): void {
    if (kind === (RecordKind.Recover as number)) {
      const r = readRecover(this.ring, at, length);
      if (r === null) return this.corrupt(kind, length);
      this.history.take(r);
      return;
    }
    const req = kind === (RecordKind.Publish as number) ? readPublishView(this.ring, at, length) : null;
    if (req === null) return this.corrupt(kind, length);
    // the answer is written after the publication, maybe behind many others: promise its
    // ring space now, so that accepting later publications can never crowd it out
    const promised = this.promiseReply(req);
    // the data stays in this ring until the batch is released: a broker that answers at once
    // copies it straight into the broadcast ring (and the history), one that answers later
    // gets a copy of its own
    const data = Payload.inRing(req.data, req.msgpack);
    const { broker } = this;
    if (broker.publishNow !== undefined) {
      // the broker answers at once: no promise and no closures per publish on the serial path
      let seqs: readonly number[];
      try {
        seqs = broker.publishNow(req.channels, data);
      } catch (err) {
        this.fanout.cancelReply(promised);
        this.refuse(req, err);
        return;
      }
      this.answer(req, seqs, promised);
      return;
    }
    broker.publish(req.channels, data.kept()).then(
      (seqs) => {
        this.answer(req, seqs, promised);
        this.countBatch(); // answered after its batch
      },
      (err: unknown) => {
        this.fanout.cancelReply(promised);
        this.refuse(req, err);
      },
    );
  }

  /**
   * A shard bug, never client input (shards validate everything they forward): the main
   * thread must not trust this ring any more, nor fall over; the shard is replaced.
   */
  private corrupt(kind: number, length: number): void {
    this.pump.stop();
    this.history.stop();
    this.onCorrupt(`ingress record of kind ${kind} and ${length} bytes does not parse`);
  }

  private promiseReply(req: PublishView): number {
    switch (req.target) {
      case ReplyTarget.None:
        return 0;
      case ReplyTarget.WebSocket:
        return this.fanout.promiseReply(ackFrameMaxBytes(req.id));
      case ReplyTarget.Http:
        return this.fanout.promiseReply(httpPublishBodyMaxBytes(req.channels));
      default: {
        const never: never = req.target;
        throw new Error(`unknown reply target ${String(never)}`);
      }
    }
  }

  private answer(req: PublishView, seqs: readonly number[], promised: number): void {
    this.published += seqs.length;
    switch (req.target) {
      case ReplyTarget.None:
        return;
      case ReplyTarget.WebSocket:
        this.fanout.reply(this.addressOf(req), ackFrame(req.id, req.channels, seqs), promised);
        return;
      case ReplyTarget.Http:
        this.fanout.reply(this.addressOf(req), httpPublishBody(req.channels, seqs), promised);
        return;
      default: {
        const never: never = req.target;
        throw new Error(`unknown reply target ${String(never)}`);
      }
    }
  }

  private addressOf(req: PublishView): ReplyAddress {
    return { shard: this.shard, generation: this.generation, target: req.target, ref: req.ref };
  }

  private refuse(req: PublishView, err: unknown): void {
    const e = err instanceof ShardcastError ? err : new ShardcastError(ErrorCode.Internal, String(err));
    if (e.code === ErrorCode.Overloaded) this.counters.mainAdd('rejectedOverloaded');
    if (e.code === ErrorCode.PayloadTooLarge) this.counters.mainAdd('rejectedTooLarge');
    // the client sees every refusal, also one it asked no ack for
    const m: ToShard = {
      type: 'publish-refused',
      target: req.target === ReplyTarget.Http ? 'http' : 'ws',
      ref: req.ref,
      code: e.code,
      message: e.message,
      ackId: req.id,
      ...(e instanceof PartialPublishError ? { detail: e.detail } : {}),
    };
    this.worker.postMessage(m);
  }
}
