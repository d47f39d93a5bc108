/**
 * Stress tests for src/transport/ring.ts: argument validation, single-thread wrap-around with verified
 * content (including the 2^32 position wrap), full-ring accounting, visibility rules, the
 * sleep/wake path, and real producer/consumer threads. Every record carries its index and a
 * content pattern derived from it (test/fixtures/record-stream.ts), so loss, duplication,
 * reordering and torn or overwritten bytes are all detected. All randomness is seeded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createRing, maxPayload, RingConsumer, RingProducer, type RingHandle } from '../src/transport/ring.js';
import { between, mulberry32 } from './fixtures/prng.js';
import { checkRecord, fillRecord, StreamVerifier, StreamWriter, type StreamSpec } from './fixtures/record-stream.js';
import type { ConsumerData, ConsumerDone } from './fixtures/ring-consumer.js';
import type { ProducerData, ProducerDone } from './fixtures/ring-producer.js';
import type { SleeperData, SleeperWoken } from './fixtures/ring-sleeper.js';
import { withWorkers, type Message } from './fixtures/workers.js';

const SMALL = 4096;

/** Reads every visible record of `consumer` and returns their kinds. */
function drain(consumer: RingConsumer): number[] {
  const kinds: number[] = [];
  while (consumer.next() >= 0) kinds.push(consumer.kind);
  return kinds;
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true), delay(ms).then(() => false)]);
}

// ------------------------------------------------------------------ argument validation

test('createRing rejects a capacity that is not a power of two in [4096, 2^30]', () => {
  for (const capacity of [0, 2048, 4095, 4097, 6144, 1.5, Number.NaN, 2 ** 31, -4096]) {
    assert.throws(() => createRing({ capacity, maxConsumers: 1 }), RangeError, `capacity ${capacity}`);
  }
  assert.equal(createRing({ capacity: SMALL, maxConsumers: 1 }).capacity, SMALL);
});

test('createRing rejects a bad maxConsumers', () => {
  for (const maxConsumers of [0, -1, 1.5, 1025, Number.NaN]) {
    assert.throws(() => createRing({ capacity: SMALL, maxConsumers }), RangeError, `maxConsumers ${maxConsumers}`);
  }
  assert.equal(createRing({ capacity: SMALL, maxConsumers: 1024 }).maxConsumers, 1024);
});

test('reserve rejects a record larger than capacity/2 - 8 and accepts exactly that', () => {
  const handle = createRing({ capacity: SMALL, maxConsumers: 1 });
  const producer = new RingProducer(handle);
  assert.equal(maxPayload(SMALL), SMALL / 2 - 8);
  assert.throws(() => producer.reserve(maxPayload(SMALL) + 1, 0), RangeError);
  assert.throws(() => producer.reserve(SMALL, 0), RangeError);
  assert.ok(producer.reserve(maxPayload(SMALL), 0) >= 0);
});

test('consumer slots are range-checked', () => {
  const handle = createRing({ capacity: SMALL, maxConsumers: 2 });
  const producer = new RingProducer(handle);
  for (const slot of [-1, 2, 0.5]) {
    assert.throws(() => producer.attach(slot), RangeError);
    assert.throws(() => producer.detach(slot), RangeError);
    assert.throws(() => new RingConsumer(handle, slot), RangeError);
  }
});

// ------------------------------------------------------------------ single thread

interface Reader {
  readonly ring: RingConsumer;
  readonly verifier: StreamVerifier;
}

interface WalkStats {
  wraps: number;
  fulls: number;
}

/** Rounds in a row without any record written or read before the walk is declared stuck. */
const MAX_IDLE_ROUNDS = 1000;

/**
 * Interleaves producer bursts and consumer reads in a seeded random order until the whole
 * stream is written, then drains. Checks at every step that fits() agrees with reserve().
 */
function randomWalk(producer: RingProducer, readers: Reader[], spec: StreamSpec): WalkStats {
  const writer = new StreamWriter(spec);
  const rng = mulberry32(spec.seed ^ 0x51ed27);
  const stats: WalkStats = { wraps: 0, fulls: 0 };
  let lastAt = 0;
  // A broken ring could stall this synchronous loop forever, out of reach of test timeouts.
  const progress = (): number => writer.index + readers.reduce((sum, r) => sum + r.verifier.index, 0);
  let idleRounds = 0;
  while (!writer.done) {
    const before = progress();
    for (let n = between(rng, 0, 16); n > 0 && !writer.done; n--) {
      const fits = producer.fits(writer.length);
      const at = writer.tryWrite(producer);
      if ((at >= 0) !== fits) assert.fail(`record ${writer.index}: fits()=${fits} but reserve() returned ${at}`);
      if (at < 0) {
        stats.fulls++;
        producer.flush(); // a full ring of unflushed records would never drain
        break;
      }
      if (at < lastAt) stats.wraps++;
      lastAt = at;
      if (rng() % 4 === 0) producer.flush();
    }
    for (const r of readers) {
      for (let n = between(rng, 0, 16); n > 0; n--) {
        const at = r.ring.next();
        if (at < 0) break;
        r.verifier.verify(r.ring, at);
      }
      if (rng() % 2 === 0) r.ring.release();
    }
    idleRounds = progress() === before ? idleRounds + 1 : 0;
    if (idleRounds > MAX_IDLE_ROUNDS) assert.fail(`no progress at record ${writer.index}`);
  }
  producer.flush();
  for (const r of readers) {
    for (let at = r.ring.next(); at >= 0; at = r.ring.next()) r.verifier.verify(r.ring, at);
    r.ring.release();
    assert.equal(r.verifier.index, spec.count);
  }
  return stats;
}

function attachedRing(capacity: number, consumers: number): { handle: RingHandle; producer: RingProducer; consumers: RingConsumer[] } {
  const handle = createRing({ capacity, maxConsumers: consumers });
  const producer = new RingProducer(handle);
  const list: RingConsumer[] = [];
  for (let i = 0; i < consumers; i++) {
    producer.attach(i);
    list.push(new RingConsumer(handle, i));
  }
  return { handle, producer, consumers: list };
}

for (const [name, spec] of [
  ['sizes 0..maxPayload (long pads)', { seed: 1, count: 12_000, minSize: 0, maxSize: maxPayload(SMALL) }],
  ['sizes 0..64 (dense)', { seed: 2, count: 200_000, minSize: 0, maxSize: 64 }],
  ['sizes 8..600', { seed: 3, count: 40_000, minSize: 8, maxSize: 600 }],
] as const) {
  test(`single thread: thousands of wraps of a 4 KiB ring, ${name}, every record verified`, () => {
    const { producer, consumers } = attachedRing(SMALL, 2);
    const readers = consumers.map((ring) => ({ ring, verifier: new StreamVerifier(spec) }));
    const stats = randomWalk(producer, readers, spec);
    assert.ok(stats.wraps >= 2000, `only ${stats.wraps} wraps`);
    assert.ok(stats.fulls > 0, 'the ring never filled up');
    for (const r of readers) assert.equal(r.ring.next(), -1);
  });
}

test('single thread: positions keep working across the 2^32 wrap of the byte counters', () => {
  const { producer, consumers } = attachedRing(SMALL, 1);
  const [consumer] = consumers as [RingConsumer];
  // A maximal record takes exactly half the ring, so 2 * 2^32 / capacity records reach 2^32;
  // stop 8 laps short of it, then cross it with verified random traffic.
  const half = maxPayload(SMALL);
  const records = (2 * 2 ** 32) / SMALL - 16;
  for (let i = 0; i < records; i++) {
    if (producer.reserve(half, i) < 0) assert.fail(`fast-forward record ${i} did not fit`);
    producer.flush();
    if (consumer.next() < 0 || consumer.kind !== i) assert.fail(`fast-forward record ${i} not read back`);
    consumer.release();
  }
  const spec = { seed: 4, count: 3000, minSize: 0, maxSize: 600 };
  const stats = randomWalk(producer, [{ ring: consumer, verifier: new StreamVerifier(spec) }], spec);
  assert.ok(stats.wraps > 100, `only ${stats.wraps} wraps after the fast-forward`);
});

test('full ring: the slowest active consumer holds space until it releases; detach frees it', () => {
  const { handle, producer, consumers } = attachedRing(SMALL, 3);
  const [fast, slow] = consumers as [RingConsumer, RingConsumer];
  producer.detach(2);
  const len = 56; // 8-byte header + 56 bytes: 64 records fill the ring exactly
  for (let i = 0; i < SMALL / 64; i++) assert.ok(producer.reserve(len, i) >= 0, `record ${i}`);
  assert.equal(producer.fits(len), false);
  assert.equal(producer.fits(0), false);
  assert.equal(producer.reserve(0, 64), -1);
  producer.flush();

  assert.equal(drain(fast).length, 64);
  fast.release();
  assert.equal(producer.fits(len), false, 'the slow consumer has released nothing yet');
  assert.equal(producer.reserve(len, 64), -1);

  assert.ok(slow.next() >= 0);
  assert.equal(producer.fits(len), false, 'read but not released: still held');
  slow.release();
  assert.equal(producer.fits(len), true);
  assert.ok(producer.reserve(len, 64) >= 0);
  assert.equal(producer.reserve(len, 65), -1);

  // A detached consumer no longer holds space: only `fast` (which lags by record 64) counts.
  producer.detach(1);
  let more = 0;
  while (producer.reserve(len, 65 + more) >= 0) more++;
  assert.equal(more, 63);
  producer.flush();

  // attach() starts at the producer's position: the new consumer sees none of the records
  // above (though `fast` has not read them yet), only what is written afterwards.
  producer.attach(2);
  const late = new RingConsumer(handle, 2);
  assert.equal(late.next(), -1);
  assert.equal(drain(fast).length, 64);
  fast.release();
  assert.ok(producer.reserve(len, 999) >= 0);
  producer.flush();
  assert.deepEqual(drain(late), [999]);
  assert.deepEqual(drain(fast), [999]);
});

test('with no active consumer the producer never runs out of space', () => {
  const handle = createRing({ capacity: SMALL, maxConsumers: 2 });
  const producer = new RingProducer(handle);
  for (let i = 0; i < 10_000; i++) assert.ok(producer.reserve(100, i) >= 0);
});

test('unflushed records are invisible to consumers until flush()', () => {
  const { producer, consumers } = attachedRing(SMALL, 1);
  const [consumer] = consumers as [RingConsumer];
  const at = producer.reserve(100, 7);
  fillRecord(producer.bytes, at, 100, 7);
  assert.equal(producer.pending, 8 + 104);
  assert.equal(consumer.available, false);
  assert.equal(consumer.next(), -1);

  producer.flush();
  assert.equal(producer.pending, 0);
  assert.equal(consumer.available, true);
  assert.equal(consumer.next(), at);
  assert.equal(consumer.kind, 7);
  assert.equal(consumer.length, 100);
  assert.equal(checkRecord(consumer.bytes, at, 100, 7), -1);
  assert.equal(consumer.next(), -1);
});

test('attach() during an unflushed batch: the new consumer sees only records reserved after it', () => {
  const { handle, producer, consumers } = attachedRing(SMALL, 2);
  const [first] = consumers as [RingConsumer];
  producer.detach(1);
  // Leave a lap of old headers behind, so a consumer reading unpublished bytes would see junk.
  const sizes = mulberry32(5);
  for (let i = 0; i < 30; i++) assert.ok(producer.reserve(between(sizes, 0, 100), i) >= 0);
  producer.flush();
  assert.equal(drain(first).length, 30);
  first.release();

  producer.reserve(24, 100); // reserved, not flushed
  producer.attach(1);
  const late = new RingConsumer(handle, 1);
  assert.equal(late.available, false, 'its start is ahead of the published position: nothing to read');
  assert.equal(late.next(), -1);
  assert.notEqual(late.sleep(), null, 'it must be able to sleep until the producer flushes');
  producer.flush();
  assert.equal(late.next(), -1, 'record 100 was reserved before attach()');
  producer.reserve(24, 101);
  producer.flush();
  assert.deepEqual(drain(late), [101]);
  assert.deepEqual(drain(first), [100, 101]);
});

test('sleep(): returns null when records wait, else a promise that only a flush with news resolves', async () => {
  const { producer, consumers } = attachedRing(SMALL, 1);
  const [consumer] = consumers as [RingConsumer];
  const asleep = consumer.sleep();
  assert.notEqual(asleep, null);
  producer.flush(); // nothing new: must not wake anyone
  assert.equal(await settlesWithin(asleep!, 20), false);
  producer.reserve(8, 1);
  assert.equal(await settlesWithin(asleep!, 20), false, 'reserved but not flushed');
  producer.flush();
  assert.equal(await asleep, 'ok');

  assert.equal(consumer.sleep(), null, 'a record is waiting');
  assert.deepEqual(drain(consumer), [1]);
});

// ------------------------------------------------------------------ real threads

test('threads: a consumer asleep in waitAsync is woken by flush()', async () => {
  await withWorkers(async (start) => {
    const handle = createRing({ capacity: SMALL, maxConsumers: 1 });
    const producer = new RingProducer(handle);
    producer.attach(0);
    // Reserved before the worker starts but not flushed: the worker must not see it and must sleep.
    const at = producer.reserve(300, 42);
    fillRecord(producer.bytes, at, 300, 42);
    const sleeper = start('ring-sleeper', { ring: handle, slot: 0 } satisfies SleeperData);
    await sleeper.receive<Message>('asleep', 5000);
    const flushedAtNs = Number(process.hrtime.bigint());
    producer.flush();
    const woken = await sleeper.receive<SleeperWoken>('woken', 5000);
    assert.equal(woken.result, 'ok');
    assert.equal(woken.kind, 42);
    assert.equal(woken.length, 300);
    assert.equal(woken.intact, true);
    const latencyMs = (woken.wokenAtNs - flushedAtNs) / 1e6;
    assert.ok(latencyMs < 5000, `woken after ${latencyMs} ms`);
  });
});

interface ThreadedCase {
  readonly name: string;
  readonly capacity: number;
  readonly stream: StreamSpec;
  readonly maxBatch: number;
  readonly checkpointEvery: number;
}

/** Three consumers: fast (releases every record), medium, and slow (pauses holding space). */
const SPEEDS = [
  { releaseEvery: 1, stallEvery: 0, stallMicros: 0 },
  { releaseEvery: 32, stallEvery: 4096, stallMicros: 200 },
  { releaseEvery: 8, stallEvery: 500, stallMicros: 1000 },
] as const;

for (const c of [
  {
    name: '200k records of 8..600 bytes through 16 KiB',
    capacity: 16_384,
    stream: { seed: 11, count: 200_000, minSize: 8, maxSize: 600 },
    maxBatch: 64,
    checkpointEvery: 50_000,
  },
  {
    name: '25k records of 8..2040 bytes through 4 KiB',
    capacity: SMALL,
    stream: { seed: 12, count: 25_000, minSize: 8, maxSize: maxPayload(SMALL) },
    maxBatch: 8,
    checkpointEvery: 10_000,
  },
] satisfies ThreadedCase[]) {
  test(`threads: 1 producer + 3 consumers at different speeds, ${c.name}, every record verified`, async (t) => {
    await withWorkers(async (start) => {
      const handle = createRing({ capacity: c.capacity, maxConsumers: SPEEDS.length });
      const parked = new Int32Array(new SharedArrayBuffer(4 * SPEEDS.length));
      const producer = start('ring-producer', {
        ring: handle,
        consumers: SPEEDS.length,
        stream: c.stream,
        maxBatch: c.maxBatch,
        checkpointEvery: c.checkpointEvery,
        parked,
      } satisfies ProducerData);
      await producer.receive<Message>('attached', 5000);
      const consumers = SPEEDS.map((speed, slot) =>
        start('ring-consumer', { ring: handle, slot, stream: c.stream, parked, ...speed } satisfies ConsumerData),
      );
      const produced = await producer.receive<ProducerDone>('done', 20_000);
      const results = await Promise.all(consumers.map((w) => w.receive<ConsumerDone>('done', 10_000)));

      const laps = Math.floor((c.stream.count * (c.stream.minSize + c.stream.maxSize)) / 2 / c.capacity);
      assert.ok(produced.wraps > laps / 2, `only ${produced.wraps} wraps`);
      assert.ok(produced.fullWaits > 0, 'the slow consumer never filled the ring');
      assert.equal(produced.checkpoints, Math.floor((c.stream.count - 1) / c.checkpointEvery));
      for (const [slot, r] of results.entries()) {
        assert.equal(r.received, c.stream.count, `consumer ${slot}`);
        // Each checkpoint waited for every consumer to be parked in waitAsync.
        assert.ok(r.sleeps >= produced.checkpoints, `consumer ${slot} slept ${r.sleeps} times`);
      }
      t.diagnostic(JSON.stringify({ produced, results }));
    });
  });
}
