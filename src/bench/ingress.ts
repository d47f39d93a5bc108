/**
 * How the bench publishes: one interface over the three ways into Shardcast (HTTP POST, a
 * WebSocket publisher connection, the IPC socket), so the open- and closed-loop drivers in
 * publisher.ts do not care which one is measured.
 */
import { HttpIngress } from './ingress-http.js';
import { IpcIngress } from './ingress-ipc.js';
import { WsIngress } from './ingress-ws.js';
import { withToken } from './bench-token.js';
import type { BenchOptions } from './options.js';

export type PublishOutcome =
  | { readonly ok: true }
  /**
   * Refused or failed; `reason` is the label it is counted under. `unknown` when the request
   * may have reached the server (no answer came): it may have been published after all.
   */
  | { readonly ok: false; readonly reason: string; readonly unknown: boolean };

export const ACCEPTED: PublishOutcome = Object.freeze({ ok: true });

/** The label of publishes still waiting for an answer when the drain deadline passed. */
export const NO_ANSWER = 'no answer before the drain deadline';

export interface PublishIngress {
  /** Connects where there is something to connect (ws, ipc); rejects with a short reason. */
  open(): Promise<void>;
  /** `data` is the JSON text of the publication's data. */
  publish(channel: string, data: string): Promise<PublishOutcome>;
  /** Gives up on everything outstanding (it resolves as NO_ANSWER) and releases sockets. */
  close(): void;
}

export function createIngress(o: BenchOptions): PublishIngress {
  switch (o.publish) {
    case 'http':
      // Open loop: enough sockets that each may wait 100 ms for its answer and the schedule
      // still holds — a server with a merge window answers a publish only after the window
      // holding it went out (up to --merge-ms later), and a pool sized for prompt answers
      // would make the publisher, not the server, fall behind.
      return new HttpIngress(o.httpUrl, o.apiKey, o.inflight ?? Math.min(256, Math.max(8, Math.ceil((o.rate ?? 0) / 10))), o.target.tls ?? null);
    case 'ws':
      return new WsIngress(withToken(o.target, 'publisher'), o.connectTimeoutMs);
    case 'ipc':
      return new IpcIngress(o.ipcSocket!, o.connectTimeoutMs);
  }
}

/** Error codes that prove a request never reached the server (so it was certainly not published). */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOENT', 'EACCES']);

export function failed(reason: string, code?: string): PublishOutcome {
  return { ok: false, reason, unknown: code === undefined || !NEVER_SENT.has(code) };
}

export function refused(reason: string): PublishOutcome {
  return { ok: false, reason, unknown: false };
}
