/**
 * ChannelPatterns — which channels a permission covers. A pattern is an exact channel name
 * (`lobby`), a prefix ending in `*` (`chat:*` covers `chat:` and everything after it), or `*`
 * alone (every channel). There are no other wildcards: what a pattern covers is obvious from
 * reading it, and a match is one Set lookup plus a few prefix checks.
 *
 * The one matcher of the project: --client-publish uses it today; token claims (channels a
 * connection may subscribe or publish to) will compile their patterns with it too.
 */
import { isChannel } from '../protocol/messages.js';

/** At most this many patterns in one list (a permission, not a routing table). */
export const MAX_PATTERNS = 1000;

/** Why `list` is not a valid pattern list, or null when it is. */
export function checkPatterns(list: readonly string[]): string | null {
  if (list.length > MAX_PATTERNS) return `at most ${MAX_PATTERNS} patterns`;
  for (const p of list) {
    if (p === '*') continue;
    const stem = p.endsWith('*') ? p.slice(0, -1) : p;
    if (!isChannel(stem)) {
      return `pattern ${JSON.stringify(p)} is not a channel name or a channel-name prefix ending in * (1-200 characters of A-Z a-z 0-9 _ - : . @ /)`;
    }
  }
  return null;
}

export class ChannelPatterns {
  /** Covers every channel. */
  readonly all: boolean;
  /** Covers no channel. */
  readonly none: boolean;
  private readonly exact: ReadonlySet<string>;
  private readonly prefixes: readonly string[];

  /** Compiles a list already checked by checkPatterns (config validation). */
  constructor(list: readonly string[]) {
    const problem = checkPatterns(list);
    if (problem !== null) throw new RangeError(problem);
    this.all = list.includes('*');
    this.exact = new Set(list.filter((p) => !p.endsWith('*')));
    // a prefix that another prefix already covers adds nothing: keep the shortest ones
    const stems = list.filter((p) => p.endsWith('*') && p !== '*').map((p) => p.slice(0, -1)).sort();
    this.prefixes = stems.filter((s, i) => !stems.slice(0, i).some((t) => s.startsWith(t)));
    this.none = !this.all && this.exact.size === 0 && this.prefixes.length === 0;
  }

  matches(channel: string): boolean {
    if (this.all || this.exact.has(channel)) return true;
    for (const p of this.prefixes) if (channel.startsWith(p)) return true;
    return false;
  }
}
