/**
 * The dashboard's files, as both servers send them: the page's own HTML, JS and CSS
 * (plain files in src/dashboard/page/, no build step) and the two libraries it runs,
 * straight from their packages' dist builds — uPlot for the charts, msgpackr (its no-eval
 * build, which the page's Content-Security-Policy allows) to read MessagePack frames in the
 * watch panel. Read from disk once, when a server mounts them; nothing is fetched from a CDN,
 * so the page works offline.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

/** The page itself. */
export const DASHBOARD_PATH = '/dashboard';
/** Its live feed (Server-Sent Events). */
export const FEED_PATH = '/dashboard/feed';
/** Publishing from the page on the admin port (the public port's page uses /api/publish). */
export const PUBLISH_PATH = '/dashboard/publish';

/**
 * Headers of every dashboard answer: nothing but this server and its WebSocket port is
 * reached (no CDN, no third party), and no other site may frame the page (it can publish).
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

/** A 401's offer of Basic credentials: the browser asks its user for the key (any user name, the key as the password). */
export const BASIC_CHALLENGE: Readonly<Record<string, string>> = { 'www-authenticate': 'Basic realm="shardcast dashboard", charset="UTF-8"' };

/**
 * src/dashboard/page/, seen from this file: beside it when it runs uncompiled; from
 * dist/src/dashboard/ (tsc copies no .html, .js or .css out of src/), three levels up.
 */
function pageDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'page');
  return existsSync(beside) ? beside : join(here, '..', '..', '..', 'src', 'dashboard', 'page');
}

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/** Every file of the dashboard by URL path; throws if one is missing (a broken install shows at start). */
export function loadDashboardAssets(): ReadonlyMap<string, Asset> {
  const require = createRequire(import.meta.url);
  const page = pageDir();
  const msgpackr = dirname(require.resolve('msgpackr')); // its dist/ (the package exports no dist path)
  const files: Array<[string, string]> = [
    [DASHBOARD_PATH, join(page, 'index.html')],
    ...['dashboard.js', 'charts.js', 'panels.js', 'watch.js', 'dashboard.css'].map((f): [string, string] => [`/dashboard/assets/${f}`, join(page, f)]),
    ['/dashboard/assets/uPlot.iife.min.js', require.resolve('uplot/dist/uPlot.iife.min.js')],
    ['/dashboard/assets/uPlot.min.css', require.resolve('uplot/dist/uPlot.min.css')],
    ['/dashboard/assets/msgpackr.min.js', join(msgpackr, 'index-no-eval.min.js')],
  ];
  return new Map(files.map(([path, file]) => [path, { type: TYPES[file.slice(file.lastIndexOf('.') + 1)]!, body: readFileSync(file) }]));
}
