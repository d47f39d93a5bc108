/**
 * Recovery records — a shard's request for a channel's history and the main thread's answer
 * (the layouts; records.ts has the others and the record kinds).
 *
 * Ingress ring (shard → main):
 *   RECOVER    ref:f64 | after:f64 | epoch:u32 | formats:u32 | channelLen:u32 | (4 unused) |
 *              channel bytes
 *              Subscribers of this shard worker want the channel's messages after seq
 *              `after` of incarnation `epoch`, in `formats` (JSON_BIT | MSGPACK_BIT); `ref`
 *              names the shard's pending request (one per channel for all its waiters).
 *              `after` = STATE_ONLY (-1): they want the channel's state only (its true seq
 *              and epoch with a broker on several nodes), no messages.
 *
 * Broadcast ring (main → every shard; for one worker, like REPLY):
 *   RECOVERED  shard:i32 | generation:u32 | ref:f64 | seq:f64 | after:f64 | epoch:u32 |
 *              flags:u32 | count:u32 | channelLen:u32 |
 *              count × (jsonLen:u32, msgpackLen:u32) | channel bytes | frames
 *              `seq` and `epoch` are the channel's last seq and incarnation as written to this
 *              ring just before this record; with RECOVERED_OK the `count` messages after+1 …
 *              seq follow as finished `message` frames, each in the requested formats (a
 *              length of 0: not encoded). Because the record rides the broadcast ring behind
 *              every publication up to `seq` and ahead of every later one, a shard that sends
 *              these frames and then subscribes its sockets leaves no gap and no duplicate.
 */
import type { RingConsumer, RingProducer } from './ring.js';
import { RecordKind, putJsonFrame, type JsonFrame, type PublicationFrames } from './records.js';

const RECOVER_HEAD = 32;
const RECOVERED_HEAD = 48;

/** RECOVER's `after` when no messages are wanted, only the channel's state as written before the answer. */
export const STATE_ONLY = -1;

/** The history was there: the frames replay after+1 … seq. */
export const RECOVERED_OK = 1;
/** The channel has state (seq and epoch are real); without it seq is 0 and there is no epoch. */
export const RECOVERED_HAS_STATE = 2;

export interface RecoverRequest {
  ref: number;
  after: number;
  epoch: number;
  formats: number;
  channel: string;
}

export function writeRecover(ring: RingProducer, r: RecoverRequest): boolean {
  const at = ring.reserve(RECOVER_HEAD + r.channel.length, RecordKind.Recover);
  if (at < 0) return false;
  ring.f64[at >>> 3] = r.ref;
  ring.f64[(at + 8) >>> 3] = r.after;
  ring.words[(at + 16) >>> 2] = r.epoch;
  ring.words[(at + 20) >>> 2] = r.formats;
  ring.words[(at + 24) >>> 2] = r.channel.length;
  ring.buf.write(r.channel, at + RECOVER_HEAD, 'latin1');
  return true;
}

/** Null when the lengths do not add up (a producer bug: the reader must not trust the ring). */
export function readRecover(ring: RingConsumer, at: number, length: number): RecoverRequest | null {
  const channelLen = ring.words[(at + 24) >>> 2]!;
  if (RECOVER_HEAD + channelLen !== length) return null;
  return {
    ref: ring.f64[at >>> 3]!,
    after: ring.f64[(at + 8) >>> 3]!,
    epoch: ring.words[(at + 16) >>> 2]!,
    formats: ring.words[(at + 20) >>> 2]!,
    channel: ring.buf.toString('latin1', at + RECOVER_HEAD, at + RECOVER_HEAD + channelLen),
  };
}

/** One replayed message's frames (null: that format not encoded; a JSON frame may come in parts, records.ts JsonFrame). */
export type ReplayFrame = Readonly<PublicationFrames>;

/** Who a recovery answer is for: one request of one shard worker. */
export interface RecoveryAddress {
  readonly shard: number;
  readonly generation: number;
  readonly ref: number;
}

export interface RecoveryAnswer {
  readonly channel: string;
  readonly seq: number;
  readonly after: number;
  readonly epoch: number;
  readonly flags: number;
  readonly frames: readonly ReplayFrame[];
}

/** Payload bytes of a RECOVERED record. */
export function recoveredSize(channel: string, frames: readonly ReplayFrame[]): number {
  let n = RECOVERED_HEAD + 8 * frames.length + channel.length;
  for (const f of frames) n += f.jsonBytes + (f.msgpack?.byteLength ?? 0);
  return n;
}

export function writeRecovered(ring: RingProducer, to: RecoveryAddress, a: RecoveryAnswer): boolean {
  const at = ring.reserve(recoveredSize(a.channel, a.frames), RecordKind.Recovered);
  if (at < 0) return false;
  const w = ring.words;
  w[at >>> 2] = to.shard >>> 0;
  w[(at + 4) >>> 2] = to.generation;
  ring.f64[(at + 8) >>> 3] = to.ref;
  ring.f64[(at + 16) >>> 3] = a.seq;
  ring.f64[(at + 24) >>> 3] = a.after;
  w[(at + 32) >>> 2] = a.epoch;
  w[(at + 36) >>> 2] = a.flags;
  w[(at + 40) >>> 2] = a.frames.length;
  w[(at + 44) >>> 2] = a.channel.length;
  let p = at + RECOVERED_HEAD + 8 * a.frames.length;
  p += ring.buf.write(a.channel, p, 'latin1');
  for (let i = 0; i < a.frames.length; i++) {
    const f = a.frames[i]!;
    w[(at + RECOVERED_HEAD + 8 * i) >>> 2] = f.json === null ? 0 : f.jsonBytes;
    w[(at + RECOVERED_HEAD + 8 * i + 4) >>> 2] = f.msgpack?.byteLength ?? 0;
    if (f.json !== null) p += putJsonFrame(ring.buf, p, f as JsonFrame);
    if (f.msgpack !== null) {
      ring.bytes.set(f.msgpack, p);
      p += f.msgpack.byteLength;
    }
  }
  return true;
}

export interface RecoveredView extends RecoveryAddress {
  readonly channel: string;
  readonly seq: number;
  readonly after: number;
  readonly epoch: number;
  readonly flags: number;
  /** Per message (seq after+1+i), its frame in each format: views of the ring, valid until the record is released (empty: not encoded). */
  readonly json: Uint8Array[];
  readonly msgpack: Uint8Array[];
}

/** The address only: a shard reads the rest only of answers meant for it. */
export function recoveredAddress(ring: RingConsumer, at: number): RecoveryAddress {
  return { shard: ring.words[at >>> 2]! | 0, generation: ring.words[(at + 4) >>> 2]!, ref: ring.f64[(at + 8) >>> 3]! };
}

export function readRecovered(ring: RingConsumer, at: number): RecoveredView {
  const w = ring.words;
  const count = w[(at + 40) >>> 2]!;
  const channelLen = w[(at + 44) >>> 2]!;
  let p = at + RECOVERED_HEAD + 8 * count;
  const channel = ring.buf.toString('latin1', p, p + channelLen);
  p += channelLen;
  const json = new Array<Uint8Array>(count);
  const msgpack = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) {
    const j = w[(at + RECOVERED_HEAD + 8 * i) >>> 2]!;
    const m = w[(at + RECOVERED_HEAD + 8 * i + 4) >>> 2]!;
    json[i] = ring.bytes.subarray(p, p + j);
    msgpack[i] = ring.bytes.subarray(p + j, p + j + m);
    p += j + m;
  }
  return {
    ...recoveredAddress(ring, at),
    seq: ring.f64[(at + 16) >>> 3]!,
    after: ring.f64[(at + 24) >>> 3]!,
    epoch: w[(at + 32) >>> 2]!,
    flags: w[(at + 36) >>> 2]!,
    channel,
    json,
    msgpack,
  };
}
