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
const extra = Object.fromEntries(values.flags.split(/\s+/).filter(Boolean).reduce<string[][]>((pairs, w, i, all) => (i % 2 === 0 ? [...pairs, [w, all[i + 1] ?? '']] : pairs), []));
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
