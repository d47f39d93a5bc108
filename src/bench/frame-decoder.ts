/**
 * Server frame → deliveries and control messages. This is the format seam: the load threads
 * only see the DeliveryVisitor calls, so MessagePack frames are a second FrameDecoder
 * (msgpack-frame-decoder.ts) chosen by `--format`, with nothing else changing; the decoder
 * also names the subprotocol to ask for and encodes the client's own few messages.
 *
 * The JSON decoder avoids JSON.parse on deliveries: at hundreds of thousands of deliveries a
 * second a full parse per frame would make the client, not the server, the bottleneck. A
 * delivery needs only its channel, `seq`, and our payload's `i` and `t`; those are found with
 * Buffer#indexOf (native memmem) and read in place. Control frames (welcome, subscribed,
 * error, ack …) are rare and parsed properly. A frame may hold one object or an array of
 * objects (protocol v1); arrays are split by a small string-aware bracket scanner.
 */
import { MsgpackFrameDecoder } from './msgpack-frame-decoder.js';
import type { BenchFormat } from './options.js';

export interface ControlMessage {
  readonly type?: unknown;
  readonly channel?: unknown;
  readonly seq?: unknown;
  readonly code?: unknown;
  readonly ref?: unknown;
  readonly id?: unknown;
  readonly [key: string]: unknown;
}

export interface DeliveryVisitor {
  /**
   * One publication. Its channel name is buf[cs, ce) (valid only during the call); `seq` is
   * -1 if absent; `index` is -1 and `tMs` NaN when the data is not a bench payload.
   */
  delivery(buf: Buffer, cs: number, ce: number, seq: number, index: number, tMs: number): void;
  /** Any other server message, decoded; `{type: 'unparsable'}` for bytes that are not a message. */
  control(msg: ControlMessage): void;
}

export interface FrameDecoder {
  readonly format: BenchFormat;
  /** The WebSocket subprotocol that asks the server for this format (null: none, the default). */
  readonly subprotocol: string | null;
  /** A client message in this format: text for a text frame, bytes for a binary one. */
  clientMessage(msg: Record<string, unknown>): string | Buffer;
  decode(buf: Buffer, start: number, end: number, visitor: DeliveryVisitor): void;
  /**
   * The epoch of the seq-1 message whose channel name ends at `from` in buf (a `message` with
   * seq 1 names its epoch after its seq, before its data); null if it names none. Called only
   * while a reconnecting connection still needs its epoch (reconnects.ts), not per delivery.
   */
  epochAfter(buf: Buffer, from: number): string | null;
}

/** The 8 hex digits after the first `marker` at or past `from`, if they are there. */
export function epochAfterMarker(buf: Buffer, from: number, marker: Buffer): string | null {
  const k = buf.indexOf(marker, from);
  if (k < 0 || k + marker.length + 8 > buf.length) return null;
  const epoch = buf.toString('latin1', k + marker.length, k + marker.length + 8);
  return /^[0-9a-f]{8}$/.test(epoch) ? epoch : null;
}

export function frameDecoder(format: BenchFormat): FrameDecoder {
  switch (format) {
    case 'json':
      return new JsonFrameDecoder();
    case 'msgpack':
      return new MsgpackFrameDecoder();
  }
}

const TYPE_MESSAGE = Buffer.from('"type":"message"');
const MARK_CHANNEL = Buffer.from('"channel":"');
const MARK_SEQ = Buffer.from('"seq":');
const MARK_DATA = Buffer.from('"data":');
const MARK_EPOCH = Buffer.from('"epoch":"');
const MARK_INDEX = Buffer.from('"i":');
const MARK_TIME = Buffer.from('"t":');

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const UNPARSABLE: ControlMessage = Object.freeze({ type: 'unparsable' });

export class JsonFrameDecoder implements FrameDecoder {
  readonly format = 'json' as const;
  readonly subprotocol = null;

  clientMessage(msg: Record<string, unknown>): string {
    return JSON.stringify(msg);
  }

  epochAfter(buf: Buffer, from: number): string | null {
    return epochAfterMarker(buf, from, MARK_EPOCH);
  }

  decode(buf: Buffer, start: number, end: number, visitor: DeliveryVisitor): void {
    let s = start;
    while (s < end && isSpace(buf[s]!)) s++;
    const first = buf[s];
    if (first === OPEN_BRACE) this.object(buf, s, end, visitor);
    else if (first === OPEN_BRACKET) this.array(buf, s, end, visitor);
    else visitor.control(UNPARSABLE);
  }

  /** One message object in buf[s, e). Searches are unbounded (fast) but hits past `e` are ignored. */
  private object(buf: Buffer, s: number, e: number, visitor: DeliveryVisitor): void {
    const tm = buf.indexOf(TYPE_MESSAGE, s);
    if (tm < 0 || tm >= e) return visitor.control(parseControl(buf, s, e));
    const kc = buf.indexOf(MARK_CHANNEL, s);
    if (kc < 0 || kc >= e) return visitor.control(parseControl(buf, s, e));
    const cs = kc + MARK_CHANNEL.length;
    const ce = buf.indexOf(QUOTE, cs); // channel names never contain quotes or escapes
    const ks = buf.indexOf(MARK_SEQ, s);
    const seq = ks >= 0 && ks < e ? readUint(buf, ks + MARK_SEQ.length, e) : -1;
    const kd = buf.indexOf(MARK_DATA, s);
    let index = -1;
    let t = NaN;
    if (kd >= 0 && kd < e) {
      const ki = buf.indexOf(MARK_INDEX, kd);
      const kt = buf.indexOf(MARK_TIME, kd);
      if (ki >= 0 && ki < e && kt >= 0 && kt < e) {
        index = readUint(buf, ki + MARK_INDEX.length, e);
        t = readNumber(buf, kt + MARK_TIME.length, e);
        if (index < 0 || Number.isNaN(t)) {
          index = -1;
          t = NaN;
        }
      }
    }
    visitor.delivery(buf, cs, ce < 0 || ce > e ? cs : ce, seq, index, t);
  }

  /** Visits each top-level object of the array in buf[s, e), in order. */
  private array(buf: Buffer, s: number, e: number, visitor: DeliveryVisitor): void {
    let depth = 0;
    let inString = false;
    let escaped = false;
    let objectStart = -1;
    for (let p = s; p < e; p++) {
      const c = buf[p]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
        continue;
      }
      if (c === QUOTE) {
        inString = true;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (depth === 1 && c === OPEN_BRACE) objectStart = p;
        depth++;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        depth--;
        if (depth === 1 && c === CLOSE_BRACE && objectStart >= 0) {
          this.object(buf, objectStart, p + 1, visitor);
          objectStart = -1;
        }
        if (depth === 0) return;
      }
    }
    // An unterminated array: whatever complete objects it had were visited.
    visitor.control(UNPARSABLE);
  }
}

function parseControl(buf: Buffer, s: number, e: number): ControlMessage {
  try {
    const v: unknown = JSON.parse(buf.toString('utf8', s, e));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as ControlMessage) : UNPARSABLE;
  } catch {
    return UNPARSABLE;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Non-negative integer at `pos` (leading spaces allowed); -1 if there is none. */
export function readUint(buf: Buffer, pos: number, end: number): number {
  while (pos < end && buf[pos] === 0x20) pos++;
  let n = -1;
  while (pos < end) {
    const c = buf[pos]!;
    if (c < 0x30 || c > 0x39) break;
    n = (n < 0 ? 0 : n * 10) + (c - 0x30);
    pos++;
  }
  return n;
}

/** A JSON number at `pos`; plain decimals are read in place, anything fancier via Number(). */
export function readNumber(buf: Buffer, pos: number, end: number): number {
  while (pos < end && buf[pos] === 0x20) pos++;
  const from = pos;
  let whole = 0;
  let digits = 0;
  while (pos < end) {
    const c = buf[pos]!;
    if (c < 0x30 || c > 0x39) break;
    whole = whole * 10 + (c - 0x30);
    digits++;
    pos++;
  }
  if (digits === 0) return slowNumber(buf, from, end);
  let value = whole;
  if (buf[pos] === 0x2e) {
    pos++;
    let frac = 0;
    let scale = 1;
    while (pos < end) {
      const c = buf[pos]!;
      if (c < 0x30 || c > 0x39) break;
      frac = frac * 10 + (c - 0x30);
      scale *= 10;
      pos++;
    }
    value += frac / scale;
  }
  const c = buf[pos];
  if (c === 0x65 || c === 0x45) return slowNumber(buf, from, end); // exponent
  return value;
}

function slowNumber(buf: Buffer, from: number, end: number): number {
  let to = from;
  while (to < end && /[-+.\deE]/.test(String.fromCharCode(buf[to]!))) to++;
  const n = to > from ? Number(buf.toString('latin1', from, to)) : NaN;
  return Number.isFinite(n) ? n : NaN;
}
