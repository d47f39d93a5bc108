/**
 * Protocol v1 — the messages clients send, parsed and validated in one place into a
 * discriminated union, and the small control frames the server sends back. Publication
 * frames ("message") are built by the FrameEncoder, once per publication, not here.
 * docs/protocol.md is the prose version of this file.
 */
import { ErrorCode } from './codes.js';
import { ShardcastError, type ErrorDetail } from './errors.js';
import { checkUser, userChannel } from './user-channel.js';
import { packValue, unpackValue } from './payload.js';
import { WireFormat } from './wire-format.js';

/** Where a recovering subscriber left off: the last seq it has of the channel's incarnation `epoch`. */
export interface Since {
  readonly seq: number;
  /** u32 (the wire's 8 hex digits, parsed). */
  readonly epoch: number;
}

export type ClientMessage =
  | { type: 'subscribe'; channel: string; since: Since | null }
  | { type: 'unsubscribe'; channel: string }
  /** `data` as the ring carries it: JSON text, or MessagePack bytes from a MessagePack connection. */
  | { type: 'publish'; channel: string; data: string | Uint8Array; id: string | null }
  | { type: 'ping' }
  | { type: 'refresh'; token: string };

/** Longest client ack id, in characters. */
export const MAX_ACK_ID = 200;
/** Most channels one HTTP publish may name. */
export const MAX_CHANNELS_PER_PUBLISH = 100;

const CHANNEL = /^[A-Za-z0-9_\-:.@/]{1,200}$/;

export function isChannel(c: unknown): c is string {
  return typeof c === 'string' && CHANNEL.test(c);
}

export function checkChannel(c: unknown): string {
  if (!isChannel(c)) {
    throw new ShardcastError(ErrorCode.BadChannel, 'channel must be 1-200 characters of A-Z a-z 0-9 _ - : . @ /');
  }
  return c;
}

/** What a malformed message referred to, for the `ref` field of the error frame. */
export function refOf(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v['id'] === 'string') return v['id'].slice(0, MAX_ACK_ID);
  if (typeof v['type'] === 'string') return v['type'].slice(0, 64);
  return null;
}

/**
 * Parses one client text frame. Throws ShardcastError with a stable code on anything that
 * is not a valid v1 message; never throws anything else.
 */
export function parseClientMessage(text: string): ClientMessage {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ShardcastError(ErrorCode.BadJson, 'frame is not valid JSON');
  }
  return toClientMessage(v);
}

/**
 * A decoded client message, validated. From a MessagePack connection (`format` Msgpack) the
 * data is re-encoded as MessagePack (so binary stays binary); otherwise as JSON text.
 */
export function toClientMessage(v: unknown, format: WireFormat = WireFormat.Json): ClientMessage {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw new ShardcastError(ErrorCode.BadMessage, `a message must be ${format === WireFormat.Json ? 'a JSON object' : 'a map'} with a "type"`);
  }
  const m = v as Record<string, unknown>;
  const type = m['type'];
  if (typeof type !== 'string') throw new ShardcastError(ErrorCode.BadMessage, '"type" must be a string');
  switch (type) {
    case 'subscribe':
      return { type, channel: checkChannel(m['channel']), since: m['since'] === undefined ? null : checkSince(m['since']) };
    case 'unsubscribe':
      return { type, channel: checkChannel(m['channel']) };
    case 'publish': {
      const channel = checkChannel(m['channel']);
      if (!('data' in m)) throw new ShardcastError(ErrorCode.BadMessage, 'publish needs a "data" field');
      const id = m['id'];
      if (id !== undefined && (typeof id !== 'string' || id.length === 0 || id.length > MAX_ACK_ID)) {
        throw new ShardcastError(ErrorCode.BadMessage, `"id" must be a string of 1-${MAX_ACK_ID} characters`);
      }
      return { type, channel, data: format === WireFormat.Json ? serialiseData(m['data']) : packValue(m['data']), id: id ?? null };
    }
    case 'ping':
      return { type };
    case 'refresh': {
      const token = m['token'];
      if (typeof token !== 'string' || token.length === 0) throw new ShardcastError(ErrorCode.BadMessage, 'refresh needs a "token" string');
      return { type, token };
    }
    default:
      throw new ShardcastError(ErrorCode.UnknownType, `unknown message type ${JSON.stringify(type.slice(0, 64))}`);
  }
}

const EPOCH = /^[0-9a-f]{8}$/;

/** `{"seq": N, "epoch": "8 hex digits"}`: N a whole number from 0 up to 2^53 − 1 (seqs stay exact there). */
function checkSince(v: unknown): Since {
  const s = v as Record<string, unknown> | null;
  if (typeof s !== 'object' || s === null || Array.isArray(s) || s instanceof Uint8Array) {
    throw new ShardcastError(ErrorCode.BadMessage, '"since" must be an object {"seq": n, "epoch": "8 hex digits"}');
  }
  const seq = s['seq'];
  const epoch = s['epoch'];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new ShardcastError(ErrorCode.BadMessage, '"since.seq" must be a whole number, 0 or more');
  if (typeof epoch !== 'string' || !EPOCH.test(epoch)) throw new ShardcastError(ErrorCode.BadMessage, '"since.epoch" must be 8 lower-case hex digits, as in "subscribed" and "message" frames');
  return { seq, epoch: parseInt(epoch, 16) };
}

/** Bytes of publish data as the ring carries it (JSON text or MessagePack). */
export function dataBytes(data: string | Uint8Array): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}

/**
 * Re-serialises publish data. JSON.parse takes any depth, JSON.stringify recurses: data nested
 * some thousands deep (a 60 KB frame of brackets) overflows the stack. That is the client's
 * input, not a fault: it is refused with bad_message like any other unusable data.
 */
export function serialiseData(data: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (err) {
    const why = err instanceof RangeError ? 'is nested too deeply' : `is not serialisable to JSON: ${(err as Error).message}`;
    throw new ShardcastError(ErrorCode.BadMessage, `"data" ${why}`);
  }
  // only the in-process API can hand over what JSON has no text for
  if (json === undefined) throw new ShardcastError(ErrorCode.BadMessage, '"data" must be a JSON value (not undefined or a function)');
  return json;
}

/**
 * Body of POST /api/publish, validated. A per-user publish (`"user"` instead of
 * `"channel"`/`"channels"`) comes out as its one per-user channel (user-channel.ts), so it
 * travels and is sequenced like any channel.
 */
export interface HttpPublish {
  channels: string[];
  /** JSON text, or MessagePack bytes from a MessagePack body. */
  data: string | Uint8Array;
}

/** An HTTP body in `format` (Content-Type: application/json, or application/msgpack). */
export function parseHttpPublish(body: Uint8Array, format: WireFormat = WireFormat.Json): HttpPublish {
  const m = parseBodyObject(body, format, '{"channel"|"channels"|"user", "data"}');
  if (!('data' in m)) throw new ShardcastError(ErrorCode.BadMessage, 'body needs a "data" field');
  return { channels: publishTargets(m), data: format === WireFormat.Json ? serialiseData(m['data']) : packValue(m['data']) };
}

/**
 * Where a publish goes, from its `channel`, `channels` or `user` field (exactly one):
 * the one rule of HTTP and IPC.
 */
export function publishTargets(m: Record<string, unknown>): string[] {
  const given = ['channel', 'channels', 'user'].filter((k) => k in m && m[k] !== undefined);
  if (given.length > 1) throw new ShardcastError(ErrorCode.BadMessage, 'give one of "channel", "channels" or "user"');
  if (given[0] === 'user') return [userChannel(checkUser(m['user']))];
  return given[0] === 'channels' ? checkChannelList(m['channels']) : [checkChannel(m['channel'])];
}

/** Body of POST /api/disconnect: `{"user": sub}`, validated; the user id. */
export function parseDisconnect(body: Uint8Array, format: WireFormat = WireFormat.Json): string {
  const m = parseBodyObject(body, format, '{"user"}');
  return checkUser(m['user']);
}

function parseBodyObject(body: Uint8Array, format: WireFormat, shape: string): Record<string, unknown> {
  let v: unknown;
  if (format === WireFormat.Msgpack) v = unpackValue(body);
  else {
    try {
      v = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    } catch {
      throw new ShardcastError(ErrorCode.BadJson, 'body is not valid JSON');
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw new ShardcastError(ErrorCode.BadMessage, `body must be ${format === WireFormat.Json ? 'a JSON object' : 'a MessagePack map'} ${shape}`);
  }
  return v as Record<string, unknown>;
}

/**
 * The channels of a multi-channel publish (HTTP, IPC, the in-process API): 1 to
 * MAX_CHANNELS_PER_PUBLISH valid, distinct names. The one check every ingress uses.
 */
export function checkChannelList(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_CHANNELS_PER_PUBLISH) {
    throw new ShardcastError(ErrorCode.BadMessage, `"channels" must be an array of 1-${MAX_CHANNELS_PER_PUBLISH} channel names`);
  }
  const channels = value.map(checkChannel);
  if (new Set(channels).size !== channels.length) throw new ShardcastError(ErrorCode.BadMessage, '"channels" has duplicates');
  return channels;
}

// ------------------------------------------------------------ server → client frames

/** `user`: the token's `sub` when the connection is authenticated (JWT), else absent. */
export function welcomeFrame(id: string, shard: number, user: string | null = null): string {
  return user === null ? `{"type":"welcome","id":"${id}","shard":${shard}}` : `{"type":"welcome","id":"${id}","shard":${shard},"user":${JSON.stringify(user)}}`;
}

/** The answer to an accepted `refresh`: the new token's exp (seconds since the epoch). */
export function refreshedFrame(exp: number): string {
  return `{"type":"refreshed","exp":${exp}}`;
}

/** An epoch (u32) as it appears on the wire: 8 lower-case hex digits. */
export function formatEpoch(epoch: number): string {
  return (epoch >>> 0).toString(16).padStart(8, '0');
}

/**
 * The channel's last seq and epoch as the shard knows them; a channel with no state
 * (nothing published in its current incarnation) has seq 0 and no epoch. `recovered`
 * answers a subscribe that gave `since` (absent otherwise): true, the messages after `since`
 * up to `seq` follow; false, nothing is replayed.
 */
export function subscribedFrame(channel: string, seq: number, epoch: number | null, recovered?: boolean): string {
  const r = recovered === undefined ? '' : `,"recovered":${recovered}`;
  return epoch === null
    ? `{"type":"subscribed","channel":"${channel}","seq":0${r}}`
    : `{"type":"subscribed","channel":"${channel}","seq":${seq},"epoch":"${formatEpoch(epoch)}"${r}}`;
}

/**
 * To subscribers of a channel whose state was dropped while they followed it: what they
 * knew of its seq is void, and its next message is seq 1 of a new epoch.
 */
export function resetFrame(channel: string): string {
  return `{"type":"reset","channel":"${channel}"}`;
}

export function unsubscribedFrame(channel: string): string {
  return `{"type":"unsubscribed","channel":"${channel}"}`;
}

export const PONG_FRAME = '{"type":"pong"}';

/** `detail`: a `partial` refusal's published seqs and failed channels (errors.ts). */
export function errorFrame(code: ErrorCode, message: string, ref: string | null, detail?: ErrorDetail): string {
  return JSON.stringify({ type: 'error', code, message, ref, ...detail });
}

/** `"seq":n` for one channel, `"seqs":{"a":n,"b":m}` for several (in the order given). */
function seqsField(channels: readonly string[], seqs: readonly number[]): string {
  if (channels.length === 1) return `"seq":${seqs[0]}`;
  return `"seqs":{${channels.map((c, i) => `"${c}":${seqs[i]}`).join(',')}}`;
}

/** The answer to an acked publish, on WebSocket and IPC alike (an IPC id may be absent: null). */
export function ackFrame(id: string | null, channels: readonly string[], seqs: readonly number[]): string {
  return `{"type":"ack","id":${JSON.stringify(id)},${seqsField(channels, seqs)}}`;
}

/** Longest a seq can print as (integers stay exact up to 2^53). */
const SEQ_DIGITS = 16;

/** Upper bound of a one-channel ackFrame's bytes, known before the seq is. */
export function ackFrameMaxBytes(id: string): number {
  return 32 + Buffer.byteLength(JSON.stringify(id)) + SEQ_DIGITS;
}

/** Upper bound of httpPublishBody(channels, seqs)'s bytes. */
export function httpPublishBodyMaxBytes(channels: readonly string[]): number {
  return 16 + channels.reduce((n, c) => n + c.length + 4 + SEQ_DIGITS, 0);
}

/** HTTP publish answer: one seq, or one per channel in the order given. */
export function httpPublishBody(channels: readonly string[], seqs: readonly number[]): string {
  return `{${seqsField(channels, seqs)}}`;
}
