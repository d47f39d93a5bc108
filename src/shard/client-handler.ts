/**
 * ClientHandler — one shard's WebSocket behaviour: the handshake (connection limits), the
 * protocol v1 conversation, and closing clients that read too slowly. Bad input is answered
 * with an error frame carrying a stable code; it never throws out of a handler.
 */
import { CloseCode, ErrorCode } from '../protocol/codes.js';
import { ShardcastError } from '../protocol/errors.js';
import {
  PONG_FRAME,
  errorFrame,
  parseClientMessage,
  refOf,
  subscribedFrame,
  unsubscribedFrame,
  welcomeFrame,
  type ClientMessage,
} from '../protocol/messages.js';
import { userChannel } from '../protocol/user-channel.js';
import { isRefusal, type Verdict as TokenVerdict } from '../auth/token-verifier.js';
import { ReplyTarget } from '../transport/records.js';
import type { HttpRequest, HttpResponse, WebSocketBehavior, us_socket_context_t } from 'uWebSockets.js';
import type { IpTables } from '../limits/ip-slots.js';
import type { Client, ClientSocket, ShardContext } from './context.js';
import { sendError } from './http-reply.js';
import { AuthGate, acceptedProtocol } from './auth-gate.js';
import { PublishLimiter, Verdict } from './publish-limiter.js';
import { IpLimits } from './ip-limits.js';
import { AllowedOrigins } from '../auth/allowed-origins.js';

/** How often the slow-consumer sweep looks at every connection's send buffer. */
export const SWEEP_INTERVAL_MS = 100;
export class ClientHandler {
  /** Test hook: the next client frame makes the handler throw (a fault inside a uWS callback). */
  faultOnNextMessage = false;

  /** Tokens and permissions (src/auth/ through the shard's eyes). */
  readonly auth: AuthGate;
  private readonly limiter: PublishLimiter;
  private readonly ipLimits: IpLimits;
  /** Web pages that may connect (--allowed-origins). */
  private readonly origins: AllowedOrigins;
  /** Authenticated connections opened this turn, not yet subscribed to their per-user channel. */
  private readonly userPending = new Set<number>();

  constructor(
    private readonly ctx: ShardContext,
    ipTables: IpTables = { connections: null, handshakes: null },
  ) {
    this.auth = new AuthGate(ctx);
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
      close: (ws) => this.onClose(ws),
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
    const protocol = acceptedProtocol(offered);
    const verdict = this.auth.check(req, offered);
    if (!(verdict instanceof Promise)) {
      this.finishUpgrade(res, context, ipSlot, verdict, key, protocol, extensions);
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
      this.finishUpgrade(res, context, ipSlot, v, key, protocol, extensions);
    });
  }

  /** The token check's outcome (or the anonymous permissions), then the global connection limit. */
  private finishUpgrade(res: HttpResponse, context: us_socket_context_t, ipSlot: number, verdict: TokenVerdict, key: string, protocol: string, extensions: string): void {
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
    const client: Client = { ref: ctx.nextRef(), channels: null, ipSlot, tokens: 0, tokensAt: 0, perms: verdict };
    this.limiter.open(client, performance.now());
    res.cork(() => res.upgrade(client, key, protocol, extensions, context));
  }

  private onOpen(ws: ClientSocket): void {
    const { ctx } = this;
    const client = ws.getUserData();
    ctx.clients.set(client.ref, ws);
    ctx.count('connectionsOpen');
    ctx.count('connectionsOpened');
    ws.send(welcomeFrame(`${ctx.shard}.${ctx.generation}-${client.ref}`, ctx.shard, client.perms.user), false);
    if (client.perms.user !== null) {
      // the per-user subscription follows the upgrade (its `subscribed` frame says from which
      // seq), not inside it: a socket upgraded after an asynchronous token check was seen cut
      // by uWS (1006) inside res.upgrade, more often with more done there
      const ref = client.ref;
      this.userPending.add(ref);
      queueMicrotask(() => {
        if (this.userPending.delete(ref)) ws.cork(() => this.subscribeUser(ws));
      });
    }
  }

  /**
   * Per-user delivery: an authenticated connection is subscribed to its user's channel,
   * outside --max-subscriptions and client.channels (clients cannot name it to unsubscribe),
   * and told its seq like any subscribe. Counted as interest, so its state lives while the
   * user is connected.
   */
  private subscribeUser(ws: ClientSocket): void {
    const { ctx } = this;
    const channel = userChannel(ws.getUserData().perms.user!);
    ws.subscribe(channel);
    ctx.subscribed(channel, 1);
    const last = ctx.lastSeq.get(channel);
    ws.send(subscribedFrame(channel, last?.seq ?? 0, last?.epoch ?? null), false);
  }

  private onClose(ws: ClientSocket): void {
    const { ctx } = this;
    const client = ws.getUserData();
    if (!ctx.clients.delete(client.ref)) return;
    ctx.counters.closeOne();
    this.ipLimits.release(client.ipSlot);
    ctx.count('connectionsOpen', -1);
    if (client.channels !== null) for (const c of client.channels) ctx.subscribed(c, -1);
    // refresh keeps the sub, so this is the channel subscribed at open
    // subscribed to its per-user channel unless it closed before that subscription came
    if (client.perms.user !== null && !this.userPending.delete(client.ref)) ctx.subscribed(userChannel(client.perms.user), -1);
  }

  /** Closes every connection of `user` on this shard with 4500 (POST /api/disconnect); how many. */
  disconnectUser(user: string): number {
    const { ctx } = this;
    let closed = 0;
    for (const ws of [...ctx.clients.values()]) {
      if (ws.getUserData().perms.user !== user) continue;
      closed++;
      ws.end(CloseCode.DisconnectedByServer, 'disconnected by the server');
    }
    if (closed > 0) ctx.count('closedDisconnected', closed);
    return closed;
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
    if (isBinary) {
      this.reject(ws, ErrorCode.BinaryUnsupported, 'protocol v1 takes text frames of JSON', null);
      return;
    }
    const text = Buffer.from(message).toString('utf8');
    let msg: ClientMessage;
    try {
      msg = parseClientMessage(text);
    } catch (err) {
      if (!(err instanceof ShardcastError)) throw err;
      this.reject(ws, err.code, err.message, refOf(safeParse(text)));
      return;
    }
    this.handle(ws, msg);
  }

  private handle(ws: ClientSocket, msg: ClientMessage): void {
    const { ctx } = this;
    const client = ws.getUserData();
    switch (msg.type) {
      case 'subscribe': {
        if (!client.perms.subscribe.matches(msg.channel, client.perms.user)) {
          ctx.count('forbiddenSubscribe');
          const { user, subscribe } = client.perms;
          const why = user !== null ? `your token does not allow subscribing to ${msg.channel}` : subscribe.none ? 'anonymous connections may subscribe to no channel on this server' : `anonymous connections may not subscribe to ${msg.channel}`;
          this.reject(ws, ErrorCode.Forbidden, why, msg.type);
          return;
        }
        if (!ws.isSubscribed(msg.channel)) {
          const channels = (client.channels ??= new Set());
          if (channels.size >= ctx.config.maxSubscriptions) {
            this.reject(ws, ErrorCode.TooManySubscriptions, `at most ${ctx.config.maxSubscriptions} subscriptions per connection`, msg.type);
            return;
          }
          ws.subscribe(msg.channel);
          channels.add(msg.channel);
          ctx.subscribed(msg.channel, 1);
        }
        // the seq as of this shard's position in the feed: the next delivery is seq + 1
        const last = ctx.lastSeq.get(msg.channel);
        ws.send(subscribedFrame(msg.channel, last?.seq ?? 0, last?.epoch ?? null), false);
        return;
      }
      case 'unsubscribe': {
        if (ws.isSubscribed(msg.channel)) {
          ws.unsubscribe(msg.channel);
          client.channels?.delete(msg.channel);
          ctx.subscribed(msg.channel, -1);
        }
        ws.send(unsubscribedFrame(msg.channel), false);
        return;
      }
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
        switch (this.limiter.take(client, performance.now())) {
          case Verdict.Accept:
            break;
          case Verdict.Refuse:
            ctx.count('rejectedRateLimited');
            this.reject(ws, ErrorCode.RateLimited, `above ${ctx.config.clientPublishRate} publishes per second; slow down`, ref);
            return;
          case Verdict.Close:
            ctx.count('rejectedRateLimited');
            ctx.count('closedPolicyViolation');
            this.reject(ws, ErrorCode.RateLimited, 'kept publishing after rate_limited; closing', ref);
            ws.end(CloseCode.PolicyViolation, 'publish rate limit exceeded');
            return;
        }
        // the limit applies to the data as it will be sent: re-serialised JSON can be larger
        // than the frame it came in (1E20 → 100000000000000000000)
        if (Buffer.byteLength(msg.data) > ctx.config.maxPayload) {
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
        ws.send(PONG_FRAME, false);
        return;
      case 'refresh':
        this.auth.refresh(ws, msg.token, (code, message) => this.reject(ws, code, message, msg.type));
        return;
      default: {
        const never: never = msg;
        throw new Error(`unhandled client message ${JSON.stringify(never)}`);
      }
    }
  }

  /** Sends an error frame to one client (used by the shard for refusals from main, too). */
  reject(ws: ClientSocket, code: ErrorCode, message: string, ref: string | null): void {
    this.ctx.count('errorFrames');
    ws.send(errorFrame(code, message, ref), false);
  }

  /**
   * Closes every client whose send buffer passed the limit. O(connections) native calls per
   * sweep, no work per message; a closed slow client gets 4001 after what it was sent.
   */
  sweepSlowConsumers(): void {
    const { ctx } = this;
    const limit = ctx.config.maxBackpressure;
    for (const ws of ctx.clients.values()) {
      if (ws.getBufferedAmount() > limit) {
        ctx.count('closedSlowConsumer');
        ws.end(CloseCode.SlowConsumer, 'slow consumer');
      }
    }
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
