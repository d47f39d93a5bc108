/**
 * `runBench(options)`: one whole bench run, start to report.
 *
 *   ramp      load threads open and subscribe the connections (bounded: N / ramp + connect timeout)
 *   publish   open or closed loop through the chosen ingress   (bounded: --duration, or derived)
 *   drain     until every expected delivery arrived            (bounded: --drain)
 *   close     every connection closed, the pool destroyed      (bounded: a few seconds)
 *
 * Only bad options throw (BenchUsageError). Everything the target does wrong — refusing
 * connections, closing them, refusing publishes, not answering — is counted and reported, and
 * the report's `outcome` says whether the run could measure anything.
 */
import { performance } from 'node:perf_hooks';
import { sleep, wallMs } from './clock.js';
import { assembleReport, type RunFacts } from './assemble.js';
import { createIngress, type PublishIngress } from './ingress.js';
import { LoadPool, type LiveCounters, type Subscribers } from './load-pool.js';
import { resolveBenchOptions, type BenchInput, type BenchOptions } from './options.js';
import { Publisher, type SendOutcome } from './publisher.js';
import type { BenchReport } from './report.js';
import { sampleServer, type ProbeSample } from './server-probe.js';
import { Timeline } from './timeline.js';

export type Phase = 'connecting' | 'publishing' | 'draining' | 'closing';

/** What the live display shows; see progress.ts. */
export interface LiveStatus {
  readonly phase: Phase;
  readonly options: BenchOptions;
  /** Since the run started, and since publishing started (null before). */
  readonly elapsedMs: number;
  readonly publishingMs: number | null;
  readonly live: LiveCounters;
  readonly attempted: number;
  readonly accepted: number;
  readonly refused: number;
  readonly expected: number | null;
  readonly deliveriesPerSecond: number;
  readonly p99: number;
}

export interface RunHooks {
  /** Aborting ends the run early, still with a report (outcome "aborted"). */
  readonly signal?: AbortSignal;
  /** Called every `statusEveryMs` (default 250) while the run lasts. */
  readonly onStatus?: (s: LiveStatus) => void;
  readonly statusEveryMs?: number;
  /** The command line to record in the report. */
  readonly command?: string;
  /**
   * Awaited at the edges of the measured part: 'start' just before the server is first
   * sampled (before the first publish), 'end' after the drain, before it is sampled again.
   * For a harness that counts something else over exactly that span (e.g. system calls).
   */
  readonly onMeasure?: (edge: 'start' | 'end') => Promise<void> | void;
}

const STOP_TIMEOUT_MS = 5000;
const DRAIN_POLL_MS = 20;
/** Slack over the ramp's own bound before the run gives up waiting for stragglers. */
const RAMP_SLACK_MS = 2000;
/** Slow consumers are settled when all are closed, caught up, or received nothing new for this long. */
const SLOW_QUIET_MS = 1000;

export async function runBench(input: BenchInput, hooks: RunHooks = {}): Promise<BenchReport> {
  const o = resolveBenchOptions(input);
  const { signal } = hooks;
  const startedAt = new Date();
  const runStartAt = wallMs();
  const warnings: string[] = [];
  if (o.target.tls?.verify === false) warnings.push('TLS certificates were not verified (--insecure)');
  const pool = LoadPool.start({
    targets: o.targets, connections: o.connections, channels: o.channels, channelPrefix: o.channelPrefix,
    rampPerSecond: o.rampPerSecond, threads: o.threads, connectTimeoutMs: o.connectTimeoutMs, format: o.format,
    slowConnections: o.slowConnections, reconnectConnections: o.reconnectConnections, reconnectAtMs: o.reconnectAtMs,
    reconnectDelayMs: o.reconnectDelayMs,
  });
  let publisher: Publisher | null = null;
  let ingress: PublishIngress | null = null;
  let phase: Phase = 'connecting';
  let subscribers: Subscribers | null = null;
  let publishStartAt: number | null = null;
  let publishEndAt: number | null = null;
  let drainEndAt: number | null = null;
  let sendOutcome: SendOutcome | 'not-started' = 'not-started';
  let drainTimedOut = false;
  let cpuMicros = 0;
  let publisherUtilization = 0;
  let probeBefore: ProbeSample | null = null;
  let probeAfter: ProbeSample | null = null;
  let failure: string | null = null;
  const timeline = new Timeline(pool, () => publisher?.accepted ?? 0);
  const expectedNow = (): number => (subscribers === null || publisher === null ? 0 : expected(publisher, subscribers.healthy));

  const status = (): LiveStatus => ({
    phase, options: o, elapsedMs: wallMs() - runStartAt, publishingMs: publishStartAt === null ? null : wallMs() - publishStartAt,
    live: pool.live(), attempted: publisher?.attempted ?? 0, accepted: publisher?.accepted ?? 0,
    refused: publisher === null ? 0 : Object.values(publisher.refused).reduce((a, b) => a + b, 0),
    expected: subscribers === null ? null : expectedNow(),
    deliveriesPerSecond: timeline.lastDeliveriesPerSecond, p99: timeline.lastP99,
  });
  const statusTimer = hooks.onStatus ? setInterval(() => hooks.onStatus!(status()), hooks.statusEveryMs ?? 250) : null;

  try {
    timeline.start();
    const rampBoundMs = (o.connections / o.rampPerSecond) * 1000 + o.connectTimeoutMs + RAMP_SLACK_MS;
    const ready = await pool.whenReady(rampBoundMs, signal);
    if (!ready && !signal?.aborted) {
      warnings.push(`the ramp had not settled after ${(rampBoundMs / 1000).toFixed(1)} s; publishing to the connections that were ready`);
    }
    if (signal?.aborted) return await finish('aborted');
    if (pool.live().open === 0) return await finish('nothing-connected');

    ingress = createIngress(o);
    try {
      await ingress.open();
    } catch (err) {
      warnings.push(`could not open the ${o.publish.toUpperCase()} publisher: ${(err as Error).message}`);
      return await finish('no-publisher');
    }

    await hooks.onMeasure?.('start');
    probeBefore = await sampleServer({ pids: o.serverPids, httpUrls: o.statsUrls, apiKey: o.apiKey, tls: o.target.tls ?? null });
    publishStartAt = wallMs();
    subscribers = await pool.startMeasuring(o.channels, publishStartAt);
    timeline.restart(publishStartAt); // the ramp's last partial second ends here: t = 0
    const cpu0 = process.cpuUsage();
    const elu0 = performance.eventLoopUtilization();
    phase = 'publishing';
    publisher = new Publisher(ingress, {
      channels: o.channels, channelPrefix: o.channelPrefix, size: o.size, rate: o.rate, inflight: o.inflight,
      messages: o.messages, limitMs: o.publishLimitMs,
    });
    sendOutcome = await publisher.run(signal);
    publishEndAt = wallMs();
    pool.endMeasuring();
    publisherUtilization = performance.eventLoopUtilization(performance.eventLoopUtilization(), elu0).utilization;

    phase = 'draining';
    const drainDeadline = publishEndAt + o.drainMs;
    const pub = publisher;
    const subs = subscribers;
    let slowSeen = -1;
    let slowQuietSince = publishEndAt;
    while (!signal?.aborted) {
      const live = pool.live();
      if (live.slowDelivered !== slowSeen) {
        slowSeen = live.slowDelivered;
        slowQuietSince = wallMs();
      }
      const slowSettled = o.slowConnections === 0 || live.slowOpen === 0 || live.slowDelivered >= expected(pub, subs.slow) ||
        wallMs() - slowQuietSince >= SLOW_QUIET_MS;
      if (pub.outstanding === 0 && live.delivered >= expected(pub, subs.healthy) && slowSettled) break;
      if (wallMs() >= drainDeadline) {
        drainTimedOut = true;
        break;
      }
      await sleep(DRAIN_POLL_MS);
    }
    ingress.close(); // anything still unanswered resolves as NO_ANSWER
    await pub.idle();
    drainEndAt = wallMs();
    const cpu = process.cpuUsage(cpu0);
    cpuMicros = cpu.user + cpu.system;
    await hooks.onMeasure?.('end');
    probeAfter = await sampleServer({ pids: o.serverPids, httpUrls: o.statsUrls, apiKey: o.apiKey, tls: o.target.tls ?? null });
    return await finish(signal?.aborted ? 'aborted' : 'ran');
  } catch (err) {
    // A bug, not a finding about the target: still clean up and report what was measured.
    failure = err instanceof Error ? err.message : String(err);
    return await finish('internal-error');
  } finally {
    if (statusTimer !== null) clearInterval(statusTimer);
    ingress?.close();
    await pool.destroy();
  }

  async function finish(how: RunFacts['how']): Promise<BenchReport> {
    phase = 'closing';
    hooks.onStatus?.(status());
    timeline.stop();
    const results = await pool.stop(STOP_TIMEOUT_MS);
    await pool.destroy();
    const samples = timeline.report(results);
    if (failure !== null) warnings.push(`internal error in the bench client: ${failure}`);
    return assembleReport({
      how, options: o, startedAt, command: hooks.command ?? 'bench (runBench)', results, poolErrors: pool.errors,
      publisher, sendOutcome, subscribers: subscribers?.healthy ?? null, publishStartAt, publishEndAt, drainEndAt, drainTimedOut,
      cpuMicros, publisherUtilization, threadUtilization: timeline.utilizationUntil(publishEndAt),
      timeline: samples, probeBefore, probeAfter, warnings,
      expectedDeliveries: subscribers === null || publisher === null ? 0 : expected(publisher, subscribers.healthy),
      slowSubscribed: subscribers === null ? 0 : subscribers.slow.reduce((a, b) => a + b, 0),
      slowExpected: subscribers === null || publisher === null ? 0 : expected(publisher, subscribers.slow),
    });
  }
}

/** Σ over channels of accepted publishes × subscribers when publishing started. */
function expected(p: Publisher, subscribers: readonly number[]): number {
  let sum = 0;
  for (let c = 0; c < subscribers.length; c++) sum += p.acceptedPerChannel[c]! * subscribers[c]!;
  return sum;
}

