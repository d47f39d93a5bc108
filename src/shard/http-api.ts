/**
 * HttpApi — the HTTP routes a shard serves on the shared port. Publishing is parsed and
 * validated here (spreading that CPU over the shards) and forwarded to the main thread
 * through this shard's ingress ring; the answer comes back through the feed (a REPLY
 * record) or, for refusals, as a control message. Read-only routes that need every shard's
 * view (channels, stats, metrics) are answered by the main thread.
 *
 *   POST /api/publish   {"channel":C,"data":…} | {"channels":[…],"data":…}  → {"seq"} | {"seqs"}
 *                       {"user":U,"data":…}  → {"seq"} (U's per-user channel, every shard)
 *   POST /api/disconnect {"user":U}  → {"closed":n} (U's connections on every shard, closed 4500)
 *   GET  /api/channels  → {"channels":[{"channel":C,"subscribers":n}…]}
 *   GET  /api/stats     → engine counters as JSON
 *   GET  /metrics       → Prometheus text (no API key needed)
 *   GET  /readyz        → 200 when every shard listens (and Redis answers, with --broker redis),
 *                         else 503; the JSON body names what is missing (no API key needed)
 *   GET  /healthz       → 200 {"ok":true}
 *
 * With --admin-port, /api/stats, /metrics and /readyz are served on that port by the main
 * thread (admin-server.ts) and answer 404 here.
 */
import { ApiKeys } from '../auth/api-keys.js';
import { ErrorCode } from '../protocol/codes.js';
import type { ControlRoute } from '../engine/control.js';
import { ShardcastError } from '../protocol/errors.js';
import { dataBytes, parseDisconnect, parseHttpPublish } from '../protocol/messages.js';
import { WireFormat } from '../protocol/wire-format.js';
import { ReplyTarget } from '../transport/records.js';
import type { HttpRequest, HttpResponse } from '../transport/uws.js';
import type { ShardContext } from './context.js';
import type { PendingHttp } from './held-requests.js';
import { sendError, sendJson } from './http-reply.js';

export class HttpApi {
  /** SHA-256 of each accepted key; empty: no key, the API is open (loopback only). */
  private keys: ApiKeys;

  constructor(private readonly ctx: ShardContext) {
    this.keys = new ApiKeys(ctx.config.apiKeys);
  }

  /** Accepts the API keys now in ctx.config (at start, and on a credential reload). */
  useKeys(): void {
    this.keys = new ApiKeys(this.ctx.config.apiKeys);
  }

  /** The keys in force (the dashboard's routes check with the same ones). */
  get apiKeys(): ApiKeys {
    return this.keys;
  }

  mount(): void {
    const { app } = this.ctx;
    app.post('/api/publish', (res, req) => this.withBody(res, req, (pending, body, format) => this.forward(pending, body, format)));
    app.post('/api/disconnect', (res, req) => this.withBody(res, req, (pending, body, format) => this.disconnect(pending, body, format)));
    app.get('/api/channels', (res, req) => this.control(res, req, 'channels'));
    app.get('/healthz', (res) => sendJson(res, 200, '{"ok":true}'));
    const routes: Array<[string, 'GET' | 'POST']> = [['/api/publish', 'POST'], ['/api/disconnect', 'POST'], ['/api/channels', 'GET'], ['/healthz', 'GET']];
    // with --admin-port these are served there (by the main thread) and are not found here
    if (this.ctx.config.adminPort === null) {
      app.get('/api/stats', (res, req) => this.control(res, req, 'stats'));
      app.get('/metrics', (res) => this.control(res, null, 'metrics'));
      app.get('/readyz', (res) => this.control(res, null, 'readyz'));
      routes.push(['/api/stats', 'GET'], ['/metrics', 'GET'], ['/readyz', 'GET']);
    }
    for (const [path, allow] of routes) {
      app.any(path, (res) => this.fail(res, ErrorCode.MethodNotAllowed, `method not allowed on this route; use ${allow}`, { allow }));
    }
    app.any('/*', (res) => this.fail(res, ErrorCode.NotFound, 'no such route; WebSocket clients connect to /ws'));
  }

  /** Every HTTP error answer goes through here, so each is counted. */
  private fail(res: HttpResponse, code: ErrorCode, message: string, extra?: Record<string, string>): void {
    this.ctx.count('httpErrors');
    sendError(res, code, message, extra);
  }

  private authorized(req: HttpRequest): boolean {
    return this.keys.authorized(req.getHeader('authorization'));
  }

  /** Checks the key, reads a POST body (up to --max-payload), then hands it to `then`. */
  private withBody(res: HttpResponse, req: HttpRequest, then: (pending: { ref: number; entry: PendingHttp }, body: Buffer, format: WireFormat) => void): void {
    const { ctx } = this;
    if (!this.authorized(req)) return this.fail(res, ErrorCode.Unauthorized, 'missing or wrong API key (Authorization: Bearer <key>)');
    if (ctx.closing) return this.fail(res, ErrorCode.ShuttingDown, 'server is shutting down');
    const limit = ctx.config.maxPayload;
    const declared = Number(req.getHeader('content-length') || '0');
    if (declared > limit) return this.fail(res, ErrorCode.PayloadTooLarge, `body above the ${limit}-byte limit`);
    const format = bodyFormat(req.getHeader('content-type'));
    const pending = this.hold(res);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limit) {
        done = true;
        this.finish(pending, () => this.fail(res, ErrorCode.PayloadTooLarge, `body above the ${limit}-byte limit`));
        return;
      }
      chunks.push(Buffer.copyBytesFrom(new Uint8Array(chunk))); // uWS reuses the chunk's memory
      if (!isLast) return;
      done = true;
      then(pending, Buffer.concat(chunks, size), format);
    });
  }

  private forward(pending: { ref: number; entry: PendingHttp }, body: Buffer, format: WireFormat): void {
    const { ctx } = this;
    let parsed;
    try {
      parsed = parseHttpPublish(body, format);
    } catch (err) {
      if (!(err instanceof ShardcastError)) throw err;
      return this.finish(pending, () => this.fail(pending.entry.res, err.code, err.message));
    }
    ctx.count('httpPublishes');
    if (dataBytes(parsed.data) > ctx.config.maxPayload) {
      // re-serialised JSON can be larger than the body it came in
      return this.finish(pending, () => this.fail(pending.entry.res, ErrorCode.PayloadTooLarge, `data re-serialises to more than the ${ctx.config.maxPayload}-byte limit`));
    }
    const accepted = ctx.forwardPublish({ target: ReplyTarget.Http, ref: pending.ref, channels: parsed.channels, data: parsed.data, id: '' });
    if (!accepted) this.finish(pending, () => this.fail(pending.entry.res, ErrorCode.Overloaded, 'server is overloaded; retry shortly'));
    // else: answered when the REPLY record (or a refusal) for pending.ref arrives
  }

  /** POST /api/disconnect: main asks every shard and answers with {"closed":n}. */
  private disconnect(pending: { ref: number; entry: PendingHttp }, body: Buffer, format: WireFormat): void {
    let user: string;
    try {
      user = parseDisconnect(body, format);
    } catch (err) {
      if (!(err instanceof ShardcastError)) throw err;
      return this.finish(pending, () => this.fail(pending.entry.res, err.code, err.message));
    }
    this.ctx.post({ type: 'http-disconnect', ref: pending.ref, user });
  }

  private control(res: HttpResponse, req: HttpRequest | null, route: ControlRoute): void {
    if (req !== null && !this.authorized(req)) return this.fail(res, ErrorCode.Unauthorized, 'missing or wrong API key (Authorization: Bearer <key>)');
    const { ref } = this.hold(res);
    this.ctx.post({ type: 'http-control', ref, route });
  }

  /** Keeps a response open for a later answer, noting if the client goes away meanwhile. */
  private hold(res: HttpResponse): { ref: number; entry: PendingHttp } {
    const ref = this.ctx.nextRef();
    const entry: PendingHttp = { res, aborted: false };
    this.ctx.pending.set(ref, entry);
    res.onAborted(() => {
      entry.aborted = true;
      this.ctx.pending.delete(ref);
    });
    return { ref, entry };
  }

  private finish(pending: { ref: number; entry: PendingHttp }, send: () => void): void {
    this.ctx.pending.delete(pending.ref);
    if (!pending.entry.aborted) send();
  }
}

/** Answers a held request, if its client is still there. */
export function answerPending(ctx: ShardContext, ref: number, send: (res: HttpResponse) => void): void {
  const entry = ctx.pending.get(ref);
  if (entry === undefined) return;
  ctx.pending.delete(ref);
  if (!entry.aborted) send(entry.res);
}

/**
 * A body's format from its Content-Type: MessagePack for application/msgpack (also the
 * older x-msgpack and vnd.msgpack names); JSON for anything else, as before formats existed.
 */
function bodyFormat(contentType: string): WireFormat {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type === 'application/msgpack' || type === 'application/x-msgpack' || type === 'application/vnd.msgpack' ? WireFormat.Msgpack : WireFormat.Json;
}
