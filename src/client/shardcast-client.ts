/**
 * ShardcastClient — a connection to Shardcast that survives the server: it reconnects with
 * back-off on every reconnectable close, resubscribes each channel from the last message it
 * delivered (`since`), and hands the application each message once, in order, telling it when
 * something could not be recovered. docs/client.md is the user's guide to this file.
 */
import { shouldReconnect } from '../protocol/codes.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { ChannelStream, type StreamSink } from './channel-stream.js';
import { Emitter } from './emitter.js';
import { ShardcastClientError, type ClientEvents, type Delivery, type SubscribedEvent } from './events.js';
import { decodeFrame, encodeFrame, OPEN, subprotocols, type Codec, type Format, type ServerMessage, type WebSocketConstructor, type WebSocketLike } from './wire.js';

export interface ClientOptions {
  /** `ws://host:port/ws` or `wss://…`; or several nodes' URLs: each reconnect goes to the next (round robin), so a node that is gone costs one attempt. */
  readonly url: string | readonly string[];
  /** A JWT, or a function called before every connection (so a reconnect after 4003 gets a fresh one). */
  readonly token?: string | (() => string | Promise<string>);
  /** 'json' (default) or 'msgpack', which needs `codec`. */
  readonly format?: Format;
  /** MessagePack encode/decode, e.g. `{ encode: pack, decode: unpack }` from msgpackr. */
  readonly codec?: Codec;
  /** The WebSocket class; default `globalThis.WebSocket` (browsers, Node 22+). On Node 20 pass the `ws` package's. */
  readonly WebSocket?: WebSocketConstructor;
  readonly backoff?: BackoffOptions;
  /** Reconnect attempts in a row without a welcome before giving up (default: never give up). */
  readonly maxReconnects?: number;
}

export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A connection open this long has proven the server healthy: back-off starts again from its first step. */
const STABLE_MS = 5_000;
/** How long an `error` waits for its `close` before it counts as one (see connect()). */
const ERROR_WITHOUT_CLOSE_MS = 250;

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: Error): void;
}

export class ShardcastClient extends Emitter<ClientEvents> {
  private _state: ClientState = 'connecting';
  private ws: WebSocketLike | null = null;
  private readonly codec: Codec | null;
  private readonly WS: WebSocketConstructor;
  private readonly streams = new Map<string, ChannelStream>();
  /** Per-channel handlers given to subscribe(). */
  private readonly handlers = new Map<string, (d: Delivery) => void>();
  /** Channels whose subscribe is unanswered on this connection, in the order sent (the server answers in order). */
  private asked: string[] = [];
  /** subscribe() promises not yet answered. */
  private readonly subscribing = new Map<string, Waiter<SubscribedEvent>[]>();
  private readonly acks = new Map<string, Waiter<number>>();
  /** refresh() calls on this connection, answered in order (`refreshed` or an error with ref "refresh"). */
  private refreshes: Waiter<number>[] = [];
  /** A token given to refresh() replaces a fixed `token` option for later connections. */
  private token: ClientOptions['token'];
  private readyWaiters: Waiter<void>[] = [];
  private nextId = 0;
  /** Back-off step of the next reconnect. */
  private attempt = 0;
  /** Attempts since the last welcome, for maxReconnects. */
  private failures = 0;
  private connections = 0;
  private openedAt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly urls: readonly string[];
  /** The URL of the current (or next) connection. */
  private urlIndex = 0;

  constructor(private readonly options: ClientOptions) {
    super();
    this.urls = typeof options.url === 'string' ? [options.url] : [...options.url];
    if (this.urls.length === 0) throw new TypeError('url: give at least one ws:// or wss:// URL');
    const format = options.format ?? 'json';
    if (format === 'msgpack' && options.codec === undefined) throw new TypeError("format 'msgpack' needs a codec ({ encode, decode })");
    this.codec = format === 'msgpack' ? options.codec! : null;
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WS === undefined) throw new TypeError('no WebSocket here: pass one (options.WebSocket), e.g. the ws package on Node 20');
    this.WS = WS;
    this.token = options.token;
    void this.connect();
  }

  get state(): ClientState {
    return this._state;
  }

  /** Resolves when the connection is open (welcomed); rejects if the client closes for good first. */
  ready(): Promise<void> {
    if (this._state === 'open') return Promise.resolve();
    if (this._state === 'closed') return Promise.reject(new ShardcastClientError('closed', 'the client is closed'));
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /**
   * Follows `channel` across reconnects; `onMessage` (optional) gets its messages, as does the
   * 'message' event. Resolves with the first answer; rejects when the server refuses (the
   * subscription is then dropped; the 'error' event says so too).
   */
  subscribe(channel: string, onMessage?: (d: Delivery) => void): Promise<SubscribedEvent> {
    if (onMessage !== undefined) this.handlers.set(channel, onMessage);
    if (this._state === 'closed') return Promise.reject(new ShardcastClientError('closed', 'the client is closed'));
    const answered = new Promise<SubscribedEvent>((resolve, reject) => {
      const list = this.subscribing.get(channel) ?? [];
      list.push({ resolve, reject });
      this.subscribing.set(channel, list);
    });
    answered.catch(() => {}); // the 'error' event reports it as well: ignoring the promise is fine
    const known = this.streams.get(channel);
    if (known === undefined) {
      const stream = new ChannelStream(channel, this.sink);
      this.streams.set(channel, stream);
      if (this.isOpen()) this.askFor(stream);
    } else if (known.answer !== null) {
      this.settleSubscribe(channel, known.answer, null); // followed already, and answered on this connection
    }
    return answered;
  }

  /** Stops following `channel`; messages of it still on their way are dropped. */
  unsubscribe(channel: string): void {
    this.streams.delete(channel);
    this.handlers.delete(channel);
    this.settleSubscribe(channel, null, new ShardcastClientError('unsubscribed', `unsubscribed from ${channel}`));
    if (this.isOpen()) this.send({ type: 'unsubscribe', channel });
  }

  /**
   * Publishes `data` on `channel`; resolves with its seq when the server acks it. Rejects with
   * the server's error code when refused, with `not_connected` when there is no open
   * connection, and with `connection_lost` when the connection drops before the ack — then
   * the publish may or may not have happened, and the client does not resend it by itself.
   */
  publish(channel: string, data: unknown): Promise<number> {
    if (!this.isOpen()) return Promise.reject(new ShardcastClientError('not_connected', `not connected (${this._state})`));
    const id = `p${++this.nextId}`;
    try {
      this.send({ type: 'publish', channel, data, id });
    } catch (err) {
      // data the format cannot carry (a BigInt in JSON, a function): nothing was sent
      return Promise.reject(new ShardcastClientError('bad_data', `cannot encode the data: ${String(err)}`));
    }
    return new Promise((resolve, reject) => this.acks.set(id, { resolve, reject }));
  }

  /**
   * Hands the server a new token for the same user before the current one expires (else the
   * connection is closed with 4003 and reconnects); resolves with its `exp`. A fixed `token`
   * option is replaced by it for later connections; a token function is still called.
   */
  refresh(token: string): Promise<number> {
    if (typeof this.token !== 'function') this.token = token;
    if (!this.isOpen()) return Promise.reject(new ShardcastClientError('not_connected', `not connected (${this._state})`));
    this.send({ type: 'refresh', token });
    return new Promise((resolve, reject) => this.refreshes.push({ resolve, reject }));
  }

  /** Closes the connection for good: no reconnect; unanswered publishes reject with `closed`. */
  close(): void {
    if (this._state === 'closed') return;
    if (this.timer !== null) clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws !== null) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = () => {}; // ws (Node) throws an error event nobody listens to
      ws.close(1000, 'client closed');
    }
    this.finish(1000, 'client closed', 'closed');
  }

  /** Messages dropped as duplicates, summed over the channels followed now. */
  duplicates(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.duplicates;
    return n;
  }

  private readonly sink: StreamSink = {
    subscribed: (s) => {
      this.emit('subscribed', s);
      this.settleSubscribe(s.channel, s, null);
    },
    deliver: (d) => {
      this.handlers.get(d.channel)?.(d);
      this.emit('message', d);
    },
    gap: (g) => this.emit('gap', g),
    unrecovered: (u) => this.emit('unrecovered', u),
    reset: (channel) => this.emit('reset', { channel }),
  };

  private async connect(): Promise<void> {
    this.timer = null;
    let token: string | null = null;
    try {
      const t = this.token;
      token = t === undefined ? null : typeof t === 'string' ? t : await t();
    } catch (err) {
      this.emit('error', { code: 'token', message: `the token function failed: ${String(err)}` });
      this.lost(1006, 'no token');
      return;
    }
    if (this._state === 'closed') return;
    let ws: WebSocketLike;
    try {
      ws = new this.WS(this.urls[this.urlIndex]!, subprotocols(this.codec === null ? 'json' : 'msgpack', token));
    } catch (err) {
      // a malformed URL: no attempt can succeed
      this.emit('error', { code: 'bad_url', message: String(err) });
      this.finish(1006, String(err), 'closed');
      return;
    }
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (ev: { data: unknown }) => this.onFrame(ev.data);
    ws.onclose = (ev: { code: number; reason: string }) => {
      if (this.ws === ws) this.lost(ev.code, ev.reason);
    };
    // the close event that follows says what happened — except on Node 22's own WebSocket,
    // which fires `error` and never `close` when the connection is refused (22.23.5, measured;
    // Node 24 and browsers fire both, as the standard says): if no close follows soon, the
    // error ends the attempt as a close 1006 would
    ws.onerror = () => {
      setTimeout(() => {
        if (this.ws !== ws) return;
        ws.onclose = ws.onmessage = null;
        ws.onerror = () => {};
        this.lost(1006, 'connection failed');
      }, ERROR_WITHOUT_CLOSE_MS);
    };
  }

  private onFrame(data: unknown): void {
    const messages = decodeFrame(data, this.codec);
    if (messages === null) {
      this.emit('error', { code: 'bad_frame', message: 'a frame the client cannot read (wrong format or not messages)' });
      return;
    }
    for (const m of messages) this.onMessage(m);
  }

  private onMessage(m: ServerMessage): void {
    const channel = typeof m['channel'] === 'string' ? m['channel'] : null;
    switch (m.type) {
      case 'message':
      case 'reset':
        if (channel !== null) this.streams.get(channel)?.frame(m);
        return;
      case 'subscribed':
        if (channel !== null) this.onSubscribed(channel, m);
        return;
      case 'welcome':
        this.onWelcome(m);
        return;
      case 'ack':
        this.settleAck(m['id'], m['seq'], null);
        return;
      case 'refreshed':
        this.refreshes.shift()?.resolve(Number(m['exp']));
        return;
      case 'error':
        this.onError(m);
        return;
      default:
        return; // unsubscribed, pong: nothing waits for them
    }
  }

  private onWelcome(m: ServerMessage): void {
    this._state = 'open';
    this.openedAt = Date.now();
    this.failures = 0;
    // resubscribe here, not on open: subscribe() calls before the welcome are counted in
    this.asked = [];
    for (const s of this.streams.values()) {
      if (s.implicit) s.awaitSubscribed(); // the server resubscribes it by itself
      else this.askFor(s);
    }
    const user = typeof m['user'] === 'string' ? { user: m['user'] } : {};
    this.emit('open', { id: String(m['id']), shard: Number(m['shard']), ...user, reconnects: this.connections++, url: this.urls[this.urlIndex]! });
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w.resolve();
  }

  private onSubscribed(channel: string, m: ServerMessage): void {
    const i = this.asked.indexOf(channel);
    if (i >= 0) this.asked.splice(i, 1);
    let stream = this.streams.get(channel);
    if (stream === undefined) {
      if (i >= 0) return; // unsubscribed meanwhile
      // the server subscribed the connection itself: a token's per-user channel
      stream = new ChannelStream(channel, this.sink, true);
      this.streams.set(channel, stream);
    }
    const seq = typeof m['seq'] === 'number' ? m['seq'] : 0;
    const epoch = typeof m['epoch'] === 'string' ? m['epoch'] : null;
    const recovered = typeof m['recovered'] === 'boolean' ? m['recovered'] : undefined;
    stream.subscribed(seq, epoch, recovered);
  }

  private onError(m: ServerMessage): void {
    const code = String(m['code']);
    const message = String(m['message']);
    const ref = m['ref'];
    if (typeof ref === 'string' && this.acks.has(ref)) {
      this.settleAck(ref, null, new ShardcastClientError(code, message));
    } else if (ref === 'refresh' && this.refreshes.length > 0) {
      this.refreshes.shift()!.reject(new ShardcastClientError(code, message));
    } else if (ref === 'subscribe' && this.asked.length > 0) {
      // subscribe refusals come in the order the subscribes were sent: this one answers the oldest
      const channel = this.asked.shift()!;
      this.streams.delete(channel);
      this.handlers.delete(channel);
      this.emit('error', { code, message, channel });
      this.settleSubscribe(channel, null, new ShardcastClientError(code, message));
    } else {
      this.emit('error', { code, message });
    }
  }

  /** The connection ended without close(): reconnect or stop, by the close code. */
  private lost(code: number, reason: string): void {
    this.ws = null;
    if (this._state === 'closed') return;
    const welcomed = this._state === 'open';
    for (const s of this.streams.values()) s.answer = null;
    this.failAcks('connection_lost', `the connection closed (${code}) before the ack`);
    if (welcomed && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
    if (!shouldReconnect(code) || this.failures++ >= (this.options.maxReconnects ?? Infinity)) {
      this.finish(code, reason, 'terminal');
      return;
    }
    const delay = backoffDelay(this.attempt++, this.options.backoff);
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this._state = 'reconnecting';
    this.emit('close', { code, reason, reconnectInMs: delay });
    this.timer = setTimeout(() => void this.connect(), delay);
  }

  /** The client stops for good: everything still waiting fails. */
  private finish(code: number, reason: string, why: 'closed' | 'terminal'): void {
    this._state = 'closed';
    const err = () => new ShardcastClientError(why, why === 'closed' ? 'the client is closed' : `the server closed the connection (${code} ${reason}); not reconnecting`);
    this.failAcks(why, err().message);
    for (const channel of [...this.subscribing.keys()]) this.settleSubscribe(channel, null, err());
    for (const w of this.readyWaiters) w.reject(err());
    this.readyWaiters = [];
    this.emit('close', { code, reason, reconnectInMs: null });
  }

  private askFor(stream: ChannelStream): void {
    const since = stream.since();
    stream.awaitSubscribed();
    this.asked.push(stream.channel);
    this.send({ type: 'subscribe', channel: stream.channel, ...(since === null ? {} : { since }) });
  }

  private settleSubscribe(channel: string, event: SubscribedEvent | null, err: Error | null): void {
    const list = this.subscribing.get(channel);
    if (list === undefined) return;
    this.subscribing.delete(channel);
    for (const w of list) {
      if (event !== null) w.resolve(event);
      else w.reject(err!);
    }
  }

  private settleAck(id: unknown, seq: unknown, err: Error | null): void {
    const w = typeof id === 'string' ? this.acks.get(id) : undefined;
    if (w === undefined) return;
    this.acks.delete(id as string);
    if (err !== null) w.reject(err);
    else w.resolve(Number(seq));
  }

  private failAcks(code: string, message: string): void {
    const waiting = [...this.acks.values(), ...this.refreshes];
    this.acks.clear();
    this.refreshes = [];
    for (const w of waiting) w.reject(new ShardcastClientError(code, message));
  }

  private isOpen(): boolean {
    return this._state === 'open' && this.ws !== null && this.ws.readyState === OPEN;
  }

  private send(message: object): void {
    this.ws!.send(encodeFrame(message, this.codec));
  }
}
