/**
 * Fanout on a real ring, read back by a real RingConsumer in the test: when deliver() says
 * 'written', 'full' or 'too-large' (the room it needs is computed here from recordSpace and
 * publicationSize, and the free room from the shards' lag), all-or-nothing writes of
 * multi-channel publications, the room promised to replies, the order replies land in, and
 * the one flush per microtask turn. The end-to-end behaviour is test/fanout.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { JsonFrameEncoder } from '../src/protocol/encoder.js';
import { Payload } from '../src/protocol/payload.js';
import { Fanout, type Delivery } from '../src/pubsub/fanout.js';
import { publicationSize, readPublication, readReply, RecordKind, ReplyTarget, replySize, type PublicationView, type ReplyView } from '../src/transport/records.js';
import { createRing, recordSpace, RingConsumer } from '../src/transport/ring.js';
import { between, mulberry32 } from './fixtures/prng.js';

const encoder = new JsonFrameEncoder();

/**
 * The ring room a publication to `channels` needs before deliver() accepts it: every record,
 * plus the largest once more, because one of them may have to skip the ring's tail.
 */
/** Every publication here belongs to one channel incarnation (the epoch only shows in seq 1's frame). */
const EPOCH = 0x2a;

function roomFor(channels: readonly string[], seqs: readonly number[], data: string): { room: number; records: number; largest: number } {
  let records = 0;
  let largest = 0;
  channels.forEach((c, i) => {
    const space = recordSpace(publicationSize(c, Buffer.byteLength(encoder.encodeMessage(c, seqs[i]!, EPOCH, Payload.json(data)))));
    records += space;
    largest = Math.max(largest, space);
  });
  return { room: records + largest, records, largest };
}

const text = (n: number): string => JSON.stringify('x'.repeat(n));

/** Resolves after the microtasks queued so far (Fanout's flush among them) have run. */
const afterThisTurn = (): Promise<void> => new Promise((resolve) => queueMicrotask(resolve));

type Expected =
  | { readonly kind: 'publication'; readonly channel: string; readonly seq: number; readonly frame: string }
  | { readonly kind: 'reply'; readonly shard: number; readonly target: ReplyTarget; readonly ref: number; readonly body: string };

/** A Fanout over a fresh ring whose consumer slots are attached from creation, and the test's account of it. */
class Harness {
  readonly capacity: number;
  readonly fanout: Fanout;
  readonly consumers: RingConsumer[];
  /** Everything written, in write order; every consumer must read exactly this. */
  readonly written: Expected[] = [];
  /** Per consumer: index in `written` of the next record it must read. */
  readonly cursor: number[];
  /** Ring bytes promised to replies not written yet, as the test counts them. */
  promised = 0;
  /** Seqs start at 2: a seq-1 frame also carries the epoch, so its size would differ from the same publication later. */
  seq = 1;
  /** Offsets of the records read by consumer 0, in order (to spot records that skipped the tail). */
  readonly offsets: Array<{ kind: Expected['kind']; at: number }> = [];

  constructor(capacity: number, consumers = 1) {
    this.capacity = capacity;
    const handle = createRing({ capacity, maxConsumers: consumers, attached: consumers });
    this.fanout = new Fanout(handle);
    this.consumers = Array.from({ length: consumers }, (_, i) => new RingConsumer(handle, i));
    this.cursor = this.consumers.map(() => 0);
  }

  /** Free ring room: the shard furthest behind bounds it. */
  free(): number {
    return this.capacity - Math.max(...this.consumers.map((_, i) => this.fanout.lag(i)));
  }

  /**
   * deliver(), checked: with no reply promised the outcome is exactly what the room says; with
   * replies promised a publication is accepted only beside all of them. Nothing is written
   * unless the outcome is 'written'.
   */
  deliver(channels: readonly string[], data: string): Delivery {
    const seqs = channels.map((_, i) => this.seq + 1 + i);
    const { room, records, largest } = roomFor(channels, seqs, data);
    const free = this.free();
    const lag = this.fanout.lag(0);
    const outcome = this.fanout.deliver(channels, seqs, channels.map(() => EPOCH), Payload.json(data));
    const why = `room ${room}, free ${free}, promised ${this.promised}`;
    if (room > this.capacity / 2) assert.equal(outcome, 'too-large', why);
    else if (room + this.promised > free) assert.equal(outcome, 'full', why);
    else if (this.promised === 0) assert.equal(outcome, 'written', why);
    if (outcome !== 'written') {
      assert.equal(this.fanout.lag(0), lag, `a '${outcome}' publication wrote something`);
      return outcome;
    }
    const used = this.fanout.lag(0) - lag;
    assert.ok(used >= records && used < records + largest, `wrote ${used} bytes for ${records} bytes of records`);
    channels.forEach((channel, i) => {
      const seq = seqs[i]!;
      this.written.push({ kind: 'publication', channel, seq, frame: encoder.encodeMessage(channel, seq, EPOCH, Payload.json(data)) });
    });
    this.seq += channels.length;
    return outcome;
  }

  promise(maxBody: number): number {
    const space = this.fanout.promiseReply(maxBody);
    assert.equal(space, recordSpace(replySize(maxBody)));
    this.promised += space;
    return space;
  }

  cancel(space: number): void {
    this.fanout.cancelReply(space);
    this.promised -= space;
  }

  reply(shard: number, ref: number, body: string, space: number): void {
    this.fanout.reply({ shard, generation: 0, target: ReplyTarget.Http, ref }, body, space); // throws if the promised room was not there
    this.promised -= space;
    this.written.push({ kind: 'reply', shard, target: ReplyTarget.Http, ref, body });
  }

  /** Consumer `i` reads up to `n` records (all visible by default), checks each, and releases. */
  read(i: number, n = Number.POSITIVE_INFINITY): number {
    const ring = this.consumers[i]!;
    const pub: PublicationView = { seq: 0, epoch: 0, channel: '', count: 0, stamp: 0, json: new Uint8Array(), msgpack: new Uint8Array() };
    const rep: ReplyView = { shard: 0, generation: 0, target: ReplyTarget.None, ref: 0, body: new Uint8Array() };
    let count = 0;
    for (; count < n; count++) {
      const at = ring.next();
      if (at < 0) break;
      const want = this.written[this.cursor[i]!];
      if (want === undefined) assert.fail(`consumer ${i} read a record that was never written (kind ${ring.kind})`);
      const where = `consumer ${i}, record ${this.cursor[i]}`;
      if (want.kind === 'publication') {
        assert.equal(ring.kind, RecordKind.Publication, where);
        readPublication(ring, at, pub);
        assert.deepEqual({ channel: pub.channel, seq: pub.seq, frame: Buffer.from(pub.json).toString() }, { channel: want.channel, seq: want.seq, frame: want.frame }, where);
      } else {
        assert.equal(ring.kind, RecordKind.Reply, where);
        readReply(ring, at, rep);
        assert.deepEqual({ shard: rep.shard, target: rep.target, ref: rep.ref, body: Buffer.from(rep.body).toString() }, { shard: want.shard, target: want.target, ref: want.ref, body: want.body }, where);
      }
      if (i === 0) this.offsets.push({ kind: want.kind, at });
      this.cursor[i]!++;
    }
    ring.release();
    return count;
  }

  /** Consumer `i` has read everything written. */
  assertCaughtUp(i: number): void {
    assert.equal(this.cursor[i], this.written.length, `consumer ${i} missed records`);
    assert.equal(this.consumers[i]!.next(), -1);
  }

  /** Publications of `channels` whose room is exactly `room`, or null if no data length gives it. */
  probe(channels: readonly string[], room: number): string | null {
    const seqs = channels.map((_, i) => this.seq + 1 + i);
    let lo = 0;
    let hi = room;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (roomFor(channels, seqs, text(mid)).room < room) lo = mid + 1;
      else hi = mid;
    }
    return roomFor(channels, seqs, text(lo)).room === room ? text(lo) : null;
  }

  /** A publication (1 to 3 channels) whose room is exactly `room`. */
  exactly(room: number): { channels: string[]; data: string } {
    for (const n of [1, 2, 3]) {
      for (let stretch = 0; stretch < 8; stretch++) {
        const channels = Array.from({ length: n }, (_, i) => `probe-${i}${'.'.repeat(i === 0 ? stretch : 0)}`);
        const data = this.probe(channels, room);
        if (data !== null) return { channels, data };
      }
    }
    assert.fail(`no publication needs exactly ${room} bytes of room`);
  }

  /** Writes seeded publications until one is refused as 'full'; consumers read nothing. */
  fill(rng: () => number): number {
    for (let n = 0; ; n++) {
      const outcome = this.deliver(['fill'], text(between(rng, 50, 1500)));
      if (outcome === 'full') return n;
      assert.equal(outcome, 'written');
      if (n > 10_000) assert.fail('the ring never filled up');
    }
  }
}

// ------------------------------------------------------------------ deliver() outcomes

test("deliver() says 'written' when the free room is exactly what a publication needs, and 'full' when it is 8 bytes short", async () => {
  const h = new Harness(64 * 1024);
  const rng = mulberry32(21);
  let checked = 0;
  for (let round = 0; round < 30; round++) {
    h.fill(rng);
    await afterThisTurn();
    h.read(0, between(rng, 1, 6)); // some room comes back
    const free = h.free();
    if (free > h.capacity / 2) continue; // that would be 'too-large' (its own test)
    const short = h.exactly(free + 8);
    assert.equal(h.deliver(short.channels, short.data), 'full');
    const fits = h.exactly(free);
    assert.equal(h.deliver(fits.channels, fits.data), 'written');
    checked++;
  }
  assert.ok(checked >= 20, `only ${checked} boundaries checked`);
  await afterThisTurn();
  h.read(0);
  h.assertCaughtUp(0);
});

test("deliver() says 'too-large' for a publication needing more than half the ring, whether the ring is empty or full", async () => {
  const h = new Harness(64 * 1024);
  const half = h.capacity / 2;
  const over = h.exactly(half + 8);
  assert.equal(h.deliver(over.channels, over.data), 'too-large');
  const most = h.exactly(half);
  assert.equal(h.deliver(most.channels, most.data), 'written');

  // three channels of data that alone fits easily, together more than half the ring
  const data = text(Math.ceil(half / 3));
  assert.ok(roomFor(['only'], [h.seq + 1], data).room <= half);
  assert.equal(h.deliver(['a', 'b', 'c'], data), 'too-large');

  h.fill(mulberry32(22));
  assert.equal(h.deliver(over.channels, over.data), 'too-large', 'too large is permanent: it must not read as a retryable full');
  assert.equal(h.deliver(['a', 'b', 'c'], data), 'too-large');
  await afterThisTurn();
  h.read(0);
  h.assertCaughtUp(0);
  assert.equal(h.deliver(over.channels, over.data), 'too-large');
  assert.equal(h.deliver(['only'], data), 'written');
  await afterThisTurn();
  h.read(0);
  h.assertCaughtUp(0);
});

test('a multi-channel publication is written whole or not at all', async () => {
  const h = new Harness(64 * 1024);
  const rng = mulberry32(23);
  const channels = ['room-a', 'room-b', 'room-c', 'room-d'];
  let refused = 0;
  for (let round = 0; round < 20; round++) {
    h.fill(rng);
    await afterThisTurn();
    h.read(0, between(rng, 2, 8));
    const free = h.free();
    if (free > h.capacity / 4) continue;
    // four records of one size S (a room of 5 S): three fit in the free room, the fourth does not
    const size = Math.ceil((free + 8) / 4 / 8) * 8;
    const data = h.probe(channels, 5 * size);
    assert.ok(data !== null, `no 4-channel publication of ${size}-byte records`);
    assert.ok(3 * size <= free && 4 * size > free);
    const lag = h.fanout.lag(0);
    assert.equal(h.deliver(channels, data), 'full');
    await afterThisTurn();
    assert.equal(h.fanout.lag(0), lag, 'a refused publication left records behind');
    refused++;
    // once the shard has read enough (only records written before: a stray one fails the read), it goes in whole
    while (h.free() < 5 * size) assert.equal(h.read(0, 1), 1);
    assert.equal(h.deliver(channels, data), 'written');
    await afterThisTurn();
    h.read(0);
    h.assertCaughtUp(0);
  }
  assert.ok(refused >= 15, `only ${refused} refusals`);
});

// ------------------------------------------------------------------ replies

test('a promised reply holds its room: a publication that exactly fits is refused beside it, and accepted once the promise is cancelled', async () => {
  const h = new Harness(256 * 1024);
  const rng = mulberry32(24);
  for (let round = 0; round < 10; round++) {
    h.fill(rng);
    await afterThisTurn();
    h.read(0, between(rng, 1, 30));
    const free = h.free();
    if (free > h.capacity / 2) continue;
    const fits = h.exactly(free);
    const promise = h.promise(between(rng, 16, 400));
    assert.equal(h.deliver(fits.channels, fits.data), 'full', 'it would have crowded out the reply');
    h.cancel(promise);
    assert.equal(h.deliver(fits.channels, fits.data), 'written');
  }
  await afterThisTurn();
  h.read(0);
  h.assertCaughtUp(0);
});

test('a reply lands right behind the publications written before it, whoever published them', async () => {
  const h = new Harness(256 * 1024, 2);
  const promise = h.promise(100);
  assert.equal(h.deliver(['a', 'b'], '{"n":1}'), 'written'); // the publish this reply answers
  assert.equal(h.deliver(['c'], '{"n":2}'), 'written'); // someone else's, accepted meanwhile
  h.reply(1, 77, '{"seqs":{"a":1,"b":2}}', promise);
  assert.equal(h.deliver(['a'], '{"n":3}'), 'written');
  assert.equal(h.promised, 0);
  await afterThisTurn();
  for (const i of [0, 1]) {
    assert.equal(h.read(i), 5);
    h.assertCaughtUp(i);
  }
  assert.deepEqual(
    h.written.map((e) => (e.kind === 'reply' ? `reply ${e.ref}` : `${e.channel}#${e.seq}`)),
    ['a#2', 'b#3', 'c#4', 'reply 77', 'a#5'],
  );
});

test('every reply fits in the room promised for it, however full the ring gets (seeded traffic with promises outstanding)', async (t) => {
  const h = new Harness(256 * 1024);
  const rng = mulberry32(25);
  const owed: Array<{ ref: number; maxBody: number; space: number }> = [];
  let ref = 0;
  let fulls = 0;
  let replies = 0;
  for (let step = 0; step < 10000; step++) {
    const op = rng() % 16;
    if (op < 6) {
      // a shard's publish with an answer owed: promise first, then sequence and deliver
      const maxBody = between(rng, 20, 4000);
      const space = h.promise(maxBody);
      const channels = Array.from({ length: between(rng, 1, 3) }, (_, i) => `ch-${i}`);
      const outcome = h.deliver(channels, text(between(rng, 0, 3000)));
      if (outcome === 'written') owed.push({ ref: ref++, maxBody, space });
      else {
        fulls++;
        h.cancel(space);
      }
    } else if (op < 9) {
      // a publication nobody awaits an answer to (HTTP from the main thread, IPC)
      if (h.deliver(['direct'], text(between(rng, 0, 6000))) === 'full') fulls++;
    } else if (op < 13 && owed.length > 0) {
      // answer an owed reply, the longest body it may have, in any order
      const [o] = owed.splice(rng() % owed.length, 1);
      h.reply(between(rng, 0, 7), o!.ref, text(o!.maxBody - 2), o!.space);
      replies++;
    } else if (op < 14) {
      await afterThisTurn();
      h.read(0, between(rng, 0, 12)); // a slow shard: the ring stays nearly full
    } else {
      await afterThisTurn();
    }
  }
  // whatever is still owed is answered, with the ring as full as the traffic left it
  for (const o of owed) h.reply(0, o.ref, text(o.maxBody - 2), o.space);
  assert.equal(h.promised, 0);
  await afterThisTurn();
  h.read(0);
  h.assertCaughtUp(0);
  const wrappedReplies = h.offsets.filter((r, i) => r.kind === 'reply' && i > 0 && r.at < h.offsets[i - 1]!.at).length;
  t.diagnostic(JSON.stringify({ fulls, replies, wrappedReplies, records: h.written.length }));
  assert.ok(fulls >= 1500, `the ring was full only ${fulls} times`);
  assert.ok(replies >= 1500, `only ${replies} replies`);
  assert.ok(wrappedReplies >= 5, `only ${wrappedReplies} replies skipped the ring's tail`);
});

// ------------------------------------------------------------------ flushing

test('what is written in one turn is published at its end, all at once, and a sleeping shard is woken for it', async () => {
  const h = new Harness(64 * 1024, 2);
  const [first, second] = h.consumers as [RingConsumer, RingConsumer];
  const asleep = second.sleep();
  assert.notEqual(asleep, null);

  const promise = h.promise(50);
  assert.equal(h.deliver(['a'], '1'), 'written');
  assert.equal(h.deliver(['b', 'c'], '2'), 'written');
  h.reply(0, 1, '{"seq":1}', promise);
  assert.ok(h.fanout.lag(0) > 0, 'written into the ring');
  assert.equal(first.available, false, 'published before the turn ended');
  assert.equal(first.next(), -1);

  await afterThisTurn();
  assert.equal(first.available, true);
  assert.equal(await Promise.race([asleep!, delay(5000, 'not woken', { ref: false })]), 'ok');
  for (const i of [0, 1]) {
    assert.equal(h.read(i), 4, 'the whole turn at once');
    h.assertCaughtUp(i);
  }

  // the next turn gets its own flush
  assert.equal(h.deliver(['d'], '3'), 'written');
  assert.equal(first.available, false);
  await afterThisTurn();
  assert.equal(h.read(0), 1);

  // a refused publication publishes nothing; flush() publishes at once
  h.fill(mulberry32(26));
  h.fanout.flush();
  assert.equal(first.available, true);
  h.read(0);
  h.read(1);
  h.assertCaughtUp(0);
  h.assertCaughtUp(1);
  const lag = h.fanout.lag(0);
  assert.equal(h.deliver(['e'], text(40_000)), 'too-large');
  await afterThisTurn();
  assert.equal(first.available, false);
  assert.equal(h.fanout.lag(0), lag);
});
