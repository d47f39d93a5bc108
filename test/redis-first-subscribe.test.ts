/**
 * A first subscribe on a node that does not follow the channel (Redis broker, two real nodes on
 * one private redis-server): the `subscribed` answer carries the channel's true seq and epoch
 * (the node reads them from Redis, subscribed first), and the socket's stream continues right
 * after that seq — no false gap, no duplicate, and no message lost to a Redis SUBSCRIBE not yet
 * in place, even with nothing published afterwards to reveal it. Many sockets on both shards at
 * once while the other node publishes; a reconnect with `since` after such a first subscribe;
 * per-user channels; and a later subscriber on a shard that follows the channel is answered at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { startServer, userChannel, type ShardcastServer } from '../src/index.js';
import { ErrorCode } from '../src/protocol/codes.js';
import { TestClient, spreadOverTwoShards, type ClientFormat, type Frame } from './helpers/client.js';
import { RecordingClient } from './helpers/recording-client.js';
import { RedisServer } from './helpers/redis.js';
import { assertRecovered, flow, range, seqsOf, subscribeSince } from './helpers/recovery.js';
import { sleep } from './helpers/wait.js';

const SECRET = 'redis-first-subscribe-secret-0123456789';
const EPOCH = /^[0-9a-f]{8}$/;

describe('Redis broker: a first subscribe on a node that does not follow the channel', () => {
  let redis: RedisServer;
  let a: ShardcastServer;
  let b: ShardcastServer;
  const opened: TestClient[] = [];
  const recording: RecordingClient[] = [];

  const node = (workers: number): Promise<ShardcastServer> =>
    startServer({ port: 0, host: '127.0.0.1', workers, logLevel: 'silent', broker: 'redis', redisUrl: redis.url, clientPublishRate: 0, historySize: 100, jwtSecret: SECRET, allowAnonymous: true, anonymousChannels: ['*'] });
  const connect = async (s: ShardcastServer, format: ClientFormat = 'json', path = '/ws'): Promise<TestClient> => {
    const c = format === 'json' ? await TestClient.connect(s.port, path) : await TestClient.connectMsgpack(s.port);
    opened.push(c);
    return c;
  };
  /** The channel's epoch as node B's subscribers learnt it (seq 1 carries it). */
  const epochOnB = async (channel: string): Promise<string> => {
    const watcher = await connect(b);
    assert.equal(await watcher.subscribe(channel), 0);
    await b.publish(channel, { first: true });
    const m = await watcher.waitFor((f) => f.type === 'message' && f['channel'] === channel);
    watcher.close();
    return m['epoch'] as string;
  };
  const stateWaits = (s: ShardcastServer): number => s.stats().totals.stateWaits;

  before(async () => {
    redis = await RedisServer.create();
    a = await node(2);
    b = await node(1);
  });

  after(async () => {
    for (const c of opened) c.close();
    for (const r of recording) r.close();
    await Promise.allSettled([a?.close(), b?.close()]);
    await redis?.stop();
  });

  for (const format of ['json', 'msgpack'] as const) {
    it(`the client library (${format}) gets the channel's seq and epoch, then the next message at once, and no gap`, async () => {
      const channel = `first:lib:${format}`;
      const epoch = await epochOnB(channel);
      for (let i = 2; i <= 3; i++) assert.equal(await b.publish(channel, { old: i }), i);
      const c = new RecordingClient(a.port, { format });
      recording.push(c);
      await c.client.subscribe(channel);
      // no pause: published the moment A answered, it must not be lost to A's SUBSCRIBE
      assert.equal(await b.publish(channel, 'x'), 4);
      // nothing is published after it: a message A missed would never be revealed
      await c.until(() => c.seqs(channel).length === 1, `seq 4 on A (${format})`, 5_000);
      const subscribed = c.events('subscribed').filter((e) => e.channel === channel);
      assert.deepEqual(subscribed.map((e) => [e.seq, e.epoch]), [[3, epoch]]);
      assert.deepEqual(c.events('message').map((m) => [m.seq, m.epoch, m.data]), [[4, epoch, 'x']]);
      assert.deepEqual(c.events('gap'), []);
      assert.deepEqual(c.events('unrecovered'), []);
    });
  }

  it('many sockets on both shards of A, JSON and MessagePack, subscribing at once while B publishes: one position each, then every later seq once, in order', async () => {
    const channel = 'first:many';
    const epoch = await epochOnB(channel);
    const clients = [
      ...(await spreadOverTwoShards(() => connect(a, 'json'), 12, opened)),
      ...(await spreadOverTwoShards(() => connect(a, 'msgpack'), 8, opened)),
    ];
    const stream = flow([(i) => b.publish(channel, { i })]);
    await sleep(30);
    const answers = await Promise.all(
      clients.map(async (c) => {
        c.send({ type: 'subscribe', channel });
        return c.waitFor((m) => m.type === 'subscribed' && m['channel'] === channel);
      }),
    );
    await sleep(60);
    const final = await stream.stop();
    for (let i = 0; i < clients.length; i++) {
      const c = clients[i]!;
      const answer: Frame = answers[i]!;
      const where = `shard ${c.welcome!.shard}, ${c.format}`;
      const seq = answer['seq'] as number;
      assert.ok(seq >= 1, `a real position (${where}): ${seq}`);
      assert.equal(answer['epoch'], epoch, `the channel's epoch (${where})`);
      assert.equal('recovered' in answer, false, `no recovered field (${where})`);
      await c.until(() => seqsOf(c, channel).at(-1) === final, 10_000, `messages up to ${final} (${where})`);
      assert.deepEqual(seqsOf(c, channel), range(seq + 1, final), `exactly ${seq + 1}…${final}, once each, in order (${where})`);
      assert.ok(c.inbox.indexOf(answer) < c.inbox.findIndex((m) => m.type === 'message'), `subscribed first (${where})`);
    }
    // one request per shard and channel served them all; a later subscriber here is answered at once
    const waits = stateWaits(a);
    const late = await connect(a);
    assert.equal(await late.subscribe(channel), final);
    assert.equal(stateWaits(a), waits, 'a shard that follows the channel answers at once');
  });

  it('after such a first subscribe, a reconnect with since recovers on either node', async () => {
    const channel = 'first:since';
    const epoch = await epochOnB(channel);
    for (let i = 2; i <= 5; i++) await b.publish(channel, { old: i });
    const first = await connect(a);
    first.send({ type: 'subscribe', channel });
    const answer = await first.waitFor((m) => m.type === 'subscribed' && m['channel'] === channel);
    assert.deepEqual([answer['seq'], answer['epoch']], [5, epoch]);
    for (let i = 6; i <= 8; i++) await b.publish(channel, { i });
    await first.until(() => seqsOf(first, channel).at(-1) === 8, 5_000, 'seq 8');
    first.close();
    const lastSeen = 8;
    for (let i = 9; i <= 12; i++) await b.publish(channel, { i });
    const back = [await connect(a), await connect(b, 'msgpack')];
    const answers = await Promise.all(back.map((c) => subscribeSince(c, channel, lastSeen, answer['epoch'] as string)));
    const final = await b.publish(channel, { last: true });
    await assertRecovered(back, answers, channel, [lastSeen, lastSeen], epoch, final);
  });

  it('while the answer is pending (Redis paused): a second subscribe is refused, an unsubscribe ends the wait', async () => {
    const [kept, dropped] = ['first:pending', 'first:dropped'];
    const epoch = await epochOnB(kept);
    await b.publish(dropped, { before: true });
    const c = await connect(a);
    const probe = new Redis(redis.url, { lazyConnect: true });
    await probe.connect();
    try {
      // every command of the nodes waits until the pause ends: the answers cannot come before it
      await probe.call('CLIENT', 'PAUSE', '3000', 'ALL');
      const from = c.inbox.length;
      for (const m of [{ type: 'subscribe', channel: kept }, { type: 'subscribe', channel: kept }, { type: 'subscribe', channel: dropped }, { type: 'unsubscribe', channel: dropped }]) c.send(m);
      const refused = await c.waitFor((m) => m.type === 'error', 2_000, from);
      assert.equal(refused['code'], ErrorCode.BadMessage);
      assert.equal(refused['ref'], 'subscribe');
      await c.waitFor((m) => m.type === 'unsubscribed' && m['channel'] === dropped, 2_000, from);
      assert.equal(c.inbox.slice(from).some((m) => m.type === 'subscribed'), false, 'nothing answered while Redis is paused');
    } finally {
      probe.disconnect();
    }
    const answer = await c.waitFor((m) => m.type === 'subscribed' && m['channel'] === kept, 10_000);
    assert.deepEqual([answer['seq'], answer['epoch']], [1, epoch]);
    // B's publishes reach A in order: once the second arrives, the first had its chance
    await b.publish(dropped, { after: true });
    await b.publish(kept, { after: true });
    await c.until(() => seqsOf(c, kept).length === 1, 5_000, 'seq 2 on A');
    assert.deepEqual(seqsOf(c, kept), [2]);
    assert.equal(c.inbox.some((m) => m['channel'] === dropped && m.type !== 'unsubscribed'), false, 'no subscribed and no message of the unsubscribed channel');
  });

  it("a user's first connection on A is told its per-user channel's seq and epoch, then gets what follows", async () => {
    const token = await new SignJWT({ channels: ['*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    const channel = userChannel('alice');
    const onB = await connect(b, 'json', `/ws?token=${token}`);
    await onB.waitFor((m) => m.type === 'subscribed' && m['channel'] === channel);
    for (let i = 1; i <= 3; i++) assert.equal(await b.publishToUser('alice', { old: i }), i);
    const epoch = (await onB.waitFor((m) => m.type === 'message' && m['seq'] === 1))['epoch'];
    const waits = stateWaits(a);
    const onA = await connect(a, 'json', `/ws?token=${token}`);
    const answer = await onA.waitFor((m) => m.type === 'subscribed' && m['channel'] === channel);
    assert.deepEqual([answer['seq'], answer['epoch']], [3, epoch]);
    assert.match(String(answer['epoch']), EPOCH);
    assert.equal(stateWaits(a), waits + 1);
    assert.equal(await b.publishToUser('alice', 'x'), 4);
    await onA.until(() => seqsOf(onA, channel).length === 1, 5_000, 'seq 4 on A');
    assert.deepEqual(seqsOf(onA, channel), [4]);
  });
});
