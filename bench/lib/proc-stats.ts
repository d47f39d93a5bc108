/**
 * CPU time and resident memory of a server under test, read from /proc. Totals cover the
 * process (all of its threads) plus any live descendant processes, so a server that forks
 * helpers instead of using threads is not under-counted.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

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

interface StatFields {
  ppid: number;
  userTicks: number;
  sysTicks: number;
}

function readStat(pid: number): StatFields | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may contain spaces and parentheses; fields after the last ')' are fixed.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field n is rest[n - 3]: ppid=4, utime=14, stime=15.
  return { ppid: Number(rest[1]), userTicks: Number(rest[11]), sysTicks: Number(rest[12]) };
}

/** pid and every live descendant of it. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const p = Number(entry);
    if (!Number.isInteger(p) || p <= 0) continue;
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

export interface TreeSample {
  /** user + system CPU in µs (10 ms resolution with USER_HZ = 100). */
  cpuMicros: number;
  /** The kernel's part of cpuMicros: socket writes and loopback TCP processing land here. */
  sysMicros: number;
  rssBytes: number;
  processes: number;
}

export function sampleTree(pid: number): TreeSample {
  const tree = processTree(pid);
  let ticks = 0;
  let sysTicks = 0;
  let rss = 0;
  let alive = 0;
  for (const p of tree) {
    const st = readStat(p);
    if (st === null) continue;
    alive++;
    ticks += st.userTicks + st.sysTicks;
    sysTicks += st.sysTicks;
    rss += readRssBytes(p);
  }
  const hz = ticksPerSecond();
  return { cpuMicros: (ticks * 1e6) / hz, sysMicros: (sysTicks * 1e6) / hz, rssBytes: rss, processes: alive };
}

export function readRssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
