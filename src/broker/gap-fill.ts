/**
 * GapFill — the Redis broker's guard against holes in a channel's seqs on this node. Pub/Sub
 * delivers at most once: what was published while this node was not subscribed (Redis was
 * unreachable, or the channel had no local subscriber for a while) never arrives. The history
 * stream has it. So:
 *
 * - a message whose seq is past this node's seq + 1 (same epoch) is held, with every later
 *   message of its channel, while the missing seqs are read from the stream (XRANGE);
 * - after an outage, every channel with local subscribers is read from its seq + 1 on (the
 *   SUBSCRIBEs of the reconnect go first, so what is published meanwhile arrives as messages,
 *   held until the read is done).
 *
 * The reply is handled as it is parsed, like every other arrival (redis-broker.ts): the
 * entries go to the Fanout in seq order, then the held messages (echoes are skipped). What the
 * stream no longer holds (trimmed past --history-size, or lost with Redis's memory) stays a
 * hole: the held messages are delivered anyway, never held twice for it.
 */
import { Command, type Redis } from 'ioredis';
import type { Payload } from '../protocol/payload.js';
import type { Sequencer } from '../pubsub/sequencer.js';
import type { Counters } from '../transport/counters.js';
import { readEntries } from './recovery-fill.js';
import type { RedisNames } from './redis-script.js';

/** A publication on its way into the local Fanout (redis-broker.ts). */
export interface Inbound {
  readonly channel: string;
  readonly seq: number;
  readonly epoch: number;
  readonly data: Payload;
  /** Called once it is delivered (or dropped): the publish it answers resolves. */
  readonly done: (() => void) | null;
}

export class GapFill {
  /** Channels whose missing seqs are being read: their arrivals wait here, in order. */
  private readonly filling = new Map<string, Inbound[]>();

  constructor(
    private readonly redis: Redis,
    private readonly names: RedisNames,
    private readonly sequencer: Sequencer,
    /** Delivers one arrival (echoes skipped); false when the ring has no room now. */
    private readonly deliver: (p: Inbound) => boolean,
    /** Arrivals the ring had no room for, in order, to wait ahead of the others. */
    private readonly requeue: (rest: Inbound[]) => void,
    private readonly counters: Counters,
  ) {}

  /** Whether `p` must wait: its channel is being filled, or `p` shows a hole (a fill starts). */
  holds(p: Inbound): boolean {
    const held = this.filling.get(p.channel);
    if (held !== undefined) {
      held.push(p);
      return true;
    }
    const s = this.sequencer.get(p.channel);
    if (s === undefined || s.epoch !== p.epoch || p.seq <= s.seq + 1) return false;
    this.read(p.channel, s.seq + 1, `${p.seq - 1}-0`, [p]);
    return true;
  }

  /** After an outage: reads what each of `channels` missed (send after their SUBSCRIBEs). */
  catchUp(channels: Iterable<string>): void {
    for (const c of channels) {
      const s = this.sequencer.get(c);
      if (s !== undefined && !this.filling.has(c)) this.read(c, s.seq + 1, '+', []);
    }
  }

  /** Arrivals held when the broker closes are dropped with it (their publishes were refused by the close). */
  clear(): void {
    this.filling.clear();
  }

  private read(channel: string, from: number, to: string, held: Inbound[]): void {
    this.filling.set(channel, held);
    this.counters.mainAdd('brokerGapReads');
    const cmd = new Command('xrange', [this.names.history(channel), `${from}-0`, to], { replyEncoding: null });
    let done = false;
    const settle = cmd.resolve;
    cmd.resolve = (reply: unknown): void => {
      settle(reply);
      done = true;
      this.finish(channel, reply);
    };
    // the connection broke: deliver what is held (the reconnect's catch-up reads again)
    (cmd.promise as Promise<unknown>).catch(() => {
      if (!done) this.finish(channel, []);
    });
    this.redis.sendCommand(cmd);
  }

  private finish(channel: string, reply: unknown): void {
    const held = this.filling.get(channel) ?? [];
    this.filling.delete(channel);
    const queue: Inbound[] = readEntries(reply).map((e) => ({ channel, seq: e.seq, epoch: e.epoch, data: e.data, done: null }));
    const filled = queue.length;
    queue.push(...held);
    let i = 0;
    while (i < queue.length && this.deliver(queue[i]!)) i++;
    if (i < queue.length) this.requeue(queue.slice(i));
    if (filled > 0) this.counters.mainAdd('brokerGapFilled', filled);
  }
}
