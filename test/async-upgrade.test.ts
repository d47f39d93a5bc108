/**
 * A WebSocket upgraded after an asynchronous token check (the first connection of a token on
 * a shard: its signature is checked off the upgrade handler) stays open. uWebSockets.js 20.30
 * closed such a socket right after its `open` (1006, no close frame, no fault) when the upgrade
 * ran inside res.cork and the connection's open handler sent its welcome frame: see
 * ClientHandler.finishUpgrade. Whether it hit depended on the welcome frame's length and the
 * connection's id, so this test spreads both: one shard, sixty users with user ids of 1 to 60
 * characters (every other one outside the channel-name set, so its channel is a hash), each
 * connecting for the first time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { startServer, userChannel, type ShardcastServer } from '../src/index.js';
import { TestClient } from './helpers/client.js';

const SECRET = 'async-upgrade-test-secret-0123456789abc';

describe('upgrade after an asynchronous token check', () => {
  let server: ShardcastServer;
  const opened: TestClient[] = [];

  before(async () => {
    server = await startServer({ port: 0, workers: 1, logLevel: 'silent', jwtSecret: SECRET });
  });

  after(async () => {
    for (const c of opened) c.close();
    await server?.close();
  });

  it('keeps every such connection open and served, whatever the length of its user id', async () => {
    const key = new TextEncoder().encode(SECRET);
    for (let n = 1; n <= 60; n++) {
      const sub = `${n % 2 === 0 ? 'u' : 'ü'}${n}-`.padEnd(n, 'x').slice(0, n);
      const token = await new SignJWT({ channels: ['room:*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('1h').sign(key);
      const c = await TestClient.connect(server.port, `/ws?token=${token}`);
      opened.push(c);
      assert.equal((await c.waitFor((m) => m.type === 'subscribed'))['channel'], userChannel(sub));
    }
    // the cut came after both frames had left: only a round trip shows the connection is there
    for (const c of opened) {
      c.send({ type: 'ping' });
      await c.waitFor((m) => m.type === 'pong');
    }
    assert.deepEqual(opened.filter((c) => c.closed !== null).map((c) => c.welcome!.id), []);
    const { totals } = server.stats();
    assert.equal(totals.tokenCacheHits, 0, 'every token was checked on its own, asynchronously');
    assert.equal(totals.connectionsOpen, 60);
  });
});
