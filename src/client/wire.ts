/**
 * The client's side of the wire: the WebSocket shape it needs (the browser's, Node 22+'s
 * global, or the `ws` package's — all three have it), the subprotocols that choose the format
 * and carry the token, and turning frames into message objects and back. No Node built-ins and
 * no packages: MessagePack comes from a codec the application passes, so this file runs as it
 * is from a `<script type="module">`.
 */

/**
 * The part of a WHATWG WebSocket the client uses. The handlers take `never` so that every
 * implementation's own event types fit (the browser's MessageEvent, ws's); the client's
 * handlers say what they read (`data`; `code` and `reason`).
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly protocol: string;
  onopen: ((ev: never) => void) | null;
  onmessage: ((ev: never) => void) | null;
  onclose: ((ev: never) => void) | null;
  onerror: ((ev: never) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string[]) => WebSocketLike;

/** WebSocket.OPEN in every implementation. */
export const OPEN = 1;

/** A MessagePack codec, e.g. `{ encode: pack, decode: unpack }` from msgpackr. */
export interface Codec {
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

export type Format = 'json' | 'msgpack';

/** A server → client message object; the fields the client reads are checked where read. */
export interface ServerMessage {
  readonly type: string;
  readonly [field: string]: unknown;
}

/**
 * Subprotocols for the handshake: the format first (the server echoes it, which browsers
 * require), then the token — browsers cannot set an Authorization header, and a query string
 * lands in access logs (docs/security.md).
 */
export function subprotocols(format: Format, token: string | null): string[] {
  const list = [format === 'msgpack' ? 'shardcast.v1.msgpack' : 'shardcast.v1.json'];
  if (token !== null) list.push(`token.${token}`);
  return list;
}

/** Encodes a client message in the connection's format. */
export function encodeFrame(message: object, codec: Codec | null): string | Uint8Array {
  return codec === null ? JSON.stringify(message) : codec.encode(message);
}

/**
 * The message objects of one server frame: a frame holds one message or an array of them
 * (merging). Returns null for a frame that is not in the connection's format or not messages —
 * the server never sends one; a proxy in between might.
 */
export function decodeFrame(data: unknown, codec: Codec | null): ServerMessage[] | null {
  let value: unknown;
  try {
    if (typeof data === 'string') {
      if (codec !== null) return null;
      value = JSON.parse(data);
    } else {
      if (codec === null) return null;
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
      if (bytes === null) return null;
      value = codec.decode(bytes);
    }
  } catch {
    return null;
  }
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  return list.every(isMessage) ? list : null;
}

function isMessage(v: unknown): v is ServerMessage {
  return typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string';
}
