/**
 * DashboardRoutes — /dashboard on the public port (--dashboard on, no --admin-port): the
 * page and its files, served by this shard from memory, and the page's live feed as
 * Server-Sent Events. The feed's data is made on the main thread (src/observe/dashboard-feed.ts):
 * this shard tells main which searches its open pages asked for — only when a page opens or
 * closes — and relays what main then sends, one message a second for all its pages. With no
 * page open main sends nothing and this shard does nothing.
 *
 * Like /api/stats, it needs the API key when the server has one (Bearer, or Basic with the key
 * as the password: what a browser asks its user for after a 401 that offers it).
 */
import type { ApiKeys } from '../auth/api-keys.js';
import { BASIC_CHALLENGE, DASHBOARD_HEADERS, FEED_PATH, loadDashboardAssets } from '../dashboard/dashboard-assets.js';
import { ErrorCode } from '../protocol/codes.js';
import type { HttpResponse } from '../transport/uws.js';
import type { ShardContext } from './context.js';
import { sendError } from './http-reply.js';

/** A search longer than this is cut (as on the main thread: a channel name's length). */
const MAX_SEARCH = 256;

interface Viewer {
  readonly res: HttpResponse;
  readonly search: string;
  /** Its hello is written: samples may follow. */
  ready: boolean;
  /** uWS holds unsent bytes for it: samples are skipped until it drains. */
  backed: boolean;
}

export class DashboardRoutes {
  private readonly viewers = new Set<Viewer>();
  /** Pages waiting for their hello, by the ref sent to main. */
  private readonly waiting = new Map<number, Viewer>();
  private nextRef = 1;

  constructor(
    private readonly ctx: ShardContext,
    /** The HTTP API's keys in force (replaced on a credential reload). */
    private readonly keys: () => ApiKeys,
  ) {}

  mount(): void {
    const { app } = this.ctx;
    const assets = loadDashboardAssets();
    for (const [path, asset] of assets) {
      app.get(path, (res, req) => {
        if (!this.authorized(res, req.getHeader('authorization'))) return;
        res.cork(() => {
          res.writeStatus('200 OK');
          res.writeHeader('content-type', asset.type);
          for (const [k, v] of Object.entries(DASHBOARD_HEADERS)) res.writeHeader(k, v);
          res.end(asset.body);
        });
      });
    }
    app.get(FEED_PATH, (res, req) => {
      if (!this.authorized(res, req.getHeader('authorization'))) return;
      this.open(res, (req.getQuery('q') ?? '').trim().slice(0, MAX_SEARCH));
    });
    for (const path of [...assets.keys(), FEED_PATH]) {
      app.any(path, (res) => {
        this.ctx.count('httpErrors');
        sendError(res, ErrorCode.MethodNotAllowed, 'method not allowed on this route; use GET', { allow: 'GET' });
      });
    }
  }

  private authorized(res: HttpResponse, header: string): boolean {
    if (this.keys().authorized(header, true)) return true;
    this.ctx.count('httpErrors');
    sendError(res, ErrorCode.Unauthorized, 'missing or wrong API key (Authorization: Bearer <key>, or Basic with the key as the password)', BASIC_CHALLENGE);
    return false;
  }

  private open(res: HttpResponse, search: string): void {
    const viewer: Viewer = { res, search, ready: false, backed: false };
    const ref = this.nextRef++;
    res.onAborted(() => {
      this.viewers.delete(viewer);
      this.waiting.delete(ref);
      this.report(null);
    });
    res.cork(() => {
      res.writeStatus('200 OK');
      res.writeHeader('content-type', 'text/event-stream');
      for (const [k, v] of Object.entries(DASHBOARD_HEADERS)) res.writeHeader(k, k === 'cache-control' ? 'no-store' : v);
      res.write('retry: 2000\n\n');
    });
    this.viewers.add(viewer);
    this.waiting.set(ref, viewer);
    this.report(ref);
  }

  /** Tells main the searches of the pages open here ([] when none is). */
  private report(hello: number | null): void {
    if (this.ctx.closing) return;
    this.ctx.post({ type: 'dashboard-watch', searches: [...new Set([...this.viewers].map((v) => v.search))], hello });
  }

  hello(ref: number, hello: string): void {
    const viewer = this.waiting.get(ref);
    if (viewer === undefined) return;
    this.waiting.delete(ref);
    viewer.ready = true;
    this.write(viewer, `event: hello\ndata: ${hello}\n\n`);
  }

  sample(json: string): void {
    const text = `event: sample\ndata: ${json}\n\n`;
    for (const v of this.viewers) if (v.ready) this.write(v, text);
  }

  channels(tables: ReadonlyArray<[string, string]>): void {
    const bySearch = new Map(tables);
    for (const v of this.viewers) {
      const t = bySearch.get(v.search);
      if (v.ready && t !== undefined) this.write(v, `event: channels\ndata: ${t}\n\n`);
    }
  }

  /** A page that reads too slowly loses samples rather than growing this shard's memory. */
  private write(v: Viewer, text: string): void {
    if (v.backed) return;
    let ok = true;
    v.res.cork(() => (ok = v.res.write(text)));
    if (ok) return;
    v.backed = true;
    v.res.onWritable(() => {
      v.backed = false;
      return true;
    });
  }
}
