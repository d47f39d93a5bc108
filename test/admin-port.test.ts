/**
 * --admin-port: /metrics, /api/stats and /readyz are served by the main thread on their own
 * port (loopback by default) and answer 404 on the public port, which keeps everything else;
 * /api/stats keeps its API key there; bad combinations are refused at start; a taken admin
 * port stops start-up with a ConfigError.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ConfigError, startServer, type ShardcastServer } from '../src/index.js';
import { refusal } from './helpers/config.js';
import { waitUntil } from './helpers/wait.js';

const get = (port: number, path: string, init: RequestInit = {}): Promise<Response> => fetch(`http://127.0.0.1:${port}${path}`, { ...init, signal: AbortSignal.timeout(5000) });

describe('--admin-port', () => {
  let server: ShardcastServer;
  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', adminPort: 0, testHooks: true });
  });
  after(() => server?.close());

  it('serves /metrics, /api/stats, /readyz and /healthz on the admin port', async () => {
    const admin = server.adminPort!;
    assert.ok(admin > 0 && admin !== server.port);
    const metrics = await get(admin, '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type')!, /^text\/plain/);
    assert.match(await metrics.text(), /^shardcast_connections_open 0$/m);
    const stats = await get(admin, '/api/stats');
    assert.equal(stats.status, 200);
    assert.equal(((await stats.json()) as { liveShards: number }).liveShards, 2);
    const ready = await get(admin, '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { ready: boolean }).ready, true);
    assert.equal((await get(admin, '/healthz')).status, 200);
  });

  it('answers 404 for them on the public port, which keeps its other routes', async () => {
    for (const path of ['/metrics', '/api/stats', '/readyz']) {
      const res = await get(server.port, path);
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
    }
    assert.equal((await get(server.port, '/healthz')).status, 200);
    assert.equal((await get(server.port, '/api/channels')).status, 200);
    const pub = await get(server.port, '/api/publish', { method: 'POST', body: JSON.stringify({ channel: 'a', data: 1 }) });
    assert.deepEqual(await pub.json(), { seq: 1 });
  });

  it('answers unknown paths 404 and other methods 405 on the admin port', async () => {
    const admin = server.adminPort!;
    const missing = await get(admin, '/api/publish');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'not_found');
    const post = await get(admin, '/metrics', { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET');
  });

  it('keeps answering /readyz while a shard restarts (503, then 200)', async () => {
    const admin = server.adminPort!;
    const restarts = server.stats().main.shardRestarts;
    server.injectFault(0);
    const seen: number[] = [];
    await waitUntil(() => server.stats().main.shardRestarts > restarts && server.stats().liveShards === 2, 15_000, 'the restart');
    // the main thread answered throughout; ask until it reports the replacement listening
    for (let i = 0; i < 200; i++) {
      const res = await get(admin, '/readyz');
      seen.push(res.status);
      if (res.status === 200) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(seen.at(-1), 200);
  });
});

describe('--admin-port with an API key', () => {
  let server: ShardcastServer;
  before(async () => {
    server = await startServer({ host: '127.0.0.1', port: 0, workers: 1, logLevel: 'silent', adminPort: 0, apiKey: 'admin-key-1234' });
  });
  after(() => server?.close());

  it('asks for the key on /api/stats only', async () => {
    const admin = server.adminPort!;
    assert.equal((await get(admin, '/api/stats')).status, 401);
    assert.equal((await get(admin, '/api/stats', { headers: { authorization: 'Bearer wrong-key-000' } })).status, 401);
    assert.equal((await get(admin, '/api/stats', { headers: { authorization: 'bearer admin-key-1234' } })).status, 200);
    assert.equal((await get(admin, '/metrics')).status, 200);
    assert.equal((await get(admin, '/readyz')).status, 200);
  });
});

describe('--admin-port and --admin-host: refused combinations', () => {
  it('refuses --admin-host without --admin-port', () => {
    assert.equal(refusal({ adminHost: '127.0.0.1' }).option, 'adminHost');
  });
  it('refuses an admin host beyond loopback without an API key', () => {
    const e = refusal({ adminPort: 9100, adminHost: '0.0.0.0' });
    assert.equal(e.option, 'adminHost');
    assert.match(e.message, /API key/);
  });
  it('refuses the public port as admin port', () => {
    assert.equal(refusal({ port: 9200, adminPort: 9200 }).option, 'adminPort');
  });
  it('refuses a bad port and a bad log format', () => {
    assert.equal(refusal({ adminPort: 70000 }).option, 'adminPort');
    assert.equal(refusal({ logFormat: 'xml' }).option, 'logFormat');
  });

  it('stops start-up with a ConfigError when the admin port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(startServer({ port: 0, workers: 1, logLevel: 'silent', adminPort: taken }), (err: unknown) => err instanceof ConfigError && err.option === 'adminPort');
    } finally {
      blocker.close();
    }
  });
});
