/**
 * GET /readyz: 200 with every shard listening; 503, naming the shard, while one restarts
 * after a fault, then 200 again. With --broker redis: 503 naming the broker while Redis is
 * down, 200 once it is back. /healthz stays 200 throughout (the process is alive).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { RedisServer } from './helpers/redis.js';

interface Ready {
  status: number;
  body: { ready: boolean; shards: { listening: number; of: number }; broker: string; missing?: string[] };
}

async function readyz(port: number): Promise<Ready> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as Ready['body'] };
}

/**
 * Polls /readyz every 5 ms until `pred` holds; a connection the kernel gave to a shard in
 * the middle of closing may be reset, and is simply tried again.
 */
async function until(port: number, pred: (r: Ready) => boolean, what: string, timeoutMs = 15_000): Promise<Ready> {
  const deadline = Date.now() + timeoutMs;
  let last: Ready | string = 'nothing yet';
  while (Date.now() < deadline) {
    try {
      const r = await readyz(port);
      if (pred(r)) return r;
      last = r;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`/readyz never ${what}; last: ${JSON.stringify(last)}`);
}

/**
 * The first answer to GET `path`: a connection that meets the shard being torn down (or a
 * pooled keep-alive connection to it) is reset, and is simply tried again — what is checked is
 * what the server answers, not which listening socket the kernel picked.
 */
async function firstAnswer(port: number, path: string, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing yet';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      return res.status;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`GET ${path} never answered; last: ${last}`);
}

describe('GET /readyz', () => {
  let server: ShardcastServer;
  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', testHooks: true });
  });
  after(() => server?.close());

  it('is 200 with every shard listening, 503 naming the shard while it restarts, then 200', async () => {
    const ok = await readyz(server.port);
    assert.deepEqual(ok, { status: 200, body: { ready: true, shards: { listening: 2, of: 2 }, broker: 'memory' } });
    const restarts = server.stats().main.shardRestarts;
    // start watching before the fault: the restart takes a fraction of a second
    const down = until(server.port, (r) => r.status === 503, 'went 503');
    server.injectFault(1);
    const r = await down;
    assert.equal(r.body.ready, false);
    assert.deepEqual(r.body.missing, ['shard 1: not listening']);
    assert.deepEqual(r.body.shards, { listening: 1, of: 2 });
    assert.equal(await firstAnswer(server.port, '/healthz'), 200, 'healthz: the process is alive');
    await until(server.port, (x) => x.status === 200, 'came back to 200');
    assert.equal(server.stats().main.shardRestarts, restarts + 1);
    assert.equal(server.stats().liveShards, 2);
  });

  it('answers other methods with 405', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/readyz`, { method: 'POST' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET');
  });
});

describe('GET /readyz with --broker redis', () => {
  let redis: RedisServer;
  let server: ShardcastServer;
  before(async () => {
    redis = await RedisServer.create();
    server = await startServer({ port: 0, workers: 1, logLevel: 'silent', broker: 'redis', redisUrl: redis.url });
  });
  after(async () => {
    await server?.close();
    await redis?.stop();
  });

  it('is 503 naming the broker while Redis is down, 200 once it is back', async () => {
    assert.deepEqual(await readyz(server.port), { status: 200, body: { ready: true, shards: { listening: 1, of: 1 }, broker: 'redis: up' } });
    await redis.kill();
    const down = await until(server.port, (r) => r.status === 503, 'went 503');
    assert.deepEqual(down.body, { ready: false, shards: { listening: 1, of: 1 }, broker: 'redis: down', missing: ['broker: Redis unreachable'] });
    await redis.start();
    await until(server.port, (r) => r.status === 200, 'came back to 200', 20_000);
  });
});
