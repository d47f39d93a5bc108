/**
 * ShardQueries — questions the main thread asks every shard over the control plane (which
 * channels have subscribers, how many connections of a user were closed) and the gathering of
 * their answers. A shard that dies mid-query must not hang the answer: after a timeout the
 * parts received so far make the result, and late parts are dropped.
 */

/** How long a query waits for the shards' answers. */
const QUERY_TIMEOUT_MS = 2000;

interface OpenQuery {
  left: number;
  add: (part: unknown) => void;
  done: () => void;
}

export class ShardQueries {
  private readonly open = new Map<number, OpenQuery>();
  private next = 1;

  /**
   * Sends a query (`send` posts it to every shard and returns how many got it), adds each
   * shard's part with `add`, and resolves with `result()` once all answered or time is up.
   */
  ask<P, R>(send: (query: number) => number, add: (part: P) => void, result: () => R): Promise<R> {
    return new Promise((resolve) => {
      const query = this.next++;
      const done = (): void => {
        clearTimeout(timer);
        this.open.delete(query);
        resolve(result());
      };
      const timer = setTimeout(done, QUERY_TIMEOUT_MS);
      const left = send(query);
      if (left === 0) return done();
      this.open.set(query, { left, add: add as (part: unknown) => void, done });
    });
  }

  /** One shard's part of the answer to `query`. */
  answer(query: number, part: unknown): void {
    const q = this.open.get(query);
    if (q === undefined) return;
    q.add(part);
    if (--q.left === 0) q.done();
  }
}
