/**
 * A stalled shard is cut loose, not allowed to hold everyone: one shard's thread blocks for
 * longer than --shard-stall-timeout while publishers go on. Publishing is refused only until
 * the stall is noticed; from then on the other shard's clients get every accepted message,
 * in order, with no refusal. When the stalled shard runs again it closes its clients with
 * 4002 (reconnect) and is replaced; reconnecting clients are served again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloseCode, ErrorCode, ShardcastError, shouldReconnect, startServer, type ShardcastServer } from '../src/index.js';
import { TestClient, connectMany } from './helpers/client.js';
import { sleep, waitUntil } from './helpers/wait.js';

const STALL_TIMEOUT_MS = 400;
const STALL_MS = 2500;
const PAYLOAD = 'p'.repeat(8 * 1024);

describe('a stalled shard', () => {
  let server: ShardcastServer;
  let clients: TestClient[] = [];

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', testHooks: true, ringSize: '256k', maxPayload: '16k', shardStallTimeout: STALL_TIMEOUT_MS });
    clients = await connectMany(server.port, 24);
    await Promise.all(clients.map((c) => c.subscribe('feed')));
  });

  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });

  it('is cut loose: the other shard keeps receiving, and its own clients get 4002', async () => {
    const onStalled = clients.filter((c) => c.welcome!.shard === 0);
    const healthy = clients.filter((c) => c.welcome!.shard === 1);
    assert.ok(onStalled.length > 0 && healthy.length > 0, 'clients on both shards');

    server.injectStall(0, STALL_MS);
    const stallStart = Date.now();
    // publish steadily through the stall; the ring (256k) fills with ~30 of these
    const accepted: number[] = [];
    let refusedAfterCut = 0;
    let cutAt = 0;
    while (Date.now() - stallStart < STALL_MS - 500) {
      try {
        accepted.push(await server.publish('feed', PAYLOAD));
        // pace on the healthy shard's clients (at most 8 publications ahead of them), so on a
        // busy box only the stalled shard can hold the ring full
        if (accepted.length % 8 === 0) await waitUntil(() => healthy.every((c) => c.messages('feed').length >= accepted.length), 10_000, 'the healthy shard');
      } catch (err) {
        assert.ok(err instanceof ShardcastError && err.code === ErrorCode.Overloaded, String(err));
        if (cutAt > 0 && Date.now() - cutAt > 100) refusedAfterCut++;
        await sleep(2); // a steady stream, not a spin
      }
      if (cutAt === 0 && server.stats().main.shardStalls === 1) cutAt = Date.now();
    }
    assert.ok(cutAt > 0, 'the stalled shard was cut loose');
    const noticedAfter = cutAt - stallStart;
    assert.ok(noticedAfter >= STALL_TIMEOUT_MS - 50 && noticedAfter < STALL_TIMEOUT_MS + 1500, `cut after ${noticedAfter} ms`);
    assert.equal(refusedAfterCut, 0, 'no refusal once the stalled shard was cut loose');
    assert.ok(accepted.length > 100, `${accepted.length} accepted`);
    assert.deepEqual(accepted, Array.from({ length: accepted.length }, (_, k) => k + 1), 'accepted publishes took consecutive seqs');

    // the healthy shard's clients got every accepted message, once, in order
    for (const c of healthy) {
      await c.until(() => c.messages('feed').length >= accepted.length, 10_000, `${accepted.length} messages`);
      assert.deepEqual(c.messages('feed').map((m) => m['seq']), accepted);
      assert.equal(c.closed, null);
    }

    // the stalled shard wakes up, finds itself cut loose, and tells its clients to reconnect
    for (const c of onStalled) {
      const closed = await c.waitClosed(STALL_MS + 5000);
      assert.equal(closed.code, CloseCode.ShardStalled);
      assert.equal(shouldReconnect(closed.code), true);
      // what it did deliver before the stall is a gap-free prefix: nothing out of order
      const seqs = c.messages('feed').map((m) => m['seq'] as number);
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, k) => k + 1));
    }
    await waitUntil(() => server.stats().liveShards === 2 && server.stats().main.shardRestarts === 1, 10_000, 'the shard to be replaced');
    const stats = server.stats();
    assert.equal(stats.main.shardStalls, 1);
    assert.equal(stats.main.shardFaults, 0, 'a stall is not counted as a fault');
    assert.equal(stats.totals.closedStalled, onStalled.length);
    assert.match(await server.metrics(), /^shardcast_shard_stalls_total 1$/m);

    // clients that reconnect are served, wherever the kernel puts them
    const back = await connectMany(server.port, 8);
    clients.push(...back);
    const base = await Promise.all(back.map((c) => c.subscribe('feed')));
    const seq = await server.publish('feed', 'after');
    for (const [i, c] of back.entries()) {
      assert.equal(base[i], seq - 1, 'subscribed reports the current seq');
      const m = await c.waitFor((f) => f.type === 'message' && f['seq'] === seq);
      assert.equal(m['data'], 'after');
    }
  });
});
