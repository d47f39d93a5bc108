/**
 * AttackSocket — one attacker's WebSocket connection (the `ws` library, from the attacker's
 * own loopback address). It counts everything the server answers into the thread's Tally,
 * by attack kind: frames by type and error code, closes by code, refused upgrades by status.
 * An error code or close code that is never legitimate (`internal`, 1011: a shard failed on
 * someone's input) is recorded as unexpected.
 */
import WebSocket from 'ws';
import { LEGIT_CLOSE_CODES, LEGIT_ERROR_CODES } from './settings.js';
import type { Tally } from './tally.js';

export interface ServerFrame {
  type: string;
  [key: string]: unknown;
}

export interface Target {
  readonly port: number;
  readonly localAddress: string;
  readonly tally: Tally;
  /** Every socket the thread has open, so that the end of the run can close them all. */
  readonly open: Set<AttackSocket>;
}

/** Publication frames are the bulk of what flood subscribers get: counted without parsing. */
const MESSAGE_PREFIX = Buffer.from('{"type":"message"');

export class AttackSocket {
  closed: number | null = null;
  private opened = false;
  onFrame: ((f: ServerFrame, text: string) => void) | null = null;
  private waiters: Array<() => void> = [];

  private constructor(
    readonly ws: WebSocket,
    kind: string,
    target: Target,
  ) {
    const { tally } = target;
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      if (!isBinary && raw.length >= MESSAGE_PREFIX.length && raw.subarray(0, MESSAGE_PREFIX.length).equals(MESSAGE_PREFIX)) {
        tally.add(`answer:${kind}`, 'message');
        return;
      }
      const text = raw.toString('utf8');
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        tally.unexpected('server frame is not JSON', text);
        return;
      }
      for (const f of (Array.isArray(v) ? v : [v]) as ServerFrame[]) {
        const code = f.type === 'error' ? String(f['code']) : null;
        tally.add(`answer:${kind}`, code === null ? f.type : `error:${code}`);
        if (code !== null && !LEGIT_ERROR_CODES.has(code)) tally.unexpected(`error code ${code}`, `${kind}: ${text}`);
        this.onFrame?.(f, text);
      }
      this.wake();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closed = code;
      target.open.delete(this);
      if (!this.opened) return; // counted under connect:
      tally.add(`close:${kind}`, String(code));
      if (!LEGIT_CLOSE_CODES.has(code)) tally.unexpected(`close ${code}`, `${kind}: ${reason.toString('utf8')}`);
      this.wake();
    });
    ws.on('error', () => {}); // the close event says what happened
  }

  /** Connects; null (counted) when the upgrade is refused or the connection fails. */
  static open(target: Target, kind: string, timeoutMs = 10_000): Promise<AttackSocket | null> {
    const ws = new WebSocket(`ws://127.0.0.1:${target.port}/ws`, {
      perMessageDeflate: false,
      localAddress: target.localAddress,
      handshakeTimeout: timeoutMs,
    });
    const s = new AttackSocket(ws, kind, target);
    return new Promise((resolve) => {
      let settled = false;
      const fail = (why: string): void => {
        if (settled) return;
        settled = true;
        target.tally.add(`connect:${kind}`, why);
        ws.terminate();
        resolve(null);
      };
      ws.once('open', () => {
        settled = true;
        s.opened = true;
        target.tally.add(`connect:${kind}`, 'opened');
        target.open.add(s);
        resolve(s);
      });
      ws.once('unexpected-response', (_req, res) => {
        fail(`refused-${res.statusCode}`);
        res.resume();
      });
      ws.once('error', (err: NodeJS.ErrnoException) => fail(`error-${err.code ?? err.message}`));
    });
  }

  send(data: string | Buffer, binary = false, fin = true): void {
    if (this.writable) this.ws.send(data, { binary, fin });
  }

  /** Open and not closing: send() will send. */
  get writable(): boolean {
    return this.closed === null && this.ws.readyState === WebSocket.OPEN;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Waits until `pred` holds or the socket closes; false after `timeoutMs`. */
  async until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!pred() && this.closed === null) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  /** The close code once closed; null if still open after `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<number | null> {
    await this.until(() => false, timeoutMs);
    return this.closed;
  }

  close(code?: number): void {
    if (this.closed !== null) return;
    if (code === undefined) this.ws.terminate();
    else this.ws.close(code);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
