/**
 * End to end: two shards, a few hundred real WebSocket clients, publications from every
 * ingress (HTTP, in-process, IPC socket, client publish) interleaved. Every client gets
 * every message of its channels exactly once, in seq order, whatever shard it landed on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpcClient, startServer, type ShardcastServer } from '../src/index.js';
import { connectMany, type TestClient } from './helpers/client.js';

const CLIENTS = 300;
const ROOMS = ['room-0', 'room-1', 'room-2'];
const PER_INGRESS = 30;

describe('fan-out over shards from every ingress', () => {
  let server: ShardcastServer;
  let clients: TestClient[];
  let ipc: IpcClient;
  /** What was published: channel → seq → data. */
  const sent = new Map<string, Map<number, unknown>>();
  const record = (channel: string, seq: number, data: unknown): void => {
    if (!sent.has(channel)) sent.set(channel, new Map());
    assert.equal(sent.get(channel)!.has(seq), false, `seq ${seq} on ${channel} given twice`);
    sent.get(channel)!.set(seq, data);
  };

  before(async () => {
    const ipcSocket = join(tmpdir(), `shardcast-fanout-${process.pid}.sock`);
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', ipcSocket });
    clients = await connectMany(server.port, CLIENTS);
    // each client: its room and the channel everyone shares
    await Promise.all(clients.map((c, i) => Promise.all([c.subscribe(ROOMS[i % ROOMS.length]!), c.subscribe('all')])));
    ipc = await IpcClient.connect(ipcSocket);
  });

  after(async () => {
    await ipc?.close();
    for (const c of clients ?? []) c.close();
    await server?.close();
  });

  it('spreads clients over more than one shard', () => {
    const shards = new Set(clients.map((c) => c.welcome!.shard));
    assert.deepEqual([...shards].sort(), [0, 1]);
  });

  it('delivers every message once, in seq order, to every subscriber', async () => {
    const publisher = clients[0]!; // a client publishing on the shared channel
    const httpUrl = `http://127.0.0.1:${server.port}/api/publish`;
    const jobs: Array<Promise<void>> = [];
    for (let i = 0; i < PER_INGRESS; i++) {
      const room = ROOMS[i % ROOMS.length]!;
      jobs.push(
        server.publish(room, { via: 'api', i }).then((seq) => record(room, seq, { via: 'api', i })),
        fetch(httpUrl, { method: 'POST', body: JSON.stringify({ channels: [room, 'all'], data: { via: 'http', i } }) })
          .then((r) => r.json() as Promise<{ seqs: Record<string, number> }>)
          .then((b) => {
            record(room, b.seqs[room]!, { via: 'http', i });
            record('all', b.seqs['all']!, { via: 'http', i });
          }),
        ipc.publish('all', { via: 'ipc', i }).then((seq) => record('all', seq, { via: 'ipc', i })),
      );
      publisher.send({ type: 'publish', channel: 'all', data: { via: 'ws', i }, id: `w${i}` });
    }
    await Promise.all(jobs);
    // client publishes are acknowledged with their seq
    for (let i = 0; i < PER_INGRESS; i++) {
      const ack = await publisher.waitFor((m) => m.type === 'ack' && m['id'] === `w${i}`);
      record('all', ack['seq'] as number, { via: 'ws', i });
    }

    const expected = (channel: string): number => sent.get(channel)!.size;
    assert.equal(expected('all'), 3 * PER_INGRESS);
    await Promise.all(
      clients.map((c, i) => {
        const room = ROOMS[i % ROOMS.length]!;
        const want = expected(room) + expected('all');
        return c.until(() => c.messages().length >= want, 20_000, `client ${i}: ${want} messages`);
      }),
    );
    // give duplicates, if any, a moment to show up
    await new Promise((r) => setTimeout(r, 200));

    clients.forEach((c, i) => {
      for (const channel of [ROOMS[i % ROOMS.length]!, 'all']) {
        const got = c.messages(channel);
        const seqs = got.map((m) => m['seq'] as number);
        assert.deepEqual(seqs, Array.from({ length: expected(channel) }, (_, k) => k + 1), `client ${i} on shard ${c.welcome!.shard}, ${channel}`);
        for (const m of got) assert.deepEqual(m['data'], sent.get(channel)!.get(m['seq'] as number));
      }
    });

    const stats = server.stats();
    assert.equal(stats.connections, CLIENTS);
    const delivered = clients.reduce((n, c) => n + c.messages().length, 0);
    assert.equal(stats.totals.deliveries, delivered);
  });

  it('counts subscribers per channel over all shards', async () => {
    const channels = await server.channels();
    const byName = Object.fromEntries(channels.map((c) => [c.channel, c.subscribers]));
    assert.equal(byName['all'], CLIENTS);
    assert.equal((byName['room-0'] ?? 0) + (byName['room-1'] ?? 0) + (byName['room-2'] ?? 0), CLIENTS);
  });

  it('tells a new subscriber the last seq, and the next delivery is that seq + 1', async () => {
    const c = clients[1]!;
    const seq = await c.subscribe('late');
    assert.equal(seq, 0);
    await server.publish('late', 'x');
    const m = await c.waitFor((f) => f.type === 'message' && f['channel'] === 'late');
    assert.equal(m['seq'], 1);
    // another shard may not have read that publication yet: then it says 0 and delivers 1
    const other = clients[2]!;
    const again = await other.subscribe('late');
    if (again === 0) assert.equal((await other.waitFor((f) => f.type === 'message' && f['channel'] === 'late'))['seq'], 1);
    else assert.equal(again, 1);
  });
});
