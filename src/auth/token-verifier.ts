/**
 * TokenVerifier — one shard's JWT check: a token in, the connection's Permissions out, or a
 * refusal with a stable reason. Crypto is jose's; this file decides what is allowed and keeps
 * the cost bounded:
 *
 * - cheap checks first, no crypto: length (MAX_TOKEN_BYTES), shape (three base64url parts),
 *   the header's `alg` against the algorithms of the configured key (settings.algorithms) —
 *   `alg: none` and algorithm confusion end here with reason `algorithm`;
 * - a cache of verified tokens, keyed by the token's SHA-256 (32 bytes as a one-byte string,
 *   whatever the token's size; the token itself is not kept), at most CACHE_SIZE entries,
 *   least recently used first out, expired ones dropped by sweep(): a client reconnecting
 *   with the same token costs a hash and a Map lookup, and every connection of one token
 *   shares one Permissions object (one pointer each);
 * - the compiled patterns of a claim shape are shared by all its tokens (GrantTable, at most
 *   GRANT_TABLE_SIZE shapes), so a verified token keeps only its sub, exp and two pointers;
 * - concurrent handshakes with the same unverified token share one verification.
 * A flood of distinct well-formed tokens with bad signatures still costs one signature check
 * each; --max-handshakes-per-ip is the brake on that. Memory is bounded whatever the tokens:
 * the cache and the grant table by their sizes, the rest by the connections holding it.
 */
import { createHash, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { JwtSettings } from './jwt-settings.js';
import { GrantTable } from './grant-table.js';
import { permissionsFromClaims, type Permissions } from './permissions.js';

type CryptoKey = webcrypto.CryptoKey;

/** Longest token looked at; longer ones are `malformed` without any work. */
export const MAX_TOKEN_BYTES = 8 * 1024;
/** Verified tokens remembered per shard. */
export const CACHE_SIZE = 10_000;

/** Why a token was refused: stable, in the 401 body's `reason` and the counters. */
export type RefusalReason = 'missing' | 'malformed' | 'signature' | 'expired' | 'not_yet_valid' | 'audience' | 'issuer' | 'algorithm';

export interface Refusal {
  readonly reason: RefusalReason;
  readonly message: string;
}

export type Verdict = Permissions | Refusal;

export function isRefusal(v: Verdict): v is Refusal {
  return 'reason' in v;
}

/** Three base64url parts; the signature may be empty (then `alg` decides: none is refused). */
const SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export class TokenVerifier {
  private readonly cache = new Map<string, Permissions>();
  private readonly inflight = new Map<string, Promise<Verdict>>();
  private readonly grants = new GrantTable();
  private readonly key: KeyObject | JWTVerifyGetKey;
  /** The secret imported once per HMAC algorithm (settings.secret only). */
  private readonly hmacKeys = new Map<string, Promise<CryptoKey>>();
  private readonly leewayMs: number;

  constructor(
    private readonly settings: JwtSettings,
    /** Called for each token accepted without a signature check of its own (a counter). */
    private readonly onCacheHit: () => void = () => {},
    private readonly cacheSize = CACHE_SIZE,
  ) {
    this.leewayMs = settings.leeway * 1000;
    // jose turns a public KeyObject into a WebCrypto key once and remembers it, but a secret
    // KeyObject (or its bytes) it exports and imports again on every verification: more work
    // than the HMAC itself, and half the garbage of a handshake (25 KB allocated per
    // verification then, 12 KB now). So the secret is imported here, once per HS algorithm.
    if (settings.secret !== null) {
      const secret = Buffer.from(settings.secret, 'utf8');
      this.key = (header) => this.hmacKey(secret, header.alg!);
    } else if (settings.publicKeyPem !== null) this.key = createPublicKey(settings.publicKeyPem);
    else this.key = createLocalJWKSet(settings.jwks as unknown as JSONWebKeySet);
  }

  /** Verified tokens remembered now. */
  get cached(): number {
    return this.cache.size;
  }

  /** Forgets the cached tokens expired at `now` (connections hold their own Permissions). */
  sweep(now = Date.now()): void {
    for (const [id, perms] of this.cache) if (perms.expiresAt + this.leewayMs <= now) this.cache.delete(id);
  }

  /**
   * The token's permissions or why it is refused: at once (synchronously) when the cheap
   * checks or the cache decide, else a promise (a signature check).
   */
  verify(token: string | null, now = Date.now()): Verdict | Promise<Verdict> {
    if (token === null || token === '') return { reason: 'missing', message: 'a token is required (?token=, Authorization: Bearer, or a token.<jwt> subprotocol)' };
    if (token.length > MAX_TOKEN_BYTES) return { reason: 'malformed', message: `token longer than ${MAX_TOKEN_BYTES} bytes` };
    if (!SHAPE.test(token)) return { reason: 'malformed', message: 'not a JWT (three base64url parts)' };
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return { reason: 'malformed', message: 'token header is not base64url JSON' };
    }
    if (typeof alg !== 'string' || !this.settings.algorithms.includes(alg)) {
      return { reason: 'algorithm', message: `algorithm ${JSON.stringify(String(alg)).slice(0, 40)} not allowed; this server takes ${this.settings.algorithms.join(', ')}` };
    }
    const id = createHash('sha256').update(token).digest('binary');
    const hit = this.cache.get(id);
    if (hit !== undefined) {
      this.cache.delete(id);
      if (hit.expiresAt + this.leewayMs > now) {
        this.cache.set(id, hit); // most recently used: last in Map order
        this.onCacheHit();
        return hit;
      }
    }
    const pending = this.inflight.get(id);
    if (pending !== undefined) {
      // joins a check under way: no signature check of its own, counted like a cache hit
      return pending.then((v) => {
        if (!isRefusal(v)) this.onCacheHit();
        return v;
      });
    }
    const check = this.check(token, id, now);
    this.inflight.set(id, check);
    return check;
  }

  private async check(token: string, id: string, now: number): Promise<Verdict> {
    const { settings } = this;
    try {
      const { payload } = await jwtVerify(token, this.key as KeyObject, {
        algorithms: [...settings.algorithms],
        clockTolerance: settings.leeway,
        currentDate: new Date(now),
        requiredClaims: ['sub', 'exp'],
        ...(settings.audience !== null ? { audience: settings.audience } : {}),
        ...(settings.issuer !== null ? { issuer: settings.issuer } : {}),
      });
      const perms = permissionsFromClaims(payload as Record<string, unknown>, this.grants);
      if (typeof perms === 'string') return { reason: 'malformed', message: perms };
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(id, perms);
      return perms;
    } catch (err) {
      return refusalOf(err);
    } finally {
      this.inflight.delete(id);
    }
  }

  /** The secret as a WebCrypto key for `alg` (an HS algorithm: the header was checked against settings.algorithms). */
  private hmacKey(secret: Buffer, alg: string): Promise<CryptoKey> {
    let key = this.hmacKeys.get(alg);
    if (key === undefined) {
      key = webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']);
      this.hmacKeys.set(alg, key);
    }
    return key;
  }
}

/** jose's error → a stable reason. */
function refusalOf(err: unknown): Refusal {
  const e = err as { code?: string; claim?: string };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return { reason: 'expired', message: 'token expired' };
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'nbf') return { reason: 'not_yet_valid', message: 'token not valid yet (nbf)' };
      if (e.claim === 'aud') return { reason: 'audience', message: 'token not meant for this server (aud)' };
      if (e.claim === 'iss') return { reason: 'issuer', message: 'token from another issuer (iss)' };
      return { reason: 'malformed', message: `claim ${JSON.stringify(e.claim ?? '')} missing or invalid` };
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return { reason: 'signature', message: 'signature does not verify' };
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return { reason: 'signature', message: 'no single key of the key set matches the token (kid, alg)' };
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return { reason: 'algorithm', message: 'algorithm not allowed' };
    default:
      return { reason: 'malformed', message: 'token could not be read' };
  }
}
