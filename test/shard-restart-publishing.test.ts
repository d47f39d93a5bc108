/**
 * A stopping or restarting shard does not block publishers: a faulting shard gives up its
 * feed slot the moment it stops reading (not after its clients' close grace), and its
 * replacement is attached only when it starts reading (not while its worker boots). So a
 * steady stream of publications that fills the ring within a fraction of a second is never
 * refused while one shard faults and is replaced, and the other shard's clients get it all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloseCode, startServer, type ShardcastServer } from '../src/index.js';
import { connectMany, type TestClient } from './helpers/client.js';
import { sleep, waitUntil } from './helpers/wait.js';

const PAYLOAD = 'r'.repeat(8 * 1024);

describe('publishing while a shard faults and restarts', () => {
  let server: ShardcastServer;
  let clients: TestClient[] = [];

  before(async () => {
    // 256 KiB of ring: about 30 of these publications. The faulting shard's clients take
    // up to 1 s of close grace; its replacement takes tens of ms to boot. Held during
    // either, the ring would fill many times over at this rate.
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', testHooks: true, ringSize: '256k', maxPayload: '16k', shutdownTimeout: 2000 });
    clients = await connectMany(server.port, 24);
    await Promise.all(clients.map((c) => c.subscribe('steady')));
  });

  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });

  it('refuses nothing, and the healthy shard delivers everything', async () => {
    const faulting = clients.filter((c) => c.welcome!.shard === 0);
    const healthy = clients.filter((c) => c.welcome!.shard === 1);
    assert.ok(faulting.length > 0 && healthy.length > 0);
    const restartsBefore = server.stats().main.shardRestarts;

    let published = 0;
    const publishFor = async (ms: number): Promise<void> => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        await server.publish('steady', PAYLOAD); // a refusal rejects: the test fails
        published++;
        // pace on the healthy shard's clients: at most 8 publications (64 KiB) are ever ahead
        // of them, so on a busy box only a shard that holds its slot without reading — the
        // faulting one during its close grace, or a booting replacement — could fill the ring
        if (published % 8 === 0) await waitUntil(() => healthy.every((c) => c.messages('steady').length >= published), 10_000, 'the healthy shard');
      }
    };
    const stream = publishFor(2500);
    await sleep(200);
    server.injectFault(0, 'timer');
    await stream;
    assert.ok(published > 200, `${published} published`);

    await waitUntil(() => server.stats().main.shardRestarts === restartsBefore + 1 && server.stats().liveShards === 2, 10_000, 'the replacement');
    for (const c of faulting) assert.equal((await c.waitClosed(5000)).code, CloseCode.InternalError);
    for (const c of healthy) {
      await c.until(() => c.messages('steady').length === published, 10_000, `${published} messages`);
      assert.deepEqual(c.messages('steady').map((m) => m['seq']), Array.from({ length: published }, (_, k) => k + 1));
    }
    assert.equal(server.stats().main.rejectedOverloaded, 0);
  });
});
