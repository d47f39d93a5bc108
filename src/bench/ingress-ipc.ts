/**
 * Publishing through the IPC socket (length-prefixed JSON frames, replies in request order).
 * The server never refuses `overloaded` here: it holds requests and stops reading, so an
 * overloaded server shows up as latency and, at the drain deadline, as unanswered publishes.
 */
import net from 'node:net';
import { FrameDecoder, encodeFrame } from '../ingress/ipc-framing.js';
import { ACCEPTED, NO_ANSWER, failed, refused, type PublishIngress, type PublishOutcome } from './ingress.js';

export class IpcIngress implements PublishIngress {
  private socket: net.Socket | null = null;
  private readonly decoder = new FrameDecoder(16 * 1024 * 1024);
  /** Replies come back in request order: a FIFO of waiters is enough. */
  private readonly waiting: Array<(o: PublishOutcome) => void> = [];
  private head = 0;
  private closedReason: string | null = null;

  constructor(private readonly path: string, private readonly timeoutMs: number) {}

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(this.path);
      const timer = setTimeout(() => s.destroy(Object.assign(new Error('IPC connect timeout'), { code: 'IPC connect timeout' })), this.timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        this.socket = s;
        resolve();
      });
      s.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (this.socket === null) reject(new Error(err.code ?? err.message));
        else this.end(`IPC socket: ${err.code ?? err.message}`);
      });
      s.on('close', () => this.end('IPC socket closed'));
      s.on('data', (chunk: Buffer) => {
        for (const d of this.decoder.push(chunk)) {
          if (d.kind !== 'json') continue; // requests are JSON frames, so are their replies
          this.reply(d.text);
        }
      });
    });
  }

  publish(channel: string, data: string): Promise<PublishOutcome> {
    if (this.closedReason !== null || this.socket === null) return Promise.resolve(refused(`not sent: ${this.closedReason ?? 'IPC socket not open'}`));
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.socket!.write(encodeFrame(`{"type":"publish","channel":"${channel}","data":${data}}`));
    });
  }

  private reply(text: string): void {
    const resolve = this.waiting[this.head];
    if (resolve === undefined) return;
    this.waiting[this.head++] = undefined as never;
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
    let outcome: PublishOutcome;
    try {
      const r = JSON.parse(text) as { type?: unknown; code?: unknown };
      outcome = r.type === 'ack' ? ACCEPTED : refused(`IPC error ${String(r.code)}`);
    } catch {
      outcome = refused('IPC reply not JSON');
    }
    resolve(outcome);
  }

  private end(reason: string): void {
    if (this.closedReason === null) this.closedReason = reason;
    for (let i = this.head; i < this.waiting.length; i++) this.waiting[i]?.(failed(reason));
    this.waiting.length = 0;
    this.head = 0;
  }

  close(): void {
    this.end(NO_ANSWER);
    this.socket?.destroy();
  }
}
