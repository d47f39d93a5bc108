/**
 * Codes — every stable error code and WebSocket close code Shardcast emits, in one table.
 * docs/protocol.md lists the same codes; test/codes.test.ts checks that the two agree.
 * Codes never change meaning once released; new ones are only added.
 */

/** Error codes: in `{"type":"error","code":…}` frames, HTTP error bodies and IPC replies. */
export const ErrorCode = {
  /** The frame or body is not valid JSON. */
  BadJson: 'bad_json',
  /** Valid JSON but not a protocol message: not an object, a field missing or of the wrong type. */
  BadMessage: 'bad_message',
  /** A `type` the protocol does not know. */
  UnknownType: 'unknown_type',
  /** A channel name outside 1–200 bytes of [A-Za-z0-9_\-:.@/]. */
  BadChannel: 'bad_channel',
  /** A binary WebSocket frame on a JSON connection (MessagePack is chosen at the handshake). */
  BinaryUnsupported: 'binary_unsupported',
  /** A text WebSocket frame on a MessagePack connection. */
  TextUnsupported: 'text_unsupported',
  /** The frame or body is not valid MessagePack (truncated, lengths past the end, unknown extension, 0xc1, trailing bytes, nested too deeply). */
  BadMsgpack: 'bad_msgpack',
  /** A WebSocket upgrade asking for a format the server does not speak (`?format=`, or only unknown `shardcast.*` subprotocols). */
  BadFormat: 'bad_format',
  /** A frame or body above --max-payload. */
  PayloadTooLarge: 'payload_too_large',
  /** More subscriptions on one connection than --max-subscriptions. */
  TooManySubscriptions: 'too_many_subscriptions',
  /** Client publishing is turned off, or the channel matches none of --client-publish's patterns. */
  PublishForbidden: 'publish_forbidden',
  /** A client published faster than --client-publish-rate allows (beyond its burst). Nothing was sequenced. */
  RateLimited: 'rate_limited',
  /** The engine's rings are full: retry later. Nothing was sequenced or delivered. */
  Overloaded: 'overloaded',
  /** Missing or wrong API key; on the WebSocket upgrade (HTTP 401, with a `reason`) and in answer to `refresh`: a missing or invalid token. */
  Unauthorized: 'unauthorized',
  /** No such HTTP route. */
  NotFound: 'not_found',
  /** Route exists, method does not. */
  MethodNotAllowed: 'method_not_allowed',
  /** Connection limit reached (--max-connections). */
  TooManyConnections: 'too_many_connections',
  /** Connection limit for one client address reached (--max-connections-per-ip). */
  TooManyConnectionsPerIp: 'too_many_connections_per_ip',
  /** Handshakes from one client address too fast (--max-handshakes-per-ip); Retry-After says when. */
  HandshakeRateLimited: 'handshake_rate_limited',
  /** The server is shutting down. */
  ShuttingDown: 'shutting_down',
  /** A publish would create a channel past --max-channels; existing channels still publish. */
  TooManyChannels: 'too_many_channels',
  /**
   * The connection may not do this: a subscribe or publish outside its permissions (its
   * token's claims; --anonymous-channels for an anonymous connection), or a refresh for
   * another user.
   */
  Forbidden: 'forbidden',
  /** A WebSocket upgrade from a browser page whose Origin is not in --allowed-origins. */
  OriginNotAllowed: 'origin_not_allowed',
  /** A `user` (per-user publish, /api/disconnect) that is not a string of 1–256 characters. */
  BadUser: 'bad_user',
  /**
   * A publish on several channels was published on some and not on others (--redis-cluster
   * only: its channels were on several Redis nodes and one failed mid-publish). The error
   * carries `published` (channel → seq) and `failed` (channels): retry the failed ones only.
   */
  Partial: 'partial',
  /** A bug or fault on the server side. */
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * WebSocket close codes the server sends. They fall in two classes that clients act on:
 *   reconnect  — the cause is on the server's side or passes (shutdown, shard fault, stalled
 *                shard, slow consumer): reconnect with back-off and resubscribe.
 *   terminal   — the client broke a rule (policy, size, protocol): reconnecting without
 *                changing something would fail the same way.
 * Shardcast's own codes say their class by range: 4000–4499 reconnect, 4500–4999 terminal.
 */
export const CloseCode = {
  /** Server shutdown (SIGTERM/SIGINT or close()): reconnect to another instance or later. */
  GoingAway: 1001,
  /** The client kept publishing past --client-publish-rate after being told (rate_limited). */
  PolicyViolation: 1008,
  /** A frame above --max-payload (up to twice that size; beyond it uWS drops the TCP connection, seen as 1006). */
  MessageTooBig: 1009,
  /** The shard serving the connection hit a fatal error; reconnecting lands on a healthy shard. */
  InternalError: 1011,
  /** The client did not read fast enough: its send buffer passed --max-backpressure. */
  SlowConsumer: 4001,
  /** The shard serving the connection stalled and was cut loose from the feed; reconnecting lands on a healthy shard. */
  ShardStalled: 4002,
  /** The connection's token expired and no `refresh` came in time: get a fresh token and reconnect. */
  TokenExpired: 4003,
  /** The server's operator closed every connection of this user (POST /api/disconnect, disconnectUser()): e.g. logout or ban. */
  DisconnectedByServer: 4500,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Shardcast's private close codes: [from, to] of each class. */
export const RECONNECT_RANGE = [4000, 4499] as const;
export const TERMINAL_RANGE = [4500, 4999] as const;

/** Standard (RFC 6455) close codes the server sends, by class. */
const standardReconnects: Readonly<Record<number, boolean>> = {
  1001: true, // going away
  1008: false, // policy violation
  1009: false, // message too big
  1011: true, // internal error
  1012: true, // service restart
  1013: true, // try again later
};

/**
 * Whether a client should reconnect after the server closed with `code` (clients may copy
 * this rule): Shardcast's ranges, the standard codes above, and 1006 (no close frame: the
 * connection was lost) counts as reconnect. Unknown codes: do not retry blindly.
 */
export function shouldReconnect(code: number): boolean {
  if (code >= RECONNECT_RANGE[0] && code <= RECONNECT_RANGE[1]) return true;
  if (code >= TERMINAL_RANGE[0] && code <= TERMINAL_RANGE[1]) return false;
  if (code === 1006) return true;
  return standardReconnects[code] ?? false;
}

/** HTTP status for each error code on the HTTP API. */
export const httpStatus: Readonly<Record<ErrorCode, number>> = {
  bad_json: 400,
  bad_message: 400,
  unknown_type: 400,
  bad_channel: 400,
  binary_unsupported: 400,
  text_unsupported: 400,
  bad_msgpack: 400,
  bad_format: 400,
  payload_too_large: 413,
  too_many_subscriptions: 400,
  publish_forbidden: 403,
  rate_limited: 429,
  overloaded: 503,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  too_many_connections: 503,
  too_many_connections_per_ip: 429,
  handshake_rate_limited: 429,
  shutting_down: 503,
  too_many_channels: 503,
  origin_not_allowed: 403,
  bad_user: 400,
  partial: 502,
  internal: 500,
};
