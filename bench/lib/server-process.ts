/**
 * Runs a server under test as a child process: start, wait for its `listening` line, stop
 * with SIGTERM and verify it exited. Every child is registered so that any error path, or
 * the bench itself being interrupted, kills it (and its descendants) instead of leaving it
 * behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { processTree } from '../../src/bench/server-probe.js';

export interface ServerSpec {
  name: string;
  command: string;
  args: string[];
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when SIGTERM was not enough and SIGKILL had to be sent. */
  forced: boolean;
  ms: number;
  /** Descendant processes still alive after the server exited (then killed by us). */
  orphans: number;
}

const live = new Set<ServerProcess>();

/** Synchronously SIGKILLs every child still running; safe to call from 'exit' handlers. */
export function killAllServers(): void {
  for (const s of live) s.killNow();
}

process.on('exit', killAllServers);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killAllServers();
    process.exit(130);
  });
}

const TAIL_CHARS = 8192;

export class ServerProcess {
  private tailText = '';
  /** The port from the server's `listening` line (the one asked for, unless that was 0). */
  port = 0;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private hasExited = false;

  private constructor(readonly spec: ServerSpec, private readonly child: ChildProcess) {
    live.add(this);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.hasExited = true;
        live.delete(this);
        resolve({ code, signal });
      });
    });
    // Keep draining output for the whole run: a full pipe would block the server's writes.
    const keep = (chunk: Buffer): void => {
      this.tailText = (this.tailText + chunk.toString('utf8')).slice(-TAIL_CHARS);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return !this.hasExited;
  }

  /** Recent stdout+stderr, for error messages and the report. */
  get tail(): string {
    return this.tailText;
  }

  /**
   * With `port` 0 the server picks a free port and the `listening` line tells which; the
   * line must then read "listening on HOST:PORT …" (as Shardcast's does) and `port` holds it.
   */
  static async start(spec: ServerSpec, host: string, port: number, timeoutMs: number): Promise<ServerProcess> {
    await assertPortFree(host, port);
    const child = spawn(spec.command, spec.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new ServerProcess(spec, child);
    const ready = new Promise<void>((resolve, reject) => {
      let line = '';
      const onData = (chunk: Buffer): void => {
        line += chunk.toString('utf8');
        for (const l of line.split('\n')) {
          // (the space after the port: a line cut mid-number must not pass for a port)
          const picked = port === 0 ? /listening on \S*:(\d+)\s/i.exec(l) : null;
          if (picked !== null || (port !== 0 && /listening/i.test(l) && l.includes(String(port)))) {
            server.port = picked === null ? port : Number(picked[1]);
            child.stdout!.off('data', onData);
            resolve();
            return;
          }
        }
        line = line.slice(-4096);
      };
      child.stdout!.on('data', onData);
      child.once('error', reject);
      void server.exited.then(({ code, signal }) =>
        reject(new Error(`${spec.name} exited before listening (code ${code}, signal ${signal})`)),
      );
    });
    try {
      await withTimeout(ready, timeoutMs, `${spec.name} to print "listening ${port === 0 ? 'on HOST:PORT' : port}"`);
      return server;
    } catch (err) {
      server.killNow();
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`${msg}\n--- ${spec.name} output ---\n${server.tail}`);
    }
  }

  /** SIGTERM, wait for exit; SIGKILL after `timeoutMs`. Also reaps descendants it left behind. */
  async stop(timeoutMs: number): Promise<StopResult> {
    const t0 = Date.now();
    const tree = processTree(this.pid).filter((p) => p !== this.pid);
    let forced = false;
    if (!this.hasExited) this.child.kill('SIGTERM');
    let result: { code: number | null; signal: NodeJS.Signals | null };
    try {
      result = await withTimeout(this.exited, timeoutMs, `${this.spec.name} to exit after SIGTERM`);
    } catch {
      forced = true;
      this.killNow();
      result = await withTimeout(this.exited, 5_000, `${this.spec.name} to exit after SIGKILL`);
    }
    let orphans = 0;
    for (const p of tree) {
      try {
        process.kill(p, 'SIGKILL');
        orphans++;
      } catch {
        // already gone: the normal case
      }
    }
    return { ...result, forced, ms: Date.now() - t0, orphans };
  }

  /** SIGKILL the server and its descendants without waiting; for error paths. */
  killNow(): void {
    if (this.hasExited) return;
    for (const p of processTree(this.pid).reverse()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // raced with its exit
      }
    }
  }
}

/** Rejects with a labelled error if `promise` has not settled within `ms`. */
async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * uWS listens with SO_REUSEPORT, so a server started on a port that a stale server still
 * holds does not fail: the kernel silently splits connections between the two, which shows
 * up as mysterious losses. A plain bind (no SO_REUSEPORT) fails if anyone holds the port.
 */
async function assertPortFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`port ${host}:${port} is already in use (${err.code}); a stale server would share it via SO_REUSEPORT`)),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
