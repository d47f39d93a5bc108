/**
 * Backlog — the Redis broker's publications waiting for ring room, in arrival order: a
 * message the ring has no room for waits here, and nothing of any channel overtakes it.
 * Bounded: past MAX_BACKLOG_BYTES further messages are dropped (and counted); shards that far
 * behind are cut loose by --shard-stall-timeout.
 */
import type { Counters } from '../transport/counters.js';
import type { Inbound } from './gap-fill.js';

/** Bytes of data waiting for ring room before further messages are dropped (and counted). */
const MAX_BACKLOG_BYTES = 64 * 1024 * 1024;
/** How soon a backlog waiting for ring room is tried again. */
const BACKLOG_RETRY_MS = 1;

export class Backlog {
  private queue: Inbound[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    /** Hands one publication to the Fanout (echoes skipped); false when the ring has no room now. */
    private readonly deliver: (p: Inbound) => boolean,
    private readonly counters: Counters,
  ) {}

  /** Delivers at once, or behind the publications already waiting. */
  offer(p: Inbound): void {
    if (this.queue.length === 0 && this.deliver(p)) return;
    if (this.bytes > MAX_BACKLOG_BYTES) {
      // shards this far behind are cut loose by --shard-stall-timeout; until then, a gap
      this.counters.mainAdd('brokerDropped');
      p.done?.();
      return;
    }
    this.queue.push(p);
    this.bytes += p.data.byteLength;
    this.timer ??= setTimeout(() => this.drain(), BACKLOG_RETRY_MS);
  }

  /** Arrivals a gap fill could not write (no ring room): first in line, in their order. */
  requeue(rest: Inbound[]): void {
    this.queue = [...rest, ...this.queue];
    for (const p of rest) this.bytes += p.data.byteLength;
    this.timer ??= setTimeout(() => this.drain(), BACKLOG_RETRY_MS);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private drain(): void {
    this.timer = null;
    let i = 0;
    while (i < this.queue.length && this.deliver(this.queue[i]!)) this.bytes -= this.queue[i++]!.data.byteLength;
    this.queue = this.queue.slice(i);
    if (this.queue.length > 0 && !this.closed) this.timer = setTimeout(() => this.drain(), BACKLOG_RETRY_MS);
  }
}
