/**
 * HeldRequests — the HTTP requests a shard holds open until the main thread answers them
 * (publishes, control routes), by reply reference. Their number is kept in a shared gauge
 * (`httpWaiting`): operators see requests in flight, and main's ingress reads it to tell
 * pipelined publishers (many waiting: nap between batches, RingPump) from a publisher that
 * waits for each answer (never delayed).
 */
import type { HttpResponse } from '../transport/uws.js';
import type { Counters } from '../transport/counters.js';

export interface PendingHttp {
  readonly res: HttpResponse;
  aborted: boolean;
}

export class HeldRequests {
  private readonly byRef = new Map<number, PendingHttp>();

  constructor(
    private readonly counters: Counters,
    private readonly shard: number,
  ) {}

  get size(): number {
    return this.byRef.size;
  }

  get(ref: number): PendingHttp | undefined {
    return this.byRef.get(ref);
  }

  set(ref: number, entry: PendingHttp): void {
    this.byRef.set(ref, entry);
    this.counters.shardSet(this.shard, 'httpWaiting', this.byRef.size);
  }

  delete(ref: number): void {
    if (this.byRef.delete(ref)) this.counters.shardSet(this.shard, 'httpWaiting', this.byRef.size);
  }
}
