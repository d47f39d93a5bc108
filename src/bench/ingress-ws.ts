/**
 * Publishing as a WebSocket client: one extra connection (not one of the --connections
 * subscribers) sends `{"type":"publish",…,"id":…}` and matches each `ack` or `error` to its
 * publish by id (acks may come back out of order relative to other replies).
 */
import { ACCEPTED, NO_ANSWER, failed, refused, type PublishIngress, type PublishOutcome } from './ingress.js';
import type { WsTarget } from './options.js';
import { WsConnection, type WsSink } from './ws-client.js';

export class WsIngress implements PublishIngress, WsSink {
  private conn: WsConnection | null = null;
  private readonly pending = new Map<string, (o: PublishOutcome) => void>();
  private nextId = 0;
  private closedReason: string | null = null;
  private opened: { resolve: () => void; reject: (e: Error) => void } | null = null;

  constructor(private readonly target: WsTarget, private readonly timeoutMs: number) {}

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.conn?.destroy('publisher connect timeout'), this.timeoutMs);
      this.opened = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.conn = new WsConnection(this.target, this);
    });
  }

  publish(channel: string, data: string): Promise<PublishOutcome> {
    if (this.closedReason !== null) return Promise.resolve(refused(`not sent: ${this.closedReason}`));
    const id = String(++this.nextId);
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.conn!.sendText(`{"type":"publish","channel":"${channel}","data":${data},"id":"${id}"}`);
    });
  }

  close(): void {
    this.end(NO_ANSWER, 'the run ended');
    this.conn?.close();
  }

  private end(pendingReason: string, closedReason: string): void {
    if (this.closedReason === null) this.closedReason = closedReason;
    for (const resolve of this.pending.values()) resolve(failed(pendingReason));
    this.pending.clear();
  }

  onOpen(): void {
    this.opened?.resolve();
    this.opened = null;
  }

  onMessage(_conn: WsConnection, buf: Buffer, start: number, end: number): void {
    let v: unknown;
    try {
      v = JSON.parse(buf.toString('utf8', start, end));
    } catch {
      return;
    }
    for (const m of Array.isArray(v) ? v : [v]) {
      const msg = m as { type?: unknown; id?: unknown; ref?: unknown; code?: unknown };
      if (msg.type === 'ack' && typeof msg.id === 'string') this.settle(msg.id, ACCEPTED);
      else if (msg.type === 'error' && typeof msg.ref === 'string') this.settle(msg.ref, refused(`WS error ${String(msg.code)}`));
    }
  }

  private settle(id: string, outcome: PublishOutcome): void {
    const resolve = this.pending.get(id);
    if (resolve === undefined) return;
    this.pending.delete(id);
    resolve(outcome);
  }

  onClose(_conn: WsConnection, label: string): void {
    if (this.opened !== null) {
      this.opened.reject(new Error(label));
      this.opened = null;
    }
    this.end(`publisher connection: ${label}`, `publisher connection: ${label}`);
  }
}
