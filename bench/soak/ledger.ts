/**
 * HealthyLedger — the exactly-once, in-order check for the healthy stream. The publisher
 * records every message the server accepted (the seq it answered, and the message's serial
 * number n that travels in its data); each healthy subscriber records what it received. Only
 * the healthy publisher writes on the healthy channels, so the server's sequence on each is
 * exactly the messages it accepted from it:
 *
 * - every accepted seq after the subscriber's `subscribed` seq must arrive (missing);
 * - each seq once (duplicates), in increasing order (out of order), with no seq skipped (gaps:
 *   a seq the server gave but never delivered, whether or not its answer reached us);
 * - with the data it was accepted with (mismatched).
 *
 * A seq that arrives but whose publish answer never came back (the request timed out) is
 * counted as unconfirmed; that is not a failure.
 */

export interface LedgerVerdict {
  readonly channels: number;
  readonly subscribers: number;
  readonly accepted: number;
  /** Accepted messages × the subscribers that should have received them. */
  readonly expected: number;
  readonly delivered: number;
  readonly missing: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
  readonly gaps: number;
  readonly mismatched: number;
  readonly unconfirmed: number;
  /** Subscribers the server closed before the end, with the code. */
  readonly closedEarly: ReadonlyArray<{ subscriber: number; code: number }>;
  /** The first few problems, spelled out. */
  readonly problems: readonly string[];
  readonly ok: boolean;
}

const MAX_PROBLEMS = 20;

export class HealthyLedger {
  /** channel → seq → n */
  private readonly accepted = new Map<string, Map<number, number>>();
  /** subscriber → channel → the seq it said it was at when it subscribed */
  private readonly from = new Map<number, Map<string, number>>();
  /** subscriber → channel → [seq, n] in arrival order */
  private readonly received = new Map<number, Map<string, Array<[number, number]>>>();
  private readonly closed: Array<{ subscriber: number; code: number }> = [];
  private readonly maxAccepted = new Map<string, number>();

  constructor(private readonly channels: readonly string[]) {
    for (const c of channels) this.accepted.set(c, new Map());
  }

  accept(channel: string, seq: number, n: number): void {
    this.accepted.get(channel)!.set(seq, n);
    if (seq > (this.maxAccepted.get(channel) ?? 0)) this.maxAccepted.set(channel, seq);
  }

  subscribed(subscriber: number, channel: string, seq: number): void {
    if (!this.from.has(subscriber)) {
      this.from.set(subscriber, new Map());
      this.received.set(subscriber, new Map(this.channels.map((c) => [c, []])));
    }
    this.from.get(subscriber)!.set(channel, seq);
  }

  receive(subscriber: number, channel: string, seq: number, n: number): void {
    this.received.get(subscriber)?.get(channel)?.push([seq, n]);
  }

  closedEarly(subscriber: number, code: number): void {
    this.closed.push({ subscriber, code });
  }

  /** Highest accepted seq of a channel (0 if none). */
  lastAccepted(channel: string): number {
    return this.maxAccepted.get(channel) ?? 0;
  }

  /** Whether every subscriber has received up to the last accepted seq on every channel. */
  caughtUp(): boolean {
    for (const byChannel of this.received.values()) {
      for (const c of this.channels) {
        const got = byChannel.get(c)!;
        const last = got.length === 0 ? 0 : Math.max(...got.slice(-8).map(([s]) => s));
        if (last < this.lastAccepted(c)) return false;
      }
    }
    return true;
  }

  verdict(): LedgerVerdict {
    const problems: string[] = [];
    const problem = (p: string): void => {
      if (problems.length < MAX_PROBLEMS) problems.push(p);
    };
    let expected = 0, delivered = 0, missing = 0, duplicates = 0, outOfOrder = 0, gaps = 0, mismatched = 0, unconfirmed = 0;
    let accepted = 0;
    for (const m of this.accepted.values()) accepted += m.size;
    for (const [sub, byChannel] of this.received) {
      for (const c of this.channels) {
        const acc = this.accepted.get(c)!;
        const from = this.from.get(sub)!.get(c) ?? 0;
        const seen = new Set<number>();
        let prev = from;
        for (const [seq, n] of byChannel.get(c)!) {
          delivered++;
          if (seen.has(seq) || seq <= from) {
            duplicates++;
            problem(`subscriber ${sub} ${c}: seq ${seq} again (or at/below its subscribed seq ${from})`);
            continue;
          }
          seen.add(seq);
          if (seq < prev) {
            outOfOrder++;
            problem(`subscriber ${sub} ${c}: seq ${seq} after ${prev}`);
          } else {
            if (seq > prev + 1) {
              gaps += seq - prev - 1;
              problem(`subscriber ${sub} ${c}: seq ${prev} then ${seq}`);
            }
            prev = seq;
          }
          const want = acc.get(seq);
          if (want === undefined) unconfirmed++;
          else if (want !== n) {
            mismatched++;
            problem(`subscriber ${sub} ${c}: seq ${seq} carried message ${n}, accepted as ${want}`);
          }
        }
        for (const seq of acc.keys()) {
          if (seq <= from) continue;
          expected++;
          if (!seen.has(seq)) {
            missing++;
            problem(`subscriber ${sub} ${c}: accepted seq ${seq} never arrived`);
          }
        }
      }
    }
    for (const { subscriber, code } of this.closed) problem(`subscriber ${subscriber} closed by the server with ${code}`);
    const ok = missing + duplicates + outOfOrder + gaps + mismatched === 0 && this.closed.length === 0;
    return {
      channels: this.channels.length, subscribers: this.received.size, accepted, expected, delivered,
      missing, duplicates, outOfOrder, gaps, mismatched, unconfirmed, closedEarly: [...this.closed], problems, ok,
    };
  }
}
