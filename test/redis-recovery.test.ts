/**
 * Recovery with the Redis broker: two real Shardcast nodes (two shards and one) on one private
 * redis-server. A subscriber drops mid-stream on one node and reconnects to either node —
 * one that follows the channel, or one that never did (it subscribes, reads the history
 * stream and fills its feed up to it) — and subscribes with `since` while publishes flow on
 * both nodes over HTTP and WebSocket: every missed message exactly once, in order, then live
 * ones; JSON and MessagePack, and with merge windows on. Another epoch, or a history trimmed past `since`: recovered:false.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { TestClient, spreadOverTwoShards, type ClientFormat } from './helpers/client.js';
import { RedisServer } from './helpers/redis.js';
import { assertRecovered, epochOf, flow, range, seqsOf, subscribeSince, wsPublish } from './helpers/recovery.js';
import { sleep } from './helpers/wait.js';

const API_KEY = 'redis-recovery-test-key-123';

function suite(title: string, mergeMs: number, formats: readonly ClientFormat[], edgeCases: boolean): void {
  describe(title, () => {
    let redis: RedisServer;
    let a: ShardcastServer;
    let b: ShardcastServer;
    const opened: TestClient[] = [];

    const node = (workers: number): Promise<ShardcastServer> =>
      startServer({ port: 0, host: '127.0.0.1', workers, logLevel: 'silent', apiKey: API_KEY, broker: 'redis', redisUrl: redis.url, clientPublishRate: 0, historySize: 100, mergeMs });
    const connect = async (s: ShardcastServer, format: ClientFormat = 'json'): Promise<TestClient> => {
      const c = format === 'json' ? await TestClient.connect(s.port) : await TestClient.connectMsgpack(s.port);
      opened.push(c);
      return c;
    };
    const httpPublish = async (s: ShardcastServer, channel: string, data: unknown): Promise<number> => {
      const res = await fetch(`http://127.0.0.1:${s.port}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel, data }) });
      assert.equal(res.status, 200);
      return ((await res.json()) as { seq: number }).seq;
    };

    before(async () => {
      redis = await RedisServer.create();
      a = await node(2);
      b = await node(1);
    });

    after(async () => {
      for (const c of opened) c.close();
      await Promise.allSettled([a?.close(), b?.close()]);
      await redis?.stop();
    });

    for (const format of formats) {
      it(`a ${format} subscriber dropped on one node recovers on both, the one that never followed the channel included, while both publish`, async () => {
        const channel = `rr:${format}`;
        const old = await connect(a, format);
        assert.equal(await old.subscribe(channel), 0);
        // publishers on both nodes; node B has no subscriber of the channel (a publisher is none)
        const [pa, pb] = [await connect(a), await connect(b)];
        const stream = flow([
          (i) => httpPublish(a, channel, { via: 'http-a', i }),
          (i) => wsPublish(pb, channel, { via: 'ws-b', i }, `b${i}`),
          (i) => httpPublish(b, channel, { via: 'http-b', i }),
          (i) => wsPublish(pa, channel, { via: 'ws-a', i }, `a${i}`),
        ]);
        await old.until(() => seqsOf(old, channel).length >= 20, 10_000, 'first messages');
        old.close();
        const seen = seqsOf(old, channel);
        assert.deepEqual(seen, range(1, seen.length));
        const lastSeen = seen.at(-1)!;
        const epoch = epochOf(old, channel);
        await sleep(60);
        const onA = await spreadOverTwoShards(() => (format === 'json' ? TestClient.connect(a.port) : TestClient.connectMsgpack(a.port)), 2, opened);
        const back = [await connect(b, format), ...onA];
        const sinces = [lastSeen, lastSeen - 5, Math.max(0, lastSeen - 12)];
        const answers = await Promise.all(back.map((c, i) => subscribeSince(c, channel, sinces[i]!, epoch)));
        await sleep(60);
        const final = await stream.stop();
        await assertRecovered(back, answers, channel, sinces, epoch, final);
      });
    }

    if (!edgeCases) return;

    it('a node that never followed the channel answers a client that is up to date: recovered:true, nothing replayed', async () => {
      const channel = 'rr:current';
      const w = await connect(a);
      await w.subscribe(channel);
      for (let i = 0; i < 5; i++) await a.publish(channel, i);
      await w.until(() => seqsOf(w, channel).length === 5);
      const c = await connect(b);
      const { answer, at } = await subscribeSince(c, channel, 5, epochOf(w, channel));
      assert.deepEqual(answer, { type: 'subscribed', channel, seq: 5, epoch: epochOf(w, channel), recovered: true });
      await a.publish(channel, 'next');
      await c.until(() => seqsOf(c, channel, at).length === 1);
      assert.deepEqual(seqsOf(c, channel), [6]);
    });

    it('another epoch, or a history trimmed past since: recovered:false, nothing replayed, live messages follow', async () => {
      const channel = 'rr:out';
      const w = await connect(a);
      await w.subscribe(channel);
      const sent: Array<Promise<number>> = [];
      for (let i = 0; i < 400; i++) sent.push(a.publish(channel, i)); // MAXLEN ~ 100 trims whole stream nodes
      await Promise.all(sent);
      await w.until(() => seqsOf(w, channel).length === 400);
      const epoch = epochOf(w, channel);
      const [stale, foreign] = [await connect(b), await connect(a)];
      const x = await subscribeSince(stale, channel, 3, epoch);
      assert.deepEqual(x.answer, { type: 'subscribed', channel, seq: 400, epoch, recovered: false });
      const y = await subscribeSince(foreign, channel, 399, epoch === '00000000' ? '00000001' : '00000000');
      assert.deepEqual(y.answer, { type: 'subscribed', channel, seq: 400, epoch, recovered: false });
      await b.publish(channel, 'live');
      for (const c of [stale, foreign]) await c.until(() => seqsOf(c, channel).length === 1);
      assert.deepEqual([seqsOf(stale, channel), seqsOf(foreign, channel)], [[401], [401]]);
    });
  });
}

suite('recovery, Redis broker: two nodes on one Redis', 0, ['json', 'msgpack'], true);
suite('recovery, Redis broker, --merge-ms 20', 20, ['json'], false);
