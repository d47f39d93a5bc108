/**
 * Per-user channels — how a publication reaches every connection of one user (a token's
 * `sub`) and nobody else, through the ordinary machinery: it is a `message` on a channel
 * whose name clients can neither subscribe nor publish to (the name starts with `~`, which
 * ordinary channel names may not contain), sequenced like any channel. Each shard subscribes
 * an authenticated connection to its user's channel when it opens. docs/protocol.md
 * ("Per-user delivery") is the prose version of this file.
 *
 *   `~user/<sub>`  when the sub is 1–200 characters of the channel-name set
 *                  [A-Za-z0-9_\-:.@/] (the common case: readable, e.g. `~user/alice`)
 *   `~user#<h>`    otherwise: h = base64url(SHA-256(sub as UTF-8)), 43 characters. Frames
 *                  carry channel names unescaped, so a sub outside the set (spaces, quotes,
 *                  non-ASCII, …) cannot appear as itself; `#` is outside the set, so the two
 *                  forms never collide.
 */
import { createHash } from 'node:crypto';
import { ErrorCode } from './codes.js';
import { ShardcastError } from './errors.js';
import { isChannel } from './messages.js';

/** Longest user id (a token's `sub`), in characters: the same rule as the token's claim. */
export const MAX_USER = 256;
export const USER_CHANNEL_PREFIX = '~user/';
export const USER_HASH_PREFIX = '~user#';

export function checkUser(u: unknown): string {
  if (typeof u !== 'string' || u.length === 0 || u.length > MAX_USER) {
    throw new ShardcastError(ErrorCode.BadUser, `"user" must be a string of 1-${MAX_USER} characters`);
  }
  return u;
}

/** The per-user channel of `sub` (any string; checkUser is the ingress rule). */
export function userChannel(sub: string): string {
  if (isChannel(sub)) return USER_CHANNEL_PREFIX + sub;
  return USER_HASH_PREFIX + createHash('sha256').update(sub, 'utf8').digest('base64url');
}

/**
 * The key a shard files a user's connections under: the `sub` itself when its channel is
 * `~user/<sub>` (the string the connection's Permissions already hold: nothing new per
 * connection), the whole `~user#<h>` name otherwise. The two never collide: a channel-name
 * `sub` cannot start with `~`.
 */
export function userKey(sub: string): string {
  return isChannel(sub) ? sub : userChannel(sub);
}

/** The userKey of a per-user channel's connections, or null when `channel` is not per-user. */
export function userKeyOf(channel: string): string | null {
  if (channel.startsWith(USER_CHANNEL_PREFIX)) return channel.slice(USER_CHANNEL_PREFIX.length);
  if (channel.startsWith(USER_HASH_PREFIX)) return channel;
  return null;
}

/** The per-user channel whose connections are filed under `key` (the inverse of userKeyOf). */
export function channelOfKey(key: string): string {
  return key.startsWith(USER_HASH_PREFIX) ? key : USER_CHANNEL_PREFIX + key;
}
