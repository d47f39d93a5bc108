/**
 * runSoak — one adversarial run, start to end:
 *
 *  1. the server as a child process (`node dist/src/cli.js serve --port 0 …`, settings.ts), so
 *     that its memory is its own; its RSS is sampled from /proc all along;
 *  2. the healthy thread: subscribers on ≥ 2 shards, then a steady HTTP stream and /healthz
 *     probes — `before` the attack (the memory baseline is taken here), during it, and after;
 *  3. the attacker threads (WebSocket attacks spread over `mix.threads`, HTTP abuse in one
 *     more), each stopping by itself at the attack's end time and posting its tally;
 *  4. the healthy verdict once the stream has drained; then memory must come back under
 *     the bound; then the server's counters, and SIGTERM (it must exit 0).
 *
 * Every step has a deadline, and the finally block ends every thread and the server whatever
 * happened. The result is plain data: verdict.ts judges it, summary.ts prints it.
 */
import { fileURLToPath } from 'node:url';
import { ServerProcess, type StopResult } from '../lib/server-process.js';
import type { AttackMix } from './attack-mix.js';
import type { AttackerInit, AttackerMessage } from './attacker-thread.js';
import type { HealthyInit, HealthyMessage, HealthyResult } from './healthy-protocol.js';
import { RssSampler, type RssSample } from './rss-sampler.js';
import { API_KEY, HEALTHY_ADDRESS, HTTP_IDLE_CLOSE_MS, MAX_PAYLOAD, MAX_SUBSCRIPTIONS, MEMORY_SLACK_BYTES, RINGS_BYTES, SHARDS, attackerAddress, serverArgs } from './settings.js';
import { SoakThread } from './soak-thread.js';
import { Tally, type TallyData } from './tally.js';

export interface SoakPlan {
  readonly attackMs: number;
  readonly seed: number;
  readonly mix: AttackMix;
  /** Healthy stream alone before the attack (the memory baseline is its last samples). */
  readonly beforeMs: number;
  /** Healthy stream after the attack: the server must still accept and deliver. */
  readonly afterMs: number;
  readonly healthy: Pick<HealthyInit, 'subscribers' | 'channels' | 'intervalMs' | 'maxInflight' | 'padBytes' | 'probeIntervalMs' | 'drainMs'>;
  /** After the healthy stream ends: RSS is judged no sooner than settleMinMs, and no later than settleMs. */
  readonly settleMinMs: number;
  readonly settleMs: number;
  /**
   * Attack kinds to leave out (parts of their names, e.g. "deep"): to see how the server
   * fares on everything else while one known problem is open. The summary names them.
   */
  readonly skip?: readonly string[];
  /** Extra or changed server flags (settings.ts has the run's own). */
  readonly serverFlags?: Readonly<Record<string, string>>;
  readonly progress?: (line: string) => void;
}

export interface MemoryFigures {
  baseline: number;
  /** Medians around the middle of the attack and over its last tenth: a leak keeps growing between them. */
  midAttack: number;
  endAttack: number;
  peak: number;
  after: number;
  bound: number;
  /** ms from the end of the healthy stream until RSS was under the bound (null: never). */
  settledMs: number | null;
  samples: RssSample[];
}

export interface StatsShape {
  liveShards: number;
  connections: number;
  totals: Record<string, number>;
  main: Record<string, number>;
}

export interface SoakResult {
  plan: Omit<SoakPlan, 'progress'>;
  command: string;
  startedAt: string;
  seconds: number;
  attack: TallyData;
  /** Each attacker thread's run time in ms. */
  attackerMs: number[];
  healthy: HealthyResult | null;
  memory: MemoryFigures;
  server: {
    aliveAfterAttack: boolean;
    statsBefore: StatsShape | null;
    statsAfter: StatsShape | null;
    stop: StopResult | null;
    /** Lines of the server's output that report faults or errors. */
    errorLines: string[];
  };
  /** What went wrong in the harness itself (a thread that failed, a step past its deadline). */
  errors: string[];
}

const START_TIMEOUT_MS = 20_000;
const READY_TIMEOUT_MS = 60_000;
/** Beyond the attack's end: attackers wait up to 15 s for answers still due, then close. */
const ATTACKER_GRACE_MS = Math.max(45_000, HTTP_IDLE_CLOSE_MS + 15_000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runSoak(plan: SoakPlan): Promise<SoakResult> {
  const { progress, ...planData } = plan;
  const say = progress ?? ((): void => {});
  const started = Date.now();
  const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
  const spec = { name: 'shardcast', command: process.execPath, args: serverArgs(cli, plan.serverFlags) };
  const command = ['node', 'dist/src/cli.js', ...spec.args.slice(1)].join(' ');
  const errors: string[] = [];
  const attack = new Tally();
  const attackerMs: number[] = [];
  const memory: MemoryFigures = { baseline: 0, midAttack: 0, endAttack: 0, peak: 0, after: 0, bound: 0, settledMs: null, samples: [] };
  const result: SoakResult = {
    plan: planData, command, startedAt: new Date(started).toISOString(), seconds: 0, attack: attack.data, attackerMs, healthy: null, memory,
    server: { aliveAfterAttack: false, statsBefore: null, statsAfter: null, stop: null, errorLines: [] }, errors,
  };
  let server: ServerProcess | null = null;
  let sampler: RssSampler | null = null;
  const threads: Array<SoakThread<{ type: string }>> = [];
  try {
    server = await ServerProcess.start(spec, '127.0.0.1', 0, START_TIMEOUT_MS);
    const port = server.port;
    say(`server pid ${server.pid} on port ${port}: ${command}`);
    sampler = new RssSampler(server.pid);
    sampler.start();

    const healthy = new SoakThread<HealthyMessage>('healthy thread', new URL('./healthy-thread.js', import.meta.url), {
      ...plan.healthy, port, apiKey: API_KEY, localAddress: HEALTHY_ADDRESS, seed: plan.seed, minShards: SHARDS,
    } satisfies HealthyInit);
    threads.push(healthy);
    const ready = await healthy.receive('ready', READY_TIMEOUT_MS);
    say(`${ready.shards.length} healthy subscribers on shards ${[...new Set(ready.shards)].sort().join(', ')}`);

    sampler.phase = 'before';
    healthy.post({ type: 'start' });
    await sleep(plan.beforeMs);
    memory.baseline = sampler.settled('before');
    result.server.statsBefore = await stats(port);

    const endsAt = Date.now() + plan.attackMs;
    const attackT0 = sampler.now();
    sampler.phase = 'attack';
    healthy.post({ type: 'phase', phase: 'attack' });
    say(`attack for ${(plan.attackMs / 1000).toFixed(0)} s (seed ${plan.seed}); baseline RSS ${mib(memory.baseline)}`);
    const attackers: Array<SoakThread<AttackerMessage>> = [];
    const base = { port, apiKey: API_KEY, endsAt, mix: plan.mix, maxPayload: MAX_PAYLOAD, maxSubscriptions: MAX_SUBSCRIPTIONS, skip: [...(plan.skip ?? [])] };
    for (let t = 0; t <= plan.mix.threads; t++) {
      const role = t < plan.mix.threads ? 'ws' : 'http';
      const init: AttackerInit = { ...base, role, thread: t, localAddress: attackerAddress(t), seed: plan.seed * 100 + t };
      attackers.push(new SoakThread<AttackerMessage>(`attacker ${t} (${role})`, new URL('./attacker-thread.js', import.meta.url), init));
    }
    threads.push(...attackers);
    const ticker = setInterval(() => {
      const left = Math.max(0, endsAt - Date.now());
      say(`  attack: ${((plan.attackMs - left) / 1000).toFixed(0)} s, server RSS ${mib(sampler?.samples.at(-1)?.bytes ?? 0)}${server?.running ? '' : ' — SERVER EXITED'}`);
    }, 10_000);
    try {
      const settled = await Promise.allSettled(attackers.map((a) => a.receive('done', plan.attackMs + ATTACKER_GRACE_MS)));
      for (const s of settled) {
        if (s.status === 'fulfilled') {
          attack.merge(s.value.tally);
          attackerMs.push(s.value.ms);
        } else {
          errors.push(String((s.reason as Error).message));
        }
      }
    } finally {
      clearInterval(ticker);
    }
    result.server.aliveAfterAttack = server.running;
    memory.peak = sampler.peak('attack');
    memory.midAttack = sampler.medianBetween(attackT0 + 0.45 * plan.attackMs, attackT0 + 0.55 * plan.attackMs);
    memory.endAttack = sampler.medianBetween(attackT0 + 0.9 * plan.attackMs, attackT0 + plan.attackMs);

    sampler.phase = 'after';
    healthy.post({ type: 'phase', phase: 'after' });
    say(`attack over; peak RSS ${mib(memory.peak)}; healthy stream goes on for ${(plan.afterMs / 1000).toFixed(0)} s`);
    await sleep(plan.afterMs);
    healthy.post({ type: 'stop' });
    result.healthy = (await healthy.receive('result', plan.healthy.drainMs + 30_000)).result;

    // memory: back under the bound once the attack's connections are gone
    sampler.phase = 'settle';
    memory.bound = memory.baseline + RINGS_BYTES + MEMORY_SLACK_BYTES;
    const settleStart = Date.now();
    await sleep(plan.settleMinMs);
    for (;;) {
      const rss = sampler.sample();
      if (rss !== null) memory.after = rss;
      if (rss !== null && rss <= memory.bound) {
        memory.settledMs = Date.now() - settleStart;
        break;
      }
      if (rss === null || Date.now() - settleStart > plan.settleMs) break;
      await sleep(250);
    }
    result.server.statsAfter = await stats(port);
  } catch (err) {
    errors.push(err instanceof Error ? err.message : String(err));
  } finally {
    sampler?.stop();
    await Promise.all(threads.map((t) => t.stop().catch(() => {})));
    if (server !== null) {
      result.server.stop = await server.stop(15_000).catch((err: Error) => {
        errors.push(`stopping the server: ${err.message}`);
        return null;
      });
      server.killNow();
      result.server.errorLines = server.tail.split('\n').filter((l) => / (error|warn) /.test(l)).slice(-20);
    }
    memory.samples = sampler?.samples ?? [];
    result.seconds = (Date.now() - started) / 1000;
  }
  return result;
}

async function stats(port: number): Promise<StatsShape | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/stats`, { headers: { authorization: `Bearer ${API_KEY}` }, signal: AbortSignal.timeout(10_000) });
    return res.ok ? ((await res.json()) as StatsShape) : null;
  } catch {
    return null;
  }
}

export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
