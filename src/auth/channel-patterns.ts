/**
 * ChannelPatterns — which channels a permission covers. A pattern is an exact channel name
 * (`lobby`), a prefix ending in `*` (`chat:*` covers `chat:` and everything after it), or `*`
 * alone (every channel). There are no other wildcards: what a pattern covers is obvious from
 * reading it, and a match is one Set lookup plus a few prefix checks.
 *
 * The one matcher of the project: --client-publish uses it, and so do token claims (channels a
 * connection may subscribe or publish to). A claim's pattern may hold `{sub}`, which stands for
 * the token's own `sub` (`user:{sub}:*`). Such patterns are compiled once, with the
 * placeholder kept, and the sub is given at each match: every user whose claims differ only
 * by `sub` shares one compiled object (see GrantTable), so a connection costs no patterns of
 * its own. A `sub` holding a character a channel name may not hold (or making the name longer
 * than 200) makes its `{sub}` patterns match nothing — they are dropped, never widened: `*` is
 * not a channel character, so a `sub` can never smuggle in a wildcard.
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

/** Longest channel name (messages.ts's rule), which a `{sub}` pattern with its sub must respect. */
const MAX_CHANNEL = 200;

/** A pattern holding `{sub}`: its text around each `{sub}`, and whether it is a prefix. */
interface Template {
  readonly parts: readonly string[];
  readonly prefix: boolean;
  /** Its length without the sub(s) and the `*`. */
  readonly fixed: number;
}

export class ChannelPatterns {
  /** Covers every channel. */
  readonly all: boolean;
  /** Covers no channel, whatever the sub. */
  readonly none: boolean;
  private readonly exact: ReadonlySet<string>;
  private readonly prefixes: readonly string[];
  /** The `{sub}` patterns (claims only), matched with the connection's sub. */
  private readonly templates: readonly Template[];

  /**
   * Compiles a list already checked by checkPatterns: config validation, or a token's claims
   * (`withSub`: `{sub}` may appear, see the header).
   */
  constructor(input: readonly string[], withSub = false) {
    const problem = checkPatterns(input, withSub);
    if (problem !== null) throw new RangeError(problem);
    const plain = withSub ? input.filter((p) => !p.includes(SUB)) : input;
    this.all = plain.includes('*');
    this.exact = new Set(plain.filter((p) => !p.endsWith('*')));
    // a prefix that another prefix already covers adds nothing: keep the shortest ones
    const stems = plain.filter((p) => p.endsWith('*') && p !== '*').map((p) => p.slice(0, -1)).sort();
    this.prefixes = stems.filter((s, i) => !stems.slice(0, i).some((t) => s.startsWith(t)));
    this.templates = withSub ? [...new Set(input.filter((p) => p.includes(SUB)))].map(template) : [];
    this.none = !this.all && this.exact.size === 0 && this.prefixes.length === 0 && this.templates.length === 0;
  }

  /** Whether `channel` is covered, for a connection whose token's sub is `sub` (null: none). */
  matches(channel: string, sub: string | null = null): boolean {
    if (this.all || this.exact.has(channel)) return true;
    for (const p of this.prefixes) if (channel.startsWith(p)) return true;
    if (this.templates.length === 0 || sub === null || !isChannel(sub)) return false;
    for (const t of this.templates) if (matchesTemplate(t, channel, sub)) return true;
    return false;
  }
}

function template(pattern: string): Template {
  const prefix = pattern.endsWith('*');
  const parts = (prefix ? pattern.slice(0, -1) : pattern).split(SUB);
  return { parts, prefix, fixed: parts.reduce((n, p) => n + p.length, 0) };
}

/**
 * The template with `sub` in place of each `{sub}` covers `channel` — compared in place, no
 * string built. A sub making the name longer than a channel may be drops the pattern.
 */
function matchesTemplate(t: Template, channel: string, sub: string): boolean {
  const length = t.fixed + (t.parts.length - 1) * sub.length;
  if (length > MAX_CHANNEL || (t.prefix ? channel.length < length : channel.length !== length)) return false;
  let at = 0;
  for (let i = 0; i < t.parts.length; i++) {
    if (i > 0) {
      if (!channel.startsWith(sub, at)) return false;
      at += sub.length;
    }
    const part = t.parts[i]!;
    if (!channel.startsWith(part, at)) return false;
    at += part.length;
  }
  return true;
}
