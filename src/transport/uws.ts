/**
 * Loads uWebSockets.js and refuses the package's silent fallback: when the native binary
 * does not load for this Node build, the 20.30 package swaps in a slow `ws`-based shim, which
 * would make every performance property of Shardcast false. Better not to start. Which of the
 * bundled builds to try, and in what order, is decided in uws-choice.ts.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';
import { chooseUws, unsupportedMessage, UwsUnavailableError, type UwsHost } from './uws-choice.js';

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/** glibc's runtime version from the process report (null on musl or when unknown); read only on failure. */
function glibcVersion(): string | null {
  if (process.platform !== 'linux') return null;
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return header?.glibcVersionRuntime ?? null;
}

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

function load(): typeof UWS {
  const abi = Number(process.versions.modules);
  const { order } = chooseUws({ abi, glibc: null, platform: process.platform, arch: process.arch });
  const failures: string[] = [];
  for (const pkg of order) {
    const got = tryPackage(pkg);
    if (typeof got !== 'string') {
      uwsPackage = pkg;
      return got;
    }
    failures.push(got);
  }
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
