/**
 * MergeWindow — one channel's messages within the current merge window (--merge-ms), kept
 * encoded per format, as bytes in the WindowArena, until the window closes and they go out as
 * one frame: an array of the message objects, written once per channel per window straight
 * from the arena into the ring (FrameEncoder's merge parts around them), never per recipient. uWS then hands each subscriber one
 * frame for the window instead of one per message: one pass over the subscribers, one
 * WebSocket frame and one message event in the browser.
 *
 * A conflated channel (--conflate) keeps only its latest message: the frame holds that one
 * message, marked with `"replaces": n` when it stands for n earlier ones the window dropped,
 * so a client checking seqs sees the gap is conflation, not loss.
 */
import { ENCODERS, frameBytes } from '../protocol/encoder.js';
import type { Payload } from '../protocol/payload.js';
import { JSON_BIT, MSGPACK_BIT, WireFormat } from '../protocol/wire-format.js';
import { publicationSize, type JsonFrame, type PublicationFrames, type StagedFrame } from '../transport/records.js';
import { recordSpace } from '../transport/ring.js';
import { ArenaSlices, type WindowArena } from './window-arena.js';

/** Bytes a conflated message may grow by at the window's end: `"replaces":n,` (JSON) or one more map entry. */
const REPLACES_ALLOWANCE = 32;

/** One message's frames, as Fanout encodes them (a JSON frame may come in parts: records.ts JsonFrame). */
export type MessageFrames = Readonly<PublicationFrames>;

export class MergeWindow {
  /** Messages held, per format, as ranges of the arena (empty when that format is not encoded). */
  private readonly json: ArenaSlices;
  private readonly msgpack: ArenaSlices;
  /** Bytes of the held messages per format, separators not counted (a conflated window: its latest). */
  private jsonBytes = 0;
  private msgpackBytes = 0;
  /** Messages the window holds (conflated: that it has seen). */
  count = 0;
  seq = 0;
  /** The latest message's data (conflated channels re-encode it with `replaces`). */
  private data: Payload | null = null;
  /** Ring space promised for the record this window will write (Fanout's accounting). */
  space = 0;

  constructor(
    readonly channel: string,
    readonly epoch: number,
    readonly conflated: boolean,
    /**
     * The formats (JSON_BIT | MSGPACK_BIT) every message of the window is encoded in, fixed
     * when it opens: a frame must hold all of the window's messages. A message that needs
     * another format closes the window (Fanout.hold); until main knows of new subscribers'
     * format, their shard makes it from the other frame (Feed).
     */
    readonly formats: number,
    arena: WindowArena,
    /** When its first message was accepted (nowMs): the record's stamp, so latency includes the wait. */
    readonly opened: number,
  ) {
    this.json = new ArenaSlices(arena.json);
    this.msgpack = new ArenaSlices(arena.msgpack);
  }

  /** The ring space of a new window holding `f` alone. */
  static firstSpace(channel: string, f: MessageFrames, conflated: boolean): number {
    const extra = conflated ? 2 * REPLACES_ALLOWANCE : 0;
    return recordSpace(publicationSize(channel, f.jsonBytes + (f.msgpack?.byteLength ?? 0) + extra));
  }

  /** Adds to `need` the arena bytes add() takes at most for `f` (a conflated window keeps none: it re-encodes its latest). */
  static addArenaBytes(need: { json: number; msgpack: number }, f: MessageFrames, conflated: boolean): void {
    if (conflated) return;
    need.json += f.json === null ? 0 : f.jsonBytes + 1;
    need.msgpack += f.msgpack?.byteLength ?? 0;
  }

  /** The ring space this window's record needs with `f` added. */
  spaceWith(f: MessageFrames): number {
    if (this.conflated || this.count === 0) return MergeWindow.firstSpace(this.channel, f, this.conflated);
    const n = this.count + 1;
    const json = f.json === null ? 0 : this.jsonBytes + f.jsonBytes + ENCODERS[WireFormat.Json]!.mergeOverhead(n);
    const msgpack = f.msgpack === null ? 0 : this.msgpackBytes + f.msgpack.byteLength + ENCODERS[WireFormat.Msgpack]!.mergeOverhead(n);
    return recordSpace(publicationSize(this.channel, json + msgpack));
  }

  /** Whether adding `f` would make a frame of this window larger than `maxBytes`. */
  overflows(f: MessageFrames, maxBytes: number): boolean {
    if (this.count === 0 || this.conflated) return false;
    const n = this.count + 1;
    return (f.json !== null && this.jsonBytes + f.jsonBytes + ENCODERS[WireFormat.Json]!.mergeOverhead(n) > maxBytes) ||
      (f.msgpack !== null && this.msgpackBytes + f.msgpack.byteLength + ENCODERS[WireFormat.Msgpack]!.mergeOverhead(n) > maxBytes);
  }

  /** Adds a message; its bytes are copied into the arena (the caller checked arenaBytes() fit). */
  add(seq: number, f: MessageFrames, data: Payload): void {
    if (this.conflated) {
      this.data = data.kept(); // re-encoded when the window closes, after its ingress record is gone
      this.jsonBytes = f.jsonBytes;
      this.msgpackBytes = f.msgpack?.byteLength ?? 0;
    } else {
      if (f.json !== null) {
        const separator = this.count === 0 ? -1 : ENCODERS[WireFormat.Json]!.mergeSeparator;
        this.json.took(this.json.region.appendJson(separator, f as JsonFrame));
        this.jsonBytes += f.jsonBytes;
      }
      if (f.msgpack !== null) {
        const separator = this.count === 0 ? -1 : ENCODERS[WireFormat.Msgpack]!.mergeSeparator;
        this.msgpack.took(this.msgpack.region.appendBytes(separator, f.msgpack));
        this.msgpackBytes += f.msgpack.byteLength;
      }
    }
    this.count++;
    this.seq = seq;
  }

  /**
   * A conflated window's frames: the latest message, standing for the ones before it in the
   * window (`replaces`), encoded again now. Null for other windows (see staged()).
   */
  latest(): (PublicationFrames & { count: number }) | null {
    if (!this.conflated) return null;
    const replaces = this.count - 1;
    const json = this.formats & JSON_BIT ? (ENCODERS[WireFormat.Json]!.encodeMessage(this.channel, this.seq, this.epoch, this.data!, replaces) as string) : null;
    const msgpack = this.formats & MSGPACK_BIT ? (ENCODERS[WireFormat.Msgpack]!.encodeMessage(this.channel, this.seq, this.epoch, this.data!, replaces) as Uint8Array) : null;
    return { json, jsonBytes: json === null ? 0 : frameBytes(json), msgpack, count: 1 };
  }

  /** The window's frames as they sit in the arena, one per format held (null: not encoded), with the parts that make them one array. */
  staged(): { json: StagedFrame | null; msgpack: StagedFrame | null; count: number } {
    return {
      json: this.formats & JSON_BIT ? this.stage(this.json, WireFormat.Json) : null,
      msgpack: this.formats & MSGPACK_BIT ? this.stage(this.msgpack, WireFormat.Msgpack) : null,
      count: this.count,
    };
  }

  private stage(slices: ArenaSlices, format: WireFormat): StagedFrame {
    const e = ENCODERS[format]!;
    return { bytes: slices.region.bytes, ranges: slices.ranges, head: e.mergeHead(this.count), tail: e.mergeTail(this.count) };
  }
}
