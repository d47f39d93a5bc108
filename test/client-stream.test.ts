/**
 * The client library's bookkeeping, rule by rule: ChannelStream turns the frames of successive
 * connections into exactly-once, in-order delivery, and says what it could not deliver. The
 * frames of the first test are a real server's (merged arrays included), replayed into the
 * stream as a reconnect with an overlapping replay would bring them; the others are the
 * protocol's examples. Back-off delays: bounded, fully jittered, growing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { ChannelStream, type StreamSink } from '../src/client/channel-stream.js';
import type { Delivery, GapEvent, UnrecoveredEvent } from '../src/client/events.js';
import { decodeFrame, type ServerMessage } from '../src/client/wire.js';
import { backoffDelay } from '../src/client/backoff.js';
import WebSocket from 'ws';

/** A sink that records what the stream emits, in one ordered log. */
function recorder(): StreamSink & { log: Array<['message', Delivery] | ['gap', GapEvent] | ['unrecovered', UnrecoveredEvent] | ['reset', string]> } {
  const log: Array<['message', Delivery] | ['gap', GapEvent] | ['unrecovered', UnrecoveredEvent] | ['reset', string]> = [];
  return {
    log,
    subscribed: () => {}, // its answer is what subscribed() returns, checked there
    deliver: (d) => log.push(['message', d]),
    gap: (g) => log.push(['gap', g]),
    unrecovered: (u) => log.push(['unrecovered', u]),
    reset: (c) => log.push(['reset', c]),
  };
}
const seqsOf = (r: ReturnType<typeof recorder>): number[] => r.log.flatMap((e) => (e[0] === 'message' ? [e[1].seq] : []));
const msg = (seq: number, extra: Record<string, unknown> = {}): ServerMessage => ({ type: 'message', channel: 'c', seq, data: seq, ...extra });

describe('ChannelStream with a real server’s frames', () => {
  let server: ShardcastServer;
  before(async () => {
    server = await startServer({ port: 0, workers: 1, logLevel: 'silent', mergeMs: 20 });
  });
  after(async () => {
    await server?.close();
  });

  it('delivers merged arrays in order, and a replay that overlaps what was delivered exactly once', async () => {
    const frames: unknown[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, ['shardcast.v1.json']);
    ws.on('message', (data: Buffer) => frames.push(data.toString('utf8')));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'c' }));
    while (!frames.some((f) => String(f).includes('subscribed'))) await new Promise((r) => setTimeout(r, 5));
    const seqs = await Promise.all(Array.from({ length: 40 }, (_, i) => server.publish('c', { i })));
    while (!frames.some((f) => String(f).includes(`"seq":${seqs.at(-1)}`))) await new Promise((r) => setTimeout(r, 5));
    ws.close();
    const messages = frames.flatMap((f) => decodeFrame(f, null)!);
    assert.ok(frames.some((f) => String(f).startsWith('[')), 'the server merged some messages into arrays');

    const r = recorder();
    const s = new ChannelStream('c', r);
    s.awaitSubscribed();
    for (const m of messages.filter((m) => m.type === 'message').slice(0, 5)) s.frame(m); // before `subscribed`: held
    assert.deepEqual(r.log, []);
    const sub = messages.find((m) => m.type === 'subscribed')!;
    s.subscribed(sub['seq'] as number, null, undefined);
    for (const m of messages.filter((m) => m.type === 'message').slice(5)) s.frame(m);
    assert.deepEqual(seqsOf(r), Array.from({ length: 40 }, (_, i) => i + 1));
    const epoch = r.log[0]![1] as Delivery;
    assert.match(String(epoch.epoch), /^[0-9a-f]{8}$/);

    // reconnect: a server that recovers from seq 25 (as a racing replay could) repeats 26..40; none is delivered again
    assert.deepEqual(s.since(), { seq: 40, epoch: epoch.epoch });
    s.awaitSubscribed();
    s.subscribed(40, epoch.epoch, true);
    for (const m of messages.filter((m) => m.type === 'message' && (m['seq'] as number) > 25)) s.frame(m);
    s.frame(msg(41));
    assert.deepEqual(seqsOf(r), Array.from({ length: 41 }, (_, i) => i + 1));
    assert.equal(s.duplicates, 15);
    assert.ok(r.log.every((e) => e[0] === 'message'), 'no gap, nothing unrecovered');
  });
});

describe('ChannelStream rules', () => {
  it('reports a real gap once, then goes on; conflation is a marked skip, not a gap', () => {
    const r = recorder();
    const s = new ChannelStream('c', r);
    s.subscribed(10, 'e1', undefined);
    s.frame(msg(11));
    s.frame(msg(15)); // 12..14 lost
    s.frame(msg(20, { replaces: 4 })); // 16..19 conflated into 20
    s.frame(msg(20)); // duplicate
    assert.deepEqual(r.log, [
      ['message', { channel: 'c', seq: 11, epoch: 'e1', data: 11, replaces: 0 }],
      ['gap', { channel: 'c', epoch: 'e1', from: 12, to: 14 }],
      ['message', { channel: 'c', seq: 15, epoch: 'e1', data: 15, replaces: 0 }],
      ['message', { channel: 'c', seq: 20, epoch: 'e1', data: 20, replaces: 4 }],
    ]);
    assert.equal(s.duplicates, 1);
  });

  it('resubscribing to a server without recovery: the seqs it moved on by are a gap; an older seq means duplicates follow', () => {
    const r = recorder();
    const s = new ChannelStream('c', r);
    s.subscribed(3, 'e1', undefined);
    s.frame(msg(4));
    s.awaitSubscribed();
    assert.deepEqual(s.subscribed(9, 'e1', undefined), { channel: 'c', seq: 9, epoch: 'e1', resubscribe: true });
    s.frame(msg(10));
    assert.deepEqual(r.log.slice(1), [
      ['gap', { channel: 'c', epoch: 'e1', from: 5, to: 9 }],
      ['message', { channel: 'c', seq: 10, epoch: 'e1', data: 10, replaces: 0 }],
    ]);
  });

  it('recovered: false and a changed epoch are reported with the new seq and epoch, then delivery goes on', () => {
    const r = recorder();
    const s = new ChannelStream('c', r);
    s.subscribed(5, 'e1', undefined);
    s.frame(msg(6));
    s.awaitSubscribed();
    s.frame(msg(31)); // sent right behind `subscribed`, held until it
    s.subscribed(30, 'e1', false);
    s.awaitSubscribed();
    s.subscribed(2, 'e2', undefined); // a server without recovery, restarted: another epoch
    s.frame(msg(3));
    assert.deepEqual(r.log.slice(1), [
      ['unrecovered', { channel: 'c', seq: 30, epoch: 'e1', lastSeq: 6, lastEpoch: 'e1', reason: 'not_recovered' }],
      ['message', { channel: 'c', seq: 31, epoch: 'e1', data: 31, replaces: 0 }],
      ['unrecovered', { channel: 'c', seq: 2, epoch: 'e2', lastSeq: 31, lastEpoch: 'e1', reason: 'epoch_changed' }],
      ['message', { channel: 'c', seq: 3, epoch: 'e2', data: 3, replaces: 0 }],
    ]);
  });

  it('a reset starts a new epoch at seq 1 without a loss; an unannounced seq 1 of another epoch is one', () => {
    const r = recorder();
    const s = new ChannelStream('c', r);
    s.subscribed(0, null, undefined);
    s.frame(msg(1, { epoch: 'e1' }));
    s.frame(msg(2));
    s.frame({ type: 'reset', channel: 'c' });
    assert.equal(s.since(), null, 'nothing to recover from after a reset');
    s.frame(msg(1, { epoch: 'e2' }));
    s.frame(msg(1, { epoch: 'e3' }));
    assert.deepEqual(r.log, [
      ['message', { channel: 'c', seq: 1, epoch: 'e1', data: 1, replaces: 0 }],
      ['message', { channel: 'c', seq: 2, epoch: 'e1', data: 2, replaces: 0 }],
      ['reset', 'c'],
      ['message', { channel: 'c', seq: 1, epoch: 'e2', data: 1, replaces: 0 }],
      ['unrecovered', { channel: 'c', seq: 0, epoch: 'e3', lastSeq: 1, lastEpoch: 'e2', reason: 'epoch_changed' }],
      ['message', { channel: 'c', seq: 1, epoch: 'e3', data: 1, replaces: 0 }],
    ]);
  });

  it('a conflated message overlapping a replay skips only what was not delivered', () => {
    const r = recorder();
    const s = new ChannelStream('c', r);
    s.subscribed(7, 'e1', undefined);
    s.frame(msg(8));
    s.frame(msg(12, { replaces: 6 })); // stands for 6..11; 6..8 were delivered
    assert.deepEqual(r.log[1], ['message', { channel: 'c', seq: 12, epoch: 'e1', data: 12, replaces: 3 }]);
  });
});

describe('backoffDelay', () => {
  it('draws from the whole window (full jitter), grows by the factor, and never passes maxMs', () => {
    const opts = { initialMs: 100, maxMs: 1000, factor: 2 };
    assert.equal(backoffDelay(0, opts, () => 0), 0);
    assert.equal(backoffDelay(0, opts, () => 0.999), 99);
    assert.equal(backoffDelay(3, opts, () => 0.999), 799);
    assert.equal(backoffDelay(4, opts, () => 0.999), 999);
    assert.equal(backoffDelay(60, opts, () => 0.999), 999);
    const draws = Array.from({ length: 2000 }, () => backoffDelay(2, opts));
    assert.ok(draws.every((d) => d >= 0 && d < 400));
    assert.ok(draws.some((d) => d < 40) && draws.some((d) => d > 360), 'spread over the window');
  });
});
