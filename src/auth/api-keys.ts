/**
 * ApiKeys — the check of an HTTP API call's bearer key, shared by the shards' HTTP API
 * and the main thread's admin port (--admin-port), so both accept exactly the same keys.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export class ApiKeys {
  /** SHA-256 of each accepted key; empty: no key, the API is open (loopback only). */
  private readonly digests: readonly Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  /** Whether an Authorization header value lets the caller in. */
  authorized(header: string | undefined): boolean {
    if (this.digests.length === 0) return true;
    // "Bearer <key>"; the scheme is case-insensitive (RFC 9110). The key is compared in
    // constant time with every accepted key, all of them each time: digests make the lengths
    // equal (no early exit on length), and no loop exit tells which key, or how many, matched
    const m = /^bearer +(.+)$/i.exec(header ?? '');
    if (m === null) return false;
    const given = digest(m[1]!);
    let match = 0;
    for (const key of this.digests) match |= timingSafeEqual(given, key) ? 1 : 0;
    return match === 1;
  }
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
