/**
 * Per-user delivery: a real two-shard server on loopback with JWT (HS256 tokens minted here
 * with jose), an API key and an IPC socket; real clients. A publish to a user (HTTP, IPC, the
 * in-process API) reaches every open connection of that user on every shard as a `message`
 * on the user's per-user channel, and nobody else; /api/disconnect (and disconnectUser())
 * closes exactly that user's connections with 4500 and answers how many.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { CloseCode, ErrorCode, shouldReconnect, userChannel, type ShardcastServer } from '../src/index.js';
import type { IpcClient } from '../src/ingress/ipc-client.js';
import { startWithIpc, type ServerWithIpc } from './helpers/ipc-server.js';
import { TestClient, spreadOverTwoShards } from './helpers/client.js';

const SECRET = 'per-user-delivery-test-secret-0123456789';
const API_KEY = 'per-user-api-key-1234';
const AUTH = { authorization: `Bearer ${API_KEY}` };

describe('per-user delivery across two shards', () => {
  let server: ShardcastServer;
  let fixture: ServerWithIpc | undefined;
  let ipc: IpcClient;
  const opened: TestClient[] = [];

  const mint = (sub: string): Promise<string> =>
    new SignJWT({ channels: ['room:*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));

  const connect = async (sub: string | null): Promise<TestClient> => {
    const c = await TestClient.connect(server.port, sub === null ? '/ws' : `/ws?token=${await mint(sub)}`);
    opened.push(c);
    return c;
  };

  /** `n` connections of `sub` (null: anonymous) with at least one on each shard. */
  const spread = (sub: string | null, n: number): Promise<TestClient[]> => spreadOverTwoShards(() => connect(sub), n, []);

  const post = async (path: string, body: string, headers: Record<string, string> = AUTH): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const errorCode = (r: { body: Record<string, unknown> }): unknown => (r.body['error'] as { code: string }).code;

  before(async () => {
    fixture = await startWithIpc({ port: 0, workers: 2, logLevel: 'silent', jwtSecret: SECRET, allowAnonymous: true, anonymousChannels: ['*'], apiKey: API_KEY, testHooks: true });
    ({ server, ipc } = fixture);
  });

  after(async () => {
    await fixture?.close(opened);
  });

  it('delivers a publish to a user on every connection of that user, over HTTP, IPC and the in-process API, and to no one else', async () => {
    const alice = await spread('alice', 4);
    const others = [...(await spread('bob', 2)), ...(await spread(null, 2))];
    const channel = userChannel('alice');
    assert.equal(channel, '~user/alice');
    // the per-user subscription is implicit: told right after welcome, with its seq
    for (const c of alice) assert.deepEqual(await c.waitFor((m) => m.type === 'subscribed'), { type: 'subscribed', channel, seq: 0 });
    // an ordinary channel named like the user does not receive it; the per-user one cannot be named
    for (const c of others) await c.subscribe('room:sentinel');
    await others[3]!.subscribe('alice');
    others[2]!.send({ type: 'subscribe', channel });
    assert.equal((await others[2]!.waitFor((m) => m.type === 'error'))['code'], ErrorCode.BadChannel);
    others[1]!.send({ type: 'publish', channel, data: 'spoof' });
    assert.equal((await others[1]!.waitFor((m) => m.type === 'error'))['code'], ErrorCode.BadChannel);

    assert.deepEqual(await post('/api/publish', '{"user":"alice","data":{"via":"http"}}'), { status: 200, body: { seq: 1 } });
    assert.deepEqual(await ipc.request('{"type":"publish","user":"alice","data":{"via":"ipc"},"id":"i1"}'), { type: 'ack', id: 'i1', seq: 2 });
    assert.equal(await server.publishToUser('alice', { via: 'api' }), 3);

    for (const c of alice) {
      await c.until(() => c.messages(channel).length === 3, 10_000, `alice on shard ${c.welcome!.shard}`);
      assert.deepEqual(c.messages(channel).map((m) => [m['seq'], m['data']]), [[1, { via: 'http' }], [2, { via: 'ipc' }], [3, { via: 'api' }]]);
      assert.equal(c.messages().length, 3);
    }
    assert.ok(new Set(alice.map((c) => c.welcome!.shard)).size === 2, 'alice is on both shards');
    // the sentinel comes after the user's messages in every shard's feed: once it is in, nothing else is coming
    await server.publish('room:sentinel', 'end');
    for (const c of others) {
      await c.until(() => c.messages('room:sentinel').length === 1, 10_000, 'sentinel');
      assert.deepEqual(c.messages().map((m) => m['channel']), ['room:sentinel']);
    }
    // the per-user channel counts as a subscribed channel (interest): it lives while alice is connected
    const listed = (await server.channels()).find((x) => x.channel === channel);
    assert.deepEqual(listed, { channel, subscribers: 4 });
  });

  it('serves a user in both formats on one shard, spares the others when one leaves, and resets each on a FORGET', async () => {
    const channel = userChannel('erin');
    const json = await spread('erin', 2); // at least one on each shard: the MessagePack one lands beside one
    const mp = await TestClient.connectWith(server.port, { path: `/ws?token=${await mint('erin')}`, protocols: ['shardcast.v1.msgpack'], format: 'msgpack' });
    opened.push(mp);
    const all = [...json, mp];
    for (const c of all) assert.deepEqual(await c.waitFor((m) => m.type === 'subscribed'), { type: 'subscribed', channel, seq: 0 });
    assert.equal(await server.publishToUser('erin', { n: 1 }), 1);
    for (const c of all) assert.deepEqual((await c.waitFor((m) => m.type === 'message'))['data'], { n: 1 });
    // the JSON connection beside the MessagePack one leaves: that one (and the rest) still get the next
    const beside = json.find((c) => c.welcome!.shard === mp.welcome!.shard)!;
    beside.close();
    await beside.waitClosed();
    const rest = all.filter((c) => c !== beside);
    // the shard ran its close handler before it answered the close frame
    assert.deepEqual((await server.channels()).find((x) => x.channel === channel), { channel, subscribers: rest.length });
    assert.equal(await server.publishToUser('erin', { n: 2 }), 2);
    for (const c of rest) await c.until(() => c.messages(channel).length === 2, 10_000, 'second message');
    assert.equal(beside.messages(channel).length, 1);
    // a FORGET that raced the user's connections (test hook): each is told once, and the channel goes on
    assert.equal(server.injectForget(channel), true);
    for (const c of rest) assert.deepEqual(await c.waitFor((m) => m.type === 'reset'), { type: 'reset', channel });
    assert.equal(await server.publishToUser('erin', { n: 3 }), 1, 'seq 1 of a new epoch');
    for (const c of rest) {
      await c.until(() => c.messages(channel).length === 3, 10_000, 'after the reset');
      assert.equal(c.inbox.filter((f) => f.type === 'reset').length, 1);
    }
  });

  it('names the channel of a user id outside the channel-name characters by its hash', () => {
    assert.match(userChannel('Zoë "Z" <zoe@example> #1'), /^~user#[A-Za-z0-9_-]{43}$/);
    assert.equal(userChannel('x'.repeat(201)).startsWith('~user#'), true);
    assert.equal(userChannel('alice'), '~user/alice');
  });

  // This test once failed 1 run in ~10 (1006 right after welcome): the uWS cork bug described
  // in ClientHandler.finishUpgrade, hit when the welcome frame's length and the connection's id
  // fell right; test/async-upgrade.test.ts covers that on purpose.
  it('carries a user id outside the channel-name characters by its hash, and delivers to it', async () => {
    const sub = 'Zoë "Z" <zoe@example> #1';
    const channel = userChannel(sub);
    const [a, b] = [await connect(sub), await connect(sub)];
    await a.waitFor((m) => m.type === 'subscribed' && m['channel'] === channel);
    assert.deepEqual(await post('/api/publish', JSON.stringify({ user: sub, data: 'hi' })), { status: 200, body: { seq: 1 } });
    for (const c of [a, b]) {
      const m = await c.waitFor((f) => f.type === 'message');
      assert.deepEqual([m['channel'], m['seq'], m['data']], [channel, 1, 'hi']);
    }
  });

  it('refuses bad per-user publishes and disconnects with stable codes, and without the API key', async () => {
    const bad: Array<[string, string, string]> = [
      ['/api/publish', '{"user":"","data":1}', ErrorCode.BadUser],
      ['/api/publish', JSON.stringify({ user: 'x'.repeat(257), data: 1 }), ErrorCode.BadUser],
      ['/api/publish', '{"user":7,"data":1}', ErrorCode.BadUser],
      ['/api/publish', '{"user":"a","channel":"b","data":1}', ErrorCode.BadMessage],
      ['/api/publish', '{"user":"a","channels":["b"],"data":1}', ErrorCode.BadMessage],
      ['/api/publish', '{"user":"a"}', ErrorCode.BadMessage],
      ['/api/disconnect', '{}', ErrorCode.BadUser],
      ['/api/disconnect', '{"user":""}', ErrorCode.BadUser],
      ['/api/disconnect', '["alice"]', ErrorCode.BadMessage],
      ['/api/disconnect', 'alice', ErrorCode.BadJson],
    ];
    for (const [path, body, code] of bad) {
      const r = await post(path, body);
      assert.deepEqual([r.status, errorCode(r)], [400, code], `${path} ${body}`);
    }
    for (const path of ['/api/publish', '/api/disconnect']) {
      const r = await post(path, '{"user":"alice","data":1}', {});
      assert.deepEqual([r.status, errorCode(r)], [401, ErrorCode.Unauthorized], path);
    }
    const wrongMethod = await fetch(`http://127.0.0.1:${server.port}/api/disconnect`, AUTH_GET);
    assert.equal(wrongMethod.status, 405);
    await wrongMethod.body?.cancel();
    assert.deepEqual(await ipc.request('{"type":"publish","user":"","data":1,"id":"e1"}'), { type: 'error', id: 'e1', code: ErrorCode.BadUser, message: '"user" must be a string of 1-256 characters' });
    assert.equal(((await ipc.request('{"type":"publish","user":"a","channel":"b","data":1,"id":"e2"}')) as { code: string }).code, ErrorCode.BadMessage);
    await assert.rejects(server.publishToUser('', 1), (e: { code?: string }) => e.code === ErrorCode.BadUser);
    await assert.rejects(server.disconnectUser('x'.repeat(257)), (e: { code?: string }) => e.code === ErrorCode.BadUser);
  });

  it('closes exactly the connections of a user with 4500 on /api/disconnect and answers how many', async () => {
    const closedBefore = server.stats().totals.closedDisconnected;
    const carol = await spread('carol', 4);
    const dave = await connect('dave');
    const anon = await connect(null);
    assert.deepEqual(await post('/api/disconnect', '{"user":"carol"}'), { status: 200, body: { closed: 4 } });
    for (const c of carol) assert.deepEqual(await c.waitClosed(), { code: CloseCode.DisconnectedByServer, reason: 'disconnected by the server' });
    assert.equal(CloseCode.DisconnectedByServer, 4500);
    assert.equal(shouldReconnect(4500), false, 'a terminal close: reconnecting blindly would be wrong');
    // the others stay connected and served
    for (const c of [dave, anon]) {
      c.send({ type: 'ping' });
      await c.waitFor((m) => m.type === 'pong');
      assert.equal(c.closed, null);
    }
    assert.deepEqual(await post('/api/disconnect', '{"user":"carol"}'), { status: 200, body: { closed: 0 } });
    assert.equal(await server.disconnectUser('dave'), 1);
    assert.equal((await dave.waitClosed()).code, 4500);
    assert.equal(anon.closed, null);
    assert.equal(server.stats().totals.closedDisconnected - closedBefore, 5);
    assert.match(await server.metrics(), /shardcast_shard_closed_disconnected_total\{shard="\d"\} [1-9]/);
  });
});

const AUTH_GET: RequestInit = { method: 'GET', headers: AUTH };
