/**
 * Fanout — the main thread's end of the broadcast ring. A sequenced publication is encoded
 * here once per format some shard has subscribers in (formatsOf), and written once into the
 * ring that every shard reads; each shard then hands the same bytes to uWS for its local
 * subscribers. Writes within one turn of the event loop are published with a single flush
 * (one Atomics.notify per sleeping shard per batch).
 */
import { ENCODERS, JSON_ENCODER, MESSAGE_TAIL, frameBytes } from '../protocol/encoder.js';
import type { Payload } from '../protocol/payload.js';
import { JSON_BIT, MSGPACK_BIT, WireFormat } from '../protocol/wire-format.js';
import { nowMs } from '../transport/clock.js';
import { forgetSize, publicationSize, writeForget, writePublication, writeReply, writeStagedPublication, replySize, type PublicationFrames, type ReplyAddress } from '../transport/records.js';
import { RECOVERED_HAS_STATE, RECOVERED_OK, recoveredSize, writeRecovered, type RecoveryAddress, type ReplayFrame } from '../transport/recovery-records.js';
import { RingProducer, recordSpace, type RingHandle } from '../transport/ring.js';
import { MergeWindow } from './merge-window.js';
import { WindowArena } from './window-arena.js';

/**
 * Extra room kept while replies are promised: the promised replies are written in one pass
 * over the ring, so at most one of them wraps, and the tail it skips is smaller than the
 * largest reply (≤ 100 channels × ~220 bytes, or an ack: a few hundred bytes).
 */
const REPLY_WRAP_ALLOWANCE = 32 * 1024;

/** What became of a publication handed to the Fanout. */
export type Delivery = 'written' | 'full' | 'too-large';

export interface FanoutOptions {
  /**
   * The formats (JSON_BIT | MSGPACK_BIT) some shard has subscribers of `channel` in, as
   * the shards reported them (Interest). A shard whose report has not arrived yet makes
   * its missing format itself (Feed), so this may lag without loss. Default: JSON only.
   */
  readonly formatsOf?: (channel: string) => number;
  /** --merge-ms: what a channel receives within this many ms goes out as one frame; 0 = each message at once. */
  readonly mergeMs?: number;
  /** --merge-max-bytes: no merged frame grows past this (a window is split, in order). */
  readonly mergeMaxBytes?: number;
  /** --conflate: channels whose window keeps only the latest message. */
  readonly conflated?: (channel: string) => boolean;
}

/** A reply held behind merge windows that were open when it came (an ack follows its message). */
interface HeldReply {
  readonly to: ReplyAddress;
  readonly body: string;
  readonly promised: number;
}

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

  /**
   * The acceptance time stamped on this turn's publications: the clock is read once per
   * turn (until the next microtask checkpoint), not per publication — the main thread is the
   * serial stage. A publication accepted later in the same turn carries the turn's first
   * time, which counts its wait in the turn.
   */
  private turnStamp = 0;
  private readonly endTurn = (): void => {
    this.turnStamp = 0;
  };

  private stamp(): number {
    if (this.turnStamp === 0) {
      this.turnStamp = nowMs();
      queueMicrotask(this.endTurn);
    }
    return this.turnStamp;
  }

  private readonly formatsOf: (channel: string) => number;
  private readonly mergeMs: number;
  private readonly mergeMaxBytes: number;
  private readonly conflated: (channel: string) => boolean;
  /** Open merge windows, by channel, in the order they opened. */
  private readonly windows = new Map<string, MergeWindow>();
  private windowTimer: NodeJS.Timeout | null = null;
  private readonly closeWindows = (): void => {
    this.windowTimer = null;
    this.writeWindows();
  };
  private readonly held: HeldReply[] = [];
  /** Where open windows keep their messages' bytes (made when merging first holds one). */
  private arena: WindowArena | null = null;
  /** Room kept beside promises for the one record of a pass that may skip the ring's tail. */
  private readonly wrapAllowance: number;

  constructor(
    readonly handle: RingHandle,
    options: FanoutOptions = {},
  ) {
    this.ring = new RingProducer(handle);
    this.formatsOf = options.formatsOf ?? (() => JSON_BIT);
    this.mergeMs = options.mergeMs ?? 0;
    this.mergeMaxBytes = options.mergeMaxBytes ?? 64 * 1024;
    this.conflated = options.conflated ?? (() => false);
    // a window's record holds up to mergeMaxBytes per format (a lone large message: half the ring at most)
    this.wrapAllowance = Math.max(REPLY_WRAP_ALLOWANCE, this.mergeMs > 0 ? 2 * this.mergeMaxBytes + 1024 : 0);
  }

  /**
   * Encodes and writes one publication per channel (same data, each its own seq and
   * epoch): all of them, or none when the ring has no room now ('full') or could never
   * hold them at once ('too-large': more than half the ring).
   */
  deliver(channels: readonly string[], seqs: readonly number[], epochs: readonly number[], data: Payload): Delivery {
    if (this.mergeMs > 0) return this.hold(channels, seqs, epochs, data);
    const frames = channels.map((c, i) => this.encode(c, seqs[i]!, epochs[i]!, data, this.formatsFor(c, data)));
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
    if (!this.ring.room(total + this.reserved())) return 'full';
    const stamp = this.stamp();
    for (let i = 0; i < frames.length; i++) this.write(channels[i]!, seqs[i]!, epochs[i]!, frames[i]!, 1, stamp);
    this.scheduleFlush();
    return 'written';
  }

  /**
   * deliver() with --merge-ms: the messages join their channels' open windows, whose ring
   * space is promised now (all channels or none), so the records written when the windows
   * close always fit. A window that would pass --merge-max-bytes is written first and a new
   * one opened; so is one whose channel began a new incarnation (epoch).
   */
  private hold(channels: readonly string[], seqs: readonly number[], epochs: readonly number[], data: Payload): Delivery {
    let added = 0;
    let largest = 0;
    const frames = new Array<PublicationFrames>(channels.length);
    const formats = new Array<number>(channels.length);
    const joins = new Array<boolean>(channels.length);
    for (let i = 0; i < channels.length; i++) {
      const w = this.windows.get(channels[i]!);
      const needed = this.formatsFor(channels[i]!, data);
      // a message joins its channel's window if it is of the same incarnation and needs no
      // format the window lacks (each frame holds every message of its window); otherwise the
      // window is written first and the message opens the next one
      const join = w !== undefined && w.epoch === epochs[i] && (needed & ~w.formats) === 0;
      formats[i] = join ? w.formats : needed;
      const f = (frames[i] = this.encode(channels[i]!, seqs[i]!, epochs[i]!, data, formats[i]!));
      joins[i] = join && !w.overflows(f, this.mergeMaxBytes);
      const fresh = MergeWindow.firstSpace(channels[i]!, f, this.conflated(channels[i]!));
      if (fresh > largest) largest = fresh;
      // a window that must close first keeps its promise; the message opens a new one
      added += joins[i] ? w!.spaceWith(f) - w!.space : fresh;
    }
    if (added + largest > this.handle.capacity / 2) return 'too-large';
    if (!this.ring.room(added + this.reserved())) return 'full';
    // the arena full (a burst since the windows opened): close them all, which empties it, and start again
    const arena = (this.arena ??= new WindowArena(this.handle.capacity / 2));
    const need = { json: 0, msgpack: 0 };
    for (let i = 0; i < channels.length; i++) MergeWindow.addArenaBytes(need, frames[i]!, this.conflated(channels[i]!));
    if (!arena.fits(need.json, need.msgpack)) {
      if (this.windows.size === 0) return 'too-large';
      this.writeWindows();
      return this.hold(channels, seqs, epochs, data);
    }
    for (let i = 0; i < channels.length; i++) {
      const channel = channels[i]!;
      const f = frames[i]!;
      let w = this.windows.get(channel);
      if (w !== undefined && !joins[i]) {
        this.windows.delete(channel);
        this.writeWindow(w);
        this.scheduleFlush();
        w = undefined;
      }
      if (w === undefined) {
        w = new MergeWindow(channel, epochs[i]!, this.conflated(channel), formats[i]!, arena, this.stamp());
        this.windows.set(channel, w);
      }
      const space = w.spaceWith(f);
      this.promised += space - w.space;
      w.space = space;
      w.add(seqs[i]!, f, data);
    }
    this.windowTimer ??= setTimeout(this.closeWindows, this.mergeMs);
    return 'written';
  }

  /**
   * Writes a FORGET record (the channel's incarnation `epoch` was dropped), if that leaves a
   * quarter of the ring free beside the promised replies: forgetting is housekeeping and
   * must not crowd out publications. False: not written, keep the state and retry later.
   */
  forget(channel: string, epoch: number): boolean {
    // the incarnation's last messages go before its end
    if (this.windows.has(channel)) this.writeWindows();
    const space = recordSpace(forgetSize(channel));
    const reserve = this.handle.capacity / 4 + this.reserved();
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

  /**
   * Writes a reply for one shard worker, behind what it acknowledges, in space promised for
   * it. While merge windows are open the reply waits for them to close: what it
   * acknowledges may be in one of them, and an ack never overtakes its message.
   */
  reply(to: ReplyAddress, body: string, promised: number): void {
    if (this.windows.size > 0 || this.held.length > 0) {
      this.held.push({ to, body, promised });
      return;
    }
    this.writeReplyNow(to, body, promised);
    this.scheduleFlush();
  }

  private writeReplyNow(to: ReplyAddress, body: string, promised: number): void {
    this.promised -= promised;
    if (!writeReply(this.ring, to, body)) {
      throw new Error(`a reply did not fit the ring space promised for it (${promised} bytes)`); // a bug, never policy
    }
  }

  /**
   * Writes the channel's open merge window now, if it has one: what a history answer reports
   * as written must be in the ring before it (the messages it holds are in the history).
   */
  closeWindow(channel: string): void {
    const w = this.windows.get(channel);
    if (w === undefined) return;
    this.windows.delete(channel);
    this.writeWindow(w); // replies held behind windows wait for the timer, as before
    this.scheduleFlush();
  }

  /**
   * Writes the answer to a shard's history request (recovery-records.ts): the channel's
   * state as last written (`epoch` null: none) and, when `messages` (after+1 … seq) is given,
   * each encoded in `formats`. A replay whose frames pass a quarter of the ring is not sent:
   * the answer then says it could not recover (counted by the caller through the result).
   * 'full': no room now, nothing written; ask again later.
   */
  recovered(to: RecoveryAddress, channel: string, after: number, formats: number, seq: number, epoch: number | null, messages: readonly Payload[] | null): 'written' | 'too-large' | 'full' {
    const limit = this.handle.capacity / 4;
    let frames: ReplayFrame[] = [];
    let tooLarge = false;
    if (messages !== null && epoch !== null) {
      let bytes = 0;
      for (let i = 0; i < messages.length && !tooLarge; i++) {
        const f = this.encode(channel, after + 1 + i, epoch, messages[i]!, formats || JSON_BIT);
        frames.push(f);
        bytes += f.jsonBytes + (f.msgpack?.byteLength ?? 0);
        tooLarge = bytes > limit;
      }
      if (tooLarge) frames = [];
    }
    const flags = (messages !== null && epoch !== null && !tooLarge ? RECOVERED_OK : 0) | (epoch !== null ? RECOVERED_HAS_STATE : 0);
    const answer = { channel, seq, after, epoch: epoch ?? 0, flags, frames };
    if (!this.ring.room(recordSpace(recoveredSize(channel, frames)) + this.reserved())) return 'full';
    if (!writeRecovered(this.ring, to, answer)) throw new Error('ring refused a record after room() said yes'); // a bug, never policy
    this.scheduleFlush();
    return tooLarge ? 'too-large' : 'written';
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

  /** Most bytes of the broadcast ring seen unread (RingProducer.highWater). */
  get highWater(): number {
    return this.ring.highWater;
  }

  /** Bytes of the feed shard `shard` has not read yet. */
  lag(shard: number): number {
    return this.ring.lag(shard);
  }

  /** Closes the open merge windows and publishes pending writes now (shutdown, tests). */
  flush(): void {
    if (this.windows.size > 0 || this.held.length > 0) this.writeWindows();
    this.ring.flush();
  }

  /** Ring room that must stay free beside a new publication: promised records and replies, and the wrap slack. */
  private reserved(): number {
    return this.promised + (this.promised > 0 ? this.wrapAllowance : 0);
  }

  /** Writes every open window (in the order they opened), then the replies held behind them. */
  private writeWindows(): void {
    if (this.windowTimer !== null) {
      clearTimeout(this.windowTimer);
      this.windowTimer = null;
    }
    for (const w of this.windows.values()) this.writeWindow(w);
    this.windows.clear();
    this.arena?.reset();
    for (const r of this.held) this.writeReplyNow(r.to, r.body, r.promised);
    this.held.length = 0;
    this.scheduleFlush();
  }

  private writeWindow(w: MergeWindow): void {
    this.promised -= w.space;
    const latest = w.latest();
    if (latest !== null) return this.write(w.channel, w.seq, w.epoch, latest, latest.count, w.opened);
    const s = w.staged();
    if (!writeStagedPublication(this.ring, w.seq, w.epoch, w.channel, s.json, s.msgpack, s.count, w.opened)) {
      throw new Error('ring refused a window after its space was promised'); // a bug, never policy
    }
  }

  /**
   * The formats to encode a message of `channel` in: those in use, or the one its data came
   * in when none is; and MessagePack whenever the data came so — JSON cannot carry binary, so
   * a shard that must make a MessagePack frame itself (its subscribers' report was on its
   * way) must have one to make it from, not a JSON one that lost the binary.
   */
  private formatsFor(channel: string, data: Payload): number {
    return data.isMsgpack ? this.formatsOf(channel) | MSGPACK_BIT : this.formatsOf(channel) || JSON_BIT;
  }

  /**
   * The frames of one message, in `formats` (never none: a shard always has one frame to
   * make another from). Throws ShardcastError(bad_message) when the data has no form in a format in use.
   */
  private encode(channel: string, seq: number, epoch: number, data: Payload, formats: number): PublicationFrames {
    const msgpack = formats & MSGPACK_BIT ? (ENCODERS[WireFormat.Msgpack]!.encodeMessage(channel, seq, epoch, data) as Uint8Array) : null;
    if ((formats & JSON_BIT) === 0) return { json: null, jsonBytes: 0, msgpack };
    const utf8 = data.jsonUtf8;
    if (utf8 !== null) {
      // data still in an ingress ring: its bytes are copied behind the frame's head, never decoded
      const head = JSON_ENCODER.messageHead(channel, seq, epoch);
      return { json: head, jsonBytes: head.length + utf8.byteLength + 1, jsonData: utf8, jsonTail: MESSAGE_TAIL, msgpack };
    }
    const json = JSON_ENCODER.encodeMessage(channel, seq, epoch, data);
    return { json, jsonBytes: frameBytes(json), msgpack };
  }

  private write(channel: string, seq: number, epoch: number, f: PublicationFrames, count: number, stamp: number): void {
    if (!writePublication(this.ring, seq, epoch, channel, f, count, stamp)) {
      throw new Error('ring refused a record after room() said yes'); // a bug, never policy
    }
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(this.flushNow);
  }
}
