/**
 * AllowedOrigins — which web pages may open WebSocket connections (--allowed-origins).
 *
 * A browser sends `Origin` on every WebSocket handshake, and a page cannot forge it: checking
 * it stops a page on another site from connecting with the user's cookies or network position
 * (cross-site WebSocket hijacking). Other clients (servers, apps, the bench) send no Origin
 * and are not concerned; they can write any Origin they like, so this is no authentication.
 * An entry is an exact serialised origin (`https://app.example.com`, `http://localhost:3000`)
 * compared as a string, or `*` for any.
 */

/** Why `list` is not a valid origin list, or null when it is. */
export function checkOrigins(list: readonly string[]): string | null {
  for (const o of list) {
    if (o === '*') continue;
    let url: URL | null = null;
    try {
      url = new URL(o);
    } catch {
      // reported below
    }
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== o) {
      return `${JSON.stringify(o)} is not an exact origin: scheme://host[:port] in lower case, without path or trailing slash (e.g. https://app.example.com), or * for any`;
    }
  }
  return null;
}

export class AllowedOrigins {
  readonly any: boolean;
  private readonly exact: ReadonlySet<string>;

  /** Compiles a list already checked by checkOrigins (config validation). */
  constructor(list: readonly string[]) {
    const problem = checkOrigins(list);
    if (problem !== null) throw new RangeError(problem);
    this.any = list.includes('*');
    this.exact = new Set(list);
  }

  /** `origin` is the request's Origin header ('' when absent: not a browser, let through). */
  admits(origin: string): boolean {
    return origin === '' || this.any || this.exact.has(origin);
  }
}
