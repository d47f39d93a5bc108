/**
 * ClientHandler — one shard's WebSocket behaviour: the handshake (connection limits), the
 * protocol v1 conversation, and closing clients that read too slowly. Bad input is answered
 * with an error frame carrying a stable code; it never throws out of a handler.
 */
import { CloseCode, ErrorCode } from '../protocol/codes.js';
import { ShardcastError, type ErrorDetail } from '../protocol/errors.js';
import {
  PONG_FRAME,
  errorFrame,
  dataBytes,
  parseClientMessage,
  refOf,
  toClientMessage,
  subscribedFrame,
  welcomeFrame,
  type ClientMessage,
} from '../protocol/messages.js';
import { channelOfKey, userKey } from '../protocol/user-channel.js';
import { unpackValue } from '../protocol/payload.js';
import { JSON_PROTOCOL, MSGPACK_PROTOCOL, WireFormat, negotiateFormat, topicOf, type Negotiated } from '../protocol/wire-format.js';
import { isRefusal, type Verdict as TokenVerdict } from '../auth/token-verifier.js';
import { ReplyTarget } from '../transport/records.js';
import { uwsVersion } from '../transport/uws.js';
import type { HttpRequest, HttpResponse, WebSocketBehavior, us_socket_context_t } from 'uWebSockets.js';
import type { IpTables } from '../limits/ip-slots.js';
import { sendFrame, type Client, type ClientSocket, type ShardContext } from './context.js';
import { sendError } from './http-reply.js';
import { AuthGate, offeredProtocols } from './auth-gate.js';
import { Subscriptions } from './subscriptions.js';
import { PublishLimiter, Verdict } from './publish-limiter.js';
import { IpLimits } from './ip-limits.js';
import { AllowedOrigins } from '../auth/allowed-origins.js';

/** Whether an upgrade after an asynchronous token check runs in res.cork: on 20.30 only (see finishUpgrade). */
const CORKED_ASYNC_UPGRADE = uwsVersion.startsWith('20.30.');

export class ClientHandler {
  /** Test hook: the next client frame makes the handler throw (a fault inside a uWS callback). */
  faultOnNextMessage = false;

  /** Tokens and permissions (src/auth/ through the shard's eyes). */
  readonly auth: AuthGate;
  /** subscribe and unsubscribe, recoveries included. */
  readonly subscriptions: Subscriptions;
  private readonly limiter: PublishLimiter;
  private readonly ipLimits: IpLimits;
  /** Web pages that may connect (--allowed-origins). */
  private readonly origins: AllowedOrigins;
  /** Connections inside res.upgrade: opened, not greeted yet (empty between handlers). */
  private readonly opening = new Set<number>();

  constructor(
    private readonly ctx: ShardContext,
    ipTables: IpTables = { connections: null, handshakes: null },
  ) {
    this.auth = new AuthGate(ctx);
    this.subscriptions = new Subscriptions(ctx, (ws, code, message, ref) => this.reject(ws, code, message, ref));
    this.limiter = new PublishLimiter(ctx.config.clientPublishRate, ctx.config.clientPublishBurst);
    this.ipLimits = new IpLimits(ctx, ipTables);
    this.origins = new AllowedOrigins(ctx.config.allowedOrigins);
  }

  behavior(): WebSocketBehavior<Client> {
    const { config } = this.ctx;
    return {
      // uWS itself drops the TCP connection above this; between maxPayload and twice it we
      // answer with a readable error and close 1009 (see onMessage).
      maxPayloadLength: Math.min(2 * config.maxPayload, 32 * 1024 * 1024),
      // No uWS limit (0): above its maxBackpressure uWS skips frames silently — the close
      // frame included, so a dropped client would see 1006 and no reason. Instead the sweep
      // below closes a client whose buffer passed config.maxBackpressure with 4001, queued
      // behind what it was already sent; a client that never reads again is cut by the
      // idle timeout. Memory per slow client: the limit plus one sweep interval of traffic.
      maxBackpressure: 0,
      idleTimeout: config.idleTimeout,
      sendPingsAutomatically: true,
      compression: 0, // DISABLED: per-message deflate would compress per recipient
      upgrade: (res, req, context) => this.onUpgrade(res, req, context),
      open: (ws) => this.onOpen(ws),
      message: (ws, message, isBinary) => this.onMessage(ws, message, isBinary),
      close: (ws, code) => this.onClose(ws, code),
    };
  }

  private onUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    const { ctx } = this;
    if (ctx.closing) {
      sendError(res, ErrorCode.ShuttingDown, 'server is shutting down');
      return;
    }
    // per-address limits before the global one: an address over its own limit is told so
    // (429, its doing) and never holds a global slot, not even for a moment
    const ipSlot = this.ipLimits.admit(res);
    if (ipSlot === null) return;
    // a browser page from a site not listed: refused before any token work (403, not retryable)
    const origin = req.getHeader('origin');
    if (!this.origins.admits(origin)) {
      this.ipLimits.release(ipSlot);
      ctx.count('originRefused');
      sendError(res, ErrorCode.OriginNotAllowed, `origin ${origin.slice(0, 200)} may not connect (--allowed-origins)`);
      return;
    }
    // everything needed from req, read now: uWS's req is invalid once this handler returns
    const key = req.getHeader('sec-websocket-key');
    const offered = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const negotiated = negotiateFormat(offeredProtocols(offered), req.getQuery('format') ?? '');
    if (negotiated === null) {
      this.ipLimits.release(ipSlot);
      ctx.count('httpErrors');
      sendError(res, ErrorCode.BadFormat, `unknown format: offer ${JSON_PROTOCOL} or ${MSGPACK_PROTOCOL}, or give ?format=json|msgpack`);
      return;
    }
    const verdict = this.auth.check(req, offered);
    if (!(verdict instanceof Promise)) {
      this.finishUpgrade(res, context, ipSlot, verdict, key, negotiated, extensions);
      return;
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    void verdict.then((v) => {
      if (aborted) {
        this.ipLimits.release(ipSlot);
        return;
      }
      if (ctx.closing) {
        this.ipLimits.release(ipSlot);
        sendError(res, ErrorCode.ShuttingDown, 'server is shutting down');
        return;
      }
      this.finishUpgrade(res, context, ipSlot, v, key, negotiated, extensions, CORKED_ASYNC_UPGRADE);
    });
  }

  /** The token check's outcome (or the anonymous permissions), then the global connection limit. */
  private finishUpgrade(res: HttpResponse, context: us_socket_context_t, ipSlot: number, verdict: TokenVerdict, key: string, negotiated: Negotiated, extensions: string, corked = true): void {
    const { ctx } = this;
    if (isRefusal(verdict)) {
      this.ipLimits.release(ipSlot);
      this.auth.refuse(res, verdict);
      return;
    }
    if (!ctx.counters.tryOpen(ctx.config.maxConnections)) {
      this.ipLimits.release(ipSlot);
      ctx.count('connectionsRefused');
      sendError(res, ErrorCode.TooManyConnections, `connection limit ${ctx.config.maxConnections} reached`);
      return;
    }
    const client: Client = { ref: ctx.nextRef(), channels: null, ipSlot, tokens: 0, tokensAt: 0, perms: verdict, format: negotiated.format };
    this.limiter.open(client, performance.now());
    // The connection's first frames are sent once res.upgrade has returned, not from open.
    // uWebSockets.js 20.30's res.cork tells that its callback upgraded the socket by the
    // socket's address changing; the upgrade reallocates it in place (the WebSocket's data is
    // smaller than the response's), so after an asynchronous token check, when res.cork really
    // corks, it reads the response's state from the block the reallocation freed. Whatever
    // open allocated had landed there — the welcome frame's text, at the right length and id —
    // and read as `Connection: close`, the new WebSocket was closed at once (1006, no close
    // frame, no fault). With nothing done in open, it reads the response's own last state.
    // (Fixed in uWebSockets v20.79.0. Upgrading uncorked avoids it too, but uWS.js then
    // prints a warning on stderr for every such upgrade.) 20.57 reads the freed block too, and
    // nothing done in open helps there (in some processes every such upgrade was closed), so on
    // builds other than 20.30 the upgrade after an asynchronous check is uncorked.
    if (corked) res.cork(() => res.upgrade(client, key, negotiated.protocol, extensions, context));
    else res.upgrade(client, key, negotiated.protocol, extensions, context);
    if (this.opening.delete(client.ref)) {
      const ws = ctx.clients.get(client.ref)!;
      ws.cork(() => this.greet(ws));
    }
  }

  /** Only registers the connection: nothing that allocates native memory (see finishUpgrade). */
  private onOpen(ws: ClientSocket): void {
    const { ctx } = this;
    const client = ws.getUserData();
    ctx.clients.set(client.ref, ws);
    this.opening.add(client.ref);
    ctx.count('connectionsOpen');
    ctx.count('connectionsOpened');
    if (client.format === WireFormat.Msgpack) ctx.count('msgpackConnections');
  }

  /** A connection's first frames: welcome, then for a token's user its per-user subscription. */
  private greet(ws: ClientSocket): void {
    const { ctx } = this;
    const client = ws.getUserData();
    sendFrame(ws, welcomeFrame(`${ctx.shard}.${ctx.generation}-${client.ref}`, ctx.shard, client.perms.user));
    if (client.perms.user !== null) this.subscribeUser(ws);
  }

  /**
   * Per-user delivery: an authenticated connection is filed under its user (UserSockets, not
   * a uWS topic), outside --max-subscriptions and client.channels (clients cannot name its
   * channel to unsubscribe), and told the channel's seq like any subscribe. Counted as
   * interest, so the channel's state lives while the user is connected.
   */
  private subscribeUser(ws: ClientSocket): void {
    const { ctx } = this;
    const { perms, format } = ws.getUserData();
    const key = userKey(perms.user!);
    const hadConnections = ctx.users.get(key) !== undefined;
    if (ctx.users.add(key, ws)) ctx.userInterest(key, format, true);
    const channel = channelOfKey(key);
    if (this.subscriptions.recoveries.mustWait(channel, { hadConnections })) {
      // as for a channel (Subscriptions): the true position from main; the feed skips it meanwhile
      this.subscriptions.recoveries.wait(ws, channel);
      return;
    }
    const last = ctx.lastSeq.get(channel);
    sendFrame(ws, subscribedFrame(channel, last?.seq ?? 0, last?.epoch ?? null));
  }

  private onClose(ws: ClientSocket, code: number): void {
    const { ctx } = this;
    const client = ws.getUserData();
    if (!ctx.clients.delete(client.ref)) return;
    ctx.counters.closeOne();
    ctx.counters.closedWith(ctx.shard, code);
    this.ipLimits.release(client.ipSlot);
    ctx.count('connectionsOpen', -1);
    if (client.channels !== null) for (const c of client.channels) ctx.subscribed(topicOf(c, client.format), -1);
    // refresh keeps the sub, so this is the channel subscribed when it was greeted (if it was)
    const greeted = !this.opening.delete(client.ref);
    if (greeted && client.perms.user !== null) {
      const key = userKey(client.perms.user);
      if (ctx.users.remove(key, ws)) ctx.userInterest(key, client.format, false);
    }
  }

  /** Closes every connection of `user` on this shard with 4500 (POST /api/disconnect); how many. */
  disconnectUser(user: string): number {
    const { ctx } = this;
    // a list of its own: each end() runs onClose, which takes the socket out of the table
    const sockets = ctx.users.list(userKey(user));
    for (const ws of sockets) ws.end(CloseCode.DisconnectedByServer, 'disconnected by the server');
    if (sockets.length > 0) ctx.count('closedDisconnected', sockets.length);
    return sockets.length;
  }

  private onMessage(ws: ClientSocket, message: ArrayBuffer, isBinary: boolean): void {
    if (this.faultOnNextMessage) {
      this.faultOnNextMessage = false;
      throw new Error('injected fault (ws-message)');
    }
    const { ctx } = this;
    if (message.byteLength > ctx.config.maxPayload) {
      this.reject(ws, ErrorCode.PayloadTooLarge, `frame of ${message.byteLength} bytes is above the ${ctx.config.maxPayload}-byte limit`, null);
      ctx.count('closedTooBig');
      ws.end(CloseCode.MessageTooBig, 'message too big');
      return;
    }
    const format = ws.getUserData().format;
    if (isBinary !== (format === WireFormat.Msgpack)) {
      if (isBinary) this.reject(ws, ErrorCode.BinaryUnsupported, `this connection speaks JSON (text frames); for MessagePack connect with the ${MSGPACK_PROTOCOL} subprotocol`, null);
      else this.reject(ws, ErrorCode.TextUnsupported, 'this connection speaks MessagePack (binary frames)', null);
      return;
    }
    let msg: ClientMessage;
    let value: unknown = null;
    try {
      if (isBinary) {
        value = unpackValue(new Uint8Array(message));
        msg = toClientMessage(value, WireFormat.Msgpack);
      } else {
        const text = Buffer.from(message).toString('utf8');
        value = safeParse(text);
        msg = parseClientMessage(text);
      }
    } catch (err) {
      if (!(err instanceof ShardcastError)) throw err;
      this.reject(ws, err.code, err.message, refOf(value));
      return;
    }
    this.handle(ws, msg);
  }

  private handle(ws: ClientSocket, msg: ClientMessage): void {
    const { ctx } = this;
    const client = ws.getUserData();
    switch (msg.type) {
      case 'subscribe':
        this.subscriptions.subscribe(ws, msg.channel, msg.since);
        return;
      case 'unsubscribe':
        this.subscriptions.unsubscribe(ws, msg.channel);
        return;
      case 'publish': {
        const ref = msg.id ?? msg.type;
        // with JWT the token's publish claim decides (forbidden); without, --client-publish (publish_forbidden)
        const { publish: publishable, user } = client.perms;
        const allowed = publishable.matches(msg.channel, user);
        if (!allowed && user !== null) {
          ctx.count('forbiddenPublish');
          this.reject(ws, ErrorCode.Forbidden, `your token does not allow publishing to ${msg.channel}`, ref);
          return;
        }
        if (!allowed) {
          ctx.count('rejectedForbidden');
          const why = publishable.none ? 'client publishing is turned off on this server' : `clients may not publish to ${msg.channel}`;
          this.reject(ws, ErrorCode.PublishForbidden, why, ref);
          return;
        }
        ctx.count('clientPublishes');
        if (!this.withinRate(ws, ref)) return;
        // the limit applies to the data as it will be sent: re-serialised JSON can be larger
        // than the frame it came in (1E20 → 100000000000000000000)
        if (dataBytes(msg.data) > ctx.config.maxPayload) {
          this.reject(ws, ErrorCode.PayloadTooLarge, `data re-serialises to more than the ${ctx.config.maxPayload}-byte limit`, ref);
          return;
        }
        const accepted = ctx.forwardPublish({
          target: msg.id === null ? ReplyTarget.None : ReplyTarget.WebSocket,
          ref: client.ref,
          channels: [msg.channel],
          data: msg.data,
          id: msg.id ?? '',
        });
        if (!accepted) this.reject(ws, ErrorCode.Overloaded, 'server is overloaded; publish again shortly', ref);
        return;
      }
      case 'ping':
        sendFrame(ws, PONG_FRAME);
        return;
      case 'refresh':
        // a refresh may cost a signature check: it draws on the publish rate limit, so a
        // flood of (forged or fresh) tokens is refused like a flood of publishes
        if (!this.withinRate(ws, msg.type)) return;
        this.auth.refresh(ws, msg.token, (code, message) => this.reject(ws, code, message, msg.type));
        return;
      default: {
        const never: never = msg;
        throw new Error(`unhandled client message ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * The connection's rate limit (--client-publish-rate) for a publish or a refresh: false
   * when refused (`rate_limited`, or closed 1008 for ignoring earlier refusals).
   */
  private withinRate(ws: ClientSocket, ref: string): boolean {
    const { ctx } = this;
    switch (this.limiter.take(ws.getUserData(), performance.now())) {
      case Verdict.Accept:
        return true;
      case Verdict.Refuse:
        ctx.count('rejectedRateLimited');
        this.reject(ws, ErrorCode.RateLimited, `above ${ctx.config.clientPublishRate} publishes and refreshes per second; slow down`, ref);
        return false;
      case Verdict.Close:
        ctx.count('rejectedRateLimited');
        ctx.count('closedPolicyViolation');
        this.reject(ws, ErrorCode.RateLimited, 'kept publishing after rate_limited; closing', ref);
        ws.end(CloseCode.PolicyViolation, 'publish rate limit exceeded');
        return false;
    }
  }

  /** Sends an error frame to one client (used by the shard for refusals from main, too). */
  reject(ws: ClientSocket, code: ErrorCode, message: string, ref: string | null, detail?: ErrorDetail): void {
    this.ctx.count('errorFrames');
    sendFrame(ws, errorFrame(code, message, ref, detail));
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
