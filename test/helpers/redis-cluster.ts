/**
 * RedisCluster — a private Redis Cluster of three masters (no replicas) for a test: three
 * RedisServer instances with cluster mode on, slots split in three ranges by hand
 * (CLUSTER ADDSLOTSRANGE, SET-CONFIG-EPOCH, MEET — what `redis-cli --cluster create` does),
 * ready once every node sees all three and says cluster_state:ok.
 * --cluster-require-full-coverage no: with one node gone the others keep serving their slots.
 */
import { Redis } from 'ioredis';
import { RedisServer } from './redis.js';
import { sleep } from './wait.js';

const RANGES: ReadonlyArray<readonly [number, number]> = [[0, 5460], [5461, 10922], [10923, 16383]];

export class RedisCluster {
  /** Slots moved by migrateSlot: slot → node. */
  private readonly migrated = new Map<number, number>();

  private constructor(readonly nodes: readonly RedisServer[]) {}

  /** Seed URLs, comma-separated (what --redis-url takes with --redis-cluster). */
  get url(): string {
    return this.nodes.map((n) => n.url).join(',');
  }

  /** The node (0–2) that holds `slot`. */
  nodeOf(slot: number): number {
    return this.migrated.get(slot) ?? RANGES.findIndex(([a, b]) => slot >= a && slot <= b);
  }

  /** A plain (non-cluster) connection to node `i`; the caller quits it. */
  connect(i: number): Redis {
    return new Redis(this.nodes[i]!.port, '127.0.0.1', { lazyConnect: false, maxRetriesPerRequest: 1 });
  }

  static async create(): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    const cluster = new RedisCluster(nodes);
    try {
      for (let i = 0; i < 3; i++) {
        nodes.push(await RedisServer.create(null, ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '3000', '--cluster-require-full-coverage', 'no']));
      }
      const conns = nodes.map((_, i) => cluster.connect(i));
      try {
        for (let i = 0; i < 3; i++) {
          await conns[i]!.call('CLUSTER', 'ADDSLOTSRANGE', RANGES[i]![0], RANGES[i]![1]);
          await conns[i]!.call('CLUSTER', 'SET-CONFIG-EPOCH', i + 1);
        }
        for (let i = 1; i < 3; i++) await conns[0]!.call('CLUSTER', 'MEET', '127.0.0.1', nodes[i]!.port);
        const deadline = Date.now() + 20_000;
        for (;;) {
          const infos = await Promise.all(conns.map((c) => c.call('CLUSTER', 'INFO') as Promise<string>));
          const slots = await Promise.all(conns.map((c) => c.call('CLUSTER', 'SLOTS') as Promise<unknown[]>));
          if (infos.every((t) => t.includes('cluster_state:ok') && t.includes('cluster_known_nodes:3')) && slots.every((s) => s.length === 3)) break;
          if (Date.now() > deadline) throw new Error(`the cluster did not form within 20 s: ${infos.join(' | ')}`);
          await sleep(100);
        }
      } finally {
        for (const c of conns) c.disconnect();
      }
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /**
   * Moves `slot` with its keys from node `from` to node `to`, as `redis-cli --cluster reshard`
   * does: IMPORTING / MIGRATING, MIGRATE of every key, then SETSLOT NODE on every node.
   */
  async migrateSlot(slot: number, from: number, to: number): Promise<void> {
    const conns = this.nodes.map((_, i) => this.connect(i));
    try {
      const [src, dst] = [conns[from]!, conns[to]!];
      const srcId = (await src.call('CLUSTER', 'MYID')) as string;
      const dstId = (await dst.call('CLUSTER', 'MYID')) as string;
      await dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', srcId);
      await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', dstId);
      for (;;) {
        const keys = (await src.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
        if (keys.length === 0) break;
        await src.call('MIGRATE', '127.0.0.1', this.nodes[to]!.port, '', 0, 5000, 'KEYS', ...keys);
      }
      for (const c of [dst, src, ...conns.filter((_, i) => i !== from && i !== to)]) await c.call('CLUSTER', 'SETSLOT', slot, 'NODE', dstId);
      this.migrated.set(slot, to);
    } finally {
      for (const c of conns) c.disconnect();
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.nodes.map((n) => n.stop()));
  }
}
