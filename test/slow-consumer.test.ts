/**
 * A client that stops reading is closed with 4001 once its send buffer passes
 * --max-backpressure, and counted; the other clients get everything, undisturbed.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CloseCode, startServer, type ShardcastServer } from '../src/index.js';
import { waitUntil } from './helpers/wait.js';
import { connectMany, type TestClient } from './helpers/client.js';

describe('slow consumers', () => {
  let server: ShardcastServer;
  let clients: TestClient[] = [];

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', maxBackpressure: '512k' });
    clients = await connectMany(server.port, 20);
    await Promise.all(clients.map((c) => c.subscribe('ticks')));
  });

  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });

  it('closes the slow client with 4001 and the healthy ones lose nothing', async () => {
    const [slow, ...healthy] = clients as [TestClient, ...TestClient[]];
    // stop reading: the kernel buffers fill, then the server's send buffer grows
    const socket = (slow.ws as unknown as { _socket: Socket })._socket;
    socket.pause();

    const payload = 'x'.repeat(8 * 1024);
    const COUNT = 2000; // 16 MiB: more than loopback's socket buffers can absorb
    let last = 0;
    for (let i = 0; i < COUNT; i++) {
      last = await server.publish('ticks', { i, payload });
      // pace on the healthy clients (they share this thread with the publisher), so only
      // the one that stopped reading can fall behind by more than the limit
      if (i % 16 === 15) await waitUntil(() => healthy.every((c) => c.messages('ticks').length >= i + 1), 10_000, 'healthy clients to keep up');
    }
    await waitUntil(() => server.stats().totals.closedSlowConsumer >= 1, 10_000);

    for (const c of healthy) {
      await c.until(() => c.messages('ticks').length === COUNT, 20_000, 'all ticks');
      assert.deepEqual(c.messages('ticks').map((m) => m['seq']), Array.from({ length: COUNT }, (_, k) => k + 1));
      assert.equal(c.closed, null);
    }
    assert.equal(last, COUNT);

    // once it reads again, the slow client learns why it was dropped
    socket.resume();
    const closed = await slow.waitClosed(20_000);
    assert.equal(closed.code, CloseCode.SlowConsumer);
    // what it was sent before the close arrives whole and in order: nothing skipped silently
    const seqs = slow.messages('ticks').map((m) => m['seq'] as number);
    assert.ok(seqs.length < COUNT);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, k) => k + 1));
    assert.equal(server.stats().totals.closedSlowConsumer, 1);
  });
});
