/**
 * Publishing through `POST /api/publish` over keep-alive sockets. Refusals are counted by
 * status and error code ("HTTP 503 overloaded", "HTTP 401 unauthorized"); transport failures
 * by errno ("ECONNREFUSED"). A refused publish is not retried: it got no seq, so it simply
 * does not count towards expected deliveries.
 */
import http from 'node:http';
import https from 'node:https';
import { tlsConnectOptions, type BenchTls } from './bench-tls.js';
import { ACCEPTED, NO_ANSWER, failed, refused, type PublishIngress, type PublishOutcome } from './ingress.js';

/** A publish unanswered this long is given up on (its outcome stays unknown). */
const REQUEST_TIMEOUT_MS = 30_000;

export class HttpIngress implements PublishIngress {
  private readonly agent: http.Agent;
  private readonly url: URL;
  private readonly headers: Record<string, string>;
  private readonly pending = new Set<http.ClientRequest>();
  private closed = false;

  private readonly request: typeof http.request;

  /** `tls`: how to trust an https:// base (the run's wss:// settings). */
  constructor(base: string, apiKey: string | null, maxSockets: number, tls: BenchTls | null = null) {
    this.url = new URL(`${base}/api/publish`);
    const secure = this.url.protocol === 'https:';
    this.agent = secure ? new https.Agent({ keepAlive: true, maxSockets, ...tlsConnectOptions(tls ?? { ca: null, verify: true }, this.url.hostname) }) : new http.Agent({ keepAlive: true, maxSockets });
    this.request = secure ? https.request : http.request;
    this.headers = { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
  }

  open(): Promise<void> {
    return Promise.resolve();
  }

  publish(channel: string, data: string): Promise<PublishOutcome> {
    return this.post(`{"channel":"${channel}","data":${data}}`, false);
  }

  private post(body: string, isRetry: boolean): Promise<PublishOutcome> {
    if (this.closed) return Promise.resolve(refused('not sent: the run ended'));
    return new Promise((resolve) => {
      const req = this.request(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: { ...this.headers, 'content-length': String(Buffer.byteLength(body)) },
      }, (res) => {
        const status = res.statusCode ?? 0;
        if (status === 200) {
          res.resume(); // {"seq":n}: not needed, drained to free the socket
          res.once('end', () => finish(ACCEPTED));
        } else {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.length < 16 && chunks.push(c));
          res.once('end', () => finish(refused(`HTTP ${status}${errorCode(Buffer.concat(chunks).toString('utf8'))}`)));
        }
        res.once('error', (err: NodeJS.ErrnoException) => finish(failed(err.code ?? err.message, err.code)));
      });
      let done = false;
      const finish = (outcome: PublishOutcome): void => {
        if (done) return;
        done = true;
        this.pending.delete(req);
        resolve(outcome);
      };
      this.pending.add(req);
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timeout'), { code: 'HTTP timeout' })));
      req.once('error', (err: NodeJS.ErrnoException) => {
        if (this.closed) return finish(failed(NO_ANSWER));
        // The server may close an idle keep-alive socket just as we reuse it; the request never
        // reached it, so one retry cannot publish twice (Node's documented pattern).
        if (req.reusedSocket && err.code === 'ECONNRESET' && !isRetry) {
          done = true;
          this.pending.delete(req);
          return void this.post(body, true).then(resolve);
        }
        finish(failed(err.code ?? err.message, err.code));
      });
      req.end(body);
    });
  }

  close(): void {
    this.closed = true;
    for (const req of this.pending) req.destroy();
    this.agent.destroy();
  }
}

/** " overloaded" from {"error":{"code":"overloaded",…}}, or "" for a body without one. */
function errorCode(body: string): string {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' && /^[a-z_]{1,40}$/.test(code) ? ` ${code}` : '';
  } catch {
    return '';
  }
}
