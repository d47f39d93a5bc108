/**
 * ApiKeys — the check of an HTTP API call's key (Bearer; for the dashboard also Basic), shared by the shards' HTTP API
 * and the main thread's admin port (--admin-port), so both accept exactly the same keys.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export class ApiKeys {
  /** SHA-256 of each accepted key; empty: no key, the API is open (loopback only). */
  private readonly digests: readonly Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  /**
   * Whether an Authorization header value lets the caller in: "Bearer <key>"; with `basic`
   * (the dashboard's pages, which a browser opens) also Basic with the key as the password.
   */
  authorized(header: string | undefined, basic = false): boolean {
    if (this.digests.length === 0) return true;
    // "Bearer <key>"; the scheme is case-insensitive (RFC 9110). The key is compared in
    // constant time with every accepted key, all of them each time: digests make the lengths
    // equal (no early exit on length), and no loop exit tells which key, or how many, matched
    const key = bearer(header ?? '') ?? (basic ? basicPassword(header ?? '') : null);
    if (key === null) return false;
    const given = digest(key);
    let match = 0;
    for (const key of this.digests) match |= timingSafeEqual(given, key) ? 1 : 0;
    return match === 1;
  }
}

function bearer(header: string): string | null {
  return /^bearer +(.+)$/i.exec(header)?.[1] ?? null;
}

/**
 * "Basic base64(user:key)": the key as the password, any user name. A browser cannot add a
 * Bearer header to a page it navigates to (or to an EventSource), but it asks for Basic
 * credentials on a 401 that offers them and sends them with every later request: how the
 * dashboard is opened beyond loopback (docs/operations.md).
 */
function basicPassword(header: string): string | null {
  const m = /^basic +([A-Za-z0-9+/=]+)$/i.exec(header);
  if (m === null) return null;
  const pair = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = pair.indexOf(':');
  return colon < 0 || colon === pair.length - 1 ? null : pair.slice(colon + 1);
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
