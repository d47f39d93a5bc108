/**
 * Per-connection delivery accounting for one load thread: which seqs each connection has
 * received on its channel, so duplicates, out-of-order deliveries and seq gaps are exact.
 *
 * Shardcast delivers a channel in seq order, so the common case is "seq == next expected",
 * which costs one comparison. Anything else is recorded precisely but only then:
 * - seq above the expected one opens a *hole* (the skipped seqs) and moves on;
 * - seq below it either fills part of a hole (an out-of-order delivery: it arrived after a
 *   later one) or was already received (a duplicate — each seq carries exactly one
 *   publication, so this is "the same message twice on a connection").
 * At the end, the holes that are still open are the seq gaps: count and messages skipped.
 * Memory is one float per connection plus the holes, never a bitmap per message, so long
 * runs with many connections stay cheap. (A server that re-sequenced the same publication
 * under two seqs would show up as more deliveries than expected; run.ts warns about that.)
 */

/** Holes kept per connection; beyond this a broken server cannot make the ledger grow without bound. */
const MAX_HOLES_PER_CONNECTION = 4096;

export interface LedgerTotals {
  /** First copies of this run's publications. */
  delivered: number;
  duplicated: number;
  outOfOrder: number;
  seqGaps: number;
  seqGapMessages: number;
  /** Publications that were not this run's (another publisher on the channel). */
  foreign: number;
  /** Deliveries on a channel the connection did not subscribe to. */
  misrouted: number;
  /** Deliveries that carried no seq (cannot be checked for order or duplicates). */
  unsequenced: number;
}

export class DeliveryLedger implements LedgerTotals {
  /** Next seq expected per connection; NaN until `subscribed` says where the channel is. */
  private readonly next: Float64Array;
  /** Open holes per connection, as flat [from, to] inclusive pairs; only for connections that saw a jump. */
  private readonly holes = new Map<number, number[]>();
  delivered = 0;
  duplicated = 0;
  outOfOrder = 0;
  seqGaps = 0;
  seqGapMessages = 0;
  foreign = 0;
  misrouted = 0;
  unsequenced = 0;
  /** Holes that could not be recorded (MAX_HOLES_PER_CONNECTION); their fills count as duplicates. */
  overflowedHoles = 0;

  constructor(connections: number) {
    this.next = new Float64Array(connections).fill(NaN);
  }

  /** `subscribed` arrived with the channel's last seq: the next message has seq + 1. */
  subscribed(conn: number, lastSeq: number): void {
    this.next[conn] = lastSeq + 1;
  }

  /** The last seq `conn` is known to have (its next expected − 1): the `since` of a resubscription. */
  lastSeq(conn: number): number {
    return this.next[conn]! - 1;
  }

  /**
   * A resubscription answered `recovered: false` at the channel's `lastSeq`: what `conn` had
   * not received up to there will not come — a hole, counted like any other seq gap.
   */
  resumeAfter(conn: number, lastSeq: number): void {
    const expected = this.next[conn]!;
    if (lastSeq < expected) return;
    this.openHole(conn, expected, lastSeq);
    this.next[conn] = lastSeq + 1;
  }

  isSubscribed(conn: number): boolean {
    return !Number.isNaN(this.next[conn]!);
  }

  /**
   * Accounts one delivery on `conn`; returns true when it is a first copy of one of this
   * run's publications (the caller then records its latency).
   */
  delivery(conn: number, seq: number, ours: boolean): boolean {
    if (seq < 0) {
      this.unsequenced++;
      if (ours) this.delivered++;
      return ours;
    }
    const expected = this.next[conn]!;
    if (seq === expected || Number.isNaN(expected)) {
      this.next[conn] = seq + 1;
    } else if (seq > expected) {
      this.openHole(conn, expected, seq - 1);
      this.next[conn] = seq + 1;
    } else if (this.fillHole(conn, seq)) {
      this.outOfOrder++;
    } else {
      this.duplicated++;
      return false;
    }
    if (!ours) {
      this.foreign++;
      return false;
    }
    this.delivered++;
    return true;
  }

  private openHole(conn: number, from: number, to: number): void {
    let list = this.holes.get(conn);
    if (list === undefined) this.holes.set(conn, (list = []));
    if (list.length >= MAX_HOLES_PER_CONNECTION * 2) {
      this.overflowedHoles++;
      return;
    }
    list.push(from, to);
    this.seqGaps++;
    this.seqGapMessages += to - from + 1;
  }

  /** Removes `seq` from an open hole of `conn`; false if it was in none (already received). */
  private fillHole(conn: number, seq: number): boolean {
    const list = this.holes.get(conn);
    if (list === undefined) return false;
    // Recent holes are the likeliest to be filled: search from the end.
    for (let h = list.length - 2; h >= 0; h -= 2) {
      const from = list[h]!;
      const to = list[h + 1]!;
      if (seq < from || seq > to) continue;
      this.seqGapMessages--;
      if (from === to) {
        list.splice(h, 2);
        this.seqGaps--;
      } else if (seq === from) {
        list[h] = from + 1;
      } else if (seq === to) {
        list[h + 1] = to - 1;
      } else {
        list.splice(h, 2, from, seq - 1, seq + 1, to); // split in two: one hole more
        this.seqGaps++;
      }
      if (list.length === 0) this.holes.delete(conn);
      return true;
    }
    return false;
  }

  totals(): LedgerTotals {
    return {
      delivered: this.delivered, duplicated: this.duplicated, outOfOrder: this.outOfOrder, seqGaps: this.seqGaps,
      seqGapMessages: this.seqGapMessages, foreign: this.foreign, misrouted: this.misrouted, unsequenced: this.unsequenced,
    };
  }
}
