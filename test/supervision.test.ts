/**
 * A shard that hits a fatal error closes its own clients with 1011, exits, and is replaced;
 * clients on the other shard keep receiving throughout, and the replacement serves new
 * connections with the right seqs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloseCode, startServer, type ShardcastServer } from '../src/index.js';
import { waitUntil } from './helpers/wait.js';
import { connectMany, TestClient } from './helpers/client.js';

describe('shard fault and restart', () => {
  let server: ShardcastServer;
  const clients: TestClient[] = [];

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', testHooks: true });
  });

  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });

  for (const where of ['timer', 'ws-message'] as const) {
    it(`survives a fault in a shard (${where})`, async () => {
      const batch = await connectMany(server.port, 60);
      clients.push(...batch);
      await Promise.all(batch.map((c) => c.subscribe('news')));
      const victim = batch.find((c) => c.welcome!.shard === 0);
      const survivors = batch.filter((c) => c.welcome!.shard === 1);
      assert.ok(victim && survivors.length > 0, 'clients on both shards');
      const before = server.stats().main;

      let n = 0;
      const publishing = setInterval(() => void server.publish('news', { n: n++ }), 5);
      try {
        await new Promise((r) => setTimeout(r, 50));
        server.injectFault(0, where);
        if (where === 'ws-message') victim.send({ type: 'ping' });
        const closed = await victim.waitClosed();
        assert.equal(closed.code, CloseCode.InternalError);
        // every client of the dead shard got 1011
        for (const c of batch.filter((x) => x.welcome!.shard === 0)) assert.equal((await c.waitClosed()).code, CloseCode.InternalError);
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        clearInterval(publishing);
      }
      const last = await server.publish('news', 'last');

      // survivors saw every seq from their subscription to the end, without a gap
      for (const c of survivors) {
        await c.until(() => c.messages('news').some((m) => m['seq'] === last), 10_000, 'last message');
        const seqs = c.messages('news').map((m) => m['seq'] as number);
        assert.equal(c.closed, null);
        for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1);
      }

      // the replacement shard comes up and serves new clients with the current seq
      await waitUntil(() => server.stats().liveShards === 2 && server.stats().main.shardRestarts > before.shardRestarts);
      assert.equal(server.stats().main.shardFaults, before.shardFaults + 1);
      const fresh = await connectMany(server.port, 40);
      clients.push(...fresh);
      assert.ok(fresh.some((c) => c.welcome!.shard === 0), 'a new connection lands on the restarted shard');
      for (const c of fresh) assert.equal(await c.subscribe('news'), last);
      const next = await server.publish('news', 'after');
      for (const c of fresh) assert.equal((await c.waitFor((m) => m.type === 'message' && m['seq'] === next))['data'], 'after');
      // the dead shard's connections are no longer counted as open
      assert.equal(server.stats().connections, clients.filter((c) => c.closed === null).length);
    });
  }
});
