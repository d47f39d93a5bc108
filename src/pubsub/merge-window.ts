/**
 * MergeWindow — one channel's messages within the current merge window (--merge-ms), kept
 * encoded per format until the window closes and they go out as one frame: an array of the
 * message objects, built once per channel per window by concatenating the bytes already
 * encoded (FrameEncoder.merge), never per recipient. uWS then hands each subscriber one
 * frame for the window instead of one per message: one pass over the subscribers, one
 * WebSocket frame and one message event in the browser.
 *
 * A conflated channel (--conflate) keeps only its latest message: the frame holds that one
 * message, marked with `"replaces": n` when it stands for n earlier ones the window dropped,
 * so a client checking seqs sees the gap is conflation, not loss.
 */
import { ENCODERS, frameBytes, type Frame } from '../protocol/encoder.js';
import type { Payload } from '../protocol/payload.js';
import { WireFormat } from '../protocol/wire-format.js';
import { publicationSize, type PublicationFrames } from '../transport/records.js';
import { recordSpace } from '../transport/ring.js';

/** Bytes a conflated message may grow by at the window's end: `"replaces":n,` (JSON) or one more map entry. */
const REPLACES_ALLOWANCE = 32;

/** One message's frames, as Fanout encodes them. */
export interface MessageFrames {
  readonly json: string | null;
  readonly jsonBytes: number;
  readonly msgpack: Uint8Array | null;
}

export class MergeWindow {
  /** Messages held, per format (one of the arrays stays empty when that format is not encoded). */
  private json: Frame[] = [];
  private jsonBytes = 0;
  private msgpack: Frame[] = [];
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
    /** When its first message was accepted (nowMs): the record's stamp, so latency includes the wait. */
    readonly opened: number,
  ) {}

  /** The ring space of a new window holding `f` alone. */
  static firstSpace(channel: string, f: MessageFrames, conflated: boolean): number {
    const extra = conflated ? 2 * REPLACES_ALLOWANCE : 0;
    return recordSpace(publicationSize(channel, f.jsonBytes + (f.msgpack?.byteLength ?? 0) + extra));
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

  add(seq: number, f: MessageFrames, data: Payload): void {
    if (this.conflated) {
      this.json.length = 0;
      this.msgpack.length = 0;
      this.jsonBytes = this.msgpackBytes = 0;
      this.data = data;
    }
    if (f.json !== null) {
      this.json.push(f.json);
      this.jsonBytes += f.jsonBytes;
    }
    if (f.msgpack !== null) {
      this.msgpack.push(f.msgpack);
      this.msgpackBytes += f.msgpack.byteLength;
    }
    this.count++;
    this.seq = seq;
  }

  /** The window's frames, one per format encoded, for one PUBLICATION record. */
  frames(): PublicationFrames & { count: number } {
    if (this.conflated && this.count > 1) {
      // the latest message, now standing for the ones before it in the window
      const replaces = this.count - 1;
      const json = this.json.length > 0 ? (ENCODERS[WireFormat.Json]!.encodeMessage(this.channel, this.seq, this.epoch, this.data!, replaces) as string) : null;
      const msgpack = this.msgpack.length > 0 ? (ENCODERS[WireFormat.Msgpack]!.encodeMessage(this.channel, this.seq, this.epoch, this.data!, replaces) as Uint8Array) : null;
      return { json, jsonBytes: json === null ? 0 : frameBytes(json), msgpack, count: 1 };
    }
    const n = this.json.length || this.msgpack.length;
    const json = this.json.length > 0 ? (ENCODERS[WireFormat.Json]!.merge(this.json, this.jsonBytes) as string) : null;
    const msgpack = this.msgpack.length > 0 ? (ENCODERS[WireFormat.Msgpack]!.merge(this.msgpack, this.msgpackBytes) as Uint8Array) : null;
    return { json, jsonBytes: json === null ? 0 : this.jsonBytes + ENCODERS[WireFormat.Json]!.mergeOverhead(n), msgpack, count: n };
  }
}
