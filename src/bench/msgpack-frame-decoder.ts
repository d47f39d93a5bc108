/**
 * MessagePack server frames → deliveries and control messages (`--format msgpack`): the
 * same visitor calls as the JSON decoder, so the load threads count, check seqs and time
 * deliveries the same way whatever the format.
 *
 * Deliveries are walked in place, not unpacked: MessagePack says the length of everything
 * up front, so finding `type`, `channel`, `seq` and the data's `i` and `t` is a few byte
 * reads per key, with values skipped by their length (the padding string is never read)
 * and nothing allocated. A full unpack per delivery would build the message object, its
 * data object and the padding string, making the client's cost, which the report shows,
 * mostly its own garbage. Any key order is accepted, as any MessagePack server may write
 * its own. Control frames (welcome, subscribed, error, …) are rare and decoded with
 * msgpackr. A frame holds one message map or an array of them (protocol v1); a frame that
 * is not one well-formed value (truncated, a length past the end, 0xc1, bytes left over)
 * counts as unparsable, after the deliveries of any complete elements before the damage.
 */
import { Packr, Unpackr } from 'msgpackr';
import { MSGPACK_PROTOCOL } from '../protocol/wire-format.js';
import { epochAfterMarker, type ControlMessage, type DeliveryVisitor, type FrameDecoder } from './frame-decoder.js';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
/** Plain MessagePack for what the client sends (subscribe), as any client library would write. */
const packr = new Packr({ useRecords: false });

const UNPARSABLE: ControlMessage = Object.freeze({ type: 'unparsable' });

const KEY_TYPE = Buffer.from('type');
const KEY_CHANNEL = Buffer.from('channel');
const KEY_SEQ = Buffer.from('seq');
const KEY_DATA = Buffer.from('data');
/** The key `epoch` and the header of its value (a str of 8), as the server writes them. */
const MARK_EPOCH = Buffer.from([0xa5, ...Buffer.from('epoch'), 0xa8]);
const VALUE_MESSAGE = Buffer.from('message');
const KEY_INDEX = 0x69; // "i"
const KEY_TIME = 0x74; // "t"

export class MsgpackFrameDecoder implements FrameDecoder {
  readonly format = 'msgpack' as const;
  readonly subprotocol = MSGPACK_PROTOCOL;
  /** Set by the readers below: where the header or string just read ends (no tuples allocated). */
  private at = 0;

  clientMessage(msg: Record<string, unknown>): Buffer {
    return packr.pack(msg);
  }

  epochAfter(buf: Buffer, from: number): string | null {
    return epochAfterMarker(buf, from, MARK_EPOCH);
  }

  decode(buf: Buffer, start: number, end: number, visitor: DeliveryVisitor): void {
    const b = start < end ? buf[start]! : 0xc1;
    let p = -1;
    if (isArray(b)) {
      let n = this.header(buf, start, end);
      p = this.at;
      while (n-- > 0 && p >= 0) p = this.element(buf, p, end, visitor);
    } else if (isMap(b)) {
      p = this.element(buf, start, end, visitor);
    }
    if (p !== end) visitor.control(UNPARSABLE);
  }

  /** One message at buf[s…): visited; returns where it ends, -1 if it is malformed (not visited). */
  private element(buf: Buffer, s: number, end: number, visitor: DeliveryVisitor): number {
    if (s >= end || !isMap(buf[s]!)) {
      const e = skip(buf, s, end, 1);
      if (e >= 0) visitor.control(UNPARSABLE);
      return e;
    }
    let n = this.header(buf, s, end);
    let p = this.at;
    if (n < 0) return -1;
    let message = false;
    let cs = -1;
    let ce = -1;
    let seq = -1;
    let data = -1;
    while (n-- > 0) {
      const keyEnd = skip(buf, p, end, 1);
      const valueEnd = keyEnd < 0 ? -1 : skip(buf, keyEnd, end, 1);
      if (valueEnd < 0) return -1;
      const kl = this.str(buf, p);
      if (kl === 4 && same(buf, this.at, KEY_TYPE)) message = this.str(buf, keyEnd) === 7 && same(buf, this.at, VALUE_MESSAGE);
      else if (kl === 7 && same(buf, this.at, KEY_CHANNEL)) {
        const cl = this.str(buf, keyEnd);
        if (cl >= 0) {
          cs = this.at;
          ce = this.at + cl;
        }
      } else if (kl === 3 && same(buf, this.at, KEY_SEQ)) seq = uintAt(buf, keyEnd);
      else if (kl === 4 && same(buf, this.at, KEY_DATA)) data = keyEnd;
      p = valueEnd;
    }
    if (!message || cs < 0) {
      visitor.control(control(buf, s, p));
      return p;
    }
    let index = -1;
    let t = NaN;
    if (data >= 0 && isMap(buf[data]!)) {
      let m = this.header(buf, data, p);
      let q = this.at;
      while (m-- > 0 && q >= 0) {
        const keyEnd = skip(buf, q, p, 1);
        if (keyEnd < 0) break;
        if (buf[q] === 0xa1 && buf[q + 1] === KEY_INDEX) index = uintAt(buf, keyEnd);
        else if (buf[q] === 0xa1 && buf[q + 1] === KEY_TIME) t = numberAt(buf, keyEnd);
        q = skip(buf, keyEnd, p, 1);
      }
      if (index < 0 || Number.isNaN(t)) {
        index = -1;
        t = NaN;
      }
    }
    visitor.delivery(buf, cs, ce, seq, index, t);
    return p;
  }

  /** Entries of the map or array whose header is at buf[p] (sets `at` past the header); -1 if it is cut. */
  private header(buf: Buffer, p: number, end: number): number {
    const b = buf[p]!;
    if (b <= 0x9f) {
      this.at = p + 1;
      return b & 0x0f;
    }
    const wide = b === 0xdd || b === 0xdf;
    this.at = p + (wide ? 5 : 3);
    if (this.at > end) {
      this.at = -1;
      return -1;
    }
    return wide ? buf.readUInt32BE(p + 1) : buf.readUInt16BE(p + 1);
  }

  /**
   * Length of the string whose header is at buf[p], -1 if it is not a string (sets `at` to
   * its first byte). Only called on values skip() has bounded, so the header is in range.
   */
  private str(buf: Buffer, p: number): number {
    const b = buf[p]!;
    let width: number;
    if (b >= 0xa0 && b <= 0xbf) width = 0;
    else if (b === 0xd9) width = 1;
    else if (b === 0xda) width = 2;
    else if (b === 0xdb) width = 4;
    else return -1;
    this.at = p + 1 + width;
    return width === 0 ? b & 0x1f : width === 1 ? buf[p + 1]! : width === 2 ? buf.readUInt16BE(p + 1) : buf.readUInt32BE(p + 1);
  }
}

function isMap(b: number): boolean {
  return (b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf;
}

function isArray(b: number): boolean {
  return (b >= 0x90 && b <= 0x9f) || b === 0xdc || b === 0xdd;
}

function same(buf: Buffer, p: number, key: Buffer): boolean {
  for (let i = 0; i < key.length; i++) if (buf[p + i] !== key[i]) return false;
  return true;
}

/** A control message (any map but a delivery) decoded properly; UNPARSABLE if it is not a map. */
function control(buf: Buffer, s: number, e: number): ControlMessage {
  try {
    const v: unknown = unpackr.unpack(buf.subarray(s, e));
    return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as ControlMessage) : UNPARSABLE;
  } catch {
    return UNPARSABLE;
  }
}

/** Fixed sizes of the one-byte-typed values 0xc0…0xdf (0: length-prefixed or container; -1: never valid). */
const FIXED = new Int8Array(32).fill(0);
for (const [b, n] of [[0xc0, 1], [0xc1, -1], [0xc2, 1], [0xc3, 1], [0xca, 5], [0xcb, 9], [0xcc, 2], [0xcd, 3], [0xce, 5],
  [0xcf, 9], [0xd0, 2], [0xd1, 3], [0xd2, 5], [0xd3, 9], [0xd4, 3], [0xd5, 4], [0xd6, 6], [0xd7, 10], [0xd8, 18]] as const) {
  FIXED[b - 0xc0] = n;
}

/**
 * Where the `count` values starting at buf[p] end, or -1 if they do not all end by `end`
 * (or hold 0xc1). Iterative: containers add their entries to the count, so nesting costs
 * no stack and every value at least one byte, which bounds the loop by the frame's length.
 */
export function skip(buf: Buffer, p: number, end: number, count: number): number {
  let left = count;
  while (left > 0) {
    if (p >= end) return -1;
    const b = buf[p]!;
    left--;
    if (b < 0x80 || b >= 0xe0) {
      p += 1;
    } else if (b <= 0x9f) {
      left += b <= 0x8f ? 2 * (b & 0x0f) : b & 0x0f; // fixmap: keys and values; fixarray
      p += 1;
    } else if (b <= 0xbf) {
      p += 1 + (b & 0x1f);
    } else {
      const fixed = FIXED[b - 0xc0]!;
      if (fixed < 0) return -1;
      if (fixed > 0) {
        p += fixed;
        continue;
      }
      // length-prefixed (bin, ext, str) or a container with a 16/32-bit count
      const width = b === 0xc4 || b === 0xc7 || b === 0xd9 ? 1 : b === 0xc5 || b === 0xc8 || b === 0xda || b === 0xdc || b === 0xde ? 2 : 4;
      if (p + 1 + width > end) return -1;
      const n = width === 1 ? buf[p + 1]! : width === 2 ? buf.readUInt16BE(p + 1) : buf.readUInt32BE(p + 1);
      p += 1 + width;
      if (b === 0xdc || b === 0xdd) left += n;
      else if (b === 0xde || b === 0xdf) left += 2 * n;
      else p += n + (b >= 0xc7 && b <= 0xc9 ? 1 : 0); // ext: a type byte after the length
    }
  }
  return p <= end ? p : -1;
}

/** A non-negative integer at buf[p] (bounded by skip()), or -1 if the value is not one. */
function uintAt(buf: Buffer, p: number): number {
  const b = buf[p]!;
  if (b < 0x80) return b;
  switch (b) {
    case 0xcc: return buf[p + 1]!;
    case 0xcd: return buf.readUInt16BE(p + 1);
    case 0xce: return buf.readUInt32BE(p + 1);
    case 0xcf: return buf.readUInt32BE(p + 1) * 2 ** 32 + buf.readUInt32BE(p + 5);
    default: {
      const n = numberAt(buf, p); // a signed or float encoding of a whole number is still one
      return Number.isInteger(n) && n >= 0 ? n : -1;
    }
  }
}

/** Any MessagePack number at buf[p] (bounded by skip()), or NaN. */
function numberAt(buf: Buffer, p: number): number {
  const b = buf[p]!;
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  switch (b) {
    case 0xca: return buf.readFloatBE(p + 1);
    case 0xcb: return buf.readDoubleBE(p + 1);
    case 0xcc: case 0xcd: case 0xce: case 0xcf: return uintAt(buf, p);
    case 0xd0: return buf.readInt8(p + 1);
    case 0xd1: return buf.readInt16BE(p + 1);
    case 0xd2: return buf.readInt32BE(p + 1);
    case 0xd3: return buf.readInt32BE(p + 1) * 2 ** 32 + buf.readUInt32BE(p + 5);
    default: return NaN;
  }
}
