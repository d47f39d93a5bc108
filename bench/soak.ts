/**
 * `npm run soak`: the adversarial run (bench/soak/) for longer than the test suite's, with a
 * printed summary — attacks by kind, server answers by kind, refusals by code, server RSS
 * before / peak / after, the healthy ledger — and exit code 0 if it passed, 1 if not.
 *
 *   node dist/bench/soak.js [--duration 120s] [--seed 1] [--json FILE] [--skip KIND …] [--flag=--name=value …]
 *
 * --skip leaves out bad-frame and HTTP-abuse kinds whose name contains KIND (e.g. --skip deep).
 * --flag adds or overrides a server flag for this run (e.g. --flag=--client-publish-rate=100);
 * the run's own flags are in bench/soak/settings.ts.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { killAllServers } from './lib/server-process.js';
import { soakPlan } from './soak/plans.js';
import { runSoak } from './soak/run.js';
import { summary } from './soak/summary.js';
import { failures } from './soak/verdict.js';

function duration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (m === null) throw new Error(`--duration: give e.g. 120s, 2m or 90000ms, not "${s}"`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '120s' },
    seed: { type: 'string', default: '1' },
    json: { type: 'string' },
    flag: { type: 'string', multiple: true },
    skip: { type: 'string', multiple: true },
  },
});
const serverFlags: Record<string, string> = {};
for (const f of values.flag ?? []) {
  const eq = f.indexOf('=');
  if (!f.startsWith('--') || eq < 0) throw new Error(`--flag takes --name=value (written --flag=--name=value), got "${f}"`);
  serverFlags[f.slice(0, eq)] = f.slice(eq + 1);
}
const plan = { ...soakPlan(duration(values.duration!), Number(values.seed)), serverFlags, skip: values.skip ?? [], progress: (l: string) => process.stderr.write(`${l}\n`) };
try {
  const result = await runSoak(plan);
  process.stdout.write(`${summary(result)}\n`);
  if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2));
  process.exitCode = failures(result).length === 0 ? 0 : 1;
} finally {
  killAllServers();
}
