/**
 * Recovery after a reconnect (issue 11), memory broker, on real two-shard servers with real
 * clients: a subscriber drops mid-stream, reconnects (landing on either shard) and subscribes
 * with `since`; while publishes keep flowing over HTTP and WebSocket it gets every message it
 * missed exactly once and in order, then live ones — JSON and MessagePack, with and without
 * merge windows. And the outcomes that are not a replay: another epoch, history too short or
 * expired, a replay too large, a malformed `since`, and a socket that unsubscribes, closes,
 * subscribes again or sees its channel forgotten while its recovery is pending.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type Options, type ShardcastServer } from '../src/index.js';
import { ErrorCode } from '../src/protocol/codes.js';
import { TestClient, spreadOverTwoShards, type ClientFormat } from './helpers/client.js';
import { assertRecovered, epochOf, flow, range, seqsOf, subscribeSince, wsPublish } from './helpers/recovery.js';
import { sleep } from './helpers/wait.js';

const API_KEY = 'recovery-test-key-123456';
const BASE: Options = { port: 0, host: '127.0.0.1', workers: 2, logLevel: 'silent', apiKey: API_KEY, clientPublishRate: 0 };

class Rig {
  readonly opened: TestClient[] = [];
  server!: ShardcastServer;

  async start(options: Options): Promise<void> {
    this.server = await startServer({ ...BASE, ...options });
  }

  async stop(): Promise<void> {
    for (const c of this.opened) c.close();
    await this.server?.close();
  }

  async connect(format: ClientFormat = 'json'): Promise<TestClient> {
    const c = format === 'json' ? await TestClient.connect(this.server.port) : await TestClient.connectMsgpack(this.server.port);
    this.opened.push(c);
    return c;
  }

  spread(format: ClientFormat, n: number): Promise<TestClient[]> {
    return spreadOverTwoShards(() => (format === 'json' ? TestClient.connect(this.server.port) : TestClient.connectMsgpack(this.server.port)), n, this.opened);
  }

  async httpPublish(channel: string, data: unknown): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${this.server.port}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel, data }) });
    assert.equal(res.status, 200);
    return ((await res.json()) as { seq: number }).seq;
  }

  /** Publishes on `channel` until stop(), alternating HTTP and an acked WebSocket publisher. */
  async flow(channel: string): Promise<{ stop(): Promise<number> }> {
    const publisher = await this.connect();
    return flow([(i) => this.httpPublish(channel, { via: 'http', i }), (i) => wsPublish(publisher, channel, { via: 'ws', i }, `p${i}`)]);
  }
}

function midStreamSuite(title: string, options: Options): void {
  describe(title, () => {
    const rig = new Rig();
    before(() => rig.start(options));
    after(() => rig.stop());

    for (const format of ['json', 'msgpack'] as const) {
      it(`a ${format} subscriber dropped mid-stream recovers every missed message once, in order, on either shard, while publishes flow`, async () => {
        const channel = `rec:${format}`;
        const old = await rig.connect(format);
        assert.equal(await old.subscribe(channel), 0);
        const flow = await rig.flow(channel);
        await old.until(() => seqsOf(old, channel).length >= 20, 10_000, 'first messages');
        old.close(); // mid-stream: no close frame, the server sees the socket go
        const seen = seqsOf(old, channel);
        assert.deepEqual(seen, range(1, seen.length), 'before the drop: 1…n in order');
        const lastSeen = seen.at(-1)!;
        const epoch = epochOf(old, channel);
        await sleep(60); // messages published while it is away
        // reconnect: one client per shard at least, two of them further behind (each its own suffix)
        const back = await rig.spread(format, 3);
        const sinces = [lastSeen, lastSeen - 7, Math.max(0, lastSeen - 15)];
        const answers = await Promise.all(back.map((c, i) => subscribeSince(c, channel, sinces[i]!, epoch)));
        await sleep(60); // still flowing after the replay
        const final = await flow.stop();
        await assertRecovered(back, answers, channel, sinces, epoch, final);
        const stats = rig.server.stats();
        assert.ok(stats.totals.recovered >= 3);
        assert.ok(stats.main.recoveryAnswers >= 1);
      });
    }
  });
}

midStreamSuite('recovery, memory broker', {});
midStreamSuite('recovery, memory broker, --merge-ms 20', { mergeMs: 20 });

describe('recovery outcomes that replay nothing', () => {
  const rig = new Rig();
  before(() => rig.start({ historySize: 10, historyTtl: 1, ringSize: '256k', maxPayload: '16k', testHooks: true }));
  after(() => rig.stop());

  /** Publishes `n` messages of `bytes` each over the API; the last seq. */
  const publish = async (channel: string, n: number, bytes = 8): Promise<number> => {
    let seq = 0;
    for (let i = 0; i < n; i++) seq = await rig.server.publish(channel, 'x'.repeat(bytes));
    return seq;
  };

  /** A subscriber that has the channel's epoch (it subscribed before seq 1). */
  const witness = async (channel: string): Promise<TestClient> => {
    const c = await rig.connect();
    await c.subscribe(channel);
    return c;
  };

  it('another epoch: recovered:false with the current seq and epoch, nothing replayed, live messages follow', async () => {
    const channel = 'out:epoch';
    const w = await witness(channel);
    const last = await publish(channel, 5);
    await w.until(() => seqsOf(w, channel).length === 5);
    const epoch = epochOf(w, channel);
    const other = epoch === '00000000' ? '00000001' : '00000000';
    const c = await rig.connect();
    const { answer, at } = await subscribeSince(c, channel, 2, other);
    assert.deepEqual(answer, { type: 'subscribed', channel, seq: last, epoch, recovered: false });
    await publish(channel, 1);
    await c.until(() => seqsOf(c, channel, at).length === 1);
    assert.deepEqual(seqsOf(c, channel), [last + 1]);
  });

  it('history exhausted (--history-size 10): recovered:false; a since inside it recovers', async () => {
    const channel = 'out:size';
    const w = await witness(channel);
    const last = await publish(channel, 30);
    await w.until(() => seqsOf(w, channel).length === 30);
    const epoch = epochOf(w, channel);
    const [far, near] = [await rig.connect(), await rig.connect()];
    const a = await subscribeSince(far, channel, 5, epoch);
    assert.equal(a.answer['recovered'], false);
    assert.equal(a.answer['seq'], last);
    const b = await subscribeSince(near, channel, last - 10, epoch);
    assert.equal(b.answer['recovered'], true);
    await near.until(() => seqsOf(near, channel).length === 10);
    await publish(channel, 1);
    await far.until(() => seqsOf(far, channel).length === 1);
    await near.until(() => seqsOf(near, channel).length === 11);
    assert.deepEqual(seqsOf(far, channel), [last + 1], 'no replay, then live');
    assert.deepEqual(seqsOf(near, channel), range(last - 9, last + 1));
  });

  it('history expired (--history-ttl 1): recovered:false after a second', async () => {
    const channel = 'out:ttl';
    const w = await witness(channel);
    await publish(channel, 3);
    await w.until(() => seqsOf(w, channel).length === 3);
    await sleep(1100);
    const c = await rig.connect();
    const { answer } = await subscribeSince(c, channel, 1, epochOf(w, channel));
    assert.equal(answer['recovered'], false);
    await sleep(50);
    assert.deepEqual(seqsOf(c, channel), []);
  });

  it('up to date (since = seq, or past it): recovered:true, nothing replayed', async () => {
    const channel = 'out:current';
    const w = await witness(channel);
    const last = await publish(channel, 4);
    await w.until(() => seqsOf(w, channel).length === 4);
    const epoch = epochOf(w, channel);
    for (const since of [last, last + 3]) {
      const c = await rig.connect();
      const { answer } = await subscribeSince(c, channel, since, epoch);
      assert.deepEqual(answer, { type: 'subscribed', channel, seq: last, epoch, recovered: true });
    }
  });

  it('a replay larger than a quarter of the ring: recovered:false, counted', async () => {
    const channel = 'out:large';
    const w = await witness(channel);
    const last = await publish(channel, 10, 8 * 1024); // ~80 KB to replay > 64 KB (ring 256k / 4)
    await w.until(() => seqsOf(w, channel).length === 10);
    const before = rig.server.stats().main.recoveryTooLarge;
    const c = await rig.connect();
    const { answer } = await subscribeSince(c, channel, 0, epochOf(w, channel));
    assert.deepEqual(answer, { type: 'subscribed', channel, seq: last, epoch: epochOf(w, channel), recovered: false });
    assert.equal(rig.server.stats().main.recoveryTooLarge, before + 1);
  });

  it('a channel without state: recovered:false, seq 0 and no epoch', async () => {
    const c = await rig.connect();
    const { answer } = await subscribeSince(c, 'out:never', 3, '0000abcd');
    assert.deepEqual(answer, { type: 'subscribed', channel: 'out:never', seq: 0, recovered: false });
  });

  it('a malformed since: bad_message, and no subscription', async () => {
    const c = await rig.connect();
    const bad: unknown[] = [5, null, 'x', [], { seq: 1 }, { epoch: '0000abcd' }, { seq: -1, epoch: '0000abcd' }, { seq: 1.5, epoch: '0000abcd' }, { seq: '1', epoch: '0000abcd' }, { seq: 1, epoch: 'ABCDEF01' }, { seq: 1, epoch: '123' }, { seq: 2 ** 53, epoch: '0000abcd' }];
    for (const since of bad) {
      const from = c.inbox.length;
      c.send({ type: 'subscribe', channel: 'out:bad', since });
      const e = await c.waitFor((m) => m.type === 'error' || m.type === 'subscribed', 10_000, from);
      assert.equal(e.type, 'error', `since ${JSON.stringify(since)}`);
      assert.equal(e['code'], ErrorCode.BadMessage);
    }
    await publish('out:bad', 1);
    await sleep(50);
    assert.deepEqual(seqsOf(c, 'out:bad'), []);
  });

  it('while pending: unsubscribe ends it, a second subscribe is refused, a close is harmless', async () => {
    const channel = 'out:pending';
    const w = await witness(channel);
    await publish(channel, 6);
    await w.until(() => seqsOf(w, channel).length === 6);
    const epoch = epochOf(w, channel);
    // the frames arrive in one read: the shard handles them before it asks main (next turn)
    const quitter = await rig.connect();
    quitter.send(JSON.stringify({ type: 'subscribe', channel, since: { seq: 2, epoch } }) );
    quitter.send({ type: 'unsubscribe', channel });
    await quitter.waitFor((m) => m.type === 'unsubscribed');
    const twice = await rig.connect();
    twice.send({ type: 'subscribe', channel, since: { seq: 2, epoch } });
    twice.send({ type: 'subscribe', channel });
    const refused = await twice.waitFor((m) => m.type === 'error');
    assert.equal(refused['code'], ErrorCode.BadMessage);
    const first = await twice.waitFor((m) => m.type === 'subscribed');
    assert.equal(first['recovered'], true);
    const gone = await rig.connect();
    gone.send({ type: 'subscribe', channel, since: { seq: 1, epoch } });
    gone.close();
    await publish(channel, 1);
    await twice.until(() => seqsOf(twice, channel).length === 5);
    assert.deepEqual(seqsOf(twice, channel), [3, 4, 5, 6, 7]);
    await sleep(50);
    assert.equal(quitter.inbox.filter((m) => m.type === 'subscribed' || m.type === 'message').length, 0, 'nothing after the unsubscribe');
    // the server is still whole: a fresh recovery works
    const again = await rig.connect();
    const { answer } = await subscribeSince(again, channel, 6, epoch);
    assert.equal(answer['recovered'], true);
  });

  it('the channel forgotten around a pending recovery: recovered:false, or recovered and then reset', async () => {
    const channel = 'out:forget';
    const w = await witness(channel);
    await publish(channel, 3);
    await w.until(() => seqsOf(w, channel).length === 3);
    const epoch = epochOf(w, channel);
    const c = await rig.connect();
    c.send({ type: 'subscribe', channel, since: { seq: 1, epoch } });
    assert.equal(rig.server.injectForget(channel), true);
    const answer = await c.waitFor((m) => m.type === 'subscribed');
    if (answer['recovered'] === true) await c.waitFor((m) => m.type === 'reset');
    else assert.deepEqual(answer, { type: 'subscribed', channel, seq: 0, recovered: false });
    await publish(channel, 1);
    const next = await c.waitFor((m) => m.type === 'message' && m['seq'] === 1);
    assert.notEqual(next['epoch'], epoch, 'a new incarnation');
  });
});

describe('recovery: many sockets of one shard share one answer', () => {
  const rig = new Rig();
  before(() => rig.start({ workers: 1 }));
  after(() => rig.stop());

  it('twenty reconnects at once with different since values: one history answer, each its own suffix', async () => {
    const channel = 'many';
    const w = await rig.connect();
    await w.subscribe(channel);
    for (let i = 0; i < 40; i++) await rig.server.publish(channel, i);
    await w.until(() => seqsOf(w, channel).length === 40);
    const epoch = epochOf(w, channel);
    const clients = await Promise.all(Array.from({ length: 20 }, () => rig.connect()));
    const before = rig.server.stats().main.recoveryAnswers;
    const answers = await Promise.all(clients.map((c, i) => subscribeSince(c, channel, 10 + i, epoch)));
    for (let i = 0; i < clients.length; i++) {
      assert.equal(answers[i]!.answer['recovered'], true);
      await clients[i]!.until(() => seqsOf(clients[i]!, channel).length === 30 - i);
      assert.deepEqual(seqsOf(clients[i]!, channel), range(11 + i, 40));
    }
    const answered = rig.server.stats().main.recoveryAnswers - before;
    assert.ok(answered >= 1 && answered < 20, `${answered} answers for 20 sockets`);
  });
});

describe('recovery after a shard restart', () => {
  const rig = new Rig();
  before(() => rig.start({ testHooks: true }));
  after(() => rig.stop());

  it("a faulting shard's clients (1011) reconnect, land on a healthy shard or its replacement, and miss nothing", async () => {
    const channel = 'restart';
    const [victim] = await rig.spread('json', 1);
    const onOther = (await rig.spread('json', 2)).find((c) => c.welcome!.shard !== victim!.welcome!.shard)!;
    await victim!.subscribe(channel);
    // in-process publishes: a WebSocket or HTTP publisher could be on the faulting shard too
    const stream = flow([(i) => rig.server.publish(channel, i)]);
    await victim!.until(() => seqsOf(victim!, channel).length >= 10);
    rig.server.injectFault(victim!.welcome!.shard);
    assert.equal((await victim!.waitClosed()).code, 1011);
    const seen = seqsOf(victim!, channel);
    assert.deepEqual(seen, range(1, seen.length));
    const back = await rig.connect();
    const { answer, at } = await subscribeSince(back, channel, seen.at(-1)!, epochOf(victim!, channel));
    await sleep(40);
    const final = await stream.stop();
    assert.equal(answer['recovered'], true);
    await back.until(() => seqsOf(back, channel).at(-1) === final, 10_000, `seq ${final}`);
    assert.deepEqual(seqsOf(back, channel, at), range(seen.at(-1)! + 1, final));
    assert.equal(onOther.closed, null, 'the other shard was not touched');
  });
});
