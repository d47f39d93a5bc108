/**
 * ChannelPatterns — which channels a permission covers. A pattern is an exact channel name
 * (`lobby`), a prefix ending in `*` (`chat:*` covers `chat:` and everything after it), or `*`
 * alone (every channel). There are no other wildcards: what a pattern covers is obvious from
 * reading it, and a match is one Set lookup plus a few prefix checks.
 *
 * The one matcher of the project: --client-publish uses it, and so do token claims (channels a
 * connection may subscribe or publish to). A claim's pattern may hold `{sub}`, which stands for
 * the token's own `sub` (`user:{sub}:*`): it is substituted when the patterns are compiled. A
 * `sub` holding a character a channel name may not hold (or making the name longer than 200)
 * makes its `{sub}` patterns match nothing — they are dropped, never widened: `*` is not a
 * channel character, so a `sub` can never smuggle in a wildcard.
 */
import { isChannel } from '../protocol/messages.js';

/** At most this many patterns in one list (a permission, not a routing table). */
export const MAX_PATTERNS = 1000;

/** The placeholder a claim's pattern may hold for the token's `sub`. */
export const SUB = '{sub}';

/**
 * Why `list` is not a valid pattern list, or null when it is. With `withSub`, patterns may
 * hold `{sub}` (checked as if it were one channel character).
 */
export function checkPatterns(list: readonly string[], withSub = false): string | null {
  if (list.length > MAX_PATTERNS) return `at most ${MAX_PATTERNS} patterns`;
  for (const raw of list) {
    if (typeof raw !== 'string') return 'patterns must be strings';
    if (raw === '*') continue;
    const p = withSub ? raw.replaceAll(SUB, 'x') : raw;
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

  /**
   * Compiles a list already checked by checkPatterns (config validation, or a token's claims
   * with `sub`: then `{sub}` is replaced by it, see the header).
   */
  constructor(input: readonly string[], sub?: string) {
    const problem = checkPatterns(input, sub !== undefined);
    if (problem !== null) throw new RangeError(problem);
    const list = sub === undefined ? input : substitute(input, sub);
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

/** The patterns with `{sub}` replaced; those that would not be valid then are dropped. */
function substitute(list: readonly string[], sub: string): string[] {
  // `sub` itself must be channel characters: `*` (or anything else) in it must not widen a pattern
  const usable = isChannel(sub);
  const out: string[] = [];
  for (const p of list) {
    if (!p.includes(SUB)) out.push(p);
    else if (!usable) continue;
    else {
      const q = p.replaceAll(SUB, sub);
      if (q !== '*' && checkPatterns([q]) === null) out.push(q);
    }
  }
  return out;
}
