/**
 * Gap fill with the Redis broker: Pub/Sub delivers at most once, so what is published while a
 * node is not subscribed never reaches it; the node reads it back from the history stream
 * before delivering later messages. Two real nodes on one private redis-server, node B through
 * a TCP proxy the test can cut: a channel B stopped following and follows again (its first
 * subscriber is told the seq in Redis, B's feed filled up to it), and a Redis outage of B alone
 * while A keeps publishing — B's subscribers see no hole in seq either way.
 */
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startServer, type ShardcastServer } from '../src/index.js';
import { TestClient } from './helpers/client.js';
import { RedisServer } from './helpers/redis.js';
import { range, seqsOf } from './helpers/recovery.js';
import { waitUntil } from './helpers/wait.js';

/** A TCP proxy to Redis that can be cut (every connection dropped, new ones refused) and restored. */
class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async to(port: number): Promise<CuttableProxy> {
    let proxy: CuttableProxy | null = null;
    const server = createServer((client) => proxy!.accept(client, port));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    proxy = new CuttableProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  private accept(client: Socket, port: number): void {
    if (this.cut) return void client.destroy();
    const upstream = tcpConnect(port, '127.0.0.1');
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      this.sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        this.sockets.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  }

  setCut(cut: boolean): void {
    this.cut = cut;
    if (cut) for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.setCut(true);
    await new Promise((r) => this.server.close(r));
  }
}

describe('gap fill, Redis broker', () => {
  let redis: RedisServer;
  let proxy: CuttableProxy;
  let probe: Redis;
  let a: ShardcastServer;
  let b: ShardcastServer;
  const opened: TestClient[] = [];

  const node = (url: string): Promise<ShardcastServer> => startServer({ port: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent', broker: 'redis', redisUrl: url });
  const connect = async (s: ShardcastServer): Promise<TestClient> => {
    const c = await TestClient.connect(s.port);
    opened.push(c);
    return c;
  };
  const numsub = async (channel: string): Promise<number> => Number(((await probe.pubsub('NUMSUB', `shardcast:${channel}`)) as [string, number])[1]);
  const waitNumsub = async (channel: string, n: number, what: string): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while ((await numsub(channel)) !== n) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const publishOnA = async (channel: string, n: number): Promise<number> => {
    let seq = 0;
    for (let i = 0; i < n; i++) seq = await a.publish(channel, { i });
    return seq;
  };

  before(async () => {
    redis = await RedisServer.create();
    proxy = await CuttableProxy.to(redis.port);
    probe = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    probe.on('error', () => {});
    await probe.connect();
    a = await node(redis.url);
    b = await node(`redis://127.0.0.1:${proxy.port}`);
  });

  after(async () => {
    for (const c of opened) c.close();
    await Promise.allSettled([a?.close(), b?.close()]);
    probe?.disconnect();
    await proxy?.close();
    await redis?.stop();
  });

  it('a channel a node stopped following and follows again: its subscriber is told the seq in Redis, not the node\'s stale one, and gets what follows', async () => {
    const channel = 'gap:interest';
    const w = await connect(a);
    await w.subscribe(channel);
    const first = await connect(b);
    await first.subscribe(channel);
    await waitNumsub(channel, 2, 'both nodes subscribed');
    await publishOnA(channel, 5);
    await first.until(() => seqsOf(first, channel).length === 5);
    first.close(); // B's last subscriber: B unsubscribes
    await waitNumsub(channel, 1, 'B unsubscribed');
    await publishOnA(channel, 20); // B does not hear of 6…25
    const waits = b.stats().totals.stateWaits;
    const again = await connect(b);
    // B's feed says 5; B subscribes again and reads 6…25 back from the stream before answering
    assert.equal(await again.subscribe(channel), 25, "the channel's seq, not B's stale one");
    assert.equal(b.stats().totals.stateWaits, waits + 1);
    await waitNumsub(channel, 2, 'B subscribed again');
    const last = await publishOnA(channel, 1);
    await again.until(() => seqsOf(again, channel).at(-1) === last, 10_000, `seq ${last} on B`);
    assert.deepEqual(seqsOf(again, channel), range(26, last), 'then the next message, nothing before it');
  });

  it('a Redis outage of one node while the other publishes: after it, the node reads what it missed', async () => {
    const channel = 'gap:outage';
    const onB = await connect(b);
    await onB.subscribe(channel);
    await waitNumsub(channel, 1, 'B subscribed');
    await publishOnA(channel, 5);
    await onB.until(() => seqsOf(onB, channel).length === 5);
    proxy.setCut(true);
    await waitUntil(() => b.stats().main.brokerUp === 0, 10_000, 'B lost Redis');
    await publishOnA(channel, 15); // 6…20, while B is away
    proxy.setCut(false);
    await waitUntil(() => b.stats().main.brokerUp === 1, 15_000, 'B reconnected');
    await onB.until(() => seqsOf(onB, channel).at(-1) === 20, 10_000, 'the missed seqs on B');
    const last = await publishOnA(channel, 2);
    await onB.until(() => seqsOf(onB, channel).at(-1) === last, 10_000, `seq ${last} on B`);
    assert.deepEqual(seqsOf(onB, channel), range(1, last), 'no hole, no duplicate');
    assert.equal(onB.closed, null, 'the client stayed connected');
  });
});
