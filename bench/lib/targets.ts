/**
 * The servers the standard scenarios (bench/standard.ts) start, as command lines on compiled output.
 * Shardcast itself is optional: it is reported as unavailable until dist/src/cli.js exists.
 *
 * The `-jwt` targets are Shardcast requiring a token (--jwt-secret), each bench connection
 * minting its own (--token-secret: a distinct user per connection); they run only when named
 * in --targets (idle memory per authenticated connection, issue 10).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchInput } from '../../src/bench/options.js';
import type { ServerSpec } from './server-process.js';

/** The default targets: what a full run compares. */
export const ALL_TARGETS = ['uws-floor', 'shardcast-1', 'shardcast-2', 'ws-hub'] as const;
/** Every target --targets may name (the default ones first: their ports do not move). */
export const KNOWN_TARGETS = [...ALL_TARGETS, 'shardcast-1-jwt', 'shardcast-2-jwt'] as const;
export type TargetName = (typeof KNOWN_TARGETS)[number];

/** The HS256 secret of the `-jwt` targets (a bench fixture, not a secret). */
const BENCH_JWT_SECRET = 'shardcast-bench-jwt-secret-0123456789';

/** dist/ of this build (this file is dist/bench/lib/targets.js). */
const distDir = fileURLToPath(new URL('../../', import.meta.url));

export function isTargetName(s: string): s is TargetName {
  return (KNOWN_TARGETS as readonly string[]).includes(s);
}

/** What the bench adds for this target: the `-jwt` ones mint a token per connection. */
export function targetBenchInput(name: TargetName): Pick<BenchInput, 'tokenSecret'> {
  return name.endsWith('-jwt') ? { tokenSecret: BENCH_JWT_SECRET } : {};
}

export function targetSpec(name: TargetName, host: string, port: number, apiKey: string): ServerSpec | { unavailable: string } {
  const node = process.execPath;
  const script = (rel: string): string => distDir + rel;
  switch (name) {
    case 'uws-floor':
      return { name, command: node, args: [script('bench/baselines/uws-floor.js'), '--host', host, '--port', String(port), '--api-key', apiKey] };
    case 'ws-hub':
      return { name, command: node, args: [script('bench/baselines/ws-hub.js'), '--host', host, '--port', String(port), '--api-key', apiKey] };
    case 'shardcast-1':
    case 'shardcast-2':
    case 'shardcast-1-jwt':
    case 'shardcast-2-jwt': {
      const cli = script('src/cli.js');
      if (!existsSync(cli)) return { unavailable: `${cli} does not exist (Shardcast not built yet)` };
      const workers = name.startsWith('shardcast-1') ? '1' : '2';
      const jwt = name.endsWith('-jwt') ? ['--jwt-secret', BENCH_JWT_SECRET] : [];
      return {
        name,
        command: node,
        args: [cli, 'serve', '--host', host, '--port', String(port), '--workers', workers, '--api-key', apiKey, ...jwt],
      };
    }
  }
}

/** The command as a person would type it from the project root. */
export function displayCommand(spec: ServerSpec): string {
  const args = spec.args.map((a) => (a.startsWith(distDir) ? 'dist/' + a.slice(distDir.length) : a));
  return ['node', ...args].join(' ');
}
