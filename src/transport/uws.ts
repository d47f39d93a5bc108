/**
 * Loads uWebSockets.js and refuses the package's silent fallback: when the native binary
 * does not load for this Node build, the package swaps in a slow `ws`-based shim, which
 * would make every performance property of Shardcast false. Better not to start.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';

const require = createRequire(import.meta.url);

function load(): typeof UWS {
  const warn = console.warn;
  const log = console.log;
  const said: string[] = [];
  // the package announces its fallback on the console; capture it for our own error
  console.warn = console.log = (...args: unknown[]) => void said.push(args.map(String).join(' '));
  let uws: typeof UWS;
  try {
    uws = require('uWebSockets.js') as typeof UWS;
  } finally {
    console.warn = warn;
    console.log = log;
  }
  if (!String(uws.App).includes('[native code]')) {
    throw new Error(
      'uWebSockets.js could not load its native binary on this machine ' +
        `(node ${process.version}, ABI ${process.versions.modules}, ${process.platform}-${process.arch}) ` +
        'and fell back to a slow JavaScript shim; Shardcast refuses to run on it. ' +
        'Use Node 20 on linux-x64/arm64 with glibc, and do not set UWS_USE_FALLBACK. ' +
        (said.length > 0 ? `The package said: ${said.join(' ').trim()}` : ''),
    );
  }
  return uws;
}

export const uws = load();

/** `app.close()` exists in the v20.30 binary but not in its type definitions. */
export function closeApp(app: UWS.TemplatedApp): void {
  (app as unknown as { close(): void }).close();
}
