/**
 * Option values that are lists — channel patterns (--client-publish, --anonymous-channels,
 * --conflate) and exact origins (--allowed-origins) — as resolveConfig reads them: an array,
 * or a comma-separated string from a flag or the environment, checked once.
 */
import { checkPatterns } from '../auth/channel-patterns.js';
import { checkOrigins } from '../auth/allowed-origins.js';
import { ConfigError } from '../protocol/errors.js';
import type { Options } from './config.js';

type PatternKey = 'clientPublish' | 'anonymousChannels' | 'conflate';

/** Channel patterns: an array, a comma-separated string, or true (all) / false (none). */
export function readPatterns(o: Options, key: PatternKey, dflt: readonly string[]): readonly string[] {
  const v = o[key];
  if (v === undefined) return dflt;
  if (v === true || v === 'true' || v === 'yes' || v === '1') return ['*'];
  if (v === false || v === 'false' || v === 'no' || v === '0' || v === 'none') return [];
  const list = typeof v === 'string' ? v.split(',').map((p) => p.trim()).filter((p) => p !== '') : v;
  if (!Array.isArray(list) || list.length === 0 || !list.every((p) => typeof p === 'string')) {
    throw new ConfigError(key, v, 'channel patterns (e.g. "chat:*,lobby"), *, true or false');
  }
  const problem = checkPatterns(list);
  if (problem !== null) throw new ConfigError(key, v, problem);
  return Object.freeze([...new Set(list)]);
}

/** Exact origins: an array or a comma-separated string; '*' for any. */
export function readOrigins(o: Options, dflt: readonly string[]): readonly string[] {
  const v = o.allowedOrigins;
  if (v === undefined) return dflt;
  const list = typeof v === 'string' ? v.split(',').map((p) => p.trim()).filter((p) => p !== '') : v;
  if (!Array.isArray(list) || list.length === 0 || !list.every((p) => typeof p === 'string')) {
    throw new ConfigError('allowedOrigins', v, 'exact origins, comma-separated (e.g. "https://app.example.com,https://admin.example.com"), or *');
  }
  const problem = checkOrigins(list);
  if (problem !== null) throw new ConfigError('allowedOrigins', v, problem);
  return Object.freeze([...new Set(list)]);
}
