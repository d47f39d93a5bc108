/**
 * Fanout — the main thread's end of the broadcast ring. A sequenced publication is encoded
 * here once per format some shard has subscribers in (formatsOf), and written once into the
 * ring that every shard reads; each shard then hands the same bytes to uWS for its local
 * subscribers. Writes within one turn of the event loop are published with a single flush
 * (one Atomics.notify per sleeping shard per batch).
 */
import { ENCODERS, frameBytes } from '../protocol/encoder.js';
import type { Payload } from '../protocol/payload.js';
import { JSON_BIT, MSGPACK_BIT, WireFormat } from '../protocol/wire-format.js';
import { forgetSize, publicationSize, writeForget, writePublication, writeReply, replySize, type PublicationFrames, type ReplyAddress } from '../transport/records.js';
import { RingProducer, recordSpace, type RingHandle } from '../transport/ring.js';

/**
 * Extra room kept while replies are promised: the promised replies are written in one pass
 * over the ring, so at most one of them wraps, and the tail it skips is smaller than the
 * largest reply (≤ 100 channels × ~220 bytes, or an ack: a few hundred bytes).
 */
const REPLY_WRAP_ALLOWANCE = 32 * 1024;

/** What became of a publication handed to the Fanout. */
export type Delivery = 'written' | 'full' | 'too-large';

export class Fanout {
  private readonly ring: RingProducer;
  private flushQueued = false;
  /**
   * Ring bytes promised to replies not written yet. A reply is written after its
   * publication, possibly much later (behind a whole ingress batch), so its space is
   * promised up front and a publication is accepted only if it fits *beside* every promise:
   * a reply then always fits, and the ring never has to refuse an answer it owes.
   */
  private promised = 0;
  private readonly flushNow = (): void => {
    this.flushQueued = false;
    this.ring.flush();
  };

  constructor(
    readonly handle: RingHandle,
    /**
     * The formats (JSON_BIT | MSGPACK_BIT) some shard has subscribers of `channel` in, as
     * the shards reported them (Interest). A shard whose report has not arrived yet makes
     * its missing format itself (Feed), so this may lag without loss.
     */
    private readonly formatsOf: (channel: string) => number = () => JSON_BIT,
  ) {
    this.ring = new RingProducer(handle);
  }

  /**
   * Encodes and writes one publication per channel (same data, each its own seq and
   * epoch): all of them, or none when the ring has no room now ('full') or could never
   * hold them at once ('too-large': more than half the ring).
   */
  deliver(channels: readonly string[], seqs: readonly number[], epochs: readonly number[], data: Payload): Delivery {
    const frames = channels.map((c, i) => this.encode(c, seqs[i]!, epochs[i]!, data));
    let total = 0;
    let largest = 0;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      const space = recordSpace(publicationSize(channels[i]!, f.jsonBytes + (f.msgpack?.byteLength ?? 0)));
      total += space;
      if (space > largest) largest = space;
    }
    total += largest; // worst case one record wraps: the skipped tail is smaller than it
    if (total > this.handle.capacity / 2) return 'too-large';
    if (!this.ring.room(total + this.promised + (this.promised > 0 ? REPLY_WRAP_ALLOWANCE : 0))) return 'full';
    for (let i = 0; i < frames.length; i++) this.write(channels[i]!, seqs[i]!, epochs[i]!, frames[i]!);
    this.scheduleFlush();
    return 'written';
  }

  /**
   * Writes a FORGET record (the channel's incarnation `epoch` was dropped), if that leaves a
   * quarter of the ring free beside the promised replies: forgetting is housekeeping and
   * must not crowd out publications. False: not written, keep the state and retry later.
   */
  forget(channel: string, epoch: number): boolean {
    const space = recordSpace(forgetSize(channel));
    const reserve = this.handle.capacity / 4 + this.promised + (this.promised > 0 ? REPLY_WRAP_ALLOWANCE : 0);
    if (!this.ring.room(space + reserve) || !writeForget(this.ring, epoch, channel)) return false;
    this.scheduleFlush();
    return true;
  }

  /**
   * Promises ring space for a reply of at most `maxBody` bytes, to be written with reply()
   * or given back with cancelReply(). Returns the promised amount.
   */
  promiseReply(maxBody: number): number {
    const space = recordSpace(replySize(maxBody));
    this.promised += space;
    return space;
  }

  cancelReply(promised: number): void {
    this.promised -= promised;
  }

  /** Writes a reply for one shard worker, behind what it acknowledges, in space promised for it. */
  reply(to: ReplyAddress, body: string, promised: number): void {
    this.promised -= promised;
    if (!writeReply(this.ring, to, body)) {
      throw new Error(`a reply did not fit the ring space promised for it (${promised} bytes)`); // a bug, never policy
    }
    this.scheduleFlush();
  }

  /** A shard's consumer slot joins at the current position (producer thread only). */
  attach(shard: number): void {
    this.ring.attach(shard);
  }

  /** A shard whose worker is gone stops holding ring space. */
  detach(shard: number): void {
    this.ring.detach(shard);
  }

  /** Cuts a stalled shard loose (only between its batches): see RingProducer.cut. */
  cut(shard: number): boolean {
    return this.ring.cut(shard);
  }

  /** Whether shard `shard`'s slot holds ring space. */
  attached(shard: number): boolean {
    return this.ring.attached(shard);
  }

  /** Shard `shard`'s read position in the feed (a stall watch compares it over time). */
  readPosition(shard: number): number {
    return this.ring.readPosition(shard);
  }

  /** Bytes of the feed shard `shard` has not read yet. */
  lag(shard: number): number {
    return this.ring.lag(shard);
  }

  /** Publishes pending writes now (shutdown, tests). */
  flush(): void {
    this.ring.flush();
  }

  /**
   * The frames of one message, in every format in use (a channel nobody follows yet gets
   * the format its data came in: a shard always has one frame to make another from).
   * Throws ShardcastError(bad_message) when the data has no form in a format in use.
   */
  private encode(channel: string, seq: number, epoch: number, data: Payload): PublicationFrames {
    const formats = this.formatsOf(channel) || (data.isMsgpack ? MSGPACK_BIT : JSON_BIT);
    const json = formats & JSON_BIT ? (ENCODERS[WireFormat.Json]!.encodeMessage(channel, seq, epoch, data) as string) : null;
    return {
      json,
      jsonBytes: json === null ? 0 : frameBytes(json),
      msgpack: formats & MSGPACK_BIT ? (ENCODERS[WireFormat.Msgpack]!.encodeMessage(channel, seq, epoch, data) as Uint8Array) : null,
    };
  }

  private write(channel: string, seq: number, epoch: number, f: PublicationFrames): void {
    if (!writePublication(this.ring, seq, epoch, channel, f)) {
      throw new Error('ring refused a record after room() said yes'); // a bug, never policy
    }
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(this.flushNow);
  }
}
