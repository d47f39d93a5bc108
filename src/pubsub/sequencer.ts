/**
 * Sequencer — the per-channel sequence numbers. Seq starts at 1 and grows by 1 for each
 * publication on a channel, so a client can see a gap. It lives on the main thread, the
 * only writer; shards learn seqs from the publications themselves.
 *
 * A channel's state is bounded in time: a channel nobody follows and nobody publishes on
 * is forgotten after a while (sweep()), so the table holds live channels, not every
 * channel ever named. A forgotten channel that comes back starts again at seq 1, which a
 * client could mistake for the old sequence; so every incarnation of a channel gets an
 * **epoch**, and (channel, epoch, seq) — never (channel, seq) alone — names a message.
 * Epochs come from a counter that starts at a random u32 per process: unique within the
 * process (until 2^32 incarnations) and, with high probability, different from the
 * epochs of an earlier run of the server, so a server restart is told apart too.
 */
import { randomInt } from 'node:crypto';
import type { ChannelSnapshot } from '../transport/channel-snapshot.js';

/** One channel incarnation's state, updated in place on each publication. */
export interface ChannelState {
  seq: number;
  /** u32, fixed for the incarnation (formatEpoch() in protocol/messages.ts prints it). */
  readonly epoch: number;
  /** Date.now() of the last publication: the sweep's idea of "idle". */
  lastPublishedAt: number;
}

/** What a sweep slice ended with. */
export type SweepResult =
  /** The pass has visited every channel. */
  | 'done'
  /** The budget ran out; the next call continues the same pass. */
  | 'more'
  /** forget() could not tell the shards (no ring room): stop until later, resume there. */
  | 'blocked';

export class Sequencer {
  private readonly states = new Map<string, ChannelState>();
  private nextEpoch: number;
  /** Where the current sweep pass is (null: none under way). */
  private cursor: IterableIterator<[string, ChannelState]> | null = null;

  /** `firstEpoch` is for tests; the server starts from a random u32. */
  constructor(firstEpoch: number = randomInt(2 ** 32)) {
    this.nextEpoch = firstEpoch >>> 0;
  }

  /** The channel's current incarnation, or undefined when it has none. */
  get(channel: string): ChannelState | undefined {
    return this.states.get(channel);
  }

  /** The last seq given on `channel` (0 when it has no state). */
  lastSeq(channel: string): number {
    return this.states.get(channel)?.seq ?? 0;
  }

  /**
   * A fresh epoch for a new incarnation. Taken before the publication is written; if the
   * write is refused the epoch is simply never used (epochs need not be consecutive).
   */
  newEpoch(): number {
    const e = this.nextEpoch;
    this.nextEpoch = (e + 1) >>> 0;
    return e;
  }

  /**
   * Records that `seq` was given on `channel` in incarnation `epoch` at time `now`: creates
   * the state at the first publication (seq 1), updates it in place afterwards.
   */
  commit(channel: string, seq: number, epoch: number, now: number): void {
    const s = this.states.get(channel);
    if (s === undefined) this.states.set(channel, { seq, epoch, lastPublishedAt: now });
    else {
      s.seq = seq;
      s.lastPublishedAt = now;
    }
  }

  /** Drops a channel's state; its next publication starts a new epoch at seq 1. */
  forget(channel: string): boolean {
    return this.states.delete(channel);
  }

  /** Channels with state (live channels). */
  get channels(): number {
    return this.states.size;
  }

  /** Every channel and its state, read only (the dashboard's messages/s per channel: seq differences). */
  entries(): IterableIterator<[string, Readonly<ChannelState>]> {
    return this.states.entries();
  }

  /** Every channel's last seq and epoch, for a shard that starts (or restarts) mid-stream. */
  snapshot(): ChannelSnapshot {
    const n = this.states.size;
    const names = new Array<string>(n);
    const seqs = new Float64Array(n);
    const epochs = new Uint32Array(n);
    let i = 0;
    for (const [c, s] of this.states) {
      names[i] = c;
      seqs[i] = s.seq;
      epochs[i++] = s.epoch;
    }
    return { names: names.join('\n'), seqs, epochs };
  }

  /**
   * One slice of a sweep pass: visits up to `budget` channels, continuing the pass under
   * way or starting one, and forgets each channel whose last publication is at least `ttl`
   * ms before `now` and that `keep` does not claim (a channel with subscribers somewhere).
   * `forget(channel, state)` must tell the shards first; when it cannot (false), the
   * channel keeps its state and the slice stops 'blocked'. Map iteration survives deletes
   * and inserts, so a pass may span many turns of the event loop; channels created during
   * it are visited too, and are simply not idle.
   */
  sweep(
    now: number,
    ttl: number,
    keep: (channel: string) => boolean,
    forget: (channel: string, state: ChannelState) => boolean,
    budget = Infinity,
  ): SweepResult {
    this.cursor ??= this.states.entries();
    for (let n = 0; n < budget; n++) {
      const r = this.cursor.next();
      if (r.done === true) {
        this.cursor = null;
        return 'done';
      }
      const [channel, state] = r.value;
      // the cheap test first: most channels of a busy server are not idle
      if (now - state.lastPublishedAt < ttl || keep(channel)) continue;
      if (!forget(channel, state)) return 'blocked';
      this.states.delete(channel);
    }
    return 'more';
  }

  /** Abandons the pass under way: the next sweep() starts from the first channel. */
  restartSweep(): void {
    this.cursor = null;
  }
}
