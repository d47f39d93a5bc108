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
  /** A binary WebSocket frame: protocol v1 is text JSON only. */
  BinaryUnsupported: 'binary_unsupported',
  /** A frame or body above --max-payload. */
  PayloadTooLarge: 'payload_too_large',
  /** More subscriptions on one connection than --max-subscriptions. */
  TooManySubscriptions: 'too_many_subscriptions',
  /** Client publishing is turned off (--no-client-publish). */
  PublishForbidden: 'publish_forbidden',
  /** The engine's rings are full: retry later. Nothing was sequenced or delivered. */
  Overloaded: 'overloaded',
  /** Missing or wrong API key. */
  Unauthorized: 'unauthorized',
  /** No such HTTP route. */
  NotFound: 'not_found',
  /** Route exists, method does not. */
  MethodNotAllowed: 'method_not_allowed',
  /** Connection limit reached (--max-connections). */
  TooManyConnections: 'too_many_connections',
  /** The server is shutting down. */
  ShuttingDown: 'shutting_down',
  /** A publish would create a channel past --max-channels; existing channels still publish. */
  TooManyChannels: 'too_many_channels',
  /** A bug or fault on the server side. */
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes the server sends. */
export const CloseCode = {
  /** Server shutdown (SIGTERM/SIGINT or close()): reconnect to another instance or later. */
  GoingAway: 1001,
  /** A frame above --max-payload (up to twice that size; beyond it uWS drops the TCP connection, seen as 1006). */
  MessageTooBig: 1009,
  /** The shard serving the connection hit a fatal error; reconnecting lands on a healthy shard. */
  InternalError: 1011,
  /** The client did not read fast enough: its send buffer passed --max-backpressure. */
  SlowConsumer: 4001,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** HTTP status for each error code on the HTTP API. */
export const httpStatus: Readonly<Record<ErrorCode, number>> = {
  bad_json: 400,
  bad_message: 400,
  unknown_type: 400,
  bad_channel: 400,
  binary_unsupported: 400,
  payload_too_large: 413,
  too_many_subscriptions: 400,
  publish_forbidden: 403,
  overloaded: 503,
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  too_many_connections: 503,
  shutting_down: 503,
  too_many_channels: 503,
  internal: 500,
};
