/**
 * Records — the layouts of what travels through the rings. Defined here once; no other file
 * knows an offset. Every payload starts 8-byte aligned (see ring.ts), so numeric fields are
 * read through typed-array views of the ring's bytes.
 *
 * Broadcast ring (main → every shard):
 *   PUBLICATION  seq:f64 | channelLen:u32 | jsonLen:u32 | epoch:u32 | msgpackLen:u32 |
 *                count:u32 | (4 bytes unused) | stamp:f64 |
 *                channel bytes | JSON frame bytes | MessagePack frame bytes
 *                The frames are finished wire frames, encoded once on the main thread,
 *                one per format some shard has subscribers in (a length of 0: not
 *                encoded; at least one always is); count is how many messages each frame
 *                holds (more than 1 when merged, see pubsub/merge-window.ts) and seq the
 *                last seq among them; the epoch names the channel's incarnation
 *                (sequencer.ts). stamp: when main accepted the (first) message, on the
 *                clock every thread shares (clock.ts), for the delivery-latency histogram.
 *   REPLY        shard:i32 | generation:u32 | target:u32 | bodyLen:u32 | ref:f64 | body bytes
 *                Meant for one shard worker only (an ack for a WebSocket publish or the
 *                answer to an HTTP publish); the others skip it. Riding the broadcast ring
 *                keeps the reply behind the publications it acknowledges.
 *   FORGET       epoch:u32 | channelLen:u32 | channel bytes
 *                The main thread dropped the channel's state (incarnation `epoch`): every
 *                shard drops its entry at this same point of the stream.
 *
 * Ingress ring (one per shard worker, shard → main):
 *   PUBLISH      target:u32 | channelsLen:u32 | dataLen:u32 | idLen:u32 | ref:f64 |
 *                msgpack:u32 | (4 bytes unused) |
 *                channels (joined by "\n"; names cannot contain it) | data | id
 *                The data is JSON text, or MessagePack bytes when msgpack is 1.
 *
 * RECOVER (ingress) and RECOVERED (broadcast), the history requests of recovering subscribers
 * and their answers, are laid out in recovery-records.ts.
 *
 * A reply's address is unique for the life of the process: (shard, generation) names one
 * worker (a restarted shard has a new generation and its own ingress ring), and `ref` is
 * that worker's connection or request number, an integer counted up from 1 that stays
 * exact in a float64 up to 2^53, so it never wraps onto a live one. An answer that arrives
 * after its worker is gone is skipped by the worker that replaced it.
 */
import { RingConsumer, RingProducer } from './ring.js';

export const enum RecordKind {
  Publication = 1,
  Reply = 2,
  Publish = 3,
  Forget = 4,
  /** Ingress ring: a shard asks for a channel's history (recovery-records.ts). */
  Recover = 5,
  /** Broadcast ring: the answer, for one shard worker (recovery-records.ts). */
  Recovered = 6,
}

/** Who waits for the answer to a publish. */
export const enum ReplyTarget {
  None = 0,
  WebSocket = 1,
  Http = 2,
}

const PUB_HEAD = 40;
const REPLY_HEAD = 24;
const PUBLISH_HEAD = 32;
const FORGET_HEAD = 8;

// ---------------------------------------------------------------- publication

/** Bytes a publication record needs (for capacity checks before sequencing). */
export function publicationSize(channel: string, frameBytes: number): number {
  return PUB_HEAD + channel.length + frameBytes;
}

/** Reserves a publication record and writes its head and channel; where its frames go, or -1: the ring is full. */
function reservePublication(ring: RingProducer, seq: number, epoch: number, channel: string, jsonBytes: number, msgpackBytes: number, count: number, stamp: number): number {
  const at = ring.reserve(PUB_HEAD + channel.length + jsonBytes + msgpackBytes, RecordKind.Publication);
  if (at < 0) return -1;
  ring.f64[at >>> 3] = seq;
  ring.words[(at + 8) >>> 2] = channel.length;
  ring.words[(at + 12) >>> 2] = jsonBytes;
  ring.words[(at + 16) >>> 2] = epoch;
  ring.words[(at + 20) >>> 2] = msgpackBytes;
  ring.words[(at + 24) >>> 2] = count;
  ring.f64[(at + 32) >>> 3] = stamp;
  // channel names are ASCII by protocol, so latin1 is exact and the fastest write
  ring.buf.write(channel, at + PUB_HEAD, 'latin1');
  return at + PUB_HEAD + channel.length;
}

/** One publication's frames, by format; null: not encoded. Lengths are their wire bytes. */
export interface PublicationFrames {
  /** The JSON frame; with jsonData, only its head (ASCII) — see JsonFrame. */
  json: string | null;
  jsonBytes: number;
  jsonData?: Uint8Array | null;
  jsonTail?: number;
  msgpack: Uint8Array | null;
}

/**
 * A JSON frame as a string (`json`), or in three parts when its data is already UTF-8 bytes
 * (an ingress ring's, copied ring to ring, never decoded): the ASCII head `json`, the bytes
 * `jsonData`, and the one byte `jsonTail`.
 */
export type JsonFrame = Pick<PublicationFrames, 'json' | 'jsonData' | 'jsonTail'> & { json: string };

/** Writes a JSON frame into `buf` at `at`; returns the bytes written. */
export function putJsonFrame(buf: Buffer, at: number, f: JsonFrame): number {
  const data = f.jsonData ?? null;
  if (data === null) return buf.write(f.json, at, 'utf8');
  let p = at + buf.write(f.json, at, 'latin1');
  buf.set(data, p);
  p += data.byteLength;
  buf[p++] = f.jsonTail!;
  return p - at;
}

/** Writes a publication (a JSON frame is written straight into the ring). False: the ring is full. */
export function writePublication(ring: RingProducer, seq: number, epoch: number, channel: string, f: PublicationFrames, count: number, stamp: number): boolean {
  const jsonBytes = f.json === null ? 0 : f.jsonBytes;
  const msgpackBytes = f.msgpack === null ? 0 : f.msgpack.byteLength;
  const frameAt = reservePublication(ring, seq, epoch, channel, jsonBytes, msgpackBytes, count, stamp);
  if (frameAt < 0) return false;
  if (f.json !== null) putJsonFrame(ring.buf, frameAt, f as JsonFrame);
  if (f.msgpack !== null) ring.bytes.set(f.msgpack, frameAt + jsonBytes);
  return true;
}

/**
 * One frame kept as byte ranges of a buffer (a merge window's arena): `head`, the bytes of
 * every range [ranges[2k], ranges[2k+1]) in order, then `tail`.
 */
export interface StagedFrame {
  readonly bytes: Uint8Array;
  readonly ranges: readonly number[];
  readonly head: Uint8Array;
  readonly tail: Uint8Array;
}

function stagedBytes(f: StagedFrame | null): number {
  if (f === null) return 0;
  let n = f.head.byteLength + f.tail.byteLength;
  for (let i = 0; i < f.ranges.length; i += 2) n += f.ranges[i + 1]! - f.ranges[i]!;
  return n;
}

function copyStaged(ring: RingProducer, at: number, f: StagedFrame): number {
  ring.bytes.set(f.head, at);
  at += f.head.byteLength;
  for (let i = 0; i < f.ranges.length; i += 2) {
    ring.bytes.set(f.bytes.subarray(f.ranges[i]!, f.ranges[i + 1]!), at);
    at += f.ranges[i + 1]! - f.ranges[i]!;
  }
  ring.bytes.set(f.tail, at);
  return at + f.tail.byteLength;
}

/** writePublication() for frames kept as byte ranges (a merge window). False: the ring is full. */
export function writeStagedPublication(ring: RingProducer, seq: number, epoch: number, channel: string, json: StagedFrame | null, msgpack: StagedFrame | null, count: number, stamp: number): boolean {
  const jsonBytes = stagedBytes(json);
  const msgpackBytes = stagedBytes(msgpack);
  const frameAt = reservePublication(ring, seq, epoch, channel, jsonBytes, msgpackBytes, count, stamp);
  if (frameAt < 0) return false;
  if (json !== null) copyStaged(ring, frameAt, json);
  if (msgpack !== null) copyStaged(ring, frameAt + jsonBytes, msgpack);
  return true;
}

export interface PublicationView {
  seq: number;
  epoch: number;
  channel: string;
  /** Messages in each frame (more than 1: a merged frame, an array of them). */
  count: number;
  /** When main accepted its (first) message, in nowMs() time. */
  stamp: number;
  /** Views of the frames in the ring (empty: not encoded): valid until the consumer releases. */
  json: Uint8Array;
  msgpack: Uint8Array;
}

export function readPublication(ring: RingConsumer, at: number, out: PublicationView): PublicationView {
  out.seq = ring.f64[at >>> 3]!;
  const channelLen = ring.words[(at + 8) >>> 2]!;
  const jsonLen = ring.words[(at + 12) >>> 2]!;
  out.epoch = ring.words[(at + 16) >>> 2]!;
  const msgpackLen = ring.words[(at + 20) >>> 2]!;
  out.count = ring.words[(at + 24) >>> 2]!;
  out.stamp = ring.f64[(at + 32) >>> 3]!;
  const c = at + PUB_HEAD;
  out.channel = ring.buf.toString('latin1', c, c + channelLen);
  const j = c + channelLen;
  out.json = ring.bytes.subarray(j, j + jsonLen);
  out.msgpack = ring.bytes.subarray(j + jsonLen, j + jsonLen + msgpackLen);
  return out;
}

// ---------------------------------------------------------------- forget

/** Payload bytes of a forget record (for capacity checks). */
export function forgetSize(channel: string): number {
  return FORGET_HEAD + channel.length;
}

export function writeForget(ring: RingProducer, epoch: number, channel: string): boolean {
  const at = ring.reserve(FORGET_HEAD + channel.length, RecordKind.Forget);
  if (at < 0) return false;
  ring.words[at >>> 2] = epoch;
  ring.words[(at + 4) >>> 2] = channel.length;
  ring.buf.write(channel, at + FORGET_HEAD, 'latin1');
  return true;
}

export interface ForgetView {
  epoch: number;
  channel: string;
}

export function readForget(ring: RingConsumer, at: number, out: ForgetView): ForgetView {
  out.epoch = ring.words[at >>> 2]!;
  const len = ring.words[(at + 4) >>> 2]!;
  out.channel = ring.buf.toString('latin1', at + FORGET_HEAD, at + FORGET_HEAD + len);
  return out;
}

// ---------------------------------------------------------------- reply

/** Payload bytes of a reply record whose body is `bodyBytes` long. */
export function replySize(bodyBytes: number): number {
  return REPLY_HEAD + bodyBytes;
}

/** Where a reply goes: one connection or request of one shard worker. */
export interface ReplyAddress {
  shard: number;
  generation: number;
  target: ReplyTarget;
  ref: number;
}

export function writeReply(ring: RingProducer, to: ReplyAddress, body: string): boolean {
  const bodyLen = Buffer.byteLength(body);
  const at = ring.reserve(REPLY_HEAD + bodyLen, RecordKind.Reply);
  if (at < 0) return false;
  ring.words[at >>> 2] = to.shard >>> 0;
  ring.words[(at + 4) >>> 2] = to.generation;
  ring.words[(at + 8) >>> 2] = to.target;
  ring.words[(at + 12) >>> 2] = bodyLen;
  ring.f64[(at + 16) >>> 3] = to.ref;
  ring.buf.write(body, at + REPLY_HEAD, 'utf8');
  return true;
}

export interface ReplyView extends ReplyAddress {
  body: Uint8Array;
}

export function readReply(ring: RingConsumer, at: number, out: ReplyView): ReplyView {
  out.shard = ring.words[at >>> 2]! | 0;
  out.generation = ring.words[(at + 4) >>> 2]!;
  out.target = ring.words[(at + 8) >>> 2]! as ReplyTarget;
  const len = ring.words[(at + 12) >>> 2]!;
  out.ref = ring.f64[(at + 16) >>> 3]!;
  out.body = ring.bytes.subarray(at + REPLY_HEAD, at + REPLY_HEAD + len);
  return out;
}

// ---------------------------------------------------------------- publish request

export interface PublishRequest {
  target: ReplyTarget;
  ref: number;
  channels: string[];
  /** The message data as it arrived: JSON text, or MessagePack bytes. */
  data: string | Uint8Array;
  /** The client's ack id ("" when none was asked for). */
  id: string;
}

export function writePublish(ring: RingProducer, req: PublishRequest): boolean {
  const channels = req.channels.join('\n');
  const packed = typeof req.data === 'string' ? null : req.data;
  const json = typeof req.data === 'string' ? req.data : '';
  const dataLen = packed === null ? Buffer.byteLength(json) : packed.byteLength;
  const idLen = Buffer.byteLength(req.id);
  const at = ring.reserve(PUBLISH_HEAD + channels.length + dataLen + idLen, RecordKind.Publish);
  if (at < 0) return false;
  const w = ring.words;
  w[at >>> 2] = req.target;
  w[(at + 4) >>> 2] = channels.length;
  w[(at + 8) >>> 2] = dataLen;
  w[(at + 12) >>> 2] = idLen;
  ring.f64[(at + 16) >>> 3] = req.ref;
  w[(at + 24) >>> 2] = packed === null ? 0 : 1;
  let p = at + PUBLISH_HEAD;
  p += ring.buf.write(channels, p, 'latin1');
  if (packed === null) p += ring.buf.write(json, p, 'utf8');
  else {
    ring.bytes.set(packed, p);
    p += dataLen;
  }
  ring.buf.write(req.id, p, 'utf8');
  return true;
}

/** A publish request read in place: its data is a view of the ring, valid until the consumer releases the record. */
export interface PublishView {
  target: ReplyTarget;
  ref: number;
  channels: string[];
  /** JSON text as UTF-8, or MessagePack when `msgpack`. */
  data: Buffer;
  msgpack: boolean;
  id: string;
}

/**
 * Reads a publish request of `length` payload bytes, leaving its data in the ring (the main
 * thread copies it ring to ring); null when its lengths do not add up (a producer bug: the
 * reader must not trust such a record).
 */
export function readPublishView(ring: RingConsumer, at: number, length: number): PublishView | null {
  const w = ring.words;
  const channelsLen = w[(at + 4) >>> 2]!;
  const dataLen = w[(at + 8) >>> 2]!;
  const idLen = w[(at + 12) >>> 2]!;
  if (PUBLISH_HEAD + channelsLen + dataLen + idLen !== length) return null;
  let p = at + PUBLISH_HEAD;
  const channels = ring.buf.toString('latin1', p, p + channelsLen).split('\n');
  p += channelsLen;
  const data = ring.buf.subarray(p, p + dataLen);
  p += dataLen;
  return {
    target: w[at >>> 2]! as ReplyTarget,
    ref: ring.f64[(at + 16) >>> 3]!,
    channels,
    data,
    msgpack: w[(at + 24) >>> 2] === 1,
    id: idLen === 0 ? '' : ring.buf.toString('utf8', p, p + idLen),
  };
}
