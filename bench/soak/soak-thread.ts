/**
 * SoakThread — the orchestrator's handle on one worker thread of the run (an attacker or the
 * healthy clients): messages are awaited with a deadline, a thread that fails or exits early
 * says so instead of hanging the run, and stop() always ends it.
 */
import { Worker } from 'node:worker_threads';
import { Mailbox } from '../lib/mailbox.js';

export class SoakThread<Out extends { type: string }> {
  private readonly worker: Worker;
  private readonly mail: Mailbox<Out>;

  constructor(readonly name: string, file: URL, workerData: unknown) {
    this.worker = new Worker(file, { workerData });
    this.mail = new Mailbox(name, this.worker);
  }

  post(m: unknown): void {
    this.worker.postMessage(m);
  }

  /** The first message of `type` (others before it wait their turn); throws on failure or after `ms`. */
  receive<T extends Out['type']>(type: T, ms: number): Promise<Extract<Out, { type: T }>> {
    return this.mail.take((m) => {
      if (m.type === 'failed') throw new Error(`${this.name} failed: ${String((m as unknown as { error: string }).error)}`);
      return m.type === type;
    }, `'${type}' message`, ms);
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
    await this.mail.exited;
  }
}
