/**
 * What WebSocket clients may publish: only to channels matching --client-publish, and no
 * faster than --client-publish-rate (a burst of --client-publish-burst). Over the rate a
 * publish is refused `rate_limited` (no seq taken); a client that goes on regardless is
 * closed with 1008, a terminal code. Other clients are not affected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloseCode, ErrorCode, resolveConfig, shouldReconnect, startServer, type ShardcastServer } from '../src/index.js';
import { TestClient } from './helpers/client.js';
import { sleep } from './helpers/wait.js';

const RATE = 10;
const BURST = 5;

describe('client publish limits', () => {
  let server: ShardcastServer;
  const opened: TestClient[] = [];
  const connect = async (): Promise<TestClient> => {
    const c = await TestClient.connect(server.port);
    opened.push(c);
    return c;
  };
  const answers = (c: TestClient, prefix: string) => c.inbox.filter((m) => (m.type === 'ack' && String(m['id']).startsWith(prefix)) || (m.type === 'error' && String(m['ref']).startsWith(prefix)));

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', clientPublish: 'chat:*,lobby', clientPublishRate: RATE, clientPublishBurst: BURST });
  });

  after(async () => {
    for (const c of opened) c.close();
    await server?.close();
  });

  it('publishes only to channels matching the patterns', async () => {
    const c = await connect();
    const before = server.stats().totals;
    for (const [i, channel] of ['chat:', 'chat:room-1', 'lobby', 'lobby2', 'news', 'cha'].entries()) {
      c.send({ type: 'publish', channel, data: i, id: `p${i}-${channel}` });
    }
    await c.until(() => answers(c, 'p').length === 6, 5000, 'six answers');
    const byId = new Map(answers(c, 'p').map((m) => [String(m['id'] ?? m['ref']), m]));
    for (const ok of ['p0-chat:', 'p1-chat:room-1', 'p2-lobby']) assert.equal(byId.get(ok)?.type, 'ack', ok);
    for (const no of ['p3-lobby2', 'p4-news', 'p5-cha']) {
      assert.equal(byId.get(no)?.type, 'error', no);
      assert.equal(byId.get(no)?.['code'], ErrorCode.PublishForbidden, no);
    }
    const after = server.stats().totals;
    assert.equal(after.rejectedForbidden - before.rejectedForbidden, 3);
    assert.equal(after.clientPublishes - before.clientPublishes, 3, 'refused publishes are not counted as received');
  });

  it('refuses publishes over the rate, then closes a client that keeps going with 1008', async () => {
    const flooder = await connect();
    const neighbour = await connect();
    const watcher = await connect();
    await watcher.subscribe('chat:flood');
    const before = server.stats().totals;
    // one burst's worth is accepted, the next burst's worth refused, one more closes
    for (let i = 0; i < 2 * BURST + 1; i++) flooder.send({ type: 'publish', channel: 'chat:flood', data: i, id: `f${i}` });
    const closed = await flooder.waitClosed(5000);
    assert.equal(closed.code, CloseCode.PolicyViolation);
    assert.equal(shouldReconnect(closed.code), false, '1008 is terminal');
    const got = answers(flooder, 'f');
    // acks travel behind the publications; the close may overtake them (the watcher below
    // shows the five were accepted)
    for (const m of got.filter((f) => f.type === 'ack')) assert.ok([1, 2, 3, 4, 5].includes(m['seq'] as number));
    const refused = got.filter((m) => m.type === 'error');
    assert.equal(refused.length, BURST + 1, 'each refused publish was answered');
    for (const m of refused) assert.equal(m['code'], ErrorCode.RateLimited);
    const after = server.stats().totals;
    assert.equal(after.rejectedRateLimited - before.rejectedRateLimited, BURST + 1);
    assert.equal(after.closedPolicyViolation - before.closedPolicyViolation, 1);
    assert.match(await server.metrics(), /^shardcast_shard_closed_policy_violation_total\{shard="\d"\} 1$/m);

    // the refused ones took no seq: the next accepted publish is 6, and others publish freely
    neighbour.send({ type: 'publish', channel: 'chat:flood', data: 'n', id: 'n1' });
    const ack = await neighbour.waitFor((m) => m.type === 'ack' && m['id'] === 'n1');
    assert.equal(ack['seq'], 6);
    await watcher.until(() => watcher.messages('chat:flood').length === 6, 5000, 'six messages');
    assert.deepEqual(watcher.messages('chat:flood').map((m) => m['data']), [0, 1, 2, 3, 4, 'n']);
  });

  it('lets a client that backs off publish again', async () => {
    const c = await connect();
    for (let i = 0; i <= BURST; i++) c.send({ type: 'publish', channel: 'lobby', data: i, id: `b${i}` });
    await c.until(() => answers(c, 'b').length === BURST + 1, 5000, 'answers');
    assert.equal(answers(c, 'b').filter((m) => m.type === 'error' && m['code'] === ErrorCode.RateLimited).length, 1);
    await sleep((3 * 1000) / RATE); // the debt is paid back and two tokens are earned
    c.send({ type: 'publish', channel: 'lobby', data: 'x', id: 'again1' });
    c.send({ type: 'publish', channel: 'lobby', data: 'y', id: 'again2' });
    await c.until(() => answers(c, 'again').length === 2, 5000, 'answers');
    assert.deepEqual(answers(c, 'again').map((m) => m.type), ['ack', 'ack']);
    assert.equal(c.closed, null);
  });

  it('is closed by default on a server that faces the network', () => {
    assert.deepEqual(resolveConfig({ host: '0.0.0.0', apiKey: 'k'.repeat(16), allowAnonymous: true }).clientPublish, []);
    assert.deepEqual(resolveConfig({ host: '127.0.0.1' }).clientPublish, ['*']);
    assert.deepEqual(resolveConfig({ host: '0.0.0.0', apiKey: 'k'.repeat(16), allowAnonymous: true, clientPublish: 'chat:*' }).clientPublish, ['chat:*']);
  });
});
