/**
 * POST /api/disconnect with several nodes (--broker redis): the node the request reaches closes
 * the user's connections on its shards and tells every other node through Redis, so a logout or
 * a ban closes them everywhere (4500) and nobody else's; the answer counts this node's closes
 * and the other nodes told. Redis unreachable: this node's are closed, the answer is 503
 * `overloaded` with Retry-After (the other nodes were not told: retry).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { CloseCode, ErrorCode, ShardcastError, startServer, userChannel, type ShardcastServer } from '../src/index.js';
import { TestClient } from './helpers/client.js';
import { RedisServer } from './helpers/redis.js';
import { waitUntil } from './helpers/wait.js';

const SECRET = 'redis-disconnect-test-secret-0123456789ab';
const API_KEY = 'disconnect-key-0001';

describe('disconnect a user across nodes (Redis broker)', () => {
  let redis: RedisServer;
  const nodes: ShardcastServer[] = [];
  const opened: TestClient[] = [];

  const tokenFor = (sub: string): Promise<string> =>
    new SignJWT({ channels: ['*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
  const connectAs = async (node: ShardcastServer, sub: string): Promise<TestClient> => {
    const c = await TestClient.connect(node.port, `/ws?token=${await tokenFor(sub)}`);
    opened.push(c);
    return c;
  };
  const disconnect = async (node: ShardcastServer, user: string): Promise<{ status: number; retryAfter: string | null; body: Record<string, unknown> }> => {
    const res = await fetch(`http://127.0.0.1:${node.port}/api/disconnect`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ user }),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
  };

  /** Every node subscribed to the disconnect channel (it subscribes when its connection is ready). */
  const everyNodeListening = async (): Promise<void> => {
    const probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const deadline = Date.now() + 10_000;
      while (Number(((await probe.pubsub('NUMSUB', 'shardcast!disconnect')) as [string, number])[1]) !== nodes.length) {
        if (Date.now() > deadline) throw new Error('the nodes never all subscribed to the disconnect channel');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      probe.disconnect();
    }
  };

  before(async () => {
    redis = await RedisServer.create();
    for (const workers of [2, 1, 1]) {
      nodes.push(await startServer({ host: '127.0.0.1', port: 0, workers, logLevel: 'silent', broker: 'redis', redisUrl: redis.url, jwtSecret: SECRET, apiKey: API_KEY }));
    }
    await waitUntil(() => nodes.every((n) => n.stats().main.brokerUp === 1), 10_000, 'every node on Redis');
    await everyNodeListening();
  });

  after(async () => {
    for (const c of opened) c.close();
    await Promise.allSettled(nodes.map((n) => n.close()));
    await redis?.stop();
  });

  it("closes the user's connections on every node with 4500, and only theirs", async () => {
    const [a, b, c] = nodes as [ShardcastServer, ShardcastServer, ShardcastServer];
    const alice = [await connectAs(a, 'alice'), await connectAs(a, 'alice'), await connectAs(b, 'alice'), await connectAs(c, 'alice')];
    const bob = [await connectAs(a, 'bob'), await connectAs(b, 'bob'), await connectAs(c, 'bob')];
    // each node subscribed to alice's per-user channel: the request must not depend on that
    const r = await disconnect(b, 'alice');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { closed: 1, nodes: 2 });
    for (const x of alice) assert.equal((await x.waitClosed()).code, CloseCode.DisconnectedByServer);
    // nobody else: bob's connections are open and still get his messages on every node
    const seq = await c.publishToUser('bob', 'still here');
    for (const x of bob) {
      assert.equal((await x.waitFor((m) => m.type === 'message' && m['channel'] === userChannel('bob') && m['seq'] === seq))['data'], 'still here');
      assert.equal(x.closed, null);
    }
    // the in-process API does the same from any node, and counts its own closes
    const carol = [await connectAs(a, 'carol'), await connectAs(c, 'carol')];
    assert.equal(await c.disconnectUser('carol'), 1);
    for (const x of carol) assert.equal((await x.waitClosed()).code, CloseCode.DisconnectedByServer);
    // a user with no connection anywhere: nothing closed, every other node still told
    assert.deepEqual((await disconnect(a, 'nobody')).body, { closed: 0, nodes: 2 });
  });

  it("Redis unreachable: this node's connections are closed, the answer is 503 overloaded with Retry-After", async () => {
    const [a, b] = nodes as [ShardcastServer, ShardcastServer, ShardcastServer];
    const here = await connectAs(a, 'dave');
    const there = await connectAs(b, 'dave');
    await redis.kill();
    try {
      await waitUntil(() => a.stats().main.brokerUp === 0, 10_000, 'node a sees Redis gone');
      const r = await disconnect(a, 'dave');
      assert.equal(r.status, 503);
      assert.equal(r.retryAfter, '1');
      assert.equal((r.body['error'] as { code: string }).code, ErrorCode.Overloaded);
      assert.match((r.body['error'] as { message: string }).message, /closed 1 connection\(s\) on this node only/);
      assert.equal((await here.waitClosed()).code, CloseCode.DisconnectedByServer);
      assert.equal(there.closed, null, 'the other node was not told');
      await assert.rejects(a.disconnectUser('dave'), (e: unknown) => e instanceof ShardcastError && e.code === ErrorCode.Overloaded);
    } finally {
      await redis.start();
    }
    // Redis back: the retry reaches the other node
    await waitUntil(() => nodes.every((n) => n.stats().main.brokerUp === 1), 15_000, 'every node back on Redis');
    await everyNodeListening();
    assert.deepEqual((await disconnect(a, 'dave')).body, { closed: 0, nodes: 2 });
    assert.equal((await there.waitClosed()).code, CloseCode.DisconnectedByServer);
  });
});
