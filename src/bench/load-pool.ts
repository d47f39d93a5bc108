/**
 * The main thread's handle on the load threads: a piscina pool with exactly one long task per
 * thread, each owning a contiguous slice of the connections. Piscina gives us worker start-up,
 * task results and errors as promises, and `destroy()` as the last word on cleanup; the
 * conversation during the run goes over one MessagePort per task (transferred with it) and
 * live counters over a SharedArrayBuffer.
 *
 * Every wait here has a deadline: a stuck or crashed load thread can make a run report less,
 * never make it hang.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import {
  C, COUNTER_SLOTS, createCounters, type FromLoadThread, type LoadResult, type LoadTask, type SecondReport, type ToLoadThread,
} from './load-protocol.js';
import type { BenchFormat, WsTarget } from './options.js';

const WORKER_FILE = new URL('../../workers/bench-load.js', import.meta.url);

export interface PoolPlan {
  /** Every node; connection i goes to targets[i % targets.length]. */
  readonly targets: readonly WsTarget[];
  readonly connections: number;
  readonly channels: number;
  readonly channelPrefix: string;
  readonly rampPerSecond: number;
  readonly threads: number;
  readonly connectTimeoutMs: number;
  readonly format: BenchFormat;
  readonly slowConnections: number;
  readonly reconnectConnections: number;
  readonly reconnectAtMs: number;
  readonly reconnectDelayMs: number;
}

/** Sums of the shared counters over all threads. */
export interface LiveCounters {
  attempted: number;
  ready: number;
  failed: number;
  open: number;
  closedByServer: number;
  delivered: number;
  duplicated: number;
  outOfOrder: number;
  seqGaps: number;
  lastDeliveryAt: number;
  /** Slow consumers: first copies they received, and how many are open. */
  slowDelivered: number;
  slowOpen: number;
}

/** Subscribers per channel when publishing started: healthy, and slow consumers. */
export interface Subscribers {
  readonly healthy: number[];
  readonly slow: number[];
}

type Waiter = (msg: FromLoadThread) => void;

export class LoadPool {
  private readonly view: Float64Array;
  private readonly ports: MessagePort[] = [];
  private readonly waiters: Array<Map<string, Waiter>> = [];
  private readonly readyThreads = new Set<number>();
  private readyWaiter: (() => void) | null = null;
  private readonly tasks: Array<Promise<LoadResult>> = [];
  /** Load thread failures (a task that threw), as messages for the report's warnings. */
  readonly errors: string[] = [];
  private destroyed = false;
  /** Receives every thread's per-second reports (set by the timeline). */
  onSecond: ((thread: number, report: SecondReport) => void) | null = null;

  private constructor(private readonly pool: Piscina, readonly threads: number, counters: SharedArrayBuffer) {
    this.view = new Float64Array(counters);
  }

  static start(plan: PoolPlan): LoadPool {
    const threads = Math.max(1, Math.min(plan.threads, plan.connections));
    const pool = new Piscina({
      filename: WORKER_FILE.href,
      minThreads: threads,
      maxThreads: threads,
      concurrentTasksPerWorker: 1,
      // The task keeps sockets alive for the whole run and closes them asynchronously at the end:
      // a worker blocked in Atomics.wait between tasks would freeze that.
      atomics: 'disabled',
      idleTimeout: 60_000,
      execArgv: withoutInlineScript(process.execArgv),
    });
    const counters = createCounters(threads);
    const self = new LoadPool(pool, threads, counters);
    let first = 0;
    for (let t = 0; t < threads; t++) {
      // Spread the remainder so the threads differ by at most one connection.
      const share = Math.floor(plan.connections / threads) + (t < plan.connections % threads ? 1 : 0);
      const rate = (plan.rampPerSecond * share) / plan.connections;
      const { port1, port2 } = new MessageChannel();
      const task: LoadTask = {
        thread: t, targets: plan.targets, firstConnection: first, connections: share, channels: plan.channels,
        channelPrefix: plan.channelPrefix, rampPerSecond: rate,
        connectWindow: Math.max(16, Math.min(2000, Math.ceil(rate))), connectTimeoutMs: plan.connectTimeoutMs,
        format: plan.format, slowConnections: plan.slowConnections,
        reconnectConnections: plan.reconnectConnections, reconnectAtMs: plan.reconnectAtMs,
        reconnectDelayMs: plan.reconnectDelayMs, totalConnections: plan.connections, counters, port: port2,
      };
      first += share;
      self.listen(t, port1);
      const run = pool.run(task, { transferList: [port2] }) as Promise<LoadResult>;
      run.catch((err: unknown) => {
        if (self.destroyed) return; // destroy() ends unfinished tasks on purpose
        self.errors.push(`load thread ${t} failed: ${err instanceof Error ? err.message : String(err)}`);
        self.readyThreads.add(t); // a dead thread has nothing more to ramp
        self.checkReady();
      });
      self.tasks.push(run);
    }
    return self;
  }

  private listen(t: number, port: MessagePort): void {
    const waiters = new Map<string, Waiter>();
    this.waiters.push(waiters);
    this.ports.push(port);
    port.on('message', (msg: FromLoadThread) => {
      if (msg.ev === 'ready') {
        this.readyThreads.add(t);
        this.checkReady();
        return;
      }
      if (msg.ev === 'second') {
        this.onSecond?.(t, msg);
        return;
      }
      const w = waiters.get(msg.ev);
      if (w) {
        waiters.delete(msg.ev);
        w(msg);
      }
    });
  }

  private checkReady(): void {
    if (this.readyThreads.size >= this.threads) this.readyWaiter?.();
  }

  /** Resolves true when every thread has settled its connections, false at the deadline or abort. */
  whenReady(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.readyWaiter = null;
        resolve(ok);
      };
      const onAbort = (): void => finish(false);
      const timer = setTimeout(() => finish(false), timeoutMs);
      signal?.addEventListener('abort', onAbort);
      this.readyWaiter = () => finish(true);
      if (signal?.aborted) finish(false);
      else this.checkReady();
    });
  }

  /** Asks every thread for a reply of kind `key`; threads that do not answer in time are left out. */
  private ask(msg: ToLoadThread, key: string, timeoutMs: number): Promise<Array<FromLoadThread | null>> {
    return Promise.all(
      this.ports.map((port, t) => new Promise<FromLoadThread | null>((resolve) => {
        const timer = setTimeout(() => {
          this.waiters[t]!.delete(key);
          resolve(null);
        }, timeoutMs);
        this.waiters[t]!.set(key, (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        port.postMessage(msg);
      })),
    );
  }

  /**
   * Publishing starts at `origin`: subscribers per channel summed over the threads, at this
   * moment; from now on each thread reports its seconds since `origin`.
   */
  async startMeasuring(channels: number, origin: number): Promise<Subscribers> {
    const replies = await this.ask({ cmd: 'measure-start', origin }, 'started', 5000);
    const healthy = new Array<number>(channels).fill(0);
    const slow = new Array<number>(channels).fill(0);
    for (const r of replies) {
      if (r?.ev !== 'started') continue;
      r.subscribers.forEach((n, c) => (healthy[c]! += n));
      r.slowSubscribers.forEach((n, c) => (slow[c]! += n));
    }
    return { healthy, slow };
  }

  endMeasuring(): void {
    for (const port of this.ports) port.postMessage({ cmd: 'measure-end' } satisfies ToLoadThread);
  }

  live(): LiveCounters {
    const s: LiveCounters = {
      attempted: 0, ready: 0, failed: 0, open: 0, closedByServer: 0, delivered: 0, duplicated: 0, outOfOrder: 0, seqGaps: 0,
      lastDeliveryAt: 0, slowDelivered: 0, slowOpen: 0,
    };
    for (let t = 0; t < this.threads; t++) {
      const o = t * COUNTER_SLOTS;
      const v = this.view;
      s.attempted += v[o + C.attempted]!;
      s.ready += v[o + C.ready]!;
      s.failed += v[o + C.failed]!;
      s.open += v[o + C.open]!;
      s.closedByServer += v[o + C.closedByServer]!;
      s.delivered += v[o + C.delivered]!;
      s.duplicated += v[o + C.duplicated]!;
      s.outOfOrder += v[o + C.outOfOrder]!;
      s.seqGaps += v[o + C.seqGaps]!;
      s.slowDelivered += v[o + C.slowDelivered]!;
      s.slowOpen += v[o + C.slowOpen]!;
      s.lastDeliveryAt = Math.max(s.lastDeliveryAt, v[o + C.lastDeliveryAt]!);
    }
    return s;
  }

  /** Tells every thread to close its connections; collects the results that arrive in time. */
  async stop(timeoutMs: number): Promise<LoadResult[]> {
    for (const port of this.ports) {
      try {
        port.postMessage({ cmd: 'stop' } satisfies ToLoadThread);
      } catch {
        // the thread is already gone; its task has settled
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
    const settled = await Promise.all(this.tasks.map((task, t) => Promise.race([task, late]).then(
      (r) => {
        if (r === 'late') this.errors.push(`load thread ${t} did not finish within ${timeoutMs} ms of stop; its counts are missing`);
        return r === 'late' ? null : r;
      },
      () => null, // already recorded in errors
    )));
    clearTimeout(timer);
    return settled.filter((r): r is LoadResult => r !== null);
  }

  /** Ends the pool and its threads (and so any socket they still hold). Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const port of this.ports) port.close();
    await this.pool.destroy();
  }
}

/** A worker must not inherit `node -e SCRIPT` / `--print` (it would run the script, not its file). */
function withoutInlineScript(argv: readonly string[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print') i++;
    else if (!a.startsWith('--input-type') && !a.startsWith('--eval=') && !a.startsWith('--print=')) out.push(a);
  }
  // nothing to drop: let the worker inherit (Node 24's test runner hands its children every
  // option, process-wide ones included, which a worker refuses when they are passed explicitly)
  return out.length === argv.length ? undefined : out;
}
