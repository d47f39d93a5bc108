/**
 * SoakThread — the orchestrator's handle on one worker thread of the run (an attacker or the
 * healthy clients): messages are awaited with a deadline, a thread that fails or exits early
 * says so instead of hanging the run, and stop() always ends it.
 */
import { Worker } from 'node:worker_threads';

export class SoakThread<Out extends { type: string }> {
  private readonly worker: Worker;
  private readonly inbox: Out[] = [];
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly exited: Promise<void>;

  constructor(readonly name: string, file: URL, workerData: unknown) {
    this.worker = new Worker(file, { workerData });
    this.worker.on('message', (m: Out) => {
      this.inbox.push(m);
      this.wake?.();
    });
    this.worker.on('error', (e) => {
      this.failure ??= e;
      this.wake?.();
    });
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        this.failure ??= new Error(`${name} exited (code ${code}) before the expected message`);
        this.wake?.();
        resolve();
      });
    });
  }

  post(m: unknown): void {
    this.worker.postMessage(m);
  }

  /** The next message of `type` (others before it are skipped); throws on failure or after `ms`. */
  async receive<T extends Out['type']>(type: T, ms: number): Promise<Extract<Out, { type: T }>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type || m.type === 'failed');
      if (i >= 0) {
        const m = this.inbox.splice(i, 1)[0]!;
        if (m.type === 'failed') throw new Error(`${this.name} failed: ${String((m as unknown as { error: string }).error)}`);
        return m as Extract<Out, { type: T }>;
      }
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no '${type}' message within ${ms} ms`);
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

  async stop(): Promise<void> {
    await this.worker.terminate();
    await this.exited;
  }
}
