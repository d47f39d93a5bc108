/**
 * Three Shardcast nodes (two shards each, in this process) on one private redis-server:
 * subscribers on both shards of every node, and publishes through every node and every
 * ingress at once — HTTP POST /api/publish, a WebSocket client's publish, the IPC socket and
 * the in-process publish(). Every subscriber gets every message exactly once, in seq order,
 * and a message has the same seq on every node: the one its publisher was given.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestClient, spreadOverTwoShards, type ClientFormat } from './helpers/client.js';
import { startWithIpc, type ServerWithIpc } from './helpers/ipc-server.js';
import { RedisServer } from './helpers/redis.js';
import { range, wsPublish } from './helpers/recovery.js';

const API_KEY = 'three-nodes-test-key-123';
const CHANNEL = 'three:nodes';
/** Messages per (node, ingress) pair: 3 nodes × 4 ingresses × this in all. */
const EACH = 40;

interface Got {
  seq: number;
  key: string;
}

/** The channel's messages a client has, as (seq, which publish) in arrival order. */
const received = (c: TestClient): Got[] =>
  c.inbox.filter((m) => m.type === 'message' && m['channel'] === CHANNEL).map((m) => {
    const d = m['data'] as { key: string };
    return { seq: m['seq'] as number, key: d.key };
  });

describe('three nodes on one Redis: every ingress of every node, every subscriber', () => {
  let redis: RedisServer;
  const nodes: ServerWithIpc[] = [];
  const opened: TestClient[] = [];

  before(async () => {
    redis = await RedisServer.create();
    for (let i = 0; i < 3; i++) {
      nodes.push(await startWithIpc({ port: 0, host: '127.0.0.1', workers: 2, logLevel: 'silent', apiKey: API_KEY, broker: 'redis', redisUrl: redis.url, clientPublishRate: 0, historySize: 1000 }));
    }
  });

  after(async () => {
    for (const c of opened) c.close();
    await Promise.allSettled(nodes.map((n) => n.close([])));
    await redis?.stop();
  });

  it('delivers every message exactly once, in seq order, with one seq per message on every node', async () => {
    // two subscribers on each shard of each node, JSON and MessagePack on every node
    const subscribers: TestClient[] = [];
    for (const { server } of nodes) {
      for (const format of ['json', 'msgpack'] as ClientFormat[]) {
        const connect = (): Promise<TestClient> => (format === 'json' ? TestClient.connect(server.port) : TestClient.connectMsgpack(server.port));
        subscribers.push(...(await spreadOverTwoShards(connect, 2, opened)));
      }
    }
    for (const c of subscribers) assert.equal(await c.subscribe(CHANNEL), 0);
    const publishers = await Promise.all(nodes.map(async ({ server }) => {
      const c = await TestClient.connect(server.port);
      opened.push(c);
      return c;
    }));

    const given = new Map<string, number>(); // publish key → the seq its publisher was given
    const http = async (port: number, key: string): Promise<number> => {
      const res = await fetch(`http://127.0.0.1:${port}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel: CHANNEL, data: { key } }) });
      assert.equal(res.status, 200, key);
      return ((await res.json()) as { seq: number }).seq;
    };
    const streams: Array<Promise<void>> = [];
    nodes.forEach(({ server, ipc }, n) => {
      const ingresses: Record<string, (key: string) => Promise<number>> = {
        http: (key) => http(server.port, key),
        ws: (key) => wsPublish(publishers[n]!, CHANNEL, { key }, key),
        ipc: (key) => ipc.publish(CHANNEL, { key }),
        api: (key) => server.publish(CHANNEL, { key }),
      };
      for (const [via, publish] of Object.entries(ingresses)) {
        // the 12 streams run at once; each has up to two publishes in flight
        const one = async (i: number): Promise<void> => {
          const key = `n${n}-${via}-${i}`;
          given.set(key, await publish(key));
        };
        streams.push((async () => {
          for (let i = 0; i < EACH; i += 2) await Promise.all([one(i), ...(i + 1 < EACH ? [one(i + 1)] : [])]);
        })());
      }
    });
    await Promise.all(streams);

    const total = 3 * 4 * EACH;
    assert.equal(given.size, total);
    assert.deepEqual([...given.values()].sort((x, y) => x - y), range(1, total), 'each publish got its own seq, 1…total');
    for (const c of subscribers) await c.until(() => received(c).length >= total, 15_000, `${total} messages`);
    const epochs = new Set<unknown>();
    for (const [i, c] of subscribers.entries()) {
      const where = `subscriber ${i} (node ${Math.floor(i / 4)}, shard ${c.welcome!.shard}, ${c.format})`;
      const got = received(c);
      assert.deepEqual(got.map((g) => g.seq), range(1, total), `every seq once, in order (${where})`);
      for (const g of got) assert.equal(g.seq, given.get(g.key), `${g.key} has the seq its publisher got (${where})`);
      for (const m of c.inbox) if (m['channel'] === CHANNEL && typeof m['epoch'] === 'string') epochs.add(m['epoch']);
    }
    assert.equal(epochs.size, 1, 'one epoch on every node');
  });
});
