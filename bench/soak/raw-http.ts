/**
 * One HTTP/1.1 exchange on a fresh TCP connection, written by hand so that it can be wrong:
 * any bytes, sent in parts with pauses between them (slow bodies), abandoned half-way. Reads
 * one response (Content-Length bodies, which is what uWS sends) or notes that the server
 * dropped the connection. Always destroys its socket before resolving.
 */
import net from 'node:net';

/** Bytes to write, or a pause in ms. */
export type Part = string | Buffer | number;

export interface HttpOutcome {
  status: number | null;
  body: string;
  /** The server closed the connection without (a complete) response. */
  dropped: boolean;
  timedOut: boolean;
  /** We gave up on purpose (abandonAfterMs). */
  abandoned: boolean;
}

export interface RawRequest {
  port: number;
  localAddress: string;
  parts: readonly Part[];
  timeoutMs: number;
  /** Destroy the connection this long after connecting, answer or not. */
  abandonAfterMs?: number;
}

export function rawHttp(req: RawRequest): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    const out: HttpOutcome = { status: null, body: '', dropped: false, timedOut: false, abandoned: false };
    const socket = net.connect({ port: req.port, host: '127.0.0.1', localAddress: req.localAddress });
    let buf = Buffer.alloc(0);
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (): void => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      socket.destroy();
      resolve(out);
    };
    timers.push(setTimeout(() => {
      out.timedOut = true;
      finish();
    }, req.timeoutMs));
    if (req.abandonAfterMs !== undefined) {
      timers.push(setTimeout(() => {
        out.abandoned = true;
        finish();
      }, req.abandonAfterMs));
    }
    socket.on('error', () => {
      out.dropped = out.status === null || out.dropped;
      finish();
    });
    socket.on('close', () => {
      if (out.status === null) out.dropped = true;
      finish();
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (status === null) {
        out.dropped = true;
        return finish();
      }
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      const bodyBytes = buf.length - end - 4;
      if (length !== null && bodyBytes < Number(length[1])) return; // more to come
      out.status = Number(status[1]);
      out.body = buf.subarray(end + 4, length === null ? undefined : end + 4 + Number(length[1])).toString('utf8');
      finish();
    });
    socket.on('connect', () => {
      void (async () => {
        for (const p of req.parts) {
          if (done || socket.destroyed) return;
          if (typeof p === 'number') await new Promise((r) => timers.push(setTimeout(r, p)));
          else socket.write(p);
        }
      })();
    });
  });
}

/** The `code` of a Shardcast error body, if the body is one. */
export function errorCodeOf(body: string): string | null {
  try {
    const v = JSON.parse(body) as { error?: { code?: unknown } };
    return typeof v.error?.code === 'string' ? v.error.code : null;
  } catch {
    return null;
  }
}
