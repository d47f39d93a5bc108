/**
 * Fanout — the main thread's end of the broadcast ring. A sequenced publication is encoded
 * once here and written once into the ring that every shard reads; each shard then hands
 * the same bytes to uWS for its local subscribers. Writes within one turn of the event loop
 * are published with a single flush (one Atomics.notify per sleeping shard per batch).
 */
import type { FrameEncoder, EncodedFrame } from './encoder.js';
import { publicationSize, writePublication, writeReply, replySize, type ReplyTarget } from './records.js';
import { RingProducer, recordSpace, type RingHandle } from './ring.js';

/**
 * Ring space kept free for replies: a publication is accepted only if it fits with this
 * much to spare, so the reply that acknowledges it always fits behind it. Replies are at
 * most a few KiB (ack ids ≤ 200 chars, ≤ 100 channels per HTTP publish).
 */
const REPLY_HEADROOM = 64 * 1024;

export class Fanout {
  private readonly ring: RingProducer;
  private flushQueued = false;
  private readonly flushNow = (): void => {
    this.flushQueued = false;
    this.ring.flush();
  };

  constructor(
    readonly handle: RingHandle,
    private readonly encoder: FrameEncoder,
  ) {
    this.ring = new RingProducer(handle);
  }

  /**
   * Encodes and writes one publication per channel (same data, each its own seq): all of
   * them or, when the ring has no room, none (returns false).
   */
  deliver(channels: readonly string[], seqs: readonly number[], data: string): boolean {
    if (channels.length === 1) {
      const f = this.encoder.encodePublication(channels[0]!, seqs[0]!, data);
      const space = recordSpace(publicationSize(channels[0]!, f.bytes));
      // worst case the record wraps: the skipped tail is smaller than the record
      if (!this.ring.room(2 * space + REPLY_HEADROOM)) return false;
      this.write(channels[0]!, seqs[0]!, f);
    } else {
      const frames = channels.map((c, i) => this.encoder.encodePublication(c, seqs[i]!, data));
      let total = REPLY_HEADROOM;
      let largest = 0;
      for (let i = 0; i < frames.length; i++) {
        const space = recordSpace(publicationSize(channels[i]!, frames[i]!.bytes));
        total += space;
        if (space > largest) largest = space;
      }
      if (!this.ring.room(total + largest)) return false;
      for (let i = 0; i < frames.length; i++) this.write(channels[i]!, seqs[i]!, frames[i]!);
    }
    this.scheduleFlush();
    return true;
  }

  /** Writes a reply for one shard behind what it acknowledges (room is reserved for it). */
  reply(shard: number, target: ReplyTarget, ref: number, body: string): void {
    if (!writeReply(this.ring, shard, target, ref, body)) {
      throw new Error(`reply of ${replySize(body)} bytes did not fit the ring's reserved headroom`);
    }
    this.scheduleFlush();
  }

  /** A shard's consumer slot joins at the current position (producer thread only). */
  attach(shard: number): void {
    this.ring.attach(shard);
  }

  detach(shard: number): void {
    this.ring.detach(shard);
  }

  /** Publishes pending writes now (shutdown, tests). */
  flush(): void {
    this.ring.flush();
  }

  private write(channel: string, seq: number, f: EncodedFrame): void {
    if (!writePublication(this.ring, seq, channel, f.frame, f.bytes)) {
      throw new Error('ring refused a record after room() said yes'); // a bug, never policy
    }
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(this.flushNow);
  }
}
