/**
 * IpTable — open connections per client address (IpKey: IPv4, or IPv6 /64) over all shards,
 * for --max-connections-per-ip. The kernel spreads one address's connections over every
 * shard (SO_REUSEPORT hashes the 4-tuple), so the count must be shared to be exact: it lives
 * in an IpSlots buffer that the main thread creates (only when the option is on) and every
 * shard, restarted ones included, attaches to.
 *
 * Word: fingerprint (high 32 bits) | open connections (low 32 bits). A word whose count goes
 * back to 0 is freed to 0 by the same compareExchange, so a word never holds a key with no
 * connections and a freed word is at once free for any address.
 *
 * Concurrency contract (on top of IpSlots'): writers are the shards, each in its upgrade
 * handler (tryOpen) and close handler (close), only through compareExchange of the whole
 * word; nothing else writes. tryOpen reads all 16 candidate words first and adds up the
 * counts of those holding the key's fingerprint: at the limit it refuses; otherwise it
 * increments the first of them, and only if there is none does it claim the first free word
 * (count 1). Either compareExchange fails if the word
 * changed since it was read, and tryOpen starts over. close() decrements the word the
 * connection took, whose index the connection keeps (Client.ipSlot): it never searches, and
 * the word cannot have changed owner, since it holds at least this connection.
 *
 * The one inexactness: a free word can appear in front of a shard's scan while it runs (its
 * owner's last connection closed). Two shards adding the first connection of the same
 * address at that instant can then claim two different words for it. The address lives in
 * both until one drains to 0; meanwhile every tryOpen checks the limit against the sum of
 * every word holding the key, so the limit is exceeded only by increments that raced on two
 * different words from snapshots taken below it: one connection per racing shard, at most
 * shards − 1, and only for an
 * address whose first connections race with an unrelated address leaving the same lines
 * (test/ip-table.test.ts provokes it with 12 addresses in 16 words). A lock per line would
 * remove it; this way no shard ever waits for another.
 */
import type { IpKey } from './ip-key.js';
import { IpSlots } from './ip-slots.js';

/** tryOpen: the address is at its limit. */
export const REFUSED = -1;
/** tryOpen: no room for a new address (both lines full of others); let through, not counted. */
export const UNTRACKED = -2;

const COUNT_MASK = 0xffffffffn;

export class IpTable extends IpSlots {
  /**
   * Takes one connection for `key` if it has fewer than `max`: returns the word to give back
   * to close(), or REFUSED, or UNTRACKED (allowed, nothing to give back).
   */
  tryOpen(key: IpKey, max: number): number {
    this.place(key);
    const fp = BigInt(this.fp);
    const limit = BigInt(max);
    const { words } = this;
    for (;;) {
      // the whole scan first: the limit applies to the address's total, even when a race
      // has split it over two words (see the contract above)
      let free = -1;
      let mine = -1;
      let seen = 0n;
      let total = 0n;
      for (let k = 0; k < 16; k++) {
        const i = this.candidate(k);
        const w = Atomics.load(words, i);
        if (w === 0n) {
          if (free < 0) free = i;
        } else if (w >> 32n === fp) {
          total += w & COUNT_MASK;
          if (mine < 0) {
            mine = i;
            seen = w;
          }
        }
      }
      if (total >= limit) return REFUSED;
      if (mine >= 0) {
        if (Atomics.compareExchange(words, mine, seen, seen + 1n) === seen) return mine;
      } else {
        if (free < 0) return UNTRACKED;
        if (Atomics.compareExchange(words, free, 0n, (fp << 32n) | 1n) === 0n) return free;
      }
      // the word changed since it was read: look again
    }
  }

  /** Gives back the connection tryOpen took in word `slot`. */
  close(slot: number): void {
    const { words } = this;
    for (;;) {
      const w = Atomics.load(words, slot);
      const count = w & COUNT_MASK;
      if (count === 0n) throw new Error(`IpTable.close: word ${slot} holds no connection`);
      if (Atomics.compareExchange(words, slot, w, count === 1n ? 0n : w - 1n) === w) return;
    }
  }

  /** Connections counted for `key` now, over every word holding it (tests, diagnostics). */
  count(key: IpKey): number {
    this.place(key);
    const fp = BigInt(this.fp);
    let n = 0;
    for (let k = 0; k < 16; k++) {
      const w = Atomics.load(this.words, this.candidate(k));
      if (w !== 0n && w >> 32n === fp) n += Number(w & COUNT_MASK);
    }
    return n;
  }
}
