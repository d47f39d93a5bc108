/**
 * AdminServer — --admin-port: /metrics, /api/stats and /readyz on a port of their own,
 * served by the main thread with node:http, so they can be firewalled apart from the public
 * port (where they then answer 404).
 *
 * Why the main thread and not a shard: every one of these answers is computed on the main
 * thread anyway (a shard only forwards the request and relays the answer), so a shard would
 * add a thread hop and save main nothing; and /readyz must answer while shards restart —
 * a shard-hosted admin port would go deaf exactly then. What main pays is node:http's parse
 * of a scrape every few seconds (docs/architecture.md, "The admin port", has the figures);
 * nothing here runs per message.
 *
 * `raw` routes (the dashboard: its page, its Server-Sent Events feed, its publish) get the
 * request and response themselves, after the key check: a browser opens them, so a refusal
 * offers Basic credentials (the key as the password) for the browser to ask for.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiKeys } from '../auth/api-keys.js';
import { BASIC_CHALLENGE } from '../dashboard/dashboard-assets.js';
import { ErrorCode, httpStatus } from '../protocol/codes.js';
import { ConfigError } from '../protocol/errors.js';
import type { ControlRoute, HttpAnswer } from './control.js';

export interface AdminRoutes {
  /** A control route by path, and whether it needs the API key (as on the public port). */
  readonly control: ReadonlyMap<string, { route: ControlRoute; key: boolean }>;
  readonly answer: (route: ControlRoute) => Promise<HttpAnswer>;
  /** Routes that answer by themselves (a page, a live feed), always behind the key. */
  readonly raw?: ReadonlyMap<string, RawRoute>;
}

export interface RawRoute {
  /** GET routes answer HEAD too. */
  readonly method: 'GET' | 'POST';
  handle(req: IncomingMessage, res: ServerResponse): void;
}


/** The admin routes of today, with the public port's key rules. */
export const ADMIN_CONTROL: ReadonlyMap<string, { route: ControlRoute; key: boolean }> = new Map([
  ['/metrics', { route: 'metrics', key: false }],
  ['/readyz', { route: 'readyz', key: false }],
  ['/api/stats', { route: 'stats', key: true }],
]);

export class AdminServer {
  private constructor(private readonly server: Server) {}

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  static listen(host: string, port: number, apiKeys: readonly string[], routes: AdminRoutes): Promise<AdminServer> {
    const keys = new ApiKeys(apiKeys);
    const server = createServer((req, res) => handle(req, res, keys, routes));
    // a scraper that keeps its connection is fine; one that sends nothing is not held for ever
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL' ? new ConfigError('adminPort', port, `a free port on ${host}: ${host}:${port} cannot be bound (${err.code})`) : err);
      });
      server.listen({ host, port, exclusive: true }, () => resolve(new AdminServer(server)));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections(); // keep-alive scrapers must not hold shutdown up
    });
  }
}

function handle(req: IncomingMessage, res: ServerResponse, keys: ApiKeys, routes: AdminRoutes): void {
  const path = (req.url ?? '/').split('?')[0]!;
  const control = routes.control.get(path);
  const raw = routes.raw?.get(path);
  if (control === undefined && raw === undefined && path !== '/healthz') return fail(res, ErrorCode.NotFound, `no such route on the admin port; it serves ${[...routes.control.keys(), ...(routes.raw?.keys() ?? []), '/healthz'].join(', ')}`);
  const method = raw?.method ?? 'GET';
  if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) return fail(res, ErrorCode.MethodNotAllowed, `method not allowed on this route; use ${method}`, { allow: method });
  if (path === '/healthz') return send(res, { status: 200, contentType: 'application/json', body: '{"ok":true}' });
  if (raw !== undefined) {
    // the pages a browser opens take Basic too; publishing wants the key typed in, as a Bearer
    const page = raw.method === 'GET';
    if (!keys.authorized(req.headers.authorization, page)) return fail(res, ErrorCode.Unauthorized, page ? 'missing or wrong API key (Authorization: Bearer <key>, or Basic with the key as the password)' : 'missing or wrong API key (Authorization: Bearer <key>)', page ? BASIC_CHALLENGE : undefined);
    return raw.handle(req, res);
  }
  if (control!.key && !keys.authorized(req.headers.authorization)) return fail(res, ErrorCode.Unauthorized, 'missing or wrong API key (Authorization: Bearer <key>)');
  routes.answer(control!.route).then(
    (answer) => send(res, answer),
    () => fail(res, ErrorCode.Internal, 'internal error'),
  );
}

function send(res: ServerResponse, a: HttpAnswer): void {
  res.writeHead(a.status, { 'content-type': a.contentType, ...a.headers });
  res.end(a.body);
}

function fail(res: ServerResponse, code: ErrorCode, message: string, headers?: Record<string, string>): void {
  send(res, { status: httpStatus[code], contentType: 'application/json', body: JSON.stringify({ error: { code, message } }), ...(headers ? { headers } : {}) });
}
