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
 * The seam for what comes next (the dashboard and its live feed): `raw` routes get the
 * request and response themselves, e.g. to hold a Server-Sent Events stream open.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiKeys } from '../auth/api-keys.js';
import { ErrorCode, httpStatus } from '../protocol/codes.js';
import { ConfigError } from '../protocol/errors.js';
import type { ControlRoute, HttpAnswer } from './control.js';

export interface AdminRoutes {
  /** A control route by path, and whether it needs the API key (as on the public port). */
  readonly control: ReadonlyMap<string, { route: ControlRoute; key: boolean }>;
  readonly answer: (route: ControlRoute) => Promise<HttpAnswer>;
  /** Routes that answer by themselves (a page, a live feed); GET only. */
  readonly raw?: ReadonlyMap<string, (req: IncomingMessage, res: ServerResponse) => void>;
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
  if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, ErrorCode.MethodNotAllowed, 'method not allowed on this route; use GET', { allow: 'GET' });
  if (path === '/healthz') return send(res, { status: 200, contentType: 'application/json', body: '{"ok":true}' });
  if (raw !== undefined) return raw(req, res);
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
