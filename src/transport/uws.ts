/**
 * Loads uWebSockets.js and refuses the package's silent fallback: when the native binary
 * does not load for this Node build, the 20.30 package swaps in a slow `ws`-based shim, which
 * would make every performance property of Shardcast false. Better not to start. Which of the
 * bundled builds to try, and in what order, is decided in uws-choice.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import type * as UWS from 'uWebSockets.js';
import { chooseUws, glibcVersion, unsupportedMessage, UwsUnavailableError, type UwsHost } from './uws-choice.js';

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/** One package, its console chatter captured; the module if its App is native, else why not. */
function tryPackage(pkg: string): typeof UWS | string {
  const warn = console.warn;
  const log = console.log;
  const said: string[] = [];
  console.warn = console.log = (...args: unknown[]) => void said.push(args.map(String).join(' '));
  try {
    const uws = require(pkg) as typeof UWS;
    if (String(uws.App).includes('[native code]')) return uws;
    return `${pkg}: fell back to its JavaScript shim. ${said.join(' ').trim()}`;
  } catch (err) {
    return `${pkg}: ${(err as Error).message}`;
  } finally {
    console.warn = warn;
    console.log = log;
  }
}

/** The package name the native build was loaded from (see UWS_BUILDS). */
export let uwsPackage = '';
/** Its version (package.json), e.g. `20.30.0-unofficial.0` or `20.57.0`. */
export let uwsVersion = '';

/**
 * The request-head limit of uWS builds from 20.5x on: a head above UWS_HTTP_MAX_HEADERS_SIZE
 * (default 4 KiB there) gets 431, where 20.30 took heads of about 64 KiB. 4 KiB would refuse
 * tokens that docs/protocol.md accepts (up to 8 KiB, in the query, a header or a subprotocol),
 * so unless the operator set it, the limit is 16 KiB, Node's own default. uWS reads the
 * variable once, when the binary is loaded — on the main thread (engine.ts imports this module
 * first), whose process.env writes reach the real environment; a worker's would not.
 */
const HEADERS_SIZE = '16384';

/** The version in the package.json nearest above a package's main file (its exports may hide package.json). */
function packageVersion(main: string): string {
  for (let dir = dirname(main); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? '';
  }
  return '';
}

function load(): typeof UWS {
  if (isMainThread) process.env['UWS_HTTP_MAX_HEADERS_SIZE'] ??= HEADERS_SIZE;
  const abi = Number(process.versions.modules);
  const { order } = chooseUws({ abi, glibc: null, platform: process.platform, arch: process.arch });
  const failures: string[] = [];
  for (const pkg of order) {
    const got = tryPackage(pkg);
    if (typeof got !== 'string') {
      uwsPackage = pkg;
      uwsVersion = packageVersion(require.resolve(pkg));
      return got;
    }
    failures.push(got);
  }
  // glibc read only on failure: the process report is slow
  const host: UwsHost = { abi, glibc: glibcVersion(), platform: process.platform, arch: process.arch };
  const fallbackForced = ['true', 'True', 'TRUE', '1'].includes(process.env['UWS_USE_FALLBACK'] ?? '');
  const message = fallbackForced
    ? 'UWS_USE_FALLBACK asks uWebSockets.js for its slow JavaScript shim, which Shardcast refuses to run on; unset it.'
    : unsupportedMessage(host, process.version);
  throw new UwsUnavailableError(message, new Error(failures.join('\n')));
}

export const uws = load();

/** `app.close()` exists in the v20.30 binary but not in its type definitions. */
export function closeApp(app: UWS.TemplatedApp): void {
  (app as unknown as { close(): void }).close();
}
