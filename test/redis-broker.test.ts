/**
 * The Redis broker (--broker redis): two real Shardcast nodes in this process (two shards and
 * one) on one private redis-server, real WebSocket clients. A publish on either node reaches the
 * subscribers of both with the same seq, one order per channel under concurrent publishing on
 * both nodes; binary MessagePack data arrives byte for byte; per-user delivery crosses nodes; a
 * node without subscribers of a channel gets none of its traffic; Redis killed: publishes
 * refused `overloaded` (HTTP 503 + Retry-After), clients stay; Redis back: publishing resumes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { ErrorCode, ShardcastError, startServer, userChannel, type ShardcastServer } from '../src/index.js';
import { TestClient } from './helpers/client.js';
import { RedisServer } from './helpers/redis.js';
import { waitUntil } from './helpers/wait.js';

const SECRET = 'redis-broker-test-secret-0123456789abcdef';

describe('Redis broker: two nodes on one Redis', () => {
  let redis: RedisServer;
  let probe: Redis;
  let a: ShardcastServer;
  let b: ShardcastServer;
  const opened: TestClient[] = [];

  /** What node a logged (warn and error lines, and the broker's info lines). */
  const logOfA: string[] = [];
  const node = (workers: number, log?: (line: string) => void): Promise<ShardcastServer> =>
    startServer(
      { port: 0, workers, logLevel: 'silent', broker: 'redis', redisUrl: redis.url, jwtSecret: SECRET, allowAnonymous: true, anonymousChannels: ['*'] },
      log && { debug: () => {}, info: log, warn: log, error: log },
    );
  const connect = async (s: ShardcastServer, path = '/ws'): Promise<TestClient> => {
    const c = await TestClient.connect(s.port, path);
    opened.push(c);
    return c;
  };
  /** Nodes subscribed to `channel` in Redis (PUBSUB NUMSUB). */
  const numsub = async (channel: string): Promise<number> => {
    const r = (await probe.pubsub('NUMSUB', `shardcast:${channel}`)) as [string, number];
    return Number(r[1]);
  };
  const waitNumsub = async (channel: string, n: number): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while ((await numsub(channel)) !== n) {
      if (Date.now() > deadline) throw new Error(`${channel}: NUMSUB never reached ${n}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const seqsOf = (c: TestClient, channel: string): number[] => c.messages(channel).map((m) => m['seq'] as number);

  before(async () => {
    redis = await RedisServer.create();
    probe = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    probe.on('error', () => {});
    await probe.connect();
    a = await node(2, (line) => logOfA.push(line));
    b = await node(1);
  });

  after(async () => {
    for (const c of opened) c.close();
    await Promise.allSettled([a?.close(), b?.close()]);
    probe?.disconnect();
    await redis?.stop();
  });

  it('a publish on either node reaches the subscribers of both, with the same seq, one order under concurrent publishing', async () => {
    const onA = [await connect(a), await connect(a), await connect(a)];
    const onB = await connect(b);
    const all = [...onA, onB];
    for (const c of all) await c.subscribe('room');
    await waitNumsub('room', 2); // once per node, not per client
    assert.equal(await a.publish('room', { from: 'a' }), 1);
    assert.equal(await b.publish('room', { from: 'b' }), 2);
    // 2 × 150 publishes in flight at once from both nodes, by the API and over HTTP
    const sent: Array<Promise<unknown>> = [];
    for (let i = 0; i < 150; i++) {
      sent.push(a.publish('room', { n: `a${i}` }));
      sent.push(
        fetch(`http://127.0.0.1:${b.port}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'room', data: { n: `b${i}` } }) }).then(async (r) => {
          assert.equal(r.status, 200);
          return r.json();
        }),
      );
    }
    await Promise.all(sent);
    for (const c of all) await c.until(() => c.messages('room').length === 302, 15_000, 'all 302 messages');
    const expected = Array.from({ length: 302 }, (_, i) => i + 1);
    const order = (c: TestClient): string => JSON.stringify(c.messages('room').map((m) => [m['seq'], m['data']]));
    for (const c of all) assert.deepEqual(seqsOf(c, 'room'), expected, 'seqs 1…302, no gap, no duplicate');
    for (const c of all) assert.equal(order(c), order(onB), 'the same message under each seq on both nodes');
    // each node's own publications kept their order (per-node publish order is per-channel order)
    const fromA = onB.messages('room').map((m) => (m['data'] as { n?: string }).n).filter((n) => n?.startsWith('a'));
    assert.deepEqual(fromA, Array.from({ length: 150 }, (_, i) => `a${i}`));
    assert.equal(a.stats().main.brokerUp, 1);
  });

  it('deliver before answering: each ack comes after its message, delivered from Redis or, unsubscribed, from the reply', async () => {
    const c = await connect(a);
    await c.subscribe('acked');
    await waitNumsub('acked', 1);
    const other: Array<Promise<number>> = [];
    for (let i = 0; i < 100; i++) {
      c.send({ type: 'publish', channel: 'acked', data: i, id: `p${i}` });
      other.push(b.publish('acked', -i)); // interleaved by Redis with node a's own
    }
    await c.until(() => c.inbox.filter((f) => f.type === 'ack').length === 100, 10_000, '100 acks');
    await Promise.all(other);
    for (let i = 0; i < 100; i++) {
      const ackAt = c.inbox.findIndex((f) => f.type === 'ack' && f['id'] === `p${i}`);
      const seq = c.inbox[ackAt]!['seq'];
      const msgAt = c.inbox.findIndex((f) => f.type === 'message' && f['seq'] === seq);
      assert.ok(msgAt >= 0 && msgAt < ackAt, `message ${String(seq)} before its ack`);
      assert.equal(c.inbox[msgAt]!['data'], i);
    }
    // a channel nobody subscribes to: node a's own publications still reach its shards (from
    // the replies), so a subscriber that comes later is told the seq it starts after
    // (the publisher subscribes itself: its acks, held behind any merge window, follow the
    // publications in its own shard's feed)
    const p = await connect(a);
    for (let i = 1; i <= 3; i++) {
      p.send({ type: 'publish', channel: 'cold', data: i, id: `c${i}` });
      const ack = await p.waitFor((f) => f.type === 'ack' && f['id'] === `c${i}`);
      assert.equal(ack['seq'], i);
    }
    assert.equal(await p.subscribe('cold'), 3);
  });

  it('MessagePack data crosses nodes byte for byte; per-user delivery reaches the user on the other node', async () => {
    const mp = await TestClient.connectMsgpack(b.port);
    opened.push(mp);
    await mp.subscribe('bin');
    await waitNumsub('bin', 1);
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    const seq = await a.publish('bin', { blob: bytes });
    const m = await mp.waitFor((f) => f.type === 'message' && f['channel'] === 'bin');
    assert.equal(m['seq'], seq);
    assert.deepEqual(new Uint8Array((m['data'] as { blob: Uint8Array }).blob), bytes);

    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    const alice = await connect(a, `/ws?token=${token}`);
    await waitNumsub(userChannel('alice'), 1);
    const userSeq = await b.publishToUser('alice', { hello: 'from b' });
    const got = await alice.waitFor((f) => f.type === 'message' && f['channel'] === userChannel('alice'));
    assert.deepEqual([got['seq'], got['data']], [userSeq, { hello: 'from b' }]);
  });

  it('a node with no local subscribers of a channel receives none of its traffic', async () => {
    const c = await connect(a);
    await c.subscribe('only-a');
    await waitNumsub('only-a', 1);
    const before = b.stats().main.brokerReceived;
    const receivedA = a.stats().main.brokerReceived;
    for (let i = 0; i < 50; i++) await b.publish('only-a', i);
    await c.until(() => c.messages('only-a').length === 50, 10_000, '50 messages on node a');
    assert.deepEqual(seqsOf(c, 'only-a'), Array.from({ length: 50 }, (_, i) => i + 1));
    await waitUntil(() => a.stats().main.brokerReceived - receivedA >= 50, 5000, 'node a counted them');
    assert.equal(b.stats().main.brokerReceived, before, 'node b, which published them, received none back');
    // the last local subscriber leaves: the node unsubscribes
    c.send({ type: 'unsubscribe', channel: 'only-a' });
    await waitNumsub('only-a', 0);
  });

  it('Redis killed: publishes refused overloaded (HTTP 503 + Retry-After), clients stay; Redis back: publishing resumes', async () => {
    const ca = await connect(a);
    const cb = await connect(b);
    await ca.subscribe('live');
    await cb.subscribe('live');
    await waitNumsub('live', 2);
    await a.publish('live', 'before');
    await redis.kill();
    await waitUntil(() => a.stats().main.brokerUp === 0 && b.stats().main.brokerUp === 0, 10_000, 'both nodes see Redis gone');
    await assert.rejects(a.publish('live', 'lost?'), (err: unknown) => err instanceof ShardcastError && err.code === ErrorCode.Overloaded);
    const res = await fetch(`http://127.0.0.1:${b.port}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'live', data: 'lost?' }) });
    assert.equal(res.status, 503);
    assert.ok(res.headers.get('retry-after'), 'Retry-After');
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, ErrorCode.Overloaded);
    ca.send({ type: 'publish', channel: 'live', data: 'lost?', id: 'w1' });
    const refused = await ca.waitFor((f) => f.type === 'error' && f['ref'] === 'w1');
    assert.equal(refused['code'], ErrorCode.Overloaded);
    assert.equal(a.stats().main.brokerDisconnects, 1);
    const lost = logOfA.filter((l) => l.includes('Redis broker: lost'));
    assert.equal(lost.length, 1, 'logged once, however many reconnect attempts fail');
    assert.ok(a.stats().main.rejectedOverloaded >= 1);

    await redis.start(); // empty: the channel starts a new epoch at seq 1
    await waitUntil(() => a.stats().main.brokerUp === 1 && b.stats().main.brokerUp === 1, 15_000, 'both nodes reconnected');
    await waitNumsub('live', 2); // resubscribed
    assert.equal(logOfA.filter((l) => l.includes('reachable again')).length, 1);
    assert.equal(logOfA.filter((l) => l.includes('Redis broker: lost')).length, 1);
    const seq = await b.publish('live', 'after');
    for (const c of [ca, cb]) {
      const m = await c.waitFor((f) => f.type === 'message' && f['data'] === 'after');
      assert.equal(m['seq'], seq);
      assert.equal(c.closed, null, 'clients stayed connected');
      assert.ok(!c.messages('live').some((x) => x['data'] === 'lost?'), 'nothing refused was delivered');
    }
  });
});

describe('Redis broker: Redis unreachable at start', () => {
  it('the node starts anyway, refuses publishes overloaded, and publishes once Redis answers', async () => {
    const redis = await RedisServer.create();
    await redis.kill(); // its port, with nothing listening
    const lines: string[] = [];
    const log = (l: string): number => lines.push(l);
    const started = Date.now();
    const s = await startServer({ port: 0, workers: 1, logLevel: 'silent', broker: 'redis', redisUrl: redis.url }, { debug: () => {}, info: log, warn: log, error: log });
    try {
      assert.ok(Date.now() - started < 8000, 'start-up waits a bounded time for Redis');
      assert.ok(lines.some((l) => l.includes('cannot reach')), lines.join('\n'));
      assert.equal(s.stats().main.brokerUp, 0);
      await assert.rejects(s.publish('x', 1), (err: unknown) => err instanceof ShardcastError && err.code === ErrorCode.Overloaded);
      const c = await TestClient.connect(s.port);
      await c.subscribe('x');
      await redis.start();
      await waitUntil(() => s.stats().main.brokerUp === 1, 15_000, 'connected');
      await waitUntil(() => lines.some((l) => l.includes('connected to')), 1000, 'logged');
      // the subscribe made while Redis was away is in place (not only its own publishes' replies)
      const probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      try {
        const deadline = Date.now() + 5000;
        while (Number(((await probe.pubsub('NUMSUB', 'shardcast:x')) as [string, number])[1]) !== 1) {
          assert.ok(Date.now() < deadline, 'subscribed once Redis answered');
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        probe.disconnect();
      }
      const seq = await s.publish('x', 'hello');
      const m = await c.waitFor((f) => f.type === 'message' && f['channel'] === 'x');
      assert.deepEqual([m['seq'], m['data']], [seq, 'hello']);
      c.close();
    } finally {
      await s.close();
      await redis.stop();
    }
  });
});
