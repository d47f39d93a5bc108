/**
 * The servers the standard scenarios (bench/standard.ts) start, as command lines on compiled output.
 * Shardcast itself is optional: it is reported as unavailable until dist/src/cli.js exists.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServerSpec } from './server-process.js';

export const ALL_TARGETS = ['uws-floor', 'shardcast-1', 'shardcast-2', 'ws-hub'] as const;
export type TargetName = (typeof ALL_TARGETS)[number];

/** dist/ of this build (this file is dist/bench/lib/targets.js). */
const distDir = fileURLToPath(new URL('../../', import.meta.url));

export function isTargetName(s: string): s is TargetName {
  return (ALL_TARGETS as readonly string[]).includes(s);
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
    case 'shardcast-2': {
      const cli = script('src/cli.js');
      if (!existsSync(cli)) return { unavailable: `${cli} does not exist (Shardcast not built yet)` };
      const workers = name === 'shardcast-1' ? '1' : '2';
      return {
        name,
        command: node,
        args: [cli, 'serve', '--host', host, '--port', String(port), '--workers', workers, '--api-key', apiKey],
      };
    }
  }
}

/** The command as a person would type it from the project root. */
export function displayCommand(spec: ServerSpec): string {
  const args = spec.args.map((a) => (a.startsWith(distDir) ? 'dist/' + a.slice(distDir.length) : a));
  return ['node', ...args].join(' ');
}
