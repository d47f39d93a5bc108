/**
 * `npm run bench`: the foundation's benchmarks in one command, one after the other so they
 * never share the cores — the ring against postMessage, then fan-out and idle memory for
 * Shardcast (1 and 2 shards) against the uWS floor and the ws hub. Arguments after `--` go
 * to the fan-out run (e.g. `npm run bench -- --clients 2000 --messages 500`).
 * Results: bench/RESULTS.md (fan-out section rewritten), raw JSON in bench/out/.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

function run(what: string, script: string, args: readonly string[]): void {
  process.stdout.write(`\n=== ${what}: node ${script} ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [here(script), ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`${what} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(1);
  }
}

run('ring', './ring.js', ['--json', fileURLToPath(new URL('../../bench/out/ring.json', import.meta.url))]);
run('fan-out and idle memory', './fanout.js', process.argv.slice(2));
