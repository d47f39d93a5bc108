/**
 * GrantTable — the compiled channel patterns of each claim shape (a token's `channels` and
 * `publish` lists, `{sub}` left in), shared by every token of that shape. Users' tokens
 * usually differ only by `sub` (`user:{sub}:*` for everyone), so thousands of users cost one
 * compiled pair, and a token's Permissions is a few fields (see permissions.ts).
 *
 * Bounded: at most `size` shapes (GRANT_TABLE_SIZE), least recently used out first; a shape
 * pushed out stays alive only while connections still hold it. Each shape is at most what an
 * 8 KiB token (MAX_TOKEN_BYTES) can carry, so the table holds a few MiB at worst, whatever a
 * token issuer sends.
 */
import { ChannelPatterns } from './channel-patterns.js';

/** Claim shapes remembered per shard. */
export const GRANT_TABLE_SIZE = 256;

export interface Grants {
  readonly subscribe: ChannelPatterns;
  readonly publish: ChannelPatterns;
}

export class GrantTable {
  private readonly table = new Map<string, Grants>();

  constructor(private readonly size = GRANT_TABLE_SIZE) {}

  /** The compiled pair for these (checked) pattern lists: the one already made, or a new one. */
  get(subscribe: readonly string[], publish: readonly string[]): Grants {
    const key = JSON.stringify([subscribe, publish]);
    let grants = this.table.get(key);
    if (grants !== undefined) {
      this.table.delete(key); // most recently used: last in Map order
    } else {
      grants = Object.freeze({ subscribe: new ChannelPatterns(subscribe, true), publish: new ChannelPatterns(publish, true) });
      if (this.table.size >= this.size) this.table.delete(this.table.keys().next().value!);
    }
    this.table.set(key, grants);
    return grants;
  }

  /** Shapes remembered now. */
  get shapes(): number {
    return this.table.size;
  }
}
