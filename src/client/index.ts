/**
 * shardcast/client — the client library (docs/client.md). Runs in browsers from a
 * `<script type="module">` and in Node >= 20; it imports no Node built-ins and no packages.
 */
export { ShardcastClient, type ClientOptions, type ClientState } from './shardcast-client.js';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { ShardcastClientError } from './events.js';
export type { ClientEvents, CloseEvent, Delivery, ErrorEvent, GapEvent, OpenEvent, ResetEvent, SubscribedEvent, UnrecoveredEvent } from './events.js';
export type { Codec, Format, WebSocketConstructor, WebSocketLike } from './wire.js';
export { shouldReconnect } from '../protocol/codes.js';
