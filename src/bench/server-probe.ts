/**
 * What the server spent, sampled when publishing starts and after the drain:
 * - with --server-pid (local processes): CPU time and RSS from /proc, for each process and any
 *   descendants (so a server that forks helpers is not under-counted), summed over the
 *   processes given (every node of a deployment, and its Redis, when they share the box);
 * - whenever the nodes' HTTP APIs answer: the `/api/stats` counters that explain a bad run
 *   (slow-consumer closes, overload refusals, shard faults), summed over the nodes, as deltas
 *   over the run, and their RSS from `/metrics` when there is no pid to read.
 * Nothing here can fail the run: an unreachable endpoint becomes a warning.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tlsConnectOptions, type BenchTls } from './bench-tls.js';
import type { ServerCost } from './report.js';

const HTTP_TIMEOUT_MS = 2000;

export interface ProbeSample {
  /** user + system CPU of the process tree in µs, and the system part (pid only). */
  readonly cpuMicros: number | null;
  readonly sysMicros: number | null;
  /** user + system CPU of the processes' main threads alone, in µs (pid only). */
  readonly mainThreadMicros: number | null;
  readonly rssBytes: number | null;
  readonly counters: Record<string, number> | null;
  /** Why the stats endpoint gave nothing ("HTTP 401", "ECONNREFUSED" …). */
  readonly statsError: string | null;
  readonly pidError: string | null;
}

export interface ProbeTarget {
  readonly pids: readonly number[];
  /** Every node's HTTP base. */
  readonly httpUrls: readonly string[];
  readonly apiKey: string | null;
  /** How to trust an https:// httpUrl (the run's wss:// settings). */
  readonly tls?: BenchTls | null;
}

export async function sampleServer(t: ProbeTarget): Promise<ProbeSample> {
  let cpuMicros: number | null = null;
  let sysMicros: number | null = null;
  let mainThreadMicros: number | null = null;
  let rssBytes: number | null = null;
  let pidError: string | null = null;
  for (const pid of t.pids) {
    const s = sampleTree(pid);
    if (s === null) {
      pidError = `no process ${pid} to read in /proc`;
      continue;
    }
    cpuMicros = (cpuMicros ?? 0) + s.cpuMicros;
    sysMicros = (sysMicros ?? 0) + s.sysMicros;
    rssBytes = (rssBytes ?? 0) + s.rssBytes;
    const main = mainThreadCpu(pid);
    if (main !== null) mainThreadMicros = (mainThreadMicros ?? 0) + main;
  }
  if (pidError !== null) cpuMicros = sysMicros = mainThreadMicros = rssBytes = null; // a part is not the whole
  const headers: Record<string, string> = t.apiKey ? { authorization: `Bearer ${t.apiKey}` } : {};
  let counters: Record<string, number> | null = null;
  let statsError: string | null = null;
  const nodes = await Promise.all(t.httpUrls.map((url) => nodeStats(url, headers, t.tls ?? null)));
  for (const [i, node] of nodes.entries()) {
    if (typeof node === 'string') {
      statsError = t.httpUrls.length === 1 ? node : `${node} (${t.httpUrls[i]})`;
      continue;
    }
    counters ??= {};
    for (const [k, v] of Object.entries(node)) counters[k] = k.startsWith('max') ? Math.max(counters[k] ?? 0, v) : (counters[k] ?? 0) + v;
  }
  if (statsError !== null) counters = null; // the same rule: one node's counters are not the deployment's
  if (rssBytes === null && counters !== null) {
    const each = await Promise.all(t.httpUrls.map((url) => metricsRss(url, t.tls ?? null)));
    rssBytes = each.includes(null) ? null : each.reduce<number>((a, b) => a + b!, 0);
  }
  return { cpuMicros, sysMicros, mainThreadMicros, rssBytes, counters, statsError, pidError };
}

/** One node's counters, or why there are none. */
async function nodeStats(httpUrl: string, headers: Record<string, string>, tls: BenchTls | null): Promise<Record<string, number> | string> {
  try {
    const res = await get(`${httpUrl}/api/stats`, headers, tls);
    return res.status === 200 ? pickCounters(JSON.parse(res.body)) : `HTTP ${res.status}`;
  } catch (err) {
    return errorLabel(err);
  }
}

/** Combines the two samples; null when neither /proc nor the stats endpoint told anything. */
export function serverCost(before: ProbeSample, after: ProbeSample, delivered: number, pids: readonly number[]): { cost: ServerCost | null; warnings: string[] } {
  const warnings: string[] = [];
  if (pids.length > 0 && (before.pidError ?? after.pidError)) warnings.push(`server CPU/RSS not measured: ${before.pidError ?? after.pidError}`);
  if (after.counters === null) warnings.push(`server counters not read: GET /api/stats → ${after.statsError ?? before.statsError ?? 'no answer'}`);
  const viaPid = pids.length > 0 && before.cpuMicros !== null && after.cpuMicros !== null;
  if (!viaPid && after.counters === null) return { cost: null, warnings };
  const counters: Record<string, number> = {};
  if (after.counters !== null) {
    for (const [k, v] of Object.entries(after.counters)) {
      // Gauges are reported as they were at the end; counters as what the run added.
      counters[k] = k.startsWith('max') || before.counters === null ? v : v - (before.counters[k] ?? 0);
    }
  }
  const cpu = viaPid ? after.cpuMicros! - before.cpuMicros! : null;
  const sys = viaPid && before.sysMicros !== null && after.sysMicros !== null ? after.sysMicros - before.sysMicros : null;
  const main = viaPid && before.mainThreadMicros !== null && after.mainThreadMicros !== null ? after.mainThreadMicros - before.mainThreadMicros : null;
  return {
    cost: {
      source: viaPid ? 'pid' : 'stats-endpoint',
      cpuMicrosPer1kDeliveries: cpu === null ? null : delivered > 0 ? Math.round((cpu / delivered) * 1000 * 10) / 10 : 0,
      rssBytesBefore: before.rssBytes,
      rssBytesAfter: after.rssBytes,
      counters,
      cpuSystemShare: cpu === null || sys === null || cpu <= 0 ? null : Math.round((sys / cpu) * 1000) / 1000,
      mainThreadCpuShare: cpu === null || main === null || cpu <= 0 ? null : Math.round((main / cpu) * 1000) / 1000,
    },
    warnings,
  };
}

interface StatsShape {
  totals?: Record<string, unknown>;
  main?: Record<string, unknown>;
  feedLag?: unknown;
}

/** The /api/stats figures worth a line in a bench report. */
function pickCounters(body: unknown): Record<string, number> {
  const s = (body ?? {}) as StatsShape;
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const totals = s.totals ?? {};
  const main = s.main ?? {};
  const out: Record<string, number> = {
    closedSlowConsumer: n(totals['closedSlowConsumer']),
    closedTooBig: n(totals['closedTooBig']),
    connectionsRefused: n(totals['connectionsRefused']),
    rejectedOverloaded: n(totals['rejectedOverloaded']) + n(main['rejectedOverloaded']),
    errorFrames: n(totals['errorFrames']),
    shardFaults: n(main['shardFaults']),
    shardRestarts: n(main['shardRestarts']),
    published: n(main['published']),
    deliveries: n(totals['deliveries']),
    framesSent: n(totals['framesSent']),
  };
  if (Array.isArray(s.feedLag)) out['maxFeedLagBytes'] = Math.max(0, ...s.feedLag.map(n));
  return out;
}

async function metricsRss(httpUrl: string, tls: BenchTls | null): Promise<number | null> {
  try {
    const res = await get(`${httpUrl}/metrics`, {}, tls);
    if (res.status !== 200) return null;
    const m = /^shardcast_process_resident_memory_bytes\s+([0-9.e+]+)\s*$/m.exec(res.body);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** One GET on a connection of its own (http or https, trusted as the run's wss:// URL), bounded by HTTP_TIMEOUT_MS. */
function get(url: string, headers: Record<string, string>, tls: BenchTls | null): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    const options = { headers, agent: false as const, ...(secure ? tlsConnectOptions(tls ?? { ca: null, verify: true }, u.hostname) : {}) };
    const req = (secure ? https : http).get(u, options, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.once('error', reject);
    });
    req.setTimeout(HTTP_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })));
    req.once('error', reject);
  });
}

function errorLabel(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string };
  if (e.name === 'TimeoutError') return `no answer within ${HTTP_TIMEOUT_MS} ms`;
  return e.code ?? e.message ?? String(err);
}

// ---- /proc ----

let clockTicks = 0;

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (almost always 100). */
function ticksPerSecond(): number {
  if (clockTicks === 0) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

function readStat(pid: number, file = `/proc/${pid}/stat`): { ppid: number; userTicks: number; sysTicks: number } | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may contain spaces and parentheses; the fields after the last ')' are fixed:
  // rest[0] is field 3, so ppid (4) is rest[1], utime (14) rest[11], stime (15) rest[12].
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(rest[1]), userTicks: Number(rest[11]), sysTicks: Number(rest[12]) };
}

function readRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU of the process's main thread alone (its task whose id is the pid), in µs. In Shardcast
 * that is the control plane — ingress, sequencing, merging — the one serial stage, so its
 * share of the server's CPU bounds how many cores the rest can use.
 */
function mainThreadCpu(pid: number): number | null {
  const st = readStat(pid, `/proc/${pid}/task/${pid}/stat`);
  return st === null ? null : ((st.userTicks + st.sysTicks) * 1e6) / ticksPerSecond();
}

/** pid and every live descendant of it (pid first); just [pid] when /proc cannot be listed. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    // no /proc listing: the process alone
  }
  for (const entry of entries) {
    const p = Number(entry);
    if (!Number.isInteger(p) || p <= 0 || p === pid) continue;
    const st = readStat(p);
    if (st === null) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(p);
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

/** CPU (all, and the kernel's part) and RSS of pid and its live descendants; null if pid is not there. */
export function sampleTree(pid: number): { cpuMicros: number; sysMicros: number; rssBytes: number } | null {
  if (readStat(pid) === null) return null;
  let ticks = 0;
  let sysTicks = 0;
  let rss = 0;
  for (const p of processTree(pid)) {
    const st = readStat(p);
    if (st === null) continue;
    ticks += st.userTicks + st.sysTicks;
    sysTicks += st.sysTicks;
    rss += readRss(p);
  }
  const hz = ticksPerSecond();
  return { cpuMicros: (ticks * 1e6) / hz, sysMicros: (sysTicks * 1e6) / hz, rssBytes: rss };
}
