/**
 * Starts bench workers and reads their tagged messages with a deadline, so a stuck run fails
 * loudly instead of hanging; stopAll() terminates every worker started so far.
 */
import { Worker, type TransferListItem } from 'node:worker_threads';

export interface Tagged {
  readonly type: string;
}

const started: Worker[] = [];

export class BenchWorker {
  private readonly worker: Worker;
  private readonly inbox: Tagged[] = [];
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(readonly name: string, workerData: unknown, transferList: TransferListItem[] = []) {
    this.worker = new Worker(new URL(`./workers/${name}.js`, import.meta.url), { workerData, transferList });
    started.push(this.worker);
    this.worker.on('message', (m: Tagged) => {
      this.inbox.push(m);
      this.wake?.();
    });
    this.worker.on('error', (e) => {
      this.failure ??= e;
      this.wake?.();
    });
    this.worker.on('exit', (code) => {
      this.failure ??= new Error(`${name} exited (code ${code})`);
      this.wake?.();
    });
  }

  post(message: unknown): void {
    this.worker.postMessage(message);
  }

  /** The next message, which must be of `type`. */
  async receive<T extends Tagged>(type: T['type'], ms = 60_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.inbox.shift();
      if (m !== undefined) {
        if (m.type !== type) throw new Error(`${this.name}: expected '${type}', got ${JSON.stringify(m)}`);
        return m as T;
      }
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no '${type}' within ${ms} ms`);
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

export async function stopAll(): Promise<void> {
  await Promise.all(started.splice(0).map((w) => w.terminate()));
}
