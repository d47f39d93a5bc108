/**
 * Reconnects — the `--reconnect-fraction` scenario on one load thread. At `--reconnect-at`
 * after publishing starts, the marked connections are cut (their TCP connection destroyed, as
 * a network drop would) and opened again at once; each resubscribes with `since` — the last
 * seq it had and the channel's epoch — and the server's `recovered` answer says whether the
 * messages it missed follow. A recovered connection keeps its ledger as it was: the replay
 * arrives in seq order and fills it, so a message lost in the drop shows as a gap like any
 * other. An unrecovered one has what it missed counted as a seq gap (lost, and reported as
 * such); one that cannot come back loses the rest of the run.
 */
import { isSlowConnection } from './load-protocol.js';

export interface ReconnectTotals {
  /** Connections marked to be cut. */
  readonly marked: number;
  /** Cut while subscribed (a marked connection that was not open then is not). */
  readonly dropped: number;
  /** Resubscribed with `recovered: true`. */
  readonly recovered: number;
  /** Resubscribed with `recovered: false`: what they missed is a seq gap. */
  readonly notRecovered: number;
  /** Could not connect or resubscribe again, by reason. */
  readonly failed: Readonly<Record<string, number>>;
}

export class Reconnects {
  /** 1 for a local connection that is cut once. */
  private readonly marked: Uint8Array;
  /** The channel's epoch each connection was given at its first `subscribed`. */
  private readonly epochs: Array<string | null>;
  /** Cut and not answered yet. */
  private readonly pending = new Set<number>();
  private dropped = 0;
  private recovered = 0;
  private notRecovered = 0;
  private readonly failed: Record<string, number> = {};

  /** `count` of `total` connections, spread as slow consumers are (load-protocol.ts). */
  constructor(connections: number, firstConnection: number, count: number, total: number) {
    this.marked = new Uint8Array(connections);
    for (let j = 0; j < connections; j++) if (isSlowConnection(firstConnection + j, count, total)) this.marked[j] = 1;
    this.epochs = new Array<string | null>(connections).fill(null);
  }

  /** The local connections to cut now. */
  due(): number[] {
    const out: number[] = [];
    for (let j = 0; j < this.marked.length; j++) if (this.marked[j] === 1) out.push(j);
    return out;
  }

  /** j's `subscribed` named no epoch (seq 0: nothing published yet), so its first message will. */
  needsEpoch(j: number): boolean {
    return this.epochs[j] === null;
  }

  /** From `subscribed` (seq > 0) or the message with seq 1: the first one given counts. */
  noteEpoch(j: number, epoch: unknown): void {
    if (typeof epoch === 'string' && this.epochs[j] === null) this.epochs[j] = epoch;
  }

  /** j is being cut; from now until answered() or failedAgain(), its closes and opens are the reconnect's. */
  drop(j: number): void {
    this.pending.add(j);
    this.dropped++;
  }

  isRejoining(j: number): boolean {
    return this.pending.has(j);
  }

  /** The `since` of j's resubscription. */
  since(j: number, lastSeq: number): { seq: number; epoch: string } {
    return { seq: lastSeq, epoch: this.epochs[j] ?? '' };
  }

  answered(j: number, recovered: boolean): void {
    this.pending.delete(j);
    if (recovered) this.recovered++;
    else this.notRecovered++;
  }

  failedAgain(j: number, label: string): void {
    this.pending.delete(j);
    this.failed[label] = (this.failed[label] ?? 0) + 1;
  }

  totals(): ReconnectTotals {
    return {
      marked: this.marked.reduce((a, b) => a + b, 0), dropped: this.dropped, recovered: this.recovered,
      notRecovered: this.notRecovered, failed: { ...this.failed },
    };
  }
}
