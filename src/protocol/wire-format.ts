/**
 * WireFormat — what a connection's frames are made of: JSON text frames (the default) or
 * MessagePack binary frames holding the same message objects. Chosen once, at the
 * handshake (docs/protocol.md, "Formats"), and fixed for the connection's life.
 *
 * Subscribers of one channel in two formats are two uWS topics, so each uWS publish sends
 * one set of bytes to everyone it reaches: the channel's own name for JSON, and the name
 * behind a prefix that no channel name contains for MessagePack.
 */
import { jsonOfValue, packValue, unpackValue } from './payload.js';

export const enum WireFormat {
  Json = 0,
  Msgpack = 1,
}

/** Bit per format in use (a set of formats as one small integer). */
export const JSON_BIT = 1 << WireFormat.Json;
export const MSGPACK_BIT = 1 << WireFormat.Msgpack;

export const JSON_PROTOCOL = 'shardcast.v1.json';
/** Protocol v1 before formats existed: JSON. */
export const V1_PROTOCOL = 'shardcast.v1';
export const MSGPACK_PROTOCOL = 'shardcast.v1.msgpack';

/** Starts every MessagePack topic; '!' is outside the channel-name characters (messages.ts). */
const MSGPACK_TOPIC = '!';

/** The uWS topic of a channel's subscribers in `format`. */
export function topicOf(channel: string, format: WireFormat): string {
  return format === WireFormat.Json ? channel : MSGPACK_TOPIC + channel;
}

/** The channel and format of a topic made by topicOf. */
export function splitTopic(topic: string): { channel: string; format: WireFormat } {
  return topic.startsWith(MSGPACK_TOPIC) ? { channel: topic.slice(1), format: WireFormat.Msgpack } : { channel: topic, format: WireFormat.Json };
}

/** What the handshake settled: the format, and the subprotocol to answer with ('' for none). */
export interface Negotiated {
  readonly format: WireFormat;
  readonly protocol: string;
}

/**
 * The format of a connection from its offered subprotocols (the token entry removed) and
 * its `?format=` query. The first of `shardcast.v1.msgpack`, `shardcast.v1.json` and
 * `shardcast.v1` (JSON) offered wins and is echoed;
 * without one, `?format=json|msgpack` decides (default JSON) and the first protocol
 * offered, if any, is echoed as before formats existed. Null: a `?format=` the server does
 * not know, or an unknown `shardcast.v1.*` protocol alone (refused: 400).
 */
export function negotiateFormat(offered: readonly string[], formatQuery: string): Negotiated | null {
  for (const p of offered) {
    if (p === MSGPACK_PROTOCOL) return { format: WireFormat.Msgpack, protocol: p };
    if (p === JSON_PROTOCOL || p === V1_PROTOCOL) return { format: WireFormat.Json, protocol: p };
  }
  if (offered.length > 0 && offered.every((p) => p.startsWith('shardcast.'))) return null;
  let format: WireFormat;
  if (formatQuery === '' || formatQuery === 'json') format = WireFormat.Json;
  else if (formatQuery === 'msgpack') format = WireFormat.Msgpack;
  else return null;
  return { format, protocol: offered[0] ?? '' };
}

/**
 * A server frame built as JSON text, in `format`: the text itself, or the same object as
 * MessagePack. For the small per-connection frames (welcome, subscribed, error, ack, …);
 * publications are encoded once per format by the FrameEncoders, never here.
 */
export function frameFor(json: string, format: WireFormat): string | Uint8Array {
  return format === WireFormat.Json ? json : packValue(JSON.parse(json));
}

/**
 * A publication frame (one message object or an array of them) re-made in the other
 * format: for a shard whose subscribers in `to` are newer than the main thread's knowledge
 * of them (interest reports travel behind subscribes). Once per shard and frame, never per
 * recipient. Throws ShardcastError when the frame has no form in `to` (not expected: main
 * refuses such data when it encodes both).
 */
export function transcodeFrame(frame: Uint8Array, to: WireFormat): string | Uint8Array {
  return to === WireFormat.Msgpack
    ? packValue(JSON.parse(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('utf8')))
    : jsonOfValue(unpackValue(frame));
}
