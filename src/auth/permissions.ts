/**
 * Permissions — who a connection is and what it may do: its user (a token's `sub`, or null for
 * an anonymous connection), the channels it may subscribe to and those it may publish to.
 *
 * One small object per verified token (user, expiry, two pointers), shared by every
 * connection that came with that token (the TokenVerifier's cache hands out the same object);
 * its patterns are shared by every token of the same claim shape (GrantTable), `{sub}`
 * matched against `user` — so check with `perms.subscribe.matches(channel, perms.user)`.
 */
import { ChannelPatterns, checkPatterns } from './channel-patterns.js';
import { GrantTable } from './grant-table.js';

export interface Permissions {
  /** The token's `sub`; null for an anonymous connection (JWT not configured). */
  readonly user: string | null;
  /** Channels it may subscribe to; `{sub}` patterns match with `user`. */
  readonly subscribe: ChannelPatterns;
  /** Channels it may publish to; `{sub}` patterns match with `user`. */
  readonly publish: ChannelPatterns;
  /** When the token expires, ms since the epoch (Infinity: anonymous, never). */
  readonly expiresAt: number;
}

/** What anonymousPermissions reads of the Config (the whole Config fits). */
export interface AnonymousOptions {
  readonly anonymousChannels: readonly string[];
  readonly clientPublish: readonly string[];
}

/**
 * What a connection without a token gets (JWT not configured, or --allow-anonymous):
 * subscribe to --anonymous-channels, publish to --client-publish. The one place that decides;
 * one frozen object per shard, shared by every anonymous connection.
 */
export function anonymousPermissions(config: AnonymousOptions): Permissions {
  return Object.freeze({
    user: null,
    subscribe: new ChannelPatterns(config.anonymousChannels),
    publish: new ChannelPatterns(config.clientPublish),
    expiresAt: Infinity,
  });
}

/**
 * Why a token's claims cannot be used, or its permissions; their patterns come from `grants`
 * (a verifier's table; by default one of its own, for a one-off call).
 */
export function permissionsFromClaims(claims: Readonly<Record<string, unknown>>, grants = new GrantTable(1)): Permissions | string {
  const sub = claims['sub'];
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256) return '"sub" must be a string of 1-256 characters';
  const exp = claims['exp'];
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return '"exp" is required (a NumericDate)';
  const subscribe = patternList(claims['channels'], 'channels');
  if (typeof subscribe === 'string') return subscribe;
  const publish = patternList(claims['publish'], 'publish');
  if (typeof publish === 'string') return publish;
  const shared = grants.get(subscribe, publish);
  return Object.freeze({ user: sub, subscribe: shared.subscribe, publish: shared.publish, expiresAt: exp * 1000 });
}

/** A claim of channel patterns: absent = none. */
function patternList(v: unknown, name: string): string[] | string {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((p) => typeof p === 'string')) return `"${name}" must be an array of channel patterns`;
  const problem = checkPatterns(v as string[], true);
  return problem === null ? (v as string[]) : `"${name}": ${problem}`;
}
