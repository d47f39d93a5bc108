/**
 * /metrics scraped during a real run agrees with what the clients saw: connections open
 * (per shard and in all), deliveries by format (messages the clients received), refusals by
 * code (error frames the clients got), handshake failures by reason (refused upgrades),
 * disconnects by close code, and one latency observation per publication and shard with
 * subscribers. Scraped over HTTP, from the admin port.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { TestClient, connectMany } from './helpers/client.js';
import { parseScrape, sum, type Scrape } from './helpers/prometheus.js';
import { upgrade } from './helpers/upgrade.js';

const PUBLICATIONS = 20;

async function waitUntilAsync(pred: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await pred()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

describe('/metrics agrees with what the clients saw', () => {
  let server: ShardcastServer;
  const json: TestClient[] = [];
  const msgpack: TestClient[] = [];
  const scrape = async (): Promise<Scrape> => parseScrape(await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text());

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', adminPort: 0, allowedOrigins: 'https://ok.example', anonymousChannels: 'open:*', clientPublish: 'open:*', clientPublishRate: 1, clientPublishBurst: 2 });
    json.push(...(await connectMany(server.port, 12)));
    for (let i = 0; i < 4; i++) msgpack.push(await TestClient.connectMsgpack(server.port));
  });
  after(async () => {
    for (const c of [...json, ...msgpack]) c.close();
    await server?.close();
  });

  it('counts the same connections, deliveries, refusals, handshake failures and disconnects', async () => {
    const all = [...json, ...msgpack];
    const shards = new Set(all.map((c) => c.welcome!.shard));
    assert.equal(shards.size, 2, 'clients on both shards');
    let m = await scrape();
    assert.equal(sum(m, 'shardcast_connections_open'), all.length);
    for (const shard of ['0', '1']) assert.equal(sum(m, 'shardcast_shard_connections_open', { shard }), all.filter((c) => String(c.welcome!.shard) === shard).length);

    await Promise.all(all.map((c) => c.subscribe('open:news')));
    for (let i = 0; i < PUBLICATIONS; i++) await server.publish('open:news', { i });
    for (const c of all) await c.until(() => c.messages('open:news').length === PUBLICATIONS, 10_000, 'every message');

    // refusals the clients are told about: rate_limited (burst 2, then one more), forbidden, publish_forbidden
    const [a, b, c] = json as [TestClient, TestClient, TestClient];
    for (let i = 0; i < 3; i++) a.send({ type: 'publish', channel: 'open:chat', data: i, id: `p${i}` });
    b.send({ type: 'subscribe', channel: 'secret' });
    c.send({ type: 'publish', channel: 'closed', data: 1 });
    await a.waitFor((f) => f.type === 'error');
    await b.waitFor((f) => f.type === 'error');
    await c.waitFor((f) => f.type === 'error');
    // handshake failures: two pages from a refused origin
    for (let i = 0; i < 2; i++) assert.equal((await upgrade(server.port, { headers: { origin: 'https://evil.example' } })).status, 403);
    // disconnects: three clients close with 1000, one with 4321 (an "other" code), one drops its TCP connection (1006)
    const leaving = json.slice(7, 10);
    for (const l of leaving) l.ws.close(1000, 'done');
    json[10]!.ws.close(4321, 'bye');
    for (const l of [...leaving, json[10]!]) await l.waitClosed();
    json[11]!.close(); // terminate(): no close frame

    await waitUntilAsync(async () => sum(await scrape(), 'shardcast_disconnects_total') === 5);
    m = await scrape();
    const received = (cs: TestClient[]): number => cs.reduce((n, x) => n + x.messages().length, 0);
    assert.equal(sum(m, 'shardcast_deliveries_total', { format: 'json' }), received(json));
    assert.equal(sum(m, 'shardcast_deliveries_total', { format: 'msgpack' }), received(msgpack));
    assert.equal(sum(m, 'shardcast_shard_deliveries_total'), received(all));

    const errors = (code: string): number => all.reduce((n, x) => n + x.inbox.filter((f) => f.type === 'error' && f['code'] === code).length, 0);
    for (const code of ['rate_limited', 'forbidden', 'publish_forbidden']) {
      assert.ok(errors(code) > 0, `a client was refused ${code}`);
      assert.equal(sum(m, 'shardcast_refusals_total', { code }), errors(code), code);
    }
    assert.equal(sum(m, 'shardcast_refusals_total', { code: 'overloaded' }), 0);
    assert.equal(sum(m, 'shardcast_handshake_failures_total', { reason: 'origin_not_allowed' }), 2);
    assert.equal(sum(m, 'shardcast_handshake_failures_total'), 2);
    assert.equal(sum(m, 'shardcast_disconnects_total', { code: '1000' }), 3);
    assert.equal(sum(m, 'shardcast_disconnects_total', { code: 'other' }), 1);
    assert.equal(sum(m, 'shardcast_disconnects_total', { code: '1006' }), 1);
    assert.equal(sum(m, 'shardcast_disconnects_total'), 5);
    assert.equal(sum(m, 'shardcast_connections_open'), all.length - 5);

    // one latency observation per publication and shard with subscribers of it
    assert.equal(sum(m, 'shardcast_delivery_latency_seconds_count'), PUBLICATIONS * 2);
    assert.equal(sum(m, 'shardcast_delivery_latency_seconds_bucket', { le: '+Inf' }), PUBLICATIONS * 2);
    assert.ok(sum(m, 'shardcast_delivery_latency_seconds_sum') > 0);
    // frames: one per subscriber and publication here (no merging); bytes: at least that many frames' worth
    assert.equal(sum(m, 'shardcast_shard_frames_sent_total'), received(all));
    assert.ok(sum(m, 'shardcast_shard_bytes_sent_total') > received(all) * 20);
  });
});
