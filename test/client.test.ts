/**
 * The client library (`shardcast/client`) against real two-shard servers on loopback: JSON and
 * MessagePack, subscribe and exactly-once in-order delivery (merged arrays and conflation
 * included), publish acks and refusals, unsubscribe, a reset, tokens (subprotocol, per-user
 * channel, a token function, 4003 answered with a fresh token), and the terminal close that must
 * not be retried.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { ShardcastClient, ShardcastClientError, type Delivery } from 'shardcast/client';
import { startServer, type ShardcastServer } from '../src/index.js';
import { RecordingClient } from './helpers/recording-client.js';
import { TestClient } from './helpers/client.js';
import { sleep } from './helpers/wait.js';

const code = (c: string) => (e: unknown) => e instanceof ShardcastClientError && e.code === c;

describe('client library: formats, delivery, publish', () => {
  let server: ShardcastServer;
  const clients: RecordingClient[] = [];
  const connect = (options: ConstructorParameters<typeof RecordingClient>[1] = {}): RecordingClient => {
    const c = new RecordingClient(server.port, options);
    clients.push(c);
    return c;
  };

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', testHooks: true, clientPublish: ['news:*', 'chat:*', 'r', 'a', 'b'] });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });

  for (const format of ['json', 'msgpack'] as const) {
    it(`${format}: delivers every message once, in order, to the handler and the event; publishes resolve with their seq`, async () => {
      const c = connect({ format });
      const channel = `news:${format}`;
      const handled: Delivery[] = [];
      await c.client.ready();
      const sub = await c.client.subscribe(channel, (d) => handled.push(d));
      assert.deepEqual(sub, { channel, seq: 0, epoch: null, resubscribe: false });
      const fromServer = Promise.all(Array.from({ length: 50 }, (_, i) => server.publish(channel, { i })));
      const acks = await Promise.all(Array.from({ length: 10 }, (_, i) => c.client.publish(channel, { mine: i })));
      const last = Math.max(...(await fromServer), ...acks);
      await c.until(() => c.seqs(channel).at(-1) === last, 'the last message');
      assert.deepEqual(c.accounted(channel, 1, last), { delivered: 60, gaps: 0 });
      assert.deepEqual(handled, c.events('message'));
      // each ack is the seq its message was delivered with
      for (const [i, seq] of acks.entries()) assert.deepEqual(handled.find((d) => d.seq === seq)!.data, { mine: i });
      assert.match(String(handled[0]!.epoch), /^[0-9a-f]{8}$/);
      assert.ok(handled.every((d) => d.epoch === handled[0]!.epoch));
      if (format === 'msgpack') {
        // binary travels as binary: the codec, not JSON, carried it both ways
        const seq = await c.client.publish(channel, new Uint8Array([1, 2, 255]));
        await c.until(() => c.seqs(channel).includes(seq), 'the binary message');
        assert.deepEqual([...(handled.at(-1)!.data as Uint8Array)], [1, 2, 255]);
      }
      assert.deepEqual(c.events('error'), []);
    });
  }

  it('refusals reject with the server’s code; a publish cut off by a dropped connection rejects connection_lost, one while reconnecting not_connected', async () => {
    const c = connect();
    await c.client.ready();
    await assert.rejects(c.client.publish('elsewhere', 1), code('publish_forbidden'));
    await assert.rejects(c.client.publish('bad channel', 1), code('bad_channel'));
    // the shard dies on a publish frame itself, so its ack can never come; the fault is armed
    // through the main thread, so publishes sent before it lands are still acked
    server.injectFault(c.shard(), 'ws-message');
    let refusal: unknown = null;
    for (let i = 0; i < 100 && refusal === null; i++) {
      await c.client.publish('chat:x', i).then(
        () => sleep(10),
        (e: unknown) => (refusal = e),
      );
    }
    assert.ok(code('connection_lost')(refusal), String(refusal));
    assert.equal(c.client.state, 'reconnecting');
    await assert.rejects(c.client.publish('chat:x', 1), code('not_connected'));
    const closed = c.events('close')[0]!;
    assert.equal(closed.code, 1011);
    assert.ok(closed.reconnectInMs !== null && closed.reconnectInMs >= 0 && closed.reconnectInMs < 100, `first delay within initialMs: ${closed.reconnectInMs}`);
    await c.client.ready();
    assert.equal(typeof (await c.client.publish('chat:x', 2)), 'number');
    assert.equal(c.events('open').at(-1)!.reconnects, 1);
  });

  it('unsubscribe stops delivery; subscribing twice answers once per call', async () => {
    const c = connect();
    const [a1, a2] = await Promise.all([c.client.subscribe('a'), c.client.subscribe('a')]);
    assert.deepEqual(a1, a2);
    assert.deepEqual(await c.client.subscribe('a'), a1, 'an answered subscription resolves at once');
    await c.client.subscribe('b');
    await server.publish('a', 'before');
    await c.until(() => c.seqs('a').length === 1, 'a before');
    c.client.unsubscribe('a');
    await server.publish('a', 'after');
    const fence = await server.publish('b', 'fence');
    await c.until(() => c.seqs('b').includes(fence), 'the fence');
    await sleep(50);
    assert.deepEqual(c.events('message').filter((d) => d.channel === 'a').map((d) => d.data), ['before']);
  });

  it('a channel forgotten under its subscribers: reset, then seq 1 of a new epoch, and nothing reported lost', async () => {
    const c = connect();
    await c.client.subscribe('r');
    await server.publish('r', 1);
    const s2 = await server.publish('r', 2);
    await c.until(() => c.seqs('r').includes(s2), 'both messages');
    assert.equal(server.injectForget('r'), true);
    await c.until(() => c.events('reset').length === 1, 'the reset');
    assert.equal(await server.publish('r', 3), 1);
    await c.until(() => c.seqs('r').length === s2 + 1, 'seq 1 of the new epoch');
    const [first, , fresh] = c.events('message').filter((d) => d.channel === 'r');
    assert.equal(fresh!.seq, 1);
    assert.notEqual(fresh!.epoch, first!.epoch);
    assert.deepEqual([c.events('gap'), c.events('unrecovered')], [[], []]);
  });

  it('needs a WebSocket: the global one (Node 22+), or one passed in (Node 20, the ws package)', () => {
    const global = (globalThis as { WebSocket?: unknown }).WebSocket;
    if (global === undefined) assert.throws(() => new ShardcastClient({ url: `ws://127.0.0.1:${server.port}/ws` }), /pass one \(options\.WebSocket\)/);
    else new ShardcastClient({ url: `ws://127.0.0.1:${server.port}/ws` }).close();
    assert.throws(() => new ShardcastClient({ url: 'ws://x', format: 'msgpack', WebSocket: class {} as never }), /needs a codec/);
  });
});

describe('client library: merged frames and conflation', () => {
  let server: ShardcastServer;
  const clients: RecordingClient[] = [];
  let raw: TestClient;

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', mergeMs: 20, conflate: ['tick:*'] });
    raw = await TestClient.connect(server.port);
  });
  after(async () => {
    raw?.close();
    for (const c of clients) c.close();
    await server?.close();
  });

  it('handles merged arrays (each message once, in order) and conflation as a marked skip, not a gap', async () => {
    const c = new RecordingClient(server.port);
    const m = new RecordingClient(server.port, { format: 'msgpack' });
    clients.push(c, m);
    for (const x of [c, m]) await Promise.all([x.client.subscribe('news'), x.client.subscribe('tick:btc')]);
    await raw.subscribe('news');
    const seqs = await Promise.all(Array.from({ length: 300 }, (_, i) => server.publish('news', { i })));
    const ticks = await Promise.all(Array.from({ length: 100 }, (_, i) => server.publish('tick:btc', { price: i })));
    for (const x of [c, m]) {
      await x.until(() => x.seqs('news').at(-1) === seqs.at(-1) && x.seqs('tick:btc').at(-1) === ticks.at(-1), 'the last messages');
      assert.deepEqual(x.accounted('news', 1, 300), { delivered: 300, gaps: 0 });
      assert.deepEqual(x.accounted('tick:btc', 1, 100).gaps, 0);
      const conflated = x.events('message').filter((d) => d.channel === 'tick:btc');
      assert.ok(conflated.length < 100 && conflated.some((d) => d.replaces > 0), `conflation skipped seqs (${conflated.length} delivered)`);
      assert.deepEqual(conflated.at(-1)!.data, { price: 99 });
    }
    await raw.until(() => raw.messages('news').length === 300, 10_000, 'the raw client');
    assert.ok(raw.arrayFrames > 0, 'the server did merge messages into arrays');
  });
});

describe('client library: tokens and terminal closes', () => {
  const SECRET = 'client-library-test-secret-0123456789';
  let server: ShardcastServer;
  const clients: RecordingClient[] = [];
  const mint = (sub: string): Promise<string> =>
    new SignJWT({ channels: ['room:*'], publish: ['room:*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', jwtSecret: SECRET, testHooks: true });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });

  it('sends the token as a subprotocol, fetches a fresh one per connection, follows the per-user channel, and reports refused subscriptions', async () => {
    let minted = 0;
    const c = new RecordingClient(server.port, { token: () => (minted++, mint('alice')) });
    clients.push(c);
    await c.client.ready();
    assert.equal(c.events('open')[0]!.user, 'alice');
    await assert.rejects(c.client.subscribe('secret'), code('forbidden'));
    assert.deepEqual(c.events('error').map((e) => [e.code, e.channel]), [['forbidden', 'secret']]);
    await c.client.subscribe('room:1');
    const seq = await c.client.publish('room:1', 'hi');
    await server.publishToUser('alice', 'for you');
    await c.until(() => c.seqs('~user/alice').length === 1 && c.seqs('room:1').includes(seq), 'both messages');
    server.injectFault(c.shard());
    await c.until(() => c.events('open').length === 2, 'the reconnect');
    assert.equal(minted, 2, 'a token per connection');
    await c.until(() => c.events('subscribed').filter((s) => s.resubscribe).length === 2, 'both channels resubscribed');
    assert.deepEqual(c.events('subscribed').filter((s) => s.resubscribe).map((s) => s.channel).sort(), ['room:1', '~user/alice']);
    await server.publishToUser('alice', 'again');
    const next = await server.publish('room:1', 'after');
    await c.until(() => c.seqs('~user/alice').length === 2 && c.seqs('room:1').includes(next), 'messages after the reconnect');
    c.accounted('room:1', 1, next);
  });

  it('reconnects after 4003 (token expired) with a fresh token from the token function', async () => {
    const exp = (s: number) => Math.floor(Date.now() / 1000) + s;
    const tokens = [exp(2), exp(3600)].map((e) =>
      new SignJWT({ channels: ['room:*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('erin').setExpirationTime(e).sign(new TextEncoder().encode(SECRET)),
    );
    let calls = 0;
    const c = new RecordingClient(server.port, { token: () => tokens[Math.min(calls++, 1)]! });
    clients.push(c);
    await c.client.subscribe('room:exp');
    await c.until(() => c.events('open').length === 2, 'the reconnect after expiry', 15_000);
    assert.deepEqual(c.events('close').map((e) => [e.code, e.reconnectInMs !== null]), [[4003, true]]);
    assert.equal(calls, 2);
    await c.until(() => c.events('subscribed').some((s) => s.resubscribe), 'the resubscription');
    const seq = await server.publish('room:exp', 'still here');
    await c.until(() => c.seqs('room:exp').includes(seq), 'a message on the new connection');
  });

  it('refresh() resolves with the new token’s exp, and rejects with the server’s code', async () => {
    const c = new RecordingClient(server.port, { token: await mint('frank') });
    clients.push(c);
    await c.client.ready();
    const exp = Math.floor(Date.now() / 1000) + 7200;
    const fresh = await new SignJWT({ channels: ['room:*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('frank').setExpirationTime(exp).sign(new TextEncoder().encode(SECRET));
    assert.equal(await c.client.refresh(fresh), exp);
    await assert.rejects(c.client.refresh('not-a-jwt'), code('unauthorized'));
    await assert.rejects(c.client.refresh(await mint('mallory')), code('forbidden'));
    assert.equal(c.client.state, 'open');
  });

  it('does not reconnect after a terminal close (4500) and says so', async () => {
    const c = new RecordingClient(server.port, { token: await mint('bob') });
    clients.push(c);
    await c.client.ready();
    assert.equal(await server.disconnectUser('bob'), 1);
    await c.until(() => c.client.state === 'closed', 'the close');
    assert.deepEqual(c.events('close'), [{ code: 4500, reason: 'disconnected by the server', reconnectInMs: null }]);
    await assert.rejects(c.client.ready(), code('closed'));
    await assert.rejects(c.client.subscribe('room:2'), code('closed'));
    await sleep(400); // four first-step back-off windows: a reconnect would have happened
    assert.equal(c.events('open').length, 1);
  });

  it('retries a refused handshake with growing back-off and gives up after maxReconnects', async () => {
    const c = new RecordingClient(server.port, { token: 'not-a-jwt', maxReconnects: 3, backoff: { initialMs: 40, maxMs: 1000, factor: 2 } });
    clients.push(c);
    await c.until(() => c.client.state === 'closed', 'giving up');
    const closes = c.events('close');
    assert.deepEqual(closes.map((e) => e.code), [1006, 1006, 1006, 1006]);
    closes.slice(0, 3).forEach((e, i) => assert.ok(e.reconnectInMs !== null && e.reconnectInMs < 40 * 2 ** i, `attempt ${i}: ${e.reconnectInMs}`));
    assert.equal(closes[3]!.reconnectInMs, null);
    assert.deepEqual(c.events('open'), []);
  });
});
