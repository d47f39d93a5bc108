/**
 * Turns what a run gathered (load thread results, publisher counts, samples) into the
 * BenchReport: merges the threads, derives rates and losses, decides the outcome, and words
 * the warnings an operator should read before trusting the numbers.
 */
import os from 'node:os';
import { mergeTally } from './clock.js';
import { addEncoded, latencyReport, newHistogram } from './latency.js';
import type { LoadResult } from './load-protocol.js';
import type { BenchOptions } from './options.js';
import type { Publisher, SendOutcome } from './publisher.js';
import type { BenchReport, ConnectionReport, MachineInfo, ReconnectReport, SlowReport, TimelineSample } from './report.js';
import { serverCost, type ProbeSample } from './server-probe.js';

/** A load thread busier than this while publishing means the client, not the server, set the pace. */
export const SATURATED_UTILIZATION = 0.9;
const PEAK_UTILIZATION = 0.98;

export interface RunFacts {
  /** How the run ended, before the numbers are looked at. */
  readonly how: 'ran' | 'aborted' | 'nothing-connected' | 'no-publisher' | 'internal-error';
  readonly options: BenchOptions;
  readonly startedAt: Date;
  readonly command: string;
  readonly results: readonly LoadResult[];
  readonly poolErrors: readonly string[];
  readonly publisher: Publisher | null;
  readonly sendOutcome: SendOutcome | 'not-started';
  readonly subscribers: readonly number[] | null;
  readonly publishStartAt: number | null;
  readonly publishEndAt: number | null;
  readonly drainEndAt: number | null;
  readonly drainTimedOut: boolean;
  readonly cpuMicros: number;
  readonly publisherUtilization: number;
  /** Per thread, per second while publishing. */
  readonly threadUtilization: readonly (readonly number[])[];
  readonly timeline: TimelineSample[];
  readonly probeBefore: ProbeSample | null;
  readonly probeAfter: ProbeSample | null;
  readonly warnings: readonly string[];
  /** Healthy connections only (slow consumers apart). */
  readonly expectedDeliveries: number;
  readonly slowSubscribed: number;
  readonly slowExpected: number;
}

export function assembleReport(f: RunFacts): BenchReport {
  const o = f.options;
  const warnings: string[] = [...f.poolErrors, ...f.warnings];
  const sum = (pick: (r: LoadResult) => number): number => f.results.reduce((a, r) => a + pick(r), 0);

  // ---- connections ----
  const failures: Record<string, number> = {};
  const closedByServer: Record<string, number> = {};
  const serverErrors: Record<string, number> = {};
  for (const r of f.results) {
    mergeTally(failures, r.failures);
    mergeTally(closedByServer, r.closedByServer);
    mergeTally(serverErrors, r.serverErrors);
  }
  const firstAttempt = Math.min(...f.results.map((r) => r.firstAttemptAt).filter((t) => t > 0));
  const lastReady = Math.max(0, ...f.results.map((r) => r.lastReadyAt));
  const ready = sum((r) => r.ready);
  const rampSeconds = Number.isFinite(firstAttempt) && lastReady > firstAttempt ? (lastReady - firstAttempt) / 1000 : 0;
  const connections: ConnectionReport = {
    attempted: sum((r) => r.attempted),
    open: sum((r) => r.openAtStop),
    failed: sum((r) => r.failed),
    connectRate: rampSeconds > 0 ? round1(ready / rampSeconds) : ready,
    failures,
    closedByServer,
  };

  // ---- publishes ----
  const p = f.publisher;
  const refusedTotal = p === null ? 0 : Object.values(p.refused).reduce((a, b) => a + b, 0);
  const publishSpan = p !== null && f.publishStartAt !== null
    ? (Math.max(f.publishEndAt ?? 0, p.accepted > 0 ? p.lastAnswerAt : 0) - f.publishStartAt) / 1000
    : 0;

  // ---- deliveries ----
  const delivered = sum((r) => r.delivered);
  const expected = f.expectedDeliveries;
  const lastDelivery = Math.max(0, ...f.results.map((r) => r.lastDeliveryAt));
  const deliverySpan = p !== null && p.firstSendAt > 0 && lastDelivery > p.firstSendAt ? (lastDelivery - p.firstSendAt) / 1000 : 0;
  const histogram = newHistogram();
  for (const r of f.results) addEncoded(histogram, r.histogram);
  const latency = latencyReport(histogram, o.rate !== null ? 'scheduled' : 'sent');
  histogram.destroy();

  // ---- client cost ----
  const maxThreadUtilization = Math.max(0, ...f.results.map((r) => r.utilization));
  const saturated = maxThreadUtilization > SATURATED_UTILIZATION;

  // ---- outcome ----
  let outcome: BenchReport['outcome'];
  if (f.how !== 'ran') outcome = 'aborted';
  else if (p === null || (p.attempted > 0 && p.accepted === 0)) outcome = 'aborted';
  else if (f.sendOutcome === 'time-limit') outcome = 'time-limit';
  else outcome = 'completed';

  // ---- warnings, most important first ----
  if (f.how === 'aborted') warnings.unshift('the run was interrupted before it finished; the figures cover what was done until then');
  if (f.how === 'nothing-connected') warnings.unshift(`no connection could be opened (${reasons(failures)}); nothing was published`);
  if (f.how === 'ran' && p !== null && p.attempted > 0 && p.accepted === 0) {
    const hint = Object.keys(p.refused).some((k) => k.startsWith('HTTP 401')) ? ' — check --api-key' : '';
    warnings.unshift(`no publish was accepted (${reasons(p.refused)})${hint}`);
  }
  if (f.sendOutcome === 'time-limit') {
    warnings.push(`publishing hit its time limit (${(o.publishLimitMs / 1000).toFixed(1)} s) after ${p?.attempted ?? 0} of ${o.messages} messages`);
  }
  if (saturated) {
    const busiest = f.results.reduce((a, r) => (r.utilization > a.utilization ? r : a));
    warnings.push(`the bench client was saturated: load thread ${busiest.thread} was busy ${pct(busiest.utilization)} of the time while ` +
      'publishing, so these figures understate the server; use more --threads or a second client machine');
  } else {
    f.threadUtilization.forEach((secs, t) => {
      const peak = secs.filter((u) => u >= PEAK_UTILIZATION).length;
      if (peak > 0) warnings.push(`load thread ${t} was saturated for ${peak} s of the run; latency in those seconds includes client delay`);
    });
  }
  if (f.publisherUtilization > SATURATED_UTILIZATION) {
    warnings.push(`the publishing thread was busy ${pct(f.publisherUtilization)} of the time: the publish rate may have been limited by the client`);
  }
  if (connections.failed > 0 && f.how !== 'nothing-connected') {
    warnings.push(`${connections.failed} of ${connections.attempted} connections failed (${reasons(failures)})`);
  }
  const slow = slowReport(f);
  const healthyClosed: Record<string, number> = { ...closedByServer };
  for (const [k, n] of Object.entries(slow?.closedByServer ?? {})) {
    const left = (healthyClosed[k] ?? 0) - n; // closes of slow consumers are their own finding, not a loss
    if (left > 0) healthyClosed[k] = left;
    else delete healthyClosed[k];
  }
  const closes = Object.values(healthyClosed).reduce((a, b) => a + b, 0);
  if (closes > 0) warnings.push(`${closes} connections were closed by the server during the run (${reasons(healthyClosed)}); their missing messages count as lost`);
  if (refusedTotal > 0 && !(p !== null && p.accepted === 0)) warnings.push(`${refusedTotal} publishes were refused or failed (${reasons(p!.refused)})`);
  if (p !== null && p.unknown > 0) {
    warnings.push(`${p.unknown} publishes got no answer: they may or may not have been published, so expected and lost may be off by up to that many × subscribers`);
  }
  if (f.drainTimedOut && delivered < expected) {
    warnings.push(`the drain ended after ${(o.drainMs / 1000).toFixed(1)} s with ${expected - delivered} deliveries still missing (counted as lost)`);
  }
  if (delivered > expected && outcome !== 'aborted') {
    warnings.push(`${delivered - expected} more deliveries than expected: the server may have delivered a publication twice under different seqs`);
  }
  const foreign = sum((r) => r.foreign);
  if (foreign > 0) warnings.push(`${foreign} deliveries were not from this run (another publisher on the ${o.channelPrefix}* channels?); they are not counted`);
  const misrouted = sum((r) => r.misrouted);
  if (misrouted > 0) warnings.push(`${misrouted} deliveries arrived on a channel the connection had not subscribed to`);
  const unparsable = sum((r) => r.unparsableFrames);
  if (unparsable > 0) warnings.push(`${unparsable} server frames could not be decoded as ${o.format}`);
  if (Object.keys(serverErrors).length > 0) warnings.push(`the server sent error frames to subscribers (${reasons(serverErrors)})`);
  const idle = f.subscribers?.filter((n) => n === 0).length ?? 0;
  if (idle > 0) warnings.push(`${idle} of ${o.channels} channels had no subscriber when publishing started`);

  let server: BenchReport['server'] = null;
  if (f.probeBefore !== null && f.probeAfter !== null) {
    const s = serverCost(f.probeBefore, f.probeAfter, delivered + (slow?.deliveredToSlow ?? 0), o.serverPids);
    server = s.cost;
    warnings.push(...s.warnings);
  }

  return {
    version: 1,
    startedAt: f.startedAt.toISOString(),
    command: f.command,
    options: {
      url: o.url, connections: o.connections, channels: o.channels, rampPerSecond: o.rampPerSecond, publish: o.publish, rate: o.rate,
      inflight: o.inflight, size: o.size, durationMs: o.durationMs, messages: o.messages, threads: o.threads, format: o.format,
      slowFraction: o.slowFraction, reconnectFraction: o.reconnectFraction,
    },
    machine: machine(),
    connections,
    deliveries: {
      expected,
      delivered,
      lost: Math.max(0, expected - delivered),
      duplicated: sum((r) => r.duplicated),
      seqGaps: sum((r) => r.seqGaps),
      seqGapMessages: sum((r) => r.seqGapMessages),
      outOfOrder: sum((r) => r.outOfOrder),
      perSecond: deliverySpan > 0 ? round1(delivered / deliverySpan) : 0,
    },
    publishes: {
      attempted: p?.attempted ?? 0,
      accepted: p?.accepted ?? 0,
      refused: { ...(p?.refused ?? {}) },
      perSecond: publishSpan > 0 ? round1((p?.accepted ?? 0) / publishSpan) : 0,
    },
    latency,
    timeline: f.timeline,
    client: {
      cpuMicrosPer1kDeliveries: delivered > 0 ? round1((f.cpuMicros / delivered) * 1000) : 0,
      maxThreadUtilization: round3(maxThreadUtilization),
      saturated,
      publisherUtilization: round3(f.publisherUtilization),
    },
    server,
    ...(slow === null ? {} : { slow }),
    ...(o.reconnectConnections === 0 ? {} : { reconnects: reconnectReport(f) }),
    warnings,
    outcome,
  };
}

/** The cut connections' side of the threads' results (--reconnect-fraction). */
function reconnectReport(f: RunFacts): ReconnectReport {
  let dropped = 0;
  let recovered = 0;
  let notRecovered = 0;
  let marked = 0;
  const failed: Record<string, number> = {};
  for (const r of f.results) {
    if (r.reconnects === null) continue;
    marked += r.reconnects.marked;
    dropped += r.reconnects.dropped;
    recovered += r.reconnects.recovered;
    notRecovered += r.reconnects.notRecovered;
    mergeTally(failed, r.reconnects.failed);
  }
  return { atMs: f.options.reconnectAtMs, delayMs: f.options.reconnectDelayMs, marked, dropped, recovered, notRecovered, failed };
}

/** The slow consumers' side of the threads' results; null when the run had none. */
function slowReport(f: RunFacts): SlowReport | null {
  if (f.options.slowConnections === 0) return null;
  const closedByServer: Record<string, number> = {};
  let stillOpen = 0;
  let deliveredToSlow = 0;
  let seqGapMessages = 0;
  let duplicated = 0;
  for (const r of f.results) {
    if (r.slow === null) continue;
    mergeTally(closedByServer, r.slow.closedByServer);
    stillOpen += r.slow.openAtStop;
    deliveredToSlow += r.slow.delivered;
    seqGapMessages += r.slow.seqGapMessages;
    duplicated += r.slow.duplicated;
  }
  return {
    connections: f.options.slowConnections, subscribed: f.slowSubscribed, closedByServer, stillOpen,
    expected: f.slowExpected, deliveredToSlow, seqGapMessages, duplicated,
  };
}

function machine(): MachineInfo {
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model?.trim() ?? 'unknown',
    memoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.arch()}`,
    node: process.version,
    loadAverage: os.loadavg().map(round3),
  };
}

/** "ECONNREFUSED ×1000, HTTP 503 ×2" — the biggest three reasons. */
export function reasons(rec: Readonly<Record<string, number>>, max = 3): string {
  const entries = Object.entries(rec).sort((a, b) => b[1] - a[1]);
  const shown = entries.slice(0, max).map(([k, n]) => `${k} ×${n}`);
  if (entries.length > max) shown.push(`${entries.length - max} more reasons`);
  return shown.join(', ') || 'no reason recorded';
}

const pct = (u: number): string => `${Math.round(u * 100)}%`;
const round1 = (x: number): number => Math.round(x * 10) / 10;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;
