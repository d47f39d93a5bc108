/**
 * The client library across the server's failures, on real servers: a shard that faults (1011)
 * and a server restarted on the same port (1001, then a new epoch). Publishing never stops
 * during a fault; afterwards every seq of every client is accounted for exactly once — delivered
 * or inside a reported gap — and clients of the healthy shard saw no gap at all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { RecordingClient } from './helpers/recording-client.js';
import { sleep, waitUntil } from './helpers/wait.js';

/** Clients until both shards have at least `perShard` (the kernel picks the shard); waits for a restarted shard first. */
async function spread(server: ShardcastServer, perShard: number, opened: RecordingClient[], options: ConstructorParameters<typeof RecordingClient>[1] = {}): Promise<RecordingClient[]> {
  await waitUntil(() => server.stats().liveShards === 2, 20_000, 'both shards up');
  const port = server.port;
  const kept: RecordingClient[] = [];
  for (let tries = 0; tries < 60; tries++) {
    const c = new RecordingClient(port, options);
    opened.push(c);
    await c.client.ready();
    if (kept.filter((k) => k.shard() === c.shard()).length < perShard) kept.push(c);
    else c.close();
    if (kept.length === 2 * perShard) return kept;
  }
  throw new Error('could not spread clients over both shards');
}

/** Publishes on `channel` every 5 ms until the returned function is called; it resolves with the last seq. */
function keepPublishing(server: ShardcastServer, channel: string): () => Promise<number> {
  let n = 0;
  const sent: Array<Promise<number>> = [];
  const timer = setInterval(() => sent.push(server.publish(channel, { n: n++ })), 5);
  return async () => {
    clearInterval(timer);
    await Promise.all(sent);
    return server.publish(channel, 'last');
  };
}

describe('client library: reconnecting after a shard fault', () => {
  let server: ShardcastServer;
  const opened: RecordingClient[] = [];

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', testHooks: true, historySize: 10_000 });
  });
  after(async () => {
    for (const c of opened) c.close();
    await server?.close();
  });

  it('reconnects with back-off, resubscribes from where it was, and accounts for every seq exactly once', async () => {
    const clients = await spread(server, 2, opened);
    const starts = await Promise.all(clients.map((c) => c.client.subscribe('live')));
    const stop = keepPublishing(server, 'live');
    const victims = clients.filter((c) => c.shard() === 0);
    const survivors = clients.filter((c) => c.shard() === 1);
    await sleep(100);
    server.injectFault(0);
    for (const c of victims) await c.until(() => c.events('subscribed').some((s) => s.resubscribe), 'the resubscription', 20_000);
    await sleep(100);
    const last = await stop();
    for (const [i, c] of clients.entries()) {
      await c.until(() => c.seqs('live').at(-1) === last, 'the last message', 20_000);
      c.accounted('live', starts[i]!.seq + 1, last);
      assert.deepEqual(c.events('unrecovered'), []);
      assert.deepEqual(c.events('error'), []);
    }
    for (const c of victims) {
      const [closed] = c.events('close');
      assert.equal(closed!.code, 1011);
      assert.ok(closed!.reconnectInMs !== null && closed!.reconnectInMs < 100, 'the first delay is drawn below initialMs');
      assert.equal(c.events('open').length, 2);
      const resub = c.events('subscribed').find((s) => s.resubscribe)!;
      assert.deepEqual([resub.recovered, c.events('gap')], [true, []]);
    }
    for (const c of survivors) assert.deepEqual([c.events('close'), c.events('gap')], [[], []]);
  });

  it('recovers every message missed while reconnecting: recovered true, no gap, no duplicate', async () => {
    const [victim] = (await spread(server, 1, opened)).filter((c) => c.shard() === 0);
    const start = await victim!.client.subscribe('recover');
    const stop = keepPublishing(server, 'recover');
    await sleep(50);
    server.injectFault(0);
    await victim!.until(() => victim!.events('subscribed').some((s) => s.resubscribe), 'the resubscription', 20_000);
    await sleep(50);
    const last = await stop();
    const resub = victim!.events('subscribed').find((s) => s.resubscribe)!;
    assert.equal(resub.recovered, true);
    await victim!.until(() => victim!.seqs('recover').at(-1) === last, 'the last message', 20_000);
    assert.deepEqual(victim!.accounted('recover', start.seq + 1, last), { delivered: last - start.seq, gaps: 0 });
    assert.equal(victim!.client.duplicates(), 0);
  });

  it('past the history window: recovered false with the channel’s seq and epoch, then live messages', async () => {
    const small = await startServer({ port: 0, workers: 2, logLevel: 'silent', testHooks: true, historySize: 5 });
    // the victim's reconnect waits for its token (any token: this server has no JWT) until the
    // 20 publishes are in, so it cannot come back while they are still inside the window
    let held: Promise<void> = Promise.resolve();
    let release = (): void => {};
    const token = async (): Promise<string> => {
      await held;
      return 'held';
    };
    try {
      const [victim] = (await spread(small, 1, opened, { token })).filter((c) => c.shard() === 0);
      await victim!.client.subscribe('far');
      const seen = await small.publish('far', 'seen');
      await victim!.until(() => victim!.seqs('far').includes(seen), 'the first message');
      held = new Promise((resolve) => (release = resolve));
      small.injectFault(0);
      await victim!.until(() => victim!.events('close').length > 0, 'the drop'); // an event, not the state: a poll can miss a short 'reconnecting'
      const behind = await Promise.all(Array.from({ length: 20 }, (_, i) => small.publish('far', i)));
      release();
      await victim!.until(() => victim!.events('subscribed').some((s) => s.resubscribe), 'the resubscription', 20_000);
      const resub = victim!.events('subscribed').find((s) => s.resubscribe)!;
      assert.equal(resub.recovered, false);
      const [lost] = victim!.events('unrecovered');
      assert.deepEqual(lost, { channel: 'far', seq: behind.at(-1), epoch: resub.epoch, lastSeq: seen, lastEpoch: resub.epoch, reason: 'not_recovered' });
      const live = await small.publish('far', 'live');
      await victim!.until(() => victim!.seqs('far').at(-1) === live, 'the live message');
      assert.deepEqual(victim!.seqs('far'), [seen, live]);
    } finally {
      release();
      await small.close();
    }
  });
});

describe('client library: the server restarted on the same port', () => {
  it('reconnects after 1001 once the new server listens, and reports the new epoch as unrecovered', async () => {
    let server = await startServer({ port: 0, workers: 1, logLevel: 'silent' });
    const port = server.port;
    const c = new RecordingClient(port, { backoff: { initialMs: 100, maxMs: 400 } });
    try {
      await c.client.subscribe('epoch');
      const s = await server.publish('epoch', 'old');
      await c.until(() => c.seqs('epoch').includes(s), 'the first message');
      const oldEpoch = c.events('message')[0]!.epoch;
      await server.close();
      await c.until(() => c.events('close').length >= 2, 'a failed attempt while the server is down');
      server = await startServer({ port, workers: 1, logLevel: 'silent' });
      await c.until(() => c.events('subscribed').some((x) => x.resubscribe), 'the resubscription', 20_000);
      assert.equal(c.events('close')[0]!.code, 1001);
      assert.ok(c.events('close').slice(1).every((e) => e.code === 1006 && e.reconnectInMs !== null && e.reconnectInMs < 400), 'attempts while down, bounded by maxMs');
      // the new server has no state for the channel: what the old epoch held is gone
      const [lost] = c.events('unrecovered');
      assert.equal(lost!.lastEpoch, oldEpoch);
      assert.equal(lost!.lastSeq, s);
      assert.equal(lost!.seq, 0);
      const fresh = await server.publish('epoch', 'new');
      await c.until(() => c.seqs('epoch').length === 2, 'the first message of the new epoch');
      const d = c.events('message')[1]!;
      assert.deepEqual([d.seq, d.data], [fresh, 'new']);
      assert.notEqual(d.epoch, oldEpoch);
      assert.deepEqual(c.events('gap'), []);
    } finally {
      c.close();
      await server.close();
    }
  });
});
