/**
 * Tokens for benching a server that requires a JWT on the handshake (--jwt-secret, …): one
 * token for every connection (--token, --token-file), or one minted per connection from the
 * server's HS256 secret (--token-secret), each with its own `sub` (`bench-<n>`) and every
 * channel allowed — so the server verifies each handshake's signature, the costly case,
 * rather than answering repeats from its cache of verified tokens.
 *
 * Minting is an HMAC-SHA256 over two base64url JSON parts (node:crypto does the crypto): a
 * load generator has to mint synchronously, thousands a second, which jose's async API does
 * not fit. The server verifies with jose.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BenchUsageError, type BenchInput, type WsTarget } from './options.js';

export type BenchAuth = { readonly token: string } | { readonly secret: string; readonly ttlSeconds: number };

const HEADER = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url');

/** An HS256 JWT for `sub`, valid for `ttlSeconds`, allowed every channel. */
export function mintHs256(secret: string, sub: string, ttlSeconds: number): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = Buffer.from(JSON.stringify({ sub, iat: now, exp: now + ttlSeconds, channels: ['*'], publish: ['*'] })).toString('base64url');
  const signature = createHmac('sha256', secret).update(`${HEADER}.${payload}`).digest('base64url');
  return `${HEADER}.${payload}.${signature}`;
}

/** The target for connection `n` (a number, or a name such as "publisher"): its path carries the token. */
export function withToken(target: WsTarget, n: number | string): WsTarget {
  const auth = target.auth;
  if (auth === undefined || auth === null) return target;
  const token = 'token' in auth ? auth.token : mintHs256(auth.secret, `bench-${n}`, auth.ttlSeconds);
  return { ...target, path: `${target.path}${target.path.includes('?') ? '&' : '?'}token=${token}` };
}

/** --token, --token-file or --token-secret (one at most). */
export function benchAuth(input: BenchInput): BenchAuth | null {
  const given = (['token', 'tokenFile', 'tokenSecret'] as const).filter((k) => input[k] !== undefined && input[k] !== null);
  if (given.length > 1) throw new BenchUsageError('give one of --token, --token-file, --token-secret');
  if (input.tokenSecret) return { secret: input.tokenSecret, ttlSeconds: 24 * 3600 };
  let token = input.token ?? null;
  if (input.tokenFile) {
    try {
      token = readFileSync(input.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new BenchUsageError(`invalid --token-file ${JSON.stringify(input.tokenFile)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (token === null) return null;
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) throw new BenchUsageError('invalid --token: not a JWT (three base64url parts)');
  return { token };
}
