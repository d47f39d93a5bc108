/**
 * Counts a server's write system calls with `perf stat` on the kernel's syscall tracepoints:
 * uWS sends with send() (sendto), Node's own sockets with write/writev, so /proc/PID/io's
 * `syscw` (read/write family only) would miss most of them, and strace would slow every call
 * it sees. The counting happens in the kernel; perf only reads the totals when stopped.
 *
 * `perf stat -p PID` follows the threads the process has when it starts, so the meter is
 * started once the server is up (Shardcast's shard threads start before it listens).
 * The tracepoints make every system call on the box take the traced path while enabled — a
 * small cost, paid by every target in a run alike.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { sleep } from '../../src/bench/clock.js';
import type { Meter } from './run-scenario.js';

export const WRITE_SYSCALLS = ['sendto', 'sendmsg', 'sendmmsg', 'write', 'writev'] as const;
/** perf prints nothing until it is stopped, so there is no "attached" line to wait for. */
const ATTACH_MS = 300;
const STOP_TIMEOUT_MS = 5_000;

/** Why perf cannot count syscalls here, or null when it can. */
export function syscallMeterProblem(): string | null {
  const r = spawnSync('perf', ['stat', '-x', ',', '-e', 'syscalls:sys_enter_write', '--', 'true'], { encoding: 'utf8' });
  if (r.error) return `perf not runnable: ${r.error.message}`;
  if (r.status !== 0 || !/sys_enter_write/.test(r.stderr)) return `perf stat on syscall tracepoints failed: ${r.stderr.trim().split('\n')[0]}`;
  if (/not supported|not counted/.test(r.stderr)) return `perf cannot count syscall tracepoints: ${r.stderr.trim()}`;
  return null;
}

/** A Meter whose counts are {sendto, sendmsg, sendmmsg, write, writev, writes (their sum)}. */
export function syscallMeter(pid: number): Meter {
  let child: ChildProcess | null = null;
  let stderr = '';
  let exited: Promise<void> | null = null;
  let result: Record<string, number> | null = null;
  let stopped = false;
  return {
    async start() {
      const events = WRITE_SYSCALLS.map((s) => `syscalls:sys_enter_${s}`).join(',');
      child = spawn('perf', ['stat', '-x', ',', '-e', events, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
      });
      exited = new Promise((resolve) => {
        child!.once('exit', () => resolve());
        child!.once('error', () => resolve());
      });
      await sleep(ATTACH_MS);
    },
    async stop() {
      if (stopped || child === null) return result;
      stopped = true;
      child.kill('SIGINT'); // perf prints its totals on SIGINT
      const timer = setTimeout(() => child!.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
      result = parsePerfCsv(stderr);
      return result;
    },
  };
}

/** `perf stat -x,` lines: `count,unit,event,…`; "<not counted>" and the like make the whole sample null. */
export function parsePerfCsv(text: string): Record<string, number> | null {
  const out: Record<string, number> = {};
  let writes = 0;
  for (const line of text.split('\n')) {
    const [count, , event] = line.split(',');
    const m = /syscalls:sys_enter_(\w+)/.exec(event ?? '');
    if (m === null) continue;
    const n = Number(count);
    if (!Number.isFinite(n)) return null;
    out[m[1]!] = n;
    writes += n;
  }
  if (Object.keys(out).length !== WRITE_SYSCALLS.length) return null;
  out['writes'] = writes;
  return out;
}
