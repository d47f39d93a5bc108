/**
 * Starts bench workers and reads their tagged messages with a deadline, so a stuck run fails
 * loudly instead of hanging; stopAll() terminates every worker started so far.
 */
import { Worker, type TransferListItem } from 'node:worker_threads';
import { Mailbox } from './lib/mailbox.js';

export interface Tagged {
  readonly type: string;
}

const started: Worker[] = [];

export class BenchWorker {
  private readonly worker: Worker;
  private readonly mail: Mailbox<Tagged>;

  constructor(readonly name: string, workerData: unknown, transferList: TransferListItem[] = []) {
    this.worker = new Worker(new URL(`./workers/${name}.js`, import.meta.url), { workerData, transferList });
    started.push(this.worker);
    this.mail = new Mailbox(name, this.worker);
  }

  post(message: unknown): void {
    this.worker.postMessage(message);
  }

  /** The next message, which must be of `type`. */
  receive<T extends Tagged>(type: T['type'], ms = 60_000): Promise<T> {
    return this.mail.next<T>(type, ms);
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all(started.splice(0).map((w) => w.terminate()));
}
