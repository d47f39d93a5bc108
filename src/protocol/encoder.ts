/**
 * FrameEncoder — turns a sequenced publication into the exact bytes every subscriber in one
 * format gets. It runs on the main thread once per publication and format in use (never per
 * recipient, never per shard); shards forward the bytes untouched. A frame holds one
 * message object, or an array of them (a merged frame, see merge()).
 */
import { formatEpoch } from './messages.js';
import type { Payload } from './payload.js';
import { WireFormat } from './wire-format.js';

/**
 * An encoded frame or message: JSON as a string (written into the ring as UTF-8 with no
 * intermediate copy), MessagePack as bytes.
 */
export type Frame = string | Uint8Array;

/** Bytes of a frame on the wire. */
export function frameBytes(f: Frame): number {
  return typeof f === 'string' ? Buffer.byteLength(f) : f.byteLength;
}

export interface FrameEncoder {
  readonly format: WireFormat;
  /**
   * One `message` object. `epoch` is the channel's incarnation (u32), written into the
   * frame of its seq 1 only, so a client that subscribed before the incarnation began (its
   * `subscribed` said seq 0 and no epoch) learns it, at no cost to the other messages.
   * `replaces` > 0 (conflation): the message stands for that many earlier ones, seqs
   * seq − replaces … seq − 1, which were not sent; it carries the epoch if they include seq 1.
   */
  encodeMessage(channel: string, seq: number, epoch: number, data: Payload, replaces?: number): Frame;
  /** Encoded messages (of `bytes` in all) as one frame: an array of them, in order (one message: itself). */
  merge(messages: readonly Frame[], bytes: number): Frame;
  /** Bytes merge() adds around `count` messages. */
  mergeOverhead(count: number): number;
  /**
   * The same merge in parts, for messages kept as bytes (a merge window's arena): the bytes
   * before the first message, the one byte between two messages (-1: none), and the bytes
   * after the last — all empty for one message.
   */
  mergeHead(count: number): Uint8Array;
  readonly mergeSeparator: number;
  mergeTail(count: number): Uint8Array;
}

const NOTHING = new Uint8Array(0);

/** The byte that ends a JSON `message` frame after its data (JsonFrameEncoder.messageHead). */
export const MESSAGE_TAIL = 0x7d; // '}'

/** Protocol v1 text frames: {"type":"message","channel":C,"seq":n,"data":…}. */
export class JsonFrameEncoder implements FrameEncoder {
  readonly format = WireFormat.Json;

  encodeMessage(channel: string, seq: number, epoch: number, data: Payload, replaces = 0): string {
    return `${this.messageHead(channel, seq, epoch, replaces)}${data.asJson()}}`;
  }

  /**
   * A `message` frame up to its data (ASCII): the frame is this, the data's JSON text, then
   * MESSAGE_TAIL. Data that is already UTF-8 bytes (an ingress ring's) is copied behind it as it
   * is, never decoded to a string and encoded again (Fanout).
   */
  messageHead(channel: string, seq: number, epoch: number, replaces = 0): string {
    // channel names are restricted to characters JSON never escapes
    if (replaces > 0) {
      const e = seq - replaces === 1 ? `"epoch":"${formatEpoch(epoch)}",` : '';
      return `{"type":"message","channel":"${channel}","seq":${seq},${e}"replaces":${replaces},"data":`;
    }
    return seq === 1
      ? `{"type":"message","channel":"${channel}","seq":1,"epoch":"${formatEpoch(epoch)}","data":`
      : `{"type":"message","channel":"${channel}","seq":${seq},"data":`;
  }

  merge(messages: readonly Frame[]): string {
    // a rope of the messages' strings: V8 flattens it once, when it is written into the ring
    return messages.length === 1 ? (messages[0] as string) : `[${messages.join(',')}]`;
  }

  mergeOverhead(count: number): number {
    return count === 1 ? 0 : count + 1;
  }

  readonly mergeSeparator = 0x2c; // ','
  private readonly open = Buffer.from('[');
  private readonly close = Buffer.from(']');

  mergeHead(count: number): Uint8Array {
    return count === 1 ? NOTHING : this.open;
  }

  mergeTail(count: number): Uint8Array {
    return count === 1 ? NOTHING : this.close;
  }
}

const TYPE_MESSAGE = Buffer.from([0xa4, ...Buffer.from('type'), 0xa7, ...Buffer.from('message'), 0xa7, ...Buffer.from('channel')]);
const KEY_SEQ = Buffer.from([0xa3, ...Buffer.from('seq')]);
const KEY_EPOCH = Buffer.from([0xa5, ...Buffer.from('epoch'), 0xa8]);
const KEY_DATA = Buffer.from([0xa4, ...Buffer.from('data')]);
const KEY_REPLACES = Buffer.from([0xa8, ...Buffer.from('replaces')]);

/**
 * The same message objects as MessagePack maps (binary frames): {type, channel, seq,
 * [epoch,] [replaces,] data}, keys in that order. The map around the data is written here byte by byte
 * (a fixed shape); the data's own bytes are copied in as they are.
 */
export class MsgpackFrameEncoder implements FrameEncoder {
  readonly format = WireFormat.Msgpack;

  encodeMessage(channel: string, seq: number, epoch: number, data: Payload, replaces = 0): Uint8Array {
    const packed = data.asMsgpack();
    const withEpoch = seq - replaces === 1;
    const size = 1 + TYPE_MESSAGE.length + strHeader(channel.length) + channel.length + KEY_SEQ.length + uintSize(seq) +
      (withEpoch ? KEY_EPOCH.length + 8 : 0) + (replaces > 0 ? KEY_REPLACES.length + uintSize(replaces) : 0) + KEY_DATA.length + packed.byteLength;
    const out = Buffer.allocUnsafe(size);
    let p = 0;
    out[p++] = 0x84 + (withEpoch ? 1 : 0) + (replaces > 0 ? 1 : 0); // fixmap of 4 to 6 entries
    p += TYPE_MESSAGE.copy(out, p);
    p = writeStrHeader(out, p, channel.length);
    p += out.write(channel, p, 'latin1'); // channel names are ASCII
    p += KEY_SEQ.copy(out, p);
    p = writeUint(out, p, seq);
    if (withEpoch) {
      p += KEY_EPOCH.copy(out, p);
      p += out.write(formatEpoch(epoch), p, 'latin1');
    }
    if (replaces > 0) {
      p += KEY_REPLACES.copy(out, p);
      p = writeUint(out, p, replaces);
    }
    p += KEY_DATA.copy(out, p);
    out.set(packed, p);
    return out;
  }

  merge(messages: readonly Frame[], bytes: number): Uint8Array {
    if (messages.length === 1) return messages[0] as Uint8Array;
    const out = Buffer.allocUnsafe(bytes + this.mergeOverhead(messages.length));
    let p = writeArrayHeader(out, 0, messages.length);
    for (const m of messages as readonly Uint8Array[]) {
      out.set(m, p);
      p += m.byteLength;
    }
    return out;
  }

  mergeOverhead(count: number): number {
    return count === 1 ? 0 : count < 16 ? 1 : count < 0x10000 ? 3 : 5;
  }

  readonly mergeSeparator = -1;

  mergeHead(count: number): Uint8Array {
    if (count === 1) return NOTHING;
    const out = Buffer.allocUnsafe(this.mergeOverhead(count));
    writeArrayHeader(out, 0, count);
    return out;
  }

  mergeTail(): Uint8Array {
    return NOTHING;
  }
}

function strHeader(length: number): number {
  return length < 32 ? 1 : length < 0x100 ? 2 : 3;
}

function writeStrHeader(out: Buffer, p: number, length: number): number {
  if (length < 32) out[p++] = 0xa0 | length;
  else if (length < 0x100) {
    out[p++] = 0xd9;
    out[p++] = length;
  } else {
    out[p++] = 0xda;
    out.writeUInt16BE(length, p);
    p += 2;
  }
  return p;
}

function uintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

function writeUint(out: Buffer, p: number, n: number): number {
  if (n < 0x80) out[p++] = n;
  else if (n < 0x100) {
    out[p++] = 0xcc;
    out[p++] = n;
  } else if (n < 0x10000) {
    out[p++] = 0xcd;
    out.writeUInt16BE(n, p);
    p += 2;
  } else if (n < 0x100000000) {
    out[p++] = 0xce;
    out.writeUInt32BE(n, p);
    p += 4;
  } else {
    out[p++] = 0xcf;
    out.writeBigUInt64BE(BigInt(n), p);
    p += 8;
  }
  return p;
}

function writeArrayHeader(out: Buffer, p: number, count: number): number {
  if (count < 16) out[p++] = 0x90 | count;
  else if (count < 0x10000) {
    out[p++] = 0xdc;
    out.writeUInt16BE(count, p);
    p += 2;
  } else {
    out[p++] = 0xdd;
    out.writeUInt32BE(count, p);
    p += 4;
  }
  return p;
}

export const JSON_ENCODER = new JsonFrameEncoder();
/** One encoder per format, indexed by WireFormat. */
export const ENCODERS: readonly FrameEncoder[] = [JSON_ENCODER, new MsgpackFrameEncoder()];
