/**
 * Main-thread handle on the bench clients: splits the connections over worker threads,
 * waits for them to be ready, starts passes, polls shared progress and merges reports.
 */
import { Worker } from 'node:worker_threads';
import { withTimeout } from './clock.js';
import {
  PROGRESS_FIELDS, P_DROPPED, P_LAST_DELIVERY, P_OPEN, P_RECEIVED,
  type ClientWorkerData, type FromClientWorker, type ReadyInfo, type ToClientWorker, type WorkerReport,
} from './client-protocol.js';
import { LatencyHistogram } from './latency-histogram.js';

export interface PoolOptions {
  host: string;
  port: number;
  path: string;
  channel: string;
  connections: number;
  threads: number;
  subscribe: boolean;
  sampleEvery: number;
  connectWindow: number;
  connectTimeoutMs: number;
}

export interface PoolProgress {
  received: number;
  lastDeliveryMicros: number;
  open: number;
  dropped: number;
}

export interface PoolReport extends Omit<WorkerReport, 'histogram'> {
  latency: LatencyHistogram;
}

type EventName = FromClientWorker['ev'];

/** One worker plus a way to await its next event of a given kind. */
class ClientThread {
  private readonly waiters = new Map<EventName, (msg: FromClientWorker) => void>();
  private failure: Error | null = null;
  private readonly failed: Promise<never>;
  private exited = false;

  constructor(readonly worker: Worker) {
    let reject!: (e: Error) => void;
    this.failed = new Promise<never>((_, r) => (reject = r));
    this.failed.catch(() => undefined); // observed through next(); avoid unhandled rejections
    const fail = (e: Error): void => {
      if (this.failure === null) {
        this.failure = e;
        reject(e);
      }
    };
    worker.on('message', (msg: FromClientWorker) => {
      if (msg.ev === 'fatal') return fail(new Error(`client worker failed: ${msg.message}`));
      const waiter = this.waiters.get(msg.ev);
      if (waiter) {
        this.waiters.delete(msg.ev);
        waiter(msg);
      }
    });
    worker.on('error', (e) => fail(e));
    worker.on('exit', (code) => {
      this.exited = true;
      fail(new Error(`client worker exited (code ${code})`));
    });
  }

  get hasExited(): boolean {
    return this.exited;
  }

  next<E extends EventName>(ev: E): Promise<Extract<FromClientWorker, { ev: E }>> {
    const got = new Promise<Extract<FromClientWorker, { ev: E }>>((resolve) => {
      this.waiters.set(ev, resolve as (msg: FromClientWorker) => void);
    });
    return Promise.race([got, this.failed]);
  }

  send(msg: ToClientWorker): void {
    this.worker.postMessage(msg);
  }
}

export class ClientPool {
  private readonly progressView: Float64Array;

  private constructor(private readonly threads: ClientThread[], progress: SharedArrayBuffer, readonly ready: ReadyInfo) {
    this.progressView = new Float64Array(progress);
  }

  static async open(opts: PoolOptions, timeoutMs: number): Promise<ClientPool> {
    const n = Math.max(1, Math.min(opts.threads, opts.connections || 1));
    const progress = new SharedArrayBuffer(n * PROGRESS_FIELDS * 8);
    const threads: ClientThread[] = [];
    for (let i = 0; i < n; i++) {
      // Spread the remainder so the threads differ by at most one connection.
      const share = Math.floor(opts.connections / n) + (i < opts.connections % n ? 1 : 0);
      const data: ClientWorkerData = {
        host: opts.host, port: opts.port, path: opts.path, channel: opts.channel,
        connections: share, subscribe: opts.subscribe, sampleEvery: opts.sampleEvery,
        connectWindow: Math.max(1, Math.ceil(opts.connectWindow / n)), connectTimeoutMs: opts.connectTimeoutMs,
        progress, slot: i,
      };
      threads.push(new ClientThread(new Worker(new URL('./client-worker.js', import.meta.url), { workerData: data })));
    }
    try {
      const infos = await withTimeout(
        Promise.all(threads.map((t) => t.next('ready'))),
        timeoutMs,
        `opening ${opts.connections} connections`,
      );
      const merged: ReadyInfo = { ready: 0, failed: 0, attempts: 0, failures: {}, ms: 0 };
      for (const { info } of infos) {
        merged.ready += info.ready;
        merged.failed += info.failed;
        merged.attempts += info.attempts;
        merged.ms = Math.max(merged.ms, info.ms);
        for (const [k, v] of Object.entries(info.failures)) merged.failures[k] = (merged.failures[k] ?? 0) + v;
      }
      return new ClientPool(threads, progress, merged);
    } catch (err) {
      await Promise.all(threads.map((t) => t.worker.terminate()));
      throw err;
    }
  }

  progress(): PoolProgress {
    const p: PoolProgress = { received: 0, lastDeliveryMicros: 0, open: 0, dropped: 0 };
    for (let i = 0; i < this.threads.length; i++) {
      const o = i * PROGRESS_FIELDS;
      p.received += this.progressView[o + P_RECEIVED]!;
      p.lastDeliveryMicros = Math.max(p.lastDeliveryMicros, this.progressView[o + P_LAST_DELIVERY]!);
      p.open += this.progressView[o + P_OPEN]!;
      p.dropped += this.progressView[o + P_DROPPED]!;
    }
    return p;
  }

  async startPass(base: number, messages: number): Promise<void> {
    const acks = this.threads.map((t) => t.next('pass-started'));
    for (const t of this.threads) t.send({ cmd: 'pass', base, messages });
    await withTimeout(Promise.all(acks), 10_000, 'starting a pass');
  }

  async report(): Promise<PoolReport> {
    const replies = this.threads.map((t) => t.next('report'));
    for (const t of this.threads) t.send({ cmd: 'report' });
    const reports = (await withTimeout(Promise.all(replies), 30_000, 'collecting reports')).map((r) => r.report);
    const latency = new LatencyHistogram();
    const out: PoolReport = {
      connections: 0, expectedPerConnection: reports[0]?.expectedPerConnection ?? 0, received: 0, duplicates: 0,
      strays: 0, reordered: 0, incompleteConnections: 0, minPerConnection: Infinity, maxPerConnection: 0,
      lastDeliveryMicros: 0, latencySamples: 0, droppedConnections: 0, dropReasons: {}, controlFrames: 0,
      unparsedFrames: 0, latency, perIndex: new Array<number>(reports[0]?.perIndex.length ?? 0).fill(0),
    };
    for (const r of reports) {
      out.connections += r.connections;
      out.received += r.received;
      out.duplicates += r.duplicates;
      out.strays += r.strays;
      out.reordered += r.reordered;
      out.incompleteConnections += r.incompleteConnections;
      out.minPerConnection = Math.min(out.minPerConnection, r.minPerConnection);
      out.maxPerConnection = Math.max(out.maxPerConnection, r.maxPerConnection);
      out.lastDeliveryMicros = Math.max(out.lastDeliveryMicros, r.lastDeliveryMicros);
      out.latencySamples += r.latencySamples;
      out.droppedConnections += r.droppedConnections;
      out.controlFrames += r.controlFrames;
      out.unparsedFrames += r.unparsedFrames;
      for (const [k, v] of Object.entries(r.dropReasons)) out.dropReasons[k] = (out.dropReasons[k] ?? 0) + v;
      latency.merge(new LatencyHistogram(r.histogram));
      r.perIndex.forEach((n, k) => (out.perIndex[k]! += n));
    }
    if (out.connections === 0) out.minPerConnection = 0;
    return out;
  }

  /** Closes every connection and ends the threads; forcibly if they do not finish in time. */
  async close(timeoutMs = 15_000): Promise<void> {
    const live = this.threads.filter((t) => !t.hasExited);
    const done = live.map((t) => t.next('closed').catch(() => undefined));
    for (const t of live) t.send({ cmd: 'close' });
    try {
      await withTimeout(Promise.all(done), timeoutMs, 'closing client connections');
    } finally {
      await Promise.all(this.threads.map((t) => t.worker.terminate()));
    }
  }

  /** Emergency stop for error paths. */
  async terminate(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
