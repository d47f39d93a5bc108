/**
 * Mailbox — the messages of one worker thread, read with a deadline: a worker that fails,
 * exits early or stays silent makes the read throw instead of hanging the run. The bench's
 * workers (bench/threads.ts), the soak's threads (bench/soak/soak-thread.ts) and the tests'
 * fixture workers (test/fixtures/workers.ts) all read their workers through it.
 */
import type { Worker } from 'node:worker_threads';

export class Mailbox<M extends { readonly type: string }> {
  private readonly inbox: M[] = [];
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  /** Resolves when the worker has exited. */
  readonly exited: Promise<void>;

  constructor(
    private readonly name: string,
    worker: Worker,
  ) {
    worker.on('message', (m: M) => {
      this.inbox.push(m);
      this.wake?.();
    });
    worker.on('error', (e) => {
      this.failure ??= e;
      this.wake?.();
    });
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        this.failure ??= new Error(`${name} exited (code ${code}) before the expected message`);
        this.wake?.();
        resolve();
      });
    });
  }

  /** The next message, which must be of `type`. */
  next<T extends M>(type: T['type'], ms: number): Promise<T> {
    return this.take<T>((m) => {
      if (m.type !== type) throw new Error(`${this.name}: expected a '${type}' message, got ${JSON.stringify(m)}`);
      return true;
    }, `a '${type}' message`, ms);
  }

  /** The first message `pick` accepts (messages before it stay), within `ms`; `pick` may throw. */
  async take<T extends M>(pick: (m: M) => boolean, what: string, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex(pick);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as T;
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no ${what} within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }
}
