/**
 * --allowed-origins on a running server: an upgrade whose Origin header (a browser page) is
 * not listed gets HTTP 403 with origin_not_allowed and no WebSocket, counted; listed origins
 * and clients that send no Origin connect. On loopback any origin may connect by default.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startServer, type Options, type ShardcastServer } from '../src/index.js';
import { TestClient } from './helpers/client.js';
import { upgrade } from './helpers/upgrade.js';

async function withServer(options: Options, body: (server: ShardcastServer) => Promise<void>): Promise<void> {
  const server = await startServer({ port: 0, workers: 2, logLevel: 'silent', ...options });
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** The status and error code of one upgrade with these headers ('' for 101). */
async function answer(port: number, headers: Record<string, string>): Promise<string> {
  const a = await upgrade(port, { headers });
  a.socket?.destroy();
  if (a.status === 101) return '101';
  assert.match(String(a.headers['content-type']), /application\/json/);
  const { error } = JSON.parse(a.body) as { error: { code: string; message: string } };
  return `${a.status} ${error.code} ${error.message}`;
}

describe('allowed origins', { timeout: 60_000 }, () => {
  test('only listed origins and clients without Origin connect; others get 403 origin_not_allowed, counted', async () => {
    await withServer({ allowedOrigins: 'https://app.example.com, http://localhost:3000' }, async (server) => {
      const cases: Array<[Record<string, string>, string]> = [
        [{}, '101'],
        [{ origin: 'https://app.example.com' }, '101'],
        [{ origin: 'http://localhost:3000' }, '101'],
        [{ origin: 'https://evil.example' }, '403 origin_not_allowed origin https://evil.example may not connect (--allowed-origins)'],
        [{ origin: 'https://app.example.com:8443' }, '403 origin_not_allowed origin https://app.example.com:8443 may not connect (--allowed-origins)'],
        [{ origin: 'http://app.example.com' }, '403 origin_not_allowed origin http://app.example.com may not connect (--allowed-origins)'],
        [{ origin: 'null' }, '403 origin_not_allowed origin null may not connect (--allowed-origins)'],
      ];
      for (const [headers, want] of cases) assert.equal(await answer(server.port, headers), want, JSON.stringify(headers));
      assert.equal(server.stats().totals.originRefused, 4);
      assert.equal(server.stats().totals.connectionsOpened, 3);
      assert.match(await server.metrics(), /^shardcast_shard_origin_refused_total\{shard="\d"\} [1-4]$/m);
      // a real client from a listed page works all the way
      const c = await TestClient.connect(server.port, '/ws', 10_000, { origin: 'https://app.example.com' });
      try {
        assert.equal(await c.subscribe('news'), 0);
      } finally {
        c.close();
      }
    });
  });

  test('a refused origin gives its per-address connection slot back', async () => {
    await withServer({ allowedOrigins: 'https://app.example.com', maxConnectionsPerIp: 1 }, async (server) => {
      for (let i = 0; i < 3; i++) assert.match(await answer(server.port, { origin: 'https://evil.example' }), /^403 origin_not_allowed/);
      const c = await TestClient.connect(server.port, '/ws', 10_000, { origin: 'https://app.example.com' });
      c.close();
      assert.equal(server.stats().totals.connectionsRefusedPerIp, 0);
    });
  });

  test('on loopback any origin may connect by default', async () => {
    await withServer({}, async (server) => {
      assert.equal(await answer(server.port, { origin: 'https://anywhere.example' }), '101');
      assert.equal(server.stats().totals.originRefused, 0);
    });
  });
});
