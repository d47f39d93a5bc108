/**
 * AuthGate — one shard's side of authentication: the token of an upgrade checked into the
 * connection's Permissions (or a 401 with its reason), `refresh` on an open connection, and
 * the once-a-second sweep that closes connections whose token expired (4003). Without JWT
 * configured — or with --allow-anonymous, for a connection that brings no token — a
 * connection gets the one anonymous Permissions object.
 */
import { CloseCode, ErrorCode } from '../protocol/codes.js';
import { refreshedFrame, unsubscribedFrame } from '../protocol/messages.js';
import { anonymousPermissions, type Permissions } from '../auth/permissions.js';
import { TokenVerifier, isRefusal, type Refusal, type RefusalReason, type Verdict } from '../auth/token-verifier.js';
import type { HttpRequest, HttpResponse } from '../transport/uws.js';
import { clientTopic, sendFrame, type ClientSocket, type ShardContext } from './context.js';
import { sendJson } from './http-reply.js';

/** How often connections are checked for an expired token (JWT configured): closes come at most this late. */
export const EXPIRY_SWEEP_MS = 1000;

const TOKEN_PROTOCOL = 'token.';

/** The shard counter of each refusal reason. */
const REFUSED_COUNTER = {
  missing: 'authRefusedMissing',
  malformed: 'authRefusedMalformed',
  signature: 'authRefusedSignature',
  expired: 'authRefusedExpired',
  not_yet_valid: 'authRefusedNotYetValid',
  audience: 'authRefusedAudience',
  issuer: 'authRefusedIssuer',
  algorithm: 'authRefusedAlgorithm',
} as const satisfies Record<RefusalReason, string>;

export class AuthGate {
  /** What every connection gets when JWT is not configured (one object for all of them). */
  readonly anonymous: Permissions;
  /** Null when JWT is not configured. Replaced on a credential reload (useKeys). */
  verifier: TokenVerifier | null = null;

  constructor(private readonly ctx: ShardContext) {
    this.anonymous = anonymousPermissions(ctx.config);
    this.useKeys();
  }

  /**
   * Verifies with the JWT key material now in ctx.config. A new verifier starts with an empty
   * cache, so a token verified with a key that was just removed is not accepted again from
   * the cache; open connections keep the permissions they were given until their tokens expire.
   */
  useKeys(): void {
    const { ctx } = this;
    this.verifier = ctx.config.jwt && new TokenVerifier(ctx.config.jwt, () => ctx.count('tokenCacheHits'));
  }

  /**
   * The upgrade's permissions or why it is refused — at once, or a promise when a signature
   * must be checked. Reads `req` synchronously (it is invalid after the upgrade handler).
   */
  check(req: HttpRequest, offeredProtocols: string): Verdict | Promise<Verdict> {
    if (this.verifier === null) return this.anonymous;
    const token = tokenOf(req.getQuery('token') ?? '', req.getHeader('authorization'), offeredProtocols);
    // JWT and --allow-anonymous together: no token means anonymous; a bad token is still refused
    if ((token === null || token === '') && this.ctx.config.allowAnonymous) return this.anonymous;
    return this.verifier.verify(token);
  }

  /** Answers a refused upgrade: 401 with the reason, counted per reason. */
  refuse(res: HttpResponse, r: Refusal): void {
    this.ctx.count(REFUSED_COUNTER[r.reason]);
    sendUnauthorized(res, r);
  }

  /** A `refresh` message; `reject` sends an error frame about it. */
  refresh(ws: ClientSocket, token: string, reject: (code: ErrorCode, message: string) => void): void {
    if (this.verifier === null) {
      reject(ErrorCode.BadMessage, 'this server does not use tokens: nothing to refresh');
      return;
    }
    const verdict = this.verifier.verify(token);
    if (!(verdict instanceof Promise)) {
      this.refreshed(ws, verdict, reject);
      return;
    }
    const ref = ws.getUserData().ref;
    void verdict.then((v) => {
      // the connection may have gone while the token was checked
      if (this.ctx.clients.get(ref) === ws) ws.cork(() => this.refreshed(ws, v, reject));
    });
  }

  /**
   * A refresh's outcome: the new token must be valid and for the same user; its permissions
   * then replace the old ones, and subscriptions they no longer cover end (`unsubscribed`).
   */
  private refreshed(ws: ClientSocket, verdict: Verdict, reject: (code: ErrorCode, message: string) => void): void {
    const { ctx } = this;
    const client = ws.getUserData();
    if (isRefusal(verdict)) {
      ctx.count('refreshesRefused');
      reject(ErrorCode.Unauthorized, `refresh refused (${verdict.reason}): ${verdict.message}`);
      return;
    }
    if (verdict.user !== client.perms.user) {
      ctx.count('refreshesRefused');
      reject(ErrorCode.Forbidden, 'refresh refused: the token is for another user (sub)');
      return;
    }
    client.perms = verdict;
    ctx.count('tokenRefreshes');
    if (client.channels !== null) {
      for (const c of client.channels) {
        if (verdict.subscribe.matches(c, verdict.user)) continue;
        const topic = clientTopic(ws, c);
        ws.unsubscribe(topic);
        client.recovering?.delete(c); // a pending recovery ends as if unsubscribed: its answer skips this socket
        client.channels.delete(c);
        ctx.subscribed(topic, -1);
        sendFrame(ws, unsubscribedFrame(c));
      }
    }
    sendFrame(ws, refreshedFrame(Math.floor(verdict.expiresAt / 1000)));
  }

  /** Closes every connection whose token expired (plus --jwt-leeway) with 4003, and forgets expired cached tokens. */
  sweepExpired(now: number): void {
    const { ctx } = this;
    this.verifier?.sweep(now);
    const leeway = (ctx.config.jwt?.leeway ?? 0) * 1000;
    for (const ws of ctx.clients.values()) {
      if (ws.getUserData().perms.expiresAt + leeway <= now) {
        ctx.count('closedTokenExpired');
        ws.end(CloseCode.TokenExpired, 'token expired: refresh and reconnect');
      }
    }
  }
}

/** The subprotocols offered, in order, without the token entry: a token is never echoed. */
export function offeredProtocols(header: string): string[] {
  return header.split(',').map((p) => p.trim()).filter((p) => p !== '' && !p.startsWith(TOKEN_PROTOCOL));
}

/** The token of an upgrade: `?token=`, then `Authorization: Bearer`, then a `token.<jwt>` subprotocol. */
function tokenOf(query: string, authorization: string, protocols: string): string | null {
  if (query !== '') return query;
  const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  if (bearer !== null) return bearer[1]!;
  for (const p of protocols.split(',')) {
    const t = p.trim();
    if (t.startsWith(TOKEN_PROTOCOL)) return t.slice(TOKEN_PROTOCOL.length);
  }
  return null;
}

/** HTTP 401 with the stable reason next to the code. */
function sendUnauthorized(res: HttpResponse, r: Refusal): void {
  const body = JSON.stringify({ error: { code: ErrorCode.Unauthorized, message: r.message, reason: r.reason } });
  sendJson(res, 401, body, { 'www-authenticate': 'Bearer error="invalid_token"' });
}
