/** The two runs: a short one for the test suite, and the longer soak (`npm run soak`). */
import { SHORT_MIX, SOAK_MIX } from './attack-mix.js';
import type { SoakPlan } from './run.js';

const HEALTHY_CHANNELS = ['healthy:0', 'healthy:1', 'healthy:2', 'healthy:3'];

/** About 12 s of attack, ~35 s in all: the test suite's run. */
export function shortPlan(seed = 1): SoakPlan {
  return {
    attackMs: 12_000,
    seed,
    mix: SHORT_MIX,
    beforeMs: 2_000,
    afterMs: 2_000,
    healthy: { subscribers: 6, channels: HEALTHY_CHANNELS, intervalMs: 20, maxInflight: 4, padBytes: [0, 2000], probeIntervalMs: 500, drainMs: 10_000 },
    settleMinMs: 2_000,
    settleMs: 10_000,
  };
}

export function soakPlan(attackMs: number, seed = 1): SoakPlan {
  return {
    attackMs,
    seed,
    mix: SOAK_MIX,
    beforeMs: 3_000,
    afterMs: 5_000,
    healthy: { subscribers: 12, channels: HEALTHY_CHANNELS, intervalMs: 10, maxInflight: 8, padBytes: [0, 4000], probeIntervalMs: 500, drainMs: 20_000 },
    settleMinMs: 10_000,
    settleMs: 60_000,
  };
}
