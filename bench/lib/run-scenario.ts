/**
 * One scenario against one target: start the server as a child process, (idle memory: read
 * its RSS before anyone connects), drive it with the bench client (`runBench`, with the
 * server's pid so its CPU and RSS come from /proc), then stop it with SIGTERM and confirm it
 * exited (SIGKILL after a bound). Every step has a deadline and every error path kills what
 * it started, so one misbehaving target cannot hang or poison the runs after it.
 */
import { wantsColor } from '../../src/bench/format.js';
import { sleep } from '../../src/bench/clock.js';
import { Progress } from '../../src/bench/progress.js';
import type { BenchReport } from '../../src/bench/report.js';
import { runBench } from '../../src/bench/run.js';
import { sampleTree } from '../../src/bench/server-probe.js';
import { loadAverage } from './machine.js';
import { benchFlags, type Scenario } from './scenarios.js';
import { ServerProcess, type StopResult } from './server-process.js';
import { displayCommand, targetBenchInput, targetSpec, type TargetName } from './targets.js';

export interface ScenarioRun {
  /** A standard scenario's name, or another harness's name for its load. */
  readonly scenario: string;
  readonly target: TargetName;
  readonly serverCommand: string;
  /** The same load by hand: `node dist/src/cli.js bench …` (the harness calls runBench in-process). */
  readonly benchCommand: string;
  /** 1-, 5- and 15-minute load average when the run started (the box is shared). */
  readonly loadAverage: string;
  readonly report: BenchReport | null;
  /** Idle memory: server RSS before the first connection. */
  readonly rssBaselineBytes: number | null;
  readonly stop: StopResult | null;
  readonly error: string | null;
  /** The server's last output, kept when something went wrong. */
  readonly serverOutput: string;
  readonly seconds: number;
  /** What the context's meter counted over the measured part of the run (null: no meter, or it failed). */
  readonly metered?: Readonly<Record<string, number>> | null;
}

export interface RunContext {
  readonly host: string;
  readonly apiKey: string;
  readonly port: number;
  /** Extra server flags after the target's own (e.g. `--merge-ms 5`). */
  readonly serverArgs?: readonly string[];
  /** Counts something about the server process over the measured part (publishing through the drain). */
  readonly meter?: (pid: number) => Meter;
}

/** Started just before the first publish and stopped right after the drain. */
export interface Meter {
  start(): Promise<void>;
  /** The counts; null when nothing could be counted. */
  stop(): Promise<Record<string, number> | null>;
}

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
/** Beyond runBench's own bounds (ramp + connect timeout + duration + drain + close): a backstop. */
const BACKSTOP_SLACK_MS = 60_000;

export async function runScenario(s: Scenario | (Omit<Scenario, 'name'> & { name: string }), target: TargetName, ctx: RunContext): Promise<ScenarioRun> {
  const started = Date.now();
  const base = { scenario: s.name, target, loadAverage: loadAverage() };
  const url = `ws://${ctx.host}:${ctx.port}/ws`;
  const base0 = targetSpec(target, ctx.host, ctx.port, ctx.apiKey);
  const spec = 'unavailable' in base0 ? base0 : { ...base0, args: [...base0.args, ...(ctx.serverArgs ?? [])] };
  const input = { ...s.input, ...targetBenchInput(target) };
  const benchCommand = ['node dist/src/cli.js bench', url, ...benchFlags(input), '--api-key', ctx.apiKey, '--server-pid', 'PID'].join(' ');
  if ('unavailable' in spec) {
    return { ...base, serverCommand: '', benchCommand, report: null, rssBaselineBytes: null, stop: null, error: spec.unavailable, serverOutput: '', seconds: 0 };
  }
  let server: ServerProcess | null = null;
  let report: BenchReport | null = null;
  let rssBaselineBytes: number | null = null;
  let stop: StopResult | null = null;
  let error: string | null = null;
  let meter: Meter | null = null;
  let metered: Record<string, number> | null = null;
  const progress = new Progress(process.stderr, wantsColor(process.stderr));
  try {
    server = await ServerProcess.start(spec, ctx.host, ctx.port, START_TIMEOUT_MS);
    if (s.rssBaselineAfterMs !== undefined) {
      await sleep(s.rssBaselineAfterMs); // start-up allocations (JIT, worker threads) settle first
      rssBaselineBytes = sampleTree(server.pid)?.rssBytes ?? null;
    }
    meter = ctx.meter?.(server.pid) ?? null;
    const controller = new AbortController();
    const backstop = setTimeout(() => controller.abort(), boundMs(s) + BACKSTOP_SLACK_MS);
    try {
      report = await runBench({ ...input, url, apiKey: ctx.apiKey, serverPid: server.pid }, {
        signal: controller.signal,
        command: benchCommand.replace(/^node dist\/src\/cli\.js /, '').replace('PID', String(server.pid)),
        onStatus: progress.enabled ? (st) => progress.update(st) : undefined,
        onMeasure: meter === null ? undefined : async (edge) => {
          if (edge === 'start') await meter!.start();
          else metered = await meter!.stop();
        },
      });
    } finally {
      clearTimeout(backstop);
      progress.clear();
    }
    if (controller.signal.aborted) error = `did not finish within ${((boundMs(s) + BACKSTOP_SLACK_MS) / 1000).toFixed(0)} s; aborted`;
    stop = await server.stop(STOP_TIMEOUT_MS);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    if (meter !== null && metered === null) await meter.stop().catch(() => null); // a run cut short: never leave it counting
    if (server?.running) {
      // Still try the clean path once, so the results say whether SIGTERM works.
      if (stop === null) stop = await server.stop(10_000).catch(() => null);
      server.killNow();
    }
  }
  const unclean = stop === null || stop.forced || stop.code !== 0 || stop.orphans > 0;
  return {
    ...base, serverCommand: displayCommand(spec), benchCommand, report, rssBaselineBytes, stop, error,
    serverOutput: error !== null || unclean ? server?.tail ?? '' : '', seconds: (Date.now() - started) / 1000,
    ...(ctx.meter ? { metered } : {}),
  };
}

/** How long runBench may take at most by its own rules (ramp, connect timeout, publishing, drain). */
export function boundMs(s: Pick<Scenario, 'input'>): number {
  const i = s.input;
  const ramp = ((i.connections ?? 1000) / (i.rampPerSecond ?? 1000)) * 1000 + (i.connectTimeoutMs ?? 10_000);
  const publish = i.durationMs ?? 60_000;
  return ramp + publish + (i.drainMs ?? 5_000) + 10_000;
}
