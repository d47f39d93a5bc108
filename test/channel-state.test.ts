/**
 * Bounded per-channel state: the Sequencer forgets channels idle for --channel-ttl that no
 * shard has subscribers of, behind a FORGET record every shard applies at the same point of
 * the stream; a channel that comes back starts at seq 1 of a new epoch; --max-channels
 * refuses new channels (after one sweep) and never existing ones. Unit tests of the
 * Sequencer, Interest and MemoryBroker over a real ring, then real servers with two shards,
 * real WebSocket clients, HTTP and the in-process API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryBroker } from '../src/broker/broker-memory.js';
import { Counters, createCounters } from '../src/transport/counters.js';
import { Payload } from '../src/protocol/payload.js';
import { Fanout } from '../src/pubsub/fanout.js';
import { Interest } from '../src/pubsub/interest.js';
import { ErrorCode, ShardcastError, resolveConfig, startServer, type ShardcastServer } from '../src/index.js';
import { formatEpoch } from '../src/protocol/messages.js';
import { RecordKind, readForget, readPublication, type ForgetView, type PublicationView } from '../src/transport/records.js';
import { RingConsumer, createRing } from '../src/transport/ring.js';
import { Sequencer, type ChannelState } from '../src/pubsub/sequencer.js';
import { readSnapshot } from '../src/transport/channel-snapshot.js';
import { ConfigError } from '../src/protocol/errors.js';
import { TestClient, type Frame } from './helpers/client.js';
import { sleep, waitUntil } from './helpers/wait.js';

const never = (): boolean => false;
const always = (): boolean => true;

/** Blocks this thread (no timer can run meanwhile): time passes for a synchronous test. */
function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

// ------------------------------------------------------------------ Sequencer

describe('Sequencer', () => {
  test('a channel keeps its epoch while it lives; every new incarnation gets another', () => {
    const s = new Sequencer(0xfffffffe);
    const e1 = s.newEpoch();
    s.commit('a', 1, e1, 0);
    s.commit('a', 2, e1, 5);
    assert.deepEqual(s.get('a'), { seq: 2, epoch: 0xfffffffe, lastPublishedAt: 5 });
    assert.equal(s.lastSeq('a'), 2);
    const e2 = s.newEpoch();
    s.commit('b', 1, e2, 5);
    assert.ok(s.forget('a'));
    assert.equal(s.lastSeq('a'), 0);
    assert.equal(s.get('a'), undefined);
    const e3 = s.newEpoch(); // the counter wraps at 2^32
    assert.deepEqual([e1, e2, e3], [0xfffffffe, 0xffffffff, 0]);
    assert.equal(formatEpoch(e2), 'ffffffff');
    assert.equal(formatEpoch(e3), '00000000');
    assert.equal(s.channels, 1);
  });

  test('two sequencers (two server runs) start from different random epochs', () => {
    const firsts = new Set(Array.from({ length: 8 }, () => new Sequencer().newEpoch()));
    assert.ok(firsts.size > 1, 'random first epochs');
    for (const e of firsts) assert.ok(Number.isInteger(e) && e >= 0 && e < 2 ** 32);
  });

  test('a sweep forgets only channels idle for the TTL that keep() does not claim', () => {
    const s = new Sequencer(100);
    s.commit('idle', 3, s.newEpoch(), 0);
    s.commit('busy', 7, s.newEpoch(), 950);
    s.commit('watched', 1, s.newEpoch(), 0);
    s.commit('edge', 1, s.newEpoch(), 500); // idle exactly ttl: forgotten
    const told: Array<[string, ChannelState]> = [];
    const result = s.sweep(1000, 500, (c) => c === 'watched', (c, st) => (told.push([c, { ...st }]), true));
    assert.equal(result, 'done');
    assert.deepEqual(told, [
      ['idle', { seq: 3, epoch: 100, lastPublishedAt: 0 }],
      ['edge', { seq: 1, epoch: 103, lastPublishedAt: 500 }],
    ]);
    assert.equal(s.channels, 2);
    assert.equal(s.lastSeq('busy'), 7);
    assert.equal(s.lastSeq('watched'), 1);
    // nothing idle any more: a second pass forgets nothing
    assert.equal(s.sweep(1000, 500, (c) => c === 'watched', () => assert.fail('nothing to forget')), 'done');
  });

  test('a forget that cannot reach the shards keeps the state and stops the slice; the pass resumes later', () => {
    const s = new Sequencer(0);
    for (const c of ['a', 'b', 'c', 'd']) s.commit(c, 1, s.newEpoch(), 0);
    let room = 1;
    const told: string[] = [];
    const tell = (c: string): boolean => {
      if (room === 0) return false;
      room--;
      told.push(c);
      return true;
    };
    assert.equal(s.sweep(10, 5, never, tell), 'blocked');
    assert.deepEqual(told, ['a']);
    assert.equal(s.channels, 3, 'b was not forgotten: the shards were not told');
    room = 10;
    assert.equal(s.sweep(10, 5, never, tell), 'done');
    assert.deepEqual(told, ['a', 'c', 'd'], 'the pass resumed after the channel it could not forget');
    assert.equal(s.sweep(10, 5, never, tell), 'done', 'a new pass starts from the first channel');
    assert.deepEqual(told, ['a', 'c', 'd', 'b']);
    assert.equal(s.channels, 0);
  });

  test('a pass in slices visits every channel once, while channels come and go between slices', () => {
    const s = new Sequencer(0);
    for (let i = 0; i < 100; i++) s.commit(`c${i}`, 1, s.newEpoch(), i % 2 === 0 ? 0 : 1000);
    const told: string[] = [];
    const tell = (c: string): boolean => (told.push(c), true);
    let slices = 0;
    let result;
    do {
      result = s.sweep(1000, 100, never, tell, 7);
      slices++;
      // between slices: a new channel (not idle) and a publication on an idle one
      s.commit(`new${slices}`, 1, s.newEpoch(), 1000);
      if (slices === 1) s.commit('c98', 2, s.get('c98')!.epoch, 1000);
    } while (result === 'more');
    assert.equal(result, 'done');
    assert.ok(slices >= 100 / 7, `${slices} slices`);
    const expected = Array.from({ length: 50 }, (_, i) => `c${2 * i}`).filter((c) => c !== 'c98');
    assert.deepEqual(told, expected);
    assert.equal(new Set(told).size, told.length, 'each forgotten once');
    assert.equal(s.lastSeq('c98'), 2);
  });

  test('restartSweep abandons the pass under way', () => {
    const s = new Sequencer(0);
    for (const c of ['a', 'b', 'c']) s.commit(c, 1, s.newEpoch(), 0);
    const told: string[] = [];
    assert.equal(s.sweep(10, 5, always, () => assert.fail('kept'), 2), 'more');
    s.restartSweep();
    assert.equal(s.sweep(10, 5, never, (c) => (told.push(c), true)), 'done');
    assert.deepEqual(told, ['a', 'b', 'c']);
  });

  test('a snapshot carries every channel with its seq and epoch', () => {
    const s = new Sequencer(41);
    const empty: Array<[string, number, number]> = [];
    readSnapshot(s.snapshot(), (c, seq, epoch) => empty.push([c, seq, epoch]));
    assert.deepEqual(empty, []);
    s.commit('x', 5, s.newEpoch(), 0);
    s.commit('y/z:1', 1, s.newEpoch(), 0);
    const snap = structuredClone(s.snapshot()); // as it travels to a worker
    const got: Array<[string, number, number]> = [];
    readSnapshot(snap, (c, seq, epoch) => got.push([c, seq, epoch]));
    assert.deepEqual(got, [['x', 5, 41], ['y/z:1', 1, 42]]);
  });
});

// ------------------------------------------------------------------ Interest

describe('Interest', () => {
  test('counts shards per channel, repeats are harmless, and an exiting shard takes its interest along', () => {
    const changes: string[] = [];
    const i = new Interest(3, (c, on) => changes.push(`${c}:${on ? 'on' : 'off'}`));
    i.apply(0, ['a', 'b'], []);
    i.apply(1, ['a'], []);
    i.apply(1, ['a'], []); // a repeated report (after a FORGET raced a subscribe)
    assert.deepEqual(changes, ['a:on', 'b:on']);
    i.apply(0, [], ['a', 'zzz']);
    assert.ok(i.has('a'), 'shard 1 still has subscribers');
    i.dropShard(1);
    assert.deepEqual(changes, ['a:on', 'b:on', 'a:off']);
    assert.equal(i.has('a'), false);
    i.dropShard(0);
    assert.deepEqual(changes, ['a:on', 'b:on', 'a:off', 'b:off']);
    assert.equal(i.size, 0);
    i.apply(1, ['a'], []); // a restarted shard reports from scratch
    assert.deepEqual(changes.at(-1), 'a:on');
    // three shards on one topic, leaving in any order (an off twice, a shard out of range: nothing)
    i.apply(0, ['a'], []);
    i.apply(2, ['a'], []);
    i.apply(7, [], ['a']);
    i.apply(1, [], ['a']);
    i.apply(1, [], ['a']);
    i.dropShard(2);
    assert.ok(i.has('a'), 'shard 0 still has subscribers');
    i.apply(0, [], ['a']);
    assert.deepEqual(changes.slice(-2), ['a:on', 'a:off']);
    assert.equal(i.size, 0);
  });
});

// ------------------------------------------------------------------ MemoryBroker over a real ring

describe('MemoryBroker', () => {
  function rig(maxChannels: number, channelTtl: number) {
    const ring = createRing({ capacity: 256 * 1024, maxConsumers: 1 });
    const fanout = new Fanout(ring);
    fanout.attach(0);
    const counters = new Counters(createCounters(1));
    const interested = new Set<string>(); // what the engine's Interest would say
    const broker = new MemoryBroker(fanout, new Sequencer(), { maxChannels, channelTtl, history: { size: 0, ttlMs: 0, maxBytes: 0 }, counters, interested: (c) => interested.has(c) });
    const consumer = new RingConsumer(ring, 0);
    /** Every record written so far, as "kind channel seq/epoch". */
    const records = (): Array<{ kind: 'pub' | 'forget'; channel: string; seq?: number; epoch: number }> => {
      fanout.flush();
      const out: Array<{ kind: 'pub' | 'forget'; channel: string; seq?: number; epoch: number }> = [];
      const pub: PublicationView = { seq: 0, epoch: 0, channel: '', count: 0, stamp: 0, json: new Uint8Array(0), msgpack: new Uint8Array(0) };
      const fv: ForgetView = { epoch: 0, channel: '' };
      for (let at = consumer.next(); at >= 0; at = consumer.next()) {
        if (consumer.kind === (RecordKind.Publication as number)) {
          const p = readPublication(consumer, at, pub);
          out.push({ kind: 'pub', channel: p.channel, seq: p.seq, epoch: p.epoch });
        } else if (consumer.kind === (RecordKind.Forget as number)) {
          const f = readForget(consumer, at, fv);
          out.push({ kind: 'forget', channel: f.channel, epoch: f.epoch });
        }
      }
      consumer.release();
      return out;
    };
    return { broker, counters, records, interested };
  }

  test('at the cap a publish sweeps idle channels first; FORGET precedes the new incarnation in the stream', async () => {
    const { broker, counters, records, interested } = rig(3, 100);
    try {
      assert.deepEqual(broker.publishNow(['a', 'b', 'c'], Payload.json('1')), [1, 1, 1]);
      interested.add('b'); // b has subscribers somewhere: never forgotten
      const before = records();
      const epochOf = (c: string): number => before.find((r) => r.channel === c)!.epoch;
      busyWait(150); // a, c idle past the TTL; no timer can run meanwhile
      assert.deepEqual(broker.publishNow(['a', 'd'], Payload.json('2')), [1, 1], 'a came back at seq 1; d fits in the room made');
      assert.equal(counters.main('channelsForgotten'), 2);
      assert.equal(counters.main('channelsLive'), 3);
      const after = records();
      assert.deepEqual(after.map((r) => `${r.kind} ${r.channel}${r.seq === undefined ? '' : ` ${r.seq}`}`), ['forget a', 'forget c', 'pub a 1', 'pub d 1']);
      assert.equal(after[0]!.epoch, epochOf('a'), 'FORGET names the incarnation it ends');
      assert.notEqual(after[2]!.epoch, epochOf('a'), 'the new incarnation has a new epoch');
      // full again (a, b, d), nothing idle, and the last forced sweep was < 1 s ago
      assert.throws(() => broker.publishNow(['e'], Payload.json('3')), (e: unknown) => e instanceof ShardcastError && e.code === ErrorCode.TooManyChannels);
      // all or none: a publish naming an existing and a new channel is refused whole
      assert.throws(() => broker.publishNow(['b', 'e'], Payload.json('3')), (e: unknown) => e instanceof ShardcastError && e.code === ErrorCode.TooManyChannels);
      assert.equal(counters.main('rejectedTooManyChannels'), 2);
      assert.deepEqual(broker.publishNow(['b'], Payload.json('4')), [2], 'existing channels keep publishing');
      assert.deepEqual(records().map((r) => `${r.kind} ${r.channel} ${r.seq}`), ['pub b 2']);
    } finally {
      await broker.close();
    }
  });

  test('with --channel-ttl 0 nothing is forgotten and the cap is final', async () => {
    const { broker, counters } = rig(2, 0);
    try {
      broker.publishNow(['a', 'b'], Payload.json('1'));
      busyWait(20);
      assert.throws(() => broker.publishNow(['c'], Payload.json('1')), (e: unknown) => e instanceof ShardcastError && e.code === ErrorCode.TooManyChannels);
      assert.equal(counters.main('channelsForgotten'), 0);
      assert.deepEqual(broker.publishNow(['a'], Payload.json('1')), [2]);
    } finally {
      await broker.close();
    }
  });

  test('the timer sweeps idle channels without any publish', async () => {
    const { broker, counters, records, interested } = rig(100, 100);
    try {
      broker.publishNow(['t1', 't2'], Payload.json('1'));
      interested.add('t2');
      await waitUntil(() => counters.main('channelsForgotten') === 1, 5000, 't1 forgotten');
      assert.equal(counters.main('channelsLive'), 1);
      assert.deepEqual(records().filter((r) => r.kind === 'forget').map((r) => r.channel), ['t1']);
      interested.delete('t2');
      await waitUntil(() => counters.main('channelsLive') === 0, 5000, 't2 forgotten once nobody follows it');
    } finally {
      await broker.close();
    }
  });
});

// ------------------------------------------------------------------ options

describe('options', () => {
  test('--max-channels and --channel-ttl are validated', () => {
    assert.equal(resolveConfig({ channelTtl: 0 }).channelTtl, 0);
    assert.equal(resolveConfig({ channelTtl: '100' }).channelTtl, 100);
    assert.equal(resolveConfig({ maxChannels: '5' }).maxChannels, 5);
    for (const [options, option, allowed] of [
      [{ channelTtl: 99 }, 'channelTtl', '0 (never forget) or 100 to 86400000'],
      [{ channelTtl: -1 }, 'channelTtl', '0 to 86400000'],
      [{ channelTtl: '5m' }, 'channelTtl', 'an integer'],
      [{ maxChannels: 0 }, 'maxChannels', '1 to 100000000'],
    ] as const) {
      assert.throws(() => resolveConfig(options), (e: unknown) => e instanceof ConfigError && e.option === option && e.message.includes(allowed), JSON.stringify(options));
    }
  });
});

// ------------------------------------------------------------------ real servers

const TTL = 250;

/** Connects clients until one lands on each wanted shard; closes the others. */
async function onShards(port: number, shards: number[], opened: TestClient[]): Promise<TestClient[]> {
  const found = new Map<number, TestClient>();
  for (let i = 0; i < 200 && found.size < shards.length; i++) {
    const c = await TestClient.connect(port);
    opened.push(c);
    if (shards.includes(c.welcome!.shard) && !found.has(c.welcome!.shard)) found.set(c.welcome!.shard, c);
    else c.close();
  }
  assert.equal(found.size, shards.length, `clients on shards ${shards.join(', ')}`);
  return shards.map((s) => found.get(s)!);
}

async function subscribedFrame(c: TestClient, channel: string): Promise<Frame> {
  const from = c.inbox.length;
  c.send({ type: 'subscribe', channel });
  return c.waitFor((f) => f.type === 'subscribed' && f['channel'] === channel, 10_000, from);
}

describe('forgetting channels on a server with two shards', () => {
  let server: ShardcastServer;
  const clients: TestClient[] = [];
  const live = (): number => server.stats().main.channelsLive;
  const shardStates = (): number[] => server.stats().shards.map((s) => s.channelStates);

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', testHooks: true, channelTtl: TTL });
  });

  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });

  test('channels published then left alone are forgotten by main and by every shard', async () => {
    const before = server.stats();
    for (let b = 0; b < 5; b++) {
      await server.publishMany(Array.from({ length: 100 }, (_, i) => `burst-${b}-${i}`), { b });
    }
    // every shard reads the 500 publications (an entry each), then everything drains back
    await waitUntil(() => server.stats().shards.every((s, i) => s.publications - before.shards[i]!.publications >= 500), 10_000, 'shards read them');
    await waitUntil(() => live() === 0 && shardStates().every((n) => n === 0), 10_000, 'every channel forgotten');
    const now = server.stats().main;
    assert.equal(now.channelsForgotten - before.main.channelsForgotten, 500);
    const metrics = await server.metrics();
    assert.match(metrics, /^shardcast_channels_live 0$/m);
    assert.match(metrics, /^shardcast_channels_forgotten_total 500$/m);
    assert.match(metrics, /^shardcast_shard_channel_states\{shard="1"\} 0$/m);
  });

  test('a subscribed channel is never forgotten however long it idles; once unsubscribed it is', async () => {
    const [a, b] = await onShards(server.port, [0, 1], clients);
    assert.deepEqual(await subscribedFrame(a!, 'kept'), { type: 'subscribed', channel: 'kept', seq: 0 });
    assert.equal(await server.publish('kept', 1), 1);
    assert.equal(await server.publish('kept', 2), 2);
    const first = await a!.waitFor((f) => f.type === 'message' && f['channel'] === 'kept' && f['seq'] === 1);
    const epoch = first['epoch'] as string;
    assert.match(epoch, /^[0-9a-f]{8}$/, 'the first message of an epoch carries it');
    const second = await a!.waitFor((f) => f.type === 'message' && f['channel'] === 'kept' && f['seq'] === 2);
    assert.equal(second['epoch'], undefined, 'later messages do not');
    // other channels are forgotten meanwhile, so sweeps did run
    const forgotten = server.stats().main.channelsForgotten;
    await server.publish('passing', 0);
    await waitUntil(() => server.stats().main.channelsForgotten > forgotten, 10_000, 'a sweep');
    await sleep(4 * TTL);
    assert.deepEqual(await subscribedFrame(b!, 'kept'), { type: 'subscribed', channel: 'kept', seq: 2, epoch });
    assert.equal(await server.publish('kept', 3), 3);
    // nobody follows it any more: it goes
    const liveBefore = live();
    for (const c of [a!, b!]) c.send({ type: 'unsubscribe', channel: 'kept' });
    await waitUntil(() => live() === liveBefore - 1, 10_000, 'kept forgotten after its subscribers left');
  });

  test('a channel that comes back starts at seq 1 with a new epoch, seen in subscribed', async () => {
    const [a, b] = await onShards(server.port, [0, 1], clients);
    for (const c of [a!, b!]) await subscribedFrame(c, 'phoenix');
    await server.publish('phoenix', 'one');
    await server.publish('phoenix', 'two');
    const e1 = (await a!.waitFor((f) => f.type === 'message' && f['channel'] === 'phoenix' && f['seq'] === 1))['epoch'];
    for (const c of [a!, b!]) {
      await c.waitFor((f) => f.type === 'message' && f['channel'] === 'phoenix' && f['seq'] === 2);
      // subscribing again answers with the state the shard holds now: seq 2 of epoch e1
      assert.deepEqual(await subscribedFrame(c, 'phoenix'), { type: 'subscribed', channel: 'phoenix', seq: 2, epoch: e1 });
    }
    const states = shardStates();
    const liveBefore = live();
    for (const c of [a!, b!]) c.send({ type: 'unsubscribe', channel: 'phoenix' });
    await waitUntil(() => live() === liveBefore - 1 && shardStates().every((n, i) => n === states[i]! - 1), 10_000, 'phoenix forgotten everywhere');
    // no state anywhere: seq 0, no epoch; the next message is seq 1 of a new epoch
    for (const c of [a!, b!]) assert.deepEqual(await subscribedFrame(c, 'phoenix'), { type: 'subscribed', channel: 'phoenix', seq: 0 });
    const from = a!.inbox.length;
    assert.equal(await server.publish('phoenix', 'again'), 1);
    const reborn = await a!.waitFor((f) => f.type === 'message' && f['channel'] === 'phoenix', 10_000, from);
    assert.equal(reborn['seq'], 1);
    assert.match(reborn['epoch'] as string, /^[0-9a-f]{8}$/);
    assert.notEqual(reborn['epoch'], e1);
    await b!.waitFor((f) => f.type === 'message' && f['channel'] === 'phoenix' && f['epoch'] === reborn['epoch']);
    const [c] = await onShards(server.port, [1], clients);
    assert.deepEqual(await subscribedFrame(c!, 'phoenix'), { type: 'subscribed', channel: 'phoenix', seq: 1, epoch: reborn['epoch'] });
  });

  test('a FORGET that races subscribers sends them one reset per shard; the channel then restarts at seq 1 and stays', async () => {
    const [a, b] = await onShards(server.port, [0, 1], clients);
    const [a2] = await onShards(server.port, [0], clients);
    for (const c of [a!, a2!, b!]) await subscribedFrame(c, 'race');
    await server.publish('race', 'x');
    const e1 = (await b!.waitFor((f) => f.type === 'message' && f['channel'] === 'race'))['epoch'];
    for (const c of [a!, a2!]) await c.waitFor((f) => f.type === 'message' && f['channel'] === 'race');
    const resetsBefore = server.stats().totals.channelResets;
    assert.equal(server.injectForget('race'), true);
    assert.equal(server.injectForget('race'), false, 'no state left to forget');
    for (const c of [a!, a2!, b!]) assert.deepEqual(await c.waitFor((f) => f.type === 'reset'), { type: 'reset', channel: 'race' });
    // one uWS publish per shard, not one send per subscriber
    await waitUntil(() => server.stats().totals.channelResets === resetsBefore + 2, 5000, 'reset counted per shard');
    for (const c of [a!, a2!, b!]) assert.deepEqual(await subscribedFrame(c, 'race'), { type: 'subscribed', channel: 'race', seq: 0 });
    assert.equal(await server.publish('race', 'y'), 1);
    const m = await b!.waitFor((f) => f.type === 'message' && f['channel'] === 'race' && f['data'] === 'y');
    assert.equal(m['seq'], 1);
    assert.notEqual(m['epoch'], e1);
    // the subscribers still hold the channel: sweeps leave it alone
    await sleep(4 * TTL);
    assert.deepEqual(await subscribedFrame(a!, 'race'), { type: 'subscribed', channel: 'race', seq: 1, epoch: m['epoch'] });
    for (const c of [a!, a2!, b!]) assert.equal(c.inbox.filter((f) => f.type === 'reset').length, 1, 'one reset each');
  });

  test('a shard that exits takes its interest along: its only channel is then forgotten', async () => {
    const [victim] = await onShards(server.port, [1], clients);
    await subscribedFrame(victim!, 'orphan');
    await server.publish('orphan', 1);
    await victim!.waitFor((f) => f.type === 'message' && f['channel'] === 'orphan');
    const liveBefore = live();
    await sleep(3 * TTL);
    assert.equal(live(), liveBefore, 'kept while its subscriber is there');
    const restarts = server.stats().main.shardRestarts;
    server.injectFault(1);
    await victim!.waitClosed();
    await waitUntil(() => live() === liveBefore - 1, 10_000, 'orphan forgotten');
    await waitUntil(() => server.stats().main.shardRestarts > restarts && server.stats().liveShards === 2, 10_000, 'shard 1 back');
  });
});

describe('--max-channels and restarts on a server with two shards', () => {
  let server: ShardcastServer;
  const clients: TestClient[] = [];

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', testHooks: true, maxChannels: 3, channelTtl: 0 });
  });

  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });

  test('new channels past the cap are refused with too_many_channels on every ingress; existing ones publish', async () => {
    assert.deepEqual(await server.publishMany(['cap-1', 'cap-2'], 0), [1, 1]);
    assert.equal(await server.publish('cap-3', 0), 1);
    await assert.rejects(server.publish('cap-4', 0), (e: unknown) => e instanceof ShardcastError && e.code === ErrorCode.TooManyChannels);
    await assert.rejects(server.publishMany(['cap-1', 'cap-4'], 0), (e: unknown) => e instanceof ShardcastError && e.code === ErrorCode.TooManyChannels);
    const http = await fetch(`http://127.0.0.1:${server.port}/api/publish`, { method: 'POST', body: JSON.stringify({ channel: 'cap-5', data: 1 }) });
    assert.equal(http.status, 503);
    assert.equal(http.headers.get('retry-after'), '1');
    assert.equal(((await http.json()) as { error: { code: string } }).error.code, 'too_many_channels');
    const c = await TestClient.connect(server.port);
    clients.push(c);
    c.send({ type: 'publish', channel: 'cap-6', data: 1, id: 'p6' });
    const err = await c.waitFor((f) => f.type === 'error');
    assert.equal(err['code'], 'too_many_channels');
    assert.equal(err['ref'], 'p6');
    assert.equal(server.stats().main.rejectedTooManyChannels, 4);
    // existing channels: every ingress still works, and refused publishes took no seq
    assert.equal(await server.publish('cap-1', 1), 2);
    c.send({ type: 'publish', channel: 'cap-2', data: 1, id: 'p2' });
    assert.equal((await c.waitFor((f) => f.type === 'ack'))['seq'], 2);
    const ok = await fetch(`http://127.0.0.1:${server.port}/api/publish`, { method: 'POST', body: JSON.stringify({ channel: 'cap-3', data: 1 }) });
    assert.deepEqual(await ok.json(), { seq: 2 });
    assert.equal(server.stats().main.channelsLive, 3);
    assert.match(await server.metrics(), /^shardcast_rejected_too_many_channels_total 4$/m);
  });

  test('a restarted shard gets every channel with its epoch in its snapshot', async () => {
    const [old] = await onShards(server.port, [0], clients);
    const before = new Map<string, Frame>();
    for (const ch of ['cap-1', 'cap-2', 'cap-3']) before.set(ch, await subscribedFrame(old!, ch));
    for (const f of before.values()) assert.match(f['epoch'] as string, /^[0-9a-f]{8}$/);
    assert.equal(new Set([...before.values()].map((f) => f['epoch'])).size, 3, 'one epoch per channel');
    const restarts = server.stats().main.shardRestarts;
    server.injectFault(0);
    await old!.waitClosed();
    await waitUntil(() => server.stats().main.shardRestarts > restarts && server.stats().liveShards === 2, 10_000, 'shard 0 back');
    assert.equal(server.stats().shards[0]!.channelStates, 3, 'the new shard 0 holds the snapshot');
    const [fresh] = await onShards(server.port, [0], clients);
    for (const [ch, f] of before) assert.deepEqual(await subscribedFrame(fresh!, ch), f);
    assert.equal(await server.publish('cap-1', 'after'), 3);
    assert.equal((await fresh!.waitFor((f) => f.type === 'message' && f['data'] === 'after'))['seq'], 3);
  });
});
