/**
 * --redis-url rediss://: a `shardcast serve` process reaches a TLS-only redis-server (a
 * certificate for 127.0.0.1 from a test CA that the process trusts through
 * NODE_EXTRA_CA_CERTS, as an operator with a private CA would) and publishes through it: the
 * seq lives in Redis, read back here over TLS, and the subscriber gets the message.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { makeCerts, type TestCerts } from './fixtures/tls-certs.js';
import { TestClient } from './helpers/client.js';
import { RedisServer } from './helpers/redis.js';
import { waitUntil } from './helpers/wait.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

describe('Redis broker over TLS (rediss://)', () => {
  let certs: TestCerts;
  let redis: RedisServer;
  let child: ChildProcess;
  let log = '';
  let port = 0;

  before(async () => {
    certs = makeCerts();
    const chain = join(certs.dir, 'chain.pem');
    writeFileSync(chain, readFileSync(certs.cert, 'utf8') + readFileSync(certs.intermediate, 'utf8'));
    redis = await RedisServer.create({ cert: chain, key: certs.key });
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SHARDCAST_') && k !== 'NODE_TEST_CONTEXT' && k !== 'NODE_OPTIONS') env[k] = v;
    env['NODE_EXTRA_CA_CERTS'] = certs.root;
    child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--workers', '1', '--broker', 'redis', '--redis-url', redis.url], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    // the log goes to stdout; stderr would hold a usage or config error
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    await waitUntil(() => /listening on 127\.0\.0\.1:\d+/.test(log) || child.exitCode !== null, 20_000, 'the server to listen');
    port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(log)?.[1] ?? 0);
    assert.ok(port > 0, log);
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await redis?.stop();
    certs?.remove();
  });

  it('connects, subscribes and publishes through Redis over TLS', async () => {
    assert.match(log, /Redis broker: connected to rediss:\/\/127\.0\.0\.1/);
    const c = await TestClient.connect(port);
    try {
      await c.subscribe('secure');
      const probe = new Redis(redis.url, { tls: { ca: certs.rootPem }, maxRetriesPerRequest: 1 });
      try {
        const deadline = Date.now() + 10_000;
        while (Number(((await probe.pubsub('NUMSUB', 'shardcast:secure')) as [string, number])[1]) !== 1) {
          assert.ok(Date.now() < deadline, 'the node subscribed over TLS');
          await new Promise((r) => setTimeout(r, 20));
        }
        const res = await fetch(`http://127.0.0.1:${port}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"channel":"secure","data":{"ok":true}}' });
        assert.deepEqual(await res.json(), { seq: 1 });
        const m = await c.waitFor((f) => f.type === 'message' && f['channel'] === 'secure');
        assert.deepEqual([m['seq'], m['data']], [1, { ok: true }]);
        assert.equal(await probe.hget('shardcast:m:secure', 'seq'), '1');
      } finally {
        probe.disconnect();
      }
    } finally {
      c.close();
    }
  });
});
