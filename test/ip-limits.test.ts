/**
 * Per-address limits end to end: a real server with two shards, real clients from 127.0.0.1
 * (and ::1). The connection past --max-connections-per-ip and the handshake past
 * --max-handshakes-per-ip get HTTP 429 with the JSON error body at the upgrade; closing a
 * connection lets a new one in; refusals are counted in stats() and /metrics.
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { startServer, type ShardcastServer } from '../src/engine/engine.js';
import type { Options } from '../src/engine/config.js';
import { TestClient, connectMany } from './helpers/client.js';
import { upgrade } from './helpers/upgrade.js';
import { sleep, waitUntil } from './helpers/wait.js';

/** An upgrade that must be refused: returns the status, headers and parsed error body. */
async function refused(port: number, host?: string): Promise<{ status: number; headers: IncomingHttpHeaders; code: string; message: string }> {
  const a = await upgrade(port, host === undefined ? {} : { host });
  a.socket?.destroy();
  assert.notEqual(a.status, 101, 'the upgrade was accepted');
  assert.match(String(a.headers['content-type']), /application\/json/);
  const { error } = JSON.parse(a.body) as { error: { code: string; message: string } };
  return { status: a.status, headers: a.headers, code: error.code, message: error.message };
}

async function withServer(options: Options, body: (server: ShardcastServer, clients: TestClient[]) => Promise<void>): Promise<void> {
  const server = await startServer({ port: 0, workers: 2, logLevel: 'silent', ...options });
  const clients: TestClient[] = [];
  try {
    await body(server, clients);
  } finally {
    for (const c of clients) c.close();
    await server.close();
  }
}

/** Sum of a `shardcast_shard_…` counter over its shard lines in the metrics text. */
function metricSum(text: string, name: string): number {
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{shard="\\d+"\\} (\\d+)$`, 'gm'))) n += Number(m[1]);
  return n;
}

describe('--max-connections-per-ip', { timeout: 60_000 }, () => {
  test('the connection past the limit gets 429 with too_many_connections_per_ip on any shard, and a close lets one in', async (t) => {
    const limit = 4;
    await withServer({ maxConnectionsPerIp: limit }, async (server, clients) => {
      clients.push(...(await connectMany(server.port, limit)));
      t.diagnostic(`connections per shard: ${[0, 1].map((s) => clients.filter((c) => c.welcome?.shard === s).length).join(', ')}`);
      // each attempt lands on a shard the kernel picks by its source port: try until both
      // shards have refused (the chance that 40 attempts all land on one is 2^-39)
      let attempts = 0;
      while (attempts < 6 || server.stats().shards.some((s) => s.connectionsRefusedPerIp === 0)) {
        assert.ok(attempts < 40, 'both shards got attempts');
        attempts++;
        const r = await refused(server.port);
        assert.equal(r.status, 429);
        assert.equal(r.code, 'too_many_connections_per_ip');
        assert.equal(r.message, `connection limit of ${limit} per address reached`);
        assert.equal(r.headers['retry-after'], undefined, 'no Retry-After: a place frees only when a connection closes');
      }
      const stats = server.stats();
      assert.equal(stats.connections, limit);
      assert.equal(stats.totals.connectionsRefusedPerIp, attempts);
      assert.equal(stats.totals.connectionsRefused, 0);
      t.diagnostic(`refusals per shard: ${stats.shards.map((s) => s.connectionsRefusedPerIp).join(', ')}`);

      clients.shift()!.close();
      await waitUntil(() => server.stats().connections === limit - 1, 10_000, 'the closed connection to be released');
      clients.push(await TestClient.connect(server.port));
      assert.equal((await refused(server.port)).code, 'too_many_connections_per_ip');

      const metrics = await server.metrics();
      assert.equal(metricSum(metrics, 'shardcast_shard_connections_refused_per_ip_total'), attempts + 1);
      assert.equal(metricSum(metrics, 'shardcast_shard_ip_table_full_total'), 0);
      assert.match(metrics, /# HELP shardcast_shard_connections_refused_per_ip_total WebSocket upgrades refused by --max-connections-per-ip/);
    });
  });

  test('an upgrade refused by --max-connections gets 503 and gives its per-address place back', async () => {
    await withServer({ maxConnections: 2, maxConnectionsPerIp: 3 }, async (server, clients) => {
      clients.push(...(await connectMany(server.port, 2)));
      // each attempt takes the address's third place, then the global limit refuses it: if
      // the place were kept, the next attempts would get 429 instead
      for (let i = 0; i < 4; i++) {
        const r = await refused(server.port);
        assert.equal(r.status, 503);
        assert.equal(r.code, 'too_many_connections');
      }
      assert.equal(server.stats().totals.connectionsRefused, 4);
      assert.equal(server.stats().totals.connectionsRefusedPerIp, 0);
    });
  });

  test('an IPv6 client is limited by its /64 (::1 on a loopback IPv6 listener)', async () => {
    await withServer({ host: '::1', maxConnectionsPerIp: 2 }, async (server) => {
      const open: Socket[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          const a = await upgrade(server.port, { host: '::1' });
          assert.equal(a.status, 101);
          open.push(a.socket!);
        }
        const r = await refused(server.port, '::1');
        assert.equal(r.status, 429);
        assert.equal(r.code, 'too_many_connections_per_ip');
      } finally {
        for (const s of open) s.destroy();
      }
    });
  });
});

describe('--max-handshakes-per-ip', { timeout: 60_000 }, () => {
  test('handshakes past the burst get 429 with handshake_rate_limited and Retry-After, and pass again after it', async () => {
    await withServer({ maxHandshakesPerIp: 1, handshakeBurst: 3 }, async (server, clients) => {
      for (let i = 0; i < 3; i++) clients.push(await TestClient.connect(server.port));
      const r = await refused(server.port);
      assert.equal(r.status, 429);
      assert.equal(r.code, 'handshake_rate_limited');
      assert.match(r.message, /more than 1 handshakes per second \(burst 3\) from this address; retry in 1 s/);
      assert.equal(r.headers['retry-after'], '1');
      // a refusal spends nothing, and is refused again
      assert.equal((await refused(server.port)).code, 'handshake_rate_limited');

      await sleep(1000 * Number(r.headers['retry-after']));
      clients.push(await TestClient.connect(server.port));
      assert.equal((await refused(server.port)).code, 'handshake_rate_limited', 'one token per second: the next one waits again');

      const stats = server.stats();
      assert.equal(stats.totals.handshakesRateLimited, 3);
      assert.equal(stats.connections, 4, 'the rate limits handshakes, not open connections');
      const metrics = await server.metrics();
      assert.equal(metricSum(metrics, 'shardcast_shard_handshakes_rate_limited_total'), 3);
    });
  });

  test('an upgrade refused by the connection limit still spends a handshake', async () => {
    await withServer({ maxConnectionsPerIp: 1, maxHandshakesPerIp: 1, handshakeBurst: 2 }, async (server, clients) => {
      clients.push(await TestClient.connect(server.port));
      assert.equal((await refused(server.port)).code, 'too_many_connections_per_ip');
      assert.equal((await refused(server.port)).code, 'handshake_rate_limited');
      const { totals } = server.stats();
      assert.equal(totals.connectionsRefusedPerIp, 1);
      assert.equal(totals.handshakesRateLimited, 1);
    });
  });

  test('without the options, one address may open many connections at once', async () => {
    await withServer({}, async (server, clients) => {
      clients.push(...(await connectMany(server.port, 30, 30)));
      assert.equal(server.stats().connections, 30);
      assert.equal(server.stats().totals.handshakesRateLimited + server.stats().totals.connectionsRefusedPerIp, 0);
    });
  });
});
