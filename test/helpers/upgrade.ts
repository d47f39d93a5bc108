/**
 * One raw WebSocket upgrade request (node:http or node:https), answered either way: 101 (the
 * socket is kept for the caller to destroy) or an HTTP error with its body — for tests that
 * look at refusals of the handshake itself.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The upgraded socket when the answer was 101 (the caller destroys it). */
  socket: Socket | null;
}

export interface UpgradeOptions {
  host?: string;
  /** Path and query (default /ws). */
  path?: string;
  headers?: Record<string, string>;
  /** Upgrade over TLS, trusting this CA certificate (PEM). */
  ca?: string | Buffer;
}

export function upgrade(port: number, opts: UpgradeOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = {
      host: opts.host ?? '127.0.0.1',
      port,
      path: opts.path ?? '/ws',
      agent: false as const,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'), ...opts.headers },
    };
    const req = opts.ca === undefined ? httpRequest(options) : httpsRequest({ ...options, ca: opts.ca });
    req.setTimeout(10_000, () => req.destroy(new Error('upgrade timed out')));
    req.once('upgrade', (res, socket) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '', socket }));
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket: null }));
    });
    req.once('error', reject);
    req.end();
  });
}
