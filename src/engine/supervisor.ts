/**
 * Supervisor — starts the shard workers, restarts one that faulted, and stops them all.
 *
 * A shard that hits a fatal error gives up its feed slot, closes its own sockets (1011) and
 * exits with FAULT_EXIT_CODE; the supervisor counts it, makes sure the slot is detached (so
 * a dead reader never holds the ring full) and starts a replacement on the same port. The
 * replacement's slot is attached only when its worker asks (attach-feed), just before it
 * reads: the feed position and the snapshot of every channel's last seq it gets back are
 * taken at the same instant, and a worker that is still starting holds no ring space. The
 * kernel spreads new connections over the listening shards; clients of the dead shard
 * reconnect onto them. A shard that was cut loose after stalling (StallWatch) exits the
 * same way when it runs again, and is replaced too.
 */
import { Worker } from 'node:worker_threads';
import type { Config } from './config.js';
import type { FromShard, ShardInit, ToShard } from './control.js';
import type { Counters } from '../transport/counters.js';
import { createIpTables, type IpTables } from '../limits/ip-slots.js';
import type { Logger } from './logger.js';
import { claimPort } from './port.js';
import { createRing, type RingHandle } from '../transport/ring.js';
import type { ChannelSnapshot } from '../transport/channel-snapshot.js';

const WORKER_URL = new URL('../../workers/shard.js', import.meta.url);

/** Restarts inside this window count towards a crash loop. */
const RESTART_WINDOW_MS = 10_000;
const MAX_RESTARTS_IN_WINDOW = 5;
/** Delay before a restart once a shard is crash-looping. */
const CRASH_LOOP_DELAY_MS = 1000;

export interface ShardHooks {
  /** The shard's slot in the feed must be attached now; returns the seq snapshot. */
  attach(shard: number): ChannelSnapshot;
  detach(shard: number): void;
  /** A new ingress ring for a new worker of the shard (its previous reader must be stopped). */
  ingressReady(shard: number, generation: number, ring: RingHandle, worker: Worker): void;
  ingressGone(shard: number): void;
  onMessage(shard: number, m: FromShard): void;
}

interface Slot {
  worker: Worker | null;
  /** How many times this slot has been started: part of its connections' public ids. */
  generation: number;
  /** When it was last (re)started, for crash-loop detection. */
  restarts: number[];
  /** Its listen socket is open: new connections can land on it. */
  listening: boolean;
  exited: Promise<number> | null;
}

export class Supervisor {
  private readonly slots: Slot[];
  private port: number;
  private stopping = false;
  private readonly ipTables: IpTables;

  constructor(
    /** Replaced on a credential reload (credentials.ts): a restarted shard gets the keys in force. */
    public config: Config,
    private readonly broadcastRing: RingHandle,
    private readonly counters: Counters,
    private readonly hooks: ShardHooks,
    private readonly log: Logger,
  ) {
    this.slots = Array.from({ length: config.workers }, () => ({ worker: null, generation: 0, restarts: [], listening: false, exited: null }));
    this.port = config.port;
    this.ipTables = createIpTables(config);
  }

  /** The port every shard listens on (known after start). */
  get listenPort(): number {
    return this.port;
  }

  /** Claims the port, then starts shard 0 and the others on the same port. */
  async start(): Promise<void> {
    this.port = await claimPort(this.config.host, this.config.port);
    await this.spawn(0);
    await Promise.all(this.slots.slice(1).map((_, i) => this.spawn(i + 1)));
  }

  send(shard: number, m: ToShard): void {
    this.slots[shard]?.worker?.postMessage(m);
  }

  broadcast(m: ToShard): number {
    let n = 0;
    for (const s of this.slots) {
      if (s.worker) {
        s.worker.postMessage(m);
        n++;
      }
    }
    return n;
  }

  /** Per shard: up and listening (what /readyz reports). */
  get listening(): boolean[] {
    return this.slots.map((s) => s.listening);
  }

  /** The shard's worker thread, if it has one now (its event-loop utilisation is read through it). */
  /** Times a shard slot's worker was replaced since start (faults, stalls). */
  restarts(shard: number): number {
    return Math.max(0, (this.slots[shard]?.generation ?? 0) - 1);
  }

  worker(shard: number): Worker | null {
    return this.slots[shard]?.worker ?? null;
  }

  /** Shards up and listening. */
  get liveShards(): number {
    return this.slots.filter((s) => s.listening).length;
  }

  /** A shard cut loose after stalling no longer counts as live (it exits when it runs again). */
  markStalled(shard: number): void {
    const slot = this.slots[shard];
    if (slot) slot.listening = false;
  }

  /** Asks every shard to close gracefully and waits for all to exit (bounded by the caller). */
  async stop(): Promise<void> {
    this.stopping = true;
    const exits = this.slots.map((s) => s.exited ?? Promise.resolve(0));
    this.broadcast({ type: 'shutdown' });
    await Promise.all(exits);
  }

  private spawn(shard: number): Promise<number> {
    // the main thread's reader (slot 0) is attached from the start: a slot nobody attached
    // counts for nothing, and the shard would write over records not read yet (issue 7)
    const ingress = createRing({ capacity: this.config.ingressRingSize, maxConsumers: 1, attached: 1 });
    const slot = this.slots[shard]!;
    const init: ShardInit = { shard, generation: slot.generation++, config: this.config, port: this.port, broadcast: this.broadcastRing, ingress, counters: this.counters.sab, ipTables: this.ipTables };
    const worker = new Worker(WORKER_URL, {
      workerData: init,
      name: `shard-${shard}`,
      execArgv: workerExecArgv(process.execArgv),
      // a capped young generation: see --shard-young-generation-mb
      ...(this.config.shardYoungGenerationMb > 0 ? { resourceLimits: { maxYoungGenerationSizeMb: this.config.shardYoungGenerationMb } } : {}),
    });
    slot.worker = worker;
    this.hooks.ingressReady(shard, init.generation, ingress, worker);
    let resolveExit!: (code: number) => void;
    slot.exited = new Promise((r) => (resolveExit = r));

    return new Promise<number>((resolve, reject) => {
      let listening = false;
      worker.on('message', (m: FromShard) => {
        if (m.type === 'attach-feed') {
          if (slot.worker === worker) worker.postMessage({ type: 'feed-attached', seqs: this.hooks.attach(shard) } satisfies ToShard);
        } else if (m.type === 'listening' && !listening) {
          listening = true;
          slot.listening = true;
          this.log.info(`shard ${shard} up, listening on port ${m.port}`, { event: 'shard_up', shard, generation: init.generation, port: m.port });
          resolve(m.port);
        } else if (m.type === 'listen-failed') {
          reject(new Error(m.message));
        } else if (m.type === 'fault') {
          slot.listening = false; // it closes its listen socket first thing
          this.counters.mainAdd('shardFaults');
          this.log.error(`shard ${shard} fault: ${m.message}`, { event: 'shard_fault', shard, stack: m.stack });
        }
        this.hooks.onMessage(shard, m);
      });
      worker.on('error', (err) => {
        // only reached if an error escaped the shard's own handlers during start-up
        this.log.error(`shard ${shard} worker error: ${err.message}`, { event: 'shard_fault', shard, stack: err.stack });
        if (!listening) reject(err);
      });
      worker.on('exit', (code) => {
        slot.worker = null;
        slot.listening = false;
        this.hooks.detach(shard);
        this.hooks.ingressGone(shard);
        this.counters.resetShardGauge(shard);
        resolveExit(code);
        if (!listening) reject(new Error(`shard ${shard} exited with code ${code} before listening`));
        if (this.stopping) this.log.info(`shard ${shard} stopped`, { event: 'shard_down', shard, code });
        // a shard that fails at first start fails start(); a replacement that fails is retried
        else if (listening || init.generation > 0) this.restart(shard, code);
      });
    });
  }

  /** Starts the slot again; a shard that keeps failing (or fails to start) is retried slower. */
  private restart(shard: number, code: number): void {
    const slot = this.slots[shard]!;
    const now = Date.now();
    slot.restarts = slot.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
    slot.restarts.push(now);
    const delay = slot.restarts.length > MAX_RESTARTS_IN_WINDOW ? CRASH_LOOP_DELAY_MS : 0;
    this.log.warn(`shard ${shard} exited with code ${code}; restarting${delay ? ` in ${delay} ms (crash loop)` : ''}`, { event: 'shard_down', shard, code, restartInMs: delay });
    setTimeout(() => {
      if (this.stopping) return;
      this.counters.mainAdd('shardRestarts');
      this.log.info(`shard ${shard} restarting`, { event: 'shard_restart', shard, generation: slot.generation });
      this.spawn(shard).catch((err: Error) => this.log.error(`shard ${shard} restart failed: ${err.message}`, { event: 'shard_restart_failed', shard }));
    }, delay);
  }
}

/**
 * The parent's node flags minus those about an inline script (`node -e …`,
 * --input-type=module): a worker runs its own file, and would refuse or re-run them.
 */
function workerExecArgv(argv: readonly string[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print') i++; // and its script
    else if (!a.startsWith('--input-type') && !a.startsWith('--eval=') && !a.startsWith('--print=')) out.push(a);
  }
  // nothing to drop: let the worker inherit (Node 24's test runner hands its children every
  // option, process-wide ones included, which a worker refuses when they are passed explicitly)
  return out.length === argv.length ? undefined : out;
}
