/**
 * Which uWebSockets.js build can serve this Node, decided from facts alone (ABI, libc) so the
 * decision is testable on any machine; src/transport/uws.ts does the loading. Two builds ship:
 * the 20.30 build (`uWebSockets.js`, a dependency) has binaries for Node ≤ 20 and needs glibc
 * 2.27; the 20.57 build (`@btc-vision/uwebsockets.js`, optional, a republish of the official
 * binaries) covers Node 20/22/24/25 but every Linux binary needs glibc 2.38 (C23 `__isoc23_*`
 * symbols). Node 20 keeps the build it has always run on; newer Nodes can only use 20.57 — or
 * the official build from GitHub, which an `overrides` entry puts under the `uWebSockets.js` name,
 * hence that name is always tried last.
 */

export interface UwsBuild {
  /** The name the package is installed under. */
  readonly pkg: string;
  readonly version: string;
  /** `process.versions.modules` values the package has binaries for. */
  readonly abis: readonly number[];
  /** The oldest glibc its Linux binaries load on. */
  readonly minGlibc: string;
}

export const UWS_BUILDS: readonly UwsBuild[] = [
  { pkg: 'uWebSockets.js', version: '20.30', abis: [93, 108, 115], minGlibc: '2.27' },
  { pkg: '@btc-vision/uwebsockets.js', version: '20.57', abis: [115, 127, 137, 141], minGlibc: '2.38' },
];

export interface UwsHost {
  /** `process.versions.modules`. */
  readonly abi: number;
  /** glibc's runtime version, null when the C library is not glibc (musl) or unknown. */
  readonly glibc: string | null;
  readonly platform: string;
  readonly arch: string;
}

export interface UwsChoice {
  /** The build expected to load here, or null when none is. */
  readonly expected: UwsBuild | null;
  /** Package names to try, in order: the expected build first, `uWebSockets.js` always (an override may have replaced it). */
  readonly order: readonly string[];
}

/** glibc's runtime version from the process report (null on musl, off Linux, or when unknown). */
export function glibcVersion(): string | null {
  if (process.platform !== 'linux') return null;
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return header?.glibcVersionRuntime ?? null;
}

/** Compares dotted versions numerically: '2.38' > '2.4'. */
export function versionAtLeast(have: string, need: string): boolean {
  const a = have.split('.').map(Number);
  const b = need.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

function fits(build: UwsBuild, host: UwsHost): boolean {
  if (!build.abis.includes(host.abi)) return false;
  if (!['x64', 'arm64'].includes(host.arch)) return false;
  if (host.platform !== 'linux') return ['darwin', 'win32'].includes(host.platform);
  return host.glibc !== null && versionAtLeast(host.glibc, build.minGlibc);
}

export function chooseUws(host: UwsHost): UwsChoice {
  const expected = UWS_BUILDS.find((b) => fits(b, host)) ?? null;
  const withBinary = UWS_BUILDS.filter((b) => b.abis.includes(host.abi)).map((b) => b.pkg);
  const order = [...new Set([...(expected ? [expected.pkg] : []), ...withBinary, 'uWebSockets.js'])];
  return { expected, order };
}

/** The Node major a modules ABI belongs to, for messages. */
const NODE_OF_ABI: Record<number, number> = { 93: 16, 108: 18, 115: 20, 127: 22, 137: 24, 141: 25 };

/** The one sentence a user gets when no build loads: what this host is, then what would work. */
export function unsupportedMessage(host: UwsHost, nodeVersion: string): string {
  const libc = host.platform !== 'linux' ? '' : host.glibc === null ? ' with no glibc (musl?)' : ` with glibc ${host.glibc}`;
  const node = NODE_OF_ABI[host.abi] !== undefined ? `Node ${nodeVersion}` : `Node ${nodeVersion} (ABI ${host.abi}, which no bundled uWS build supports)`;
  return (
    `uWebSockets.js has no native binary that loads on ${node}${libc} (${host.platform}-${host.arch}): ` +
    'Node 22/24 need glibc ≥ 2.38 — Debian 13, Ubuntu 24.04 — or the official uWS.js from GitHub; ' +
    'Node 20 works everywhere with glibc ≥ 2.27.'
  );
}

/** Thrown when no build loads; its stack is its message, since a trace would only distract. */
export class UwsUnavailableError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'UwsUnavailableError';
    this.stack = `${this.name}: ${message}`;
  }
}
