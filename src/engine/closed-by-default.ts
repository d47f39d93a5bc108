/**
 * Closed by default — the rule that a server facing a network must be a decision: it needs an
 * API key and either JWT or --allow-anonymous beyond loopback. resolveConfig applies it; these
 * are its pieces.
 */
import type { Options } from './config.js';

/**
 * Whether the options configure JWT verification of WebSocket connections. The JWT options
 * (--jwt-secret, --jwt-public-key, --jwks-file) belong to the authentication work; until
 * they exist this is false (an unknown option is refused before it is asked).
 */
export function jwtConfigured(options: Options): boolean {
  const o = options as Record<string, unknown>;
  return ['jwtSecret', 'jwtPublicKey', 'jwksFile'].some((k) => o[k] !== undefined && o[k] !== null && o[k] !== '');
}

/** What a server listening beyond loopback still needs: said as what to add. */
export const WS_AUTH = 'JWT (--jwt-secret, --jwt-public-key or --jwks-file) or --allow-anonymous for WebSocket connections';

export function closedByDefault(missing: readonly string[]): string {
  return `a server listening beyond loopback must be closed: add ${missing.join(', and ')}; or listen on a loopback address (127.0.0.0/8, ::1, localhost)`;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

