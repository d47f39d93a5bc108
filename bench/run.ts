/**
 * `npm run bench`: the benchmarks in one command, one after the other so they never share the
 * cores — the ring against postMessage (bench/ring.ts), then the standard scenarios with the
 * bench client against Shardcast (1 and 2 shards), the uWS floor and the ws hub
 * (bench/standard.ts). Arguments after `--` go to the standard scenarios, e.g.
 *
 *   npm run bench -- --quick                          # ~2-minute sanity run (the ring bench shortened too)
 *   npm run bench -- --scenarios slow,latency --targets shardcast-1,uws-floor
 *   npm run bench -- --scenarios ring                 # the ring bench alone
 *   npm run bench -- --node /opt/node-24/bin/node     # every bench process under another Node
 *
 * "ring" counts as a scenario for --scenarios: left out of an explicit list, it is skipped.
 * Results: bench/RESULTS.md (the generated section, after a full default run), raw JSON in bench/out/.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

function run(what: string, script: string, args: readonly string[]): void {
  process.stdout.write(`\n=== ${what}: ${node === process.execPath ? 'node' : node} dist/bench/${script.replace('./', '')} ${args.join(' ')}\n`);
  // the child runs under `node`, and so do the servers and load threads it starts (process.execPath)
  const r = spawnSync(node, [here(script), ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`${what} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(1);
  }
}

const args = process.argv.slice(2);
const quick = args.includes('--quick') || args.includes('--quick=true');
let scenarios: string[] | null = null;
let node = process.execPath;
const rest: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--scenarios' && i + 1 < args.length) scenarios = args[++i]!.split(',').map((s) => s.trim());
  else if (a.startsWith('--scenarios=')) scenarios = a.slice('--scenarios='.length).split(',').map((s) => s.trim());
  else if (a === '--node' && i + 1 < args.length) node = args[++i]!;
  else if (a.startsWith('--node=')) node = a.slice('--node='.length);
  else rest.push(a);
}
if (node !== process.execPath) {
  const v = spawnSync(node, ['--version'], { encoding: 'utf8' });
  if (v.status !== 0) {
    process.stderr.write(`bench: --node ${node} does not run (${v.error?.message ?? v.stderr.trim()})\n`);
    process.exit(2);
  }
  process.stdout.write(`bench: every process runs under ${node} (${v.stdout.trim()}); this process is ${process.version}\n`);
}
const standard = scenarios?.filter((s) => s !== 'ring') ?? null;

if (scenarios === null || scenarios.includes('ring')) {
  const ringJson = fileURLToPath(new URL(`../../bench/out/ring${quick ? '-quick' : ''}.json`, import.meta.url));
  // Power-of-two counts: whole batches of 64 frames and of 1,024-frame acknowledgements.
  const size = quick ? ['--frames', '1048576', '--post-frames', '262144', '--iterations', '2000'] : [];
  run('ring', './ring.js', ['--json', ringJson, ...size]);
}
if (standard === null || standard.length > 0) {
  run('standard scenarios', './standard.js', [...(standard === null ? [] : ['--scenarios', standard.join(',')]), ...rest]);
}
