/**
 * The standard scenarios of `npm run bench`: what each one asks of every target, at the
 * default size (the published results) and at `--quick` size (a sanity run of a couple of
 * minutes). Every scenario is one `shardcast bench` run (runBench) against a fresh server.
 */
import type { BenchInput } from '../../src/bench/options.js';

export const ALL_SCENARIOS = ['fanout', 'rooms', 'idle', 'slow', 'latency'] as const;
export type ScenarioName = (typeof ALL_SCENARIOS)[number];

export interface Scenario {
  readonly name: ScenarioName;
  readonly title: string;
  /** Everything but the URL, the API key and the server pid, which the harness fills in. */
  readonly input: Omit<BenchInput, 'url' | 'apiKey' | 'serverPid'>;
  /** Idle memory: server RSS is read this long after start, before any client connects. */
  readonly rssBaselineAfterMs?: number;
}

export function isScenarioName(s: string): s is ScenarioName {
  return (ALL_SCENARIOS as readonly string[]).includes(s);
}

/**
 * `fdLimit` is the per-process open-file limit: the bench process and each server hold one
 * descriptor per connection (plus their own few dozen), so idle connections stay 1,000 below it.
 */
export function scenarios(quick: boolean, fdLimit: number): Scenario[] {
  const idle = Math.max(100, Math.min(quick ? 2_000 : 20_000, (Number.isFinite(fdLimit) ? fdLimit : 11_000) - 1_000));
  const q = <T>(full: T, small: T): T => (quick ? small : full);
  return [
    {
      name: 'fanout',
      title: 'fan-out: 1 channel, closed loop',
      input: {
        connections: q(5_000, 1_000), channels: 1, inflight: 32, size: 128, durationMs: q(10_000, 3_000),
        drainMs: 30_000, rampPerSecond: 2_500,
      },
    },
    {
      name: 'rooms',
      title: 'rooms: 100 channels, closed loop',
      input: {
        connections: q(5_000, 1_000), channels: 100, inflight: 64, size: 128, durationMs: q(10_000, 3_000),
        drainMs: 30_000, rampPerSecond: 2_500,
      },
    },
    {
      name: 'idle',
      title: 'idle connections: server memory',
      // a message a second keeps them honest (every one must still be subscribed and reading)
      input: {
        connections: idle, channels: 1, rate: 1, size: 128, durationMs: q(5_000, 2_000), drainMs: 10_000,
        rampPerSecond: 2_500, connectTimeoutMs: 20_000,
      },
      rssBaselineAfterMs: q(3_000, 1_000),
    },
    {
      name: 'slow',
      title: 'slow consumers: 1% stop reading',
      // 16 KiB messages so the slow ones are sent far more than loopback's socket buffers hold
      // (~4 MB measured) plus a server's 1 MiB limit, at a load every target sustains
      input: {
        connections: q(1_000, 200), channels: 1, rate: q(25, 100), size: 16 * 1024, durationMs: q(20_000, 5_000),
        drainMs: 20_000, rampPerSecond: 2_500, slowFraction: 0.01,
      },
    },
    {
      name: 'latency',
      title: 'latency well below saturation',
      input: {
        connections: q(1_000, 200), channels: 10, rate: 100, size: 256, durationMs: q(30_000, 5_000), drainMs: 10_000,
        rampPerSecond: 2_500,
      },
    },
  ];
}

/** The `shardcast bench` flags that reproduce a scenario's run by hand. */
export function benchFlags(input: Scenario['input']): string[] {
  const out: string[] = [];
  const add = (flag: string, v: string | number | null | undefined): void => {
    if (v !== undefined && v !== null) out.push(flag, String(v));
  };
  add('--connections', input.connections);
  add('--channels', input.channels);
  add('--ramp', input.rampPerSecond);
  add('--rate', input.rate);
  add('--inflight', input.inflight);
  add('--size', input.size);
  add('--duration', input.durationMs == null ? null : `${input.durationMs / 1000}s`);
  add('--messages', input.messages);
  add('--drain', input.drainMs == null ? null : `${input.drainMs / 1000}s`);
  add('--connect-timeout', input.connectTimeoutMs == null ? null : `${input.connectTimeoutMs / 1000}s`);
  add('--slow-fraction', input.slowFraction);
  add('--token-secret', input.tokenSecret);
  if (input.format !== undefined && input.format !== 'json') add('--format', input.format);
  return out;
}
