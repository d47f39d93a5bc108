/**
 * Credentials — the parts of the Config that can change while the server runs: the HTTP API
 * keys and the JWT key material. Keys are rotated by editing the files that hold them
 * (--api-key-file, --jwks-file, --jwt-public-key) and sending SIGHUP (or calling
 * `reloadCredentials()`): connections stay open, which a restart would not allow.
 *
 * A reload resolves the whole Config again from the options it was made from, so a file read
 * now passes exactly the checks it passed at start; a file that no longer does leaves every
 * shard with the credentials it had. Everything else in the Config keeps its value: the
 * options themselves cannot change, only what the files say.
 */
import type { JwtSettings } from '../auth/jwt-settings.js';
import { resolveConfig, type Config } from './config.js';
import type { ShardQueries } from './shard-queries.js';

export interface Credentials {
  readonly apiKeys: readonly string[];
  readonly jwt: JwtSettings | null;
}

/** What a reload put in place (no key is ever shown). */
export interface CredentialSummary {
  readonly apiKeys: number;
  readonly jwt: JwtSettings['source'] | null;
  /** Keys in the JWKS (source 'jwks'), else 0 or 1. */
  readonly jwtKeys: number;
}

/** Reads the credentials again from the files `config` names. Throws ConfigError (nothing changes then). */
export function readCredentials(config: Config): Credentials {
  const fresh = resolveConfig(config.source);
  return { apiKeys: fresh.apiKeys, jwt: fresh.jwt };
}

export function summarize(c: Credentials): CredentialSummary {
  const jwt = c.jwt;
  return { apiKeys: c.apiKeys.length, jwt: jwt?.source ?? null, jwtKeys: jwt === null ? 0 : jwt.jwks !== null ? jwt.jwks.keys.length : 1 };
}

/**
 * The main thread's side of a reload: reads the files, makes the new credentials the ones a
 * (re)starting shard gets, hands them to every running shard, and resolves once each one
 * confirmed (`credentials-applied`) — from then on every shard checks new handshakes and API
 * calls against them. A shard that dies meanwhile is replaced with the new ones anyway.
 */
export class CredentialReload {
  constructor(
    private readonly queries: ShardQueries,
    /** The Config now in force, and the one to use from now on (the Supervisor's too). */
    private readonly current: () => Config,
    private readonly replace: (config: Config) => void,
  ) {}

  async reload(): Promise<CredentialSummary> {
    const next = readCredentials(this.current());
    this.replace({ ...this.current(), apiKeys: next.apiKeys, jwt: next.jwt });
    await this.queries.ask((query) => ({ type: 'credentials', query, apiKeys: next.apiKeys, jwt: next.jwt }), () => {});
    return summarize(next);
  }
}
