/**
 * The client library given several nodes' URLs (nodes on one Redis, no load balancer): each
 * reconnect goes to the next URL, so when a node shuts down its clients come back on another
 * one and recover what they missed from the shared history; a node that is not there costs
 * one attempt.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { RecordingClient } from './helpers/recording-client.js';
import { RedisServer } from './helpers/redis.js';

describe('client library: several URLs, one per node', () => {
  let redis: RedisServer;
  let a: ShardcastServer;
  let b: ShardcastServer;
  let aPort = 0;
  const opened: RecordingClient[] = [];
  const node = (): Promise<ShardcastServer> => startServer({ port: 0, workers: 1, logLevel: 'silent', broker: 'redis', redisUrl: redis.url });
  const url = (port: number): string => `ws://127.0.0.1:${port}/ws`;

  before(async () => {
    redis = await RedisServer.create();
    a = await node();
    b = await node();
    aPort = a.port;
  });
  after(async () => {
    for (const c of opened) c.close();
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('a node shutting down: its client reconnects to the next URL and recovers every message missed meanwhile', async () => {
    // the reconnect waits on its token (any token: no JWT here) until the publishes below are in,
    // so they are certainly missed and must come back through recovery
    let held: Promise<void> = Promise.resolve();
    let release = (): void => {};
    const c = new RecordingClient(aPort, { url: [url(aPort), url(b.port)], backoff: { initialMs: 50, maxMs: 200 }, token: async () => (await held, 'any') });
    opened.push(c);
    await c.client.subscribe('fo');
    // published on the client's own node: delivered there from the publish's reply, whether or
    // not that node's Redis subscription is in place yet
    const before = await Promise.all(Array.from({ length: 5 }, (_, i) => a.publish('fo', { before: i })));
    await c.until(() => c.seqs('fo').length === 5, 'the first five');
    held = new Promise((resolve) => (release = resolve));
    await a.close(); // 1001 to its clients
    await c.until(() => c.events('close').length > 0, 'the close');
    const meanwhile = await Promise.all(Array.from({ length: 10 }, (_, i) => b.publish('fo', { meanwhile: i })));
    release();
    await c.until(() => c.events('subscribed').some((s) => s.resubscribe), 'the resubscription', 20_000);
    const live = await b.publish('fo', 'live');
    await c.until(() => c.seqs('fo').at(-1) === live, 'the live message');
    assert.deepEqual(c.seqs('fo'), [...before, ...meanwhile, live]);
    assert.deepEqual(c.events('close').map((e) => e.code), [1001], 'straight to the other node: no failed attempt');
    assert.deepEqual(c.events('open').map((e) => e.url), [url(aPort), url(b.port)]);
    assert.equal(c.events('subscribed').find((s) => s.resubscribe)!.recovered, true);
    assert.deepEqual([c.events('gap'), c.events('unrecovered')], [[], []]);
  });

  it('a URL with no node behind it costs one failed attempt, then the next one serves', async () => {
    const c = new RecordingClient(aPort, { url: [url(aPort), url(b.port)], backoff: { initialMs: 50, maxMs: 200 } });
    opened.push(c);
    await c.client.ready();
    assert.deepEqual(c.events('close').map((e) => e.code), [1006]);
    assert.deepEqual(c.events('open').map((e) => e.url), [url(b.port)]);
  });

  it('refuses an empty URL list at once', () => {
    assert.throws(() => new RecordingClient(aPort, { url: [] }), /at least one ws:\/\/ or wss:\/\/ URL/);
  });
});
