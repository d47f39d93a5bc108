/**
 * ShardQueries — one question put to every live shard worker (postMessage), answered by each
 * with a message carrying the question's number: the channels they have subscribers of, the
 * connections of a user they closed, that they use the reloaded credentials. The answer is
 * complete when every shard asked has answered, or after a timeout: a shard that dies
 * mid-question must not hang the caller (its connections went with it, and its replacement
 * starts from the state in force).
 */
import type { ToShard } from './control.js';

interface Shards {
  /** Sends to every live shard worker; returns how many. */
  broadcast(m: ToShard): number;
}

interface Open {
  left: number;
  onAnswer: (answer: never) => void;
  done: () => void;
}

export class ShardQueries {
  private next = 1;
  private readonly open = new Map<number, Open>();

  constructor(
    private readonly shards: Shards,
    private readonly timeoutMs: number,
  ) {}

  /** Asks `make(query)` of every shard; `onAnswer` sees each answer; resolves when all came (or the timeout passed). */
  ask<A>(make: (query: number) => ToShard, onAnswer: (answer: A) => void): Promise<void> {
    return new Promise((resolve) => {
      const query = this.next++;
      const done = (): void => {
        clearTimeout(timer);
        this.open.delete(query);
        resolve();
      };
      const timer = setTimeout(done, this.timeoutMs);
      const left = this.shards.broadcast(make(query));
      if (left === 0) return done();
      this.open.set(query, { left, onAnswer: onAnswer as (answer: never) => void, done });
    });
  }

  /** A shard's answer to question `query` (late answers, after a timeout, are dropped). */
  answer<A>(query: number, answer: A): void {
    const q = this.open.get(query);
    if (q === undefined) return;
    (q.onAnswer as (answer: A) => void)(answer);
    if (--q.left === 0) q.done();
  }
}
