/**
 * Experiment (issue 9): RSS after the adversarial flood (test/adversarial.test.ts's short plan)
 * with merge windows off and on, alternating, same process build. The criterion is the soak's
 * own bound (baseline + rings + MEMORY_SLACK_BYTES).
 *
 *   node dist/bench/experiments/merge-flood-memory.js [--windows 0,20] [--repeats 2] [--flags "--history-size 0"]
 */
import { parseArgs } from 'node:util';
import { runSoak } from '../soak/run.js';
import { shortPlan } from '../soak/plans.js';

const { values } = parseArgs({ options: { windows: { type: 'string', default: '0,20' }, repeats: { type: 'string', default: '2' }, flags: { type: 'string', default: '' } } });
// more server flags for every run, e.g. --flags "--history-size 0"
const words = values.flags.split(/\s+/).filter(Boolean);
const extra: Record<string, string> = {};
for (let i = 0; i < words.length; i += 2) extra[words[i]!] = words[i + 1] ?? '';
const windows = values.windows.split(',').map(Number);
const mib = (b: number): string => `${(b / 1048576).toFixed(0)} MiB`;
for (let r = 0; r < Number(values.repeats); r++) {
  for (const w of windows) {
    const plan = { ...shortPlan(1), serverFlags: { ...extra, '--merge-ms': String(w) } };
    const result = await runSoak(plan);
    const m = result.memory;
    console.log(`W=${w} run ${r + 1}: RSS ${mib(m.baseline)} → peak ${mib(m.peak)} → after ${mib(m.after)} (bound ${mib(m.bound)}) ${m.after > m.bound ? 'OVER' : 'ok'}; accepted ${result.healthy?.ledger.accepted ?? 0}, ${result.seconds.toFixed(0)} s`);
  }
}
