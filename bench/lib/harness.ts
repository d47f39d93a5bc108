/**
 * What every bench harness entry point (standard.ts, merge.ts) does around its measurement:
 * refuse bad options with exit 2, and at the end kill any server still running and say so
 * loudly if a child of ours outlived the run (a harness bug), then exit with main's code.
 */
import { processTree } from '../../src/bench/server-probe.js';
import { killAllServers } from './server-process.js';

/** A usage error: the message and the known options on stderr, exit 2. */
export function usageExit(known: readonly string[]): (message: string) => never {
  return (message) => {
    console.error(`${message}\noptions: ${known.map((k) => `--${k}`).join(' ')}`);
    process.exit(2);
  };
}

export function runHarness(main: () => Promise<number>): void {
  main()
    .then((code) => {
      killAllServers();
      const leftovers = processTree(process.pid).filter((p) => p !== process.pid);
      if (leftovers.length > 0) console.error(`warning: child processes still alive: ${leftovers.join(' ')}`);
      process.exit(code);
    })
    .catch((err: unknown) => {
      console.error(err);
      killAllServers();
      process.exit(1);
    });
}
