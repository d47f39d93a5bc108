/**
 * The ring producer against consumers that do not read (the ingress crash of issue 7: a slot
 * the producer did not count let it write over records nobody had read). A full ring must
 * refuse, never overwrite: every record written is checked, byte for byte, when its consumer
 * finally reads it. The test keeps its own account of the ring from the documented layout
 * only (a record takes recordSpace(length) bytes and never straddles the end: a tail too short
 * for it is skipped) and of what each consumer has released, and checks free(), fits() and
 * reserve() against it at every step. Only the ring's public API is used; sizes are seeded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRing, maxPayload, RECORD_HEADER, recordSpace, RingConsumer, RingProducer, type RingHandle } from '../src/transport/ring.js';
import type { HolderData, HolderRead, HolderWoken } from './fixtures/ring-holder.js';
import { between, mulberry32 } from './fixtures/prng.js';
import { checkRecord, fillRecord, recordSizes } from './fixtures/record-stream.js';
import { withWorkers, type Message } from './fixtures/workers.js';

const CAPACITY = 16 * 1024;
/** Record sizes of the streams: a few dozen records per ring, so a full ring holds records that wrap. */
const MAX_SIZE = 1500;

interface Written {
  /** Unique per record; also selects the payload pattern (record-stream.ts). */
  readonly kind: number;
  readonly length: number;
  /** Payload offset reserve() returned. */
  readonly at: number;
  /** The producer's position right after the record (a plain number, not modulo 2^32). */
  readonly end: number;
  /** Whether the record skipped the ring's tail and starts at offset 0. */
  readonly wrapped: boolean;
}

/**
 * What one consumer slot has read and released, as the test knows it. `ring` is null for a
 * consumer in another thread; the test then advances it from what that thread reports.
 */
class Reader {
  /** Index in Rig.records of the next record this consumer should get. */
  index: number;
  /** The position after the last record read (released or not). */
  readPos: number;
  /** The position the producer may reuse up to, as far as this consumer is concerned. */
  released: number;

  constructor(
    readonly rig: Rig,
    public ring: RingConsumer | null,
    start: number,
    index: number,
  ) {
    this.readPos = this.released = start;
    this.index = index;
  }

  /** Reads `n` records (default: all written), checking each; they must all be flushed. */
  read(n = this.rig.records.length - this.index): void {
    const ring = this.ring!;
    for (let k = 0; k < n; k++) {
      const at = ring.next();
      const r = this.rig.records[this.index];
      if (r === undefined) assert.fail(`record after the last one written (kind ${ring.kind})`);
      if (at < 0) assert.fail(`record ${r.kind} is missing`);
      this.accept(ring.kind, ring.length, at, checkRecord(ring.bytes, at, ring.length, ring.kind) === -1);
    }
  }

  /** Checks one record read (here or in another thread) against the next one written. */
  accept(kind: number, length: number, at: number | null, intact: boolean): void {
    const r = this.rig.records[this.index];
    if (r === undefined) assert.fail(`record after the last one written (kind ${kind})`);
    if (kind !== r.kind) assert.fail(`read record ${kind}, expected ${r.kind} (lost, duplicated or reordered)`);
    if (length !== r.length) assert.fail(`record ${kind}: length ${length}, expected ${r.length}`);
    if (at !== null && at !== r.at) assert.fail(`record ${kind}: offset ${at}, expected ${r.at}`);
    if (!intact) assert.fail(`record ${kind} (${length} bytes at ${r.at}) was overwritten before it was read`);
    this.index++;
    this.readPos = r.end;
  }

  release(): void {
    this.ring?.release();
    this.released = this.readPos;
  }

  /** Reads everything written (after a flush) and releases it; nothing else may be visible. */
  catchUp(): void {
    this.read();
    assert.equal(this.ring!.next(), -1, 'a record the producer never wrote');
    this.release();
  }
}

/** A producer with the test's own account of the ring. Records are written with unique kinds. */
class Rig {
  readonly producer: RingProducer;
  readonly records: Written[] = [];
  readonly readers = new Map<number, Reader>();
  pos = 0;
  wraps = 0;

  constructor(readonly handle: RingHandle) {
    this.producer = new RingProducer(handle);
  }

  get capacity(): number {
    return this.handle.capacity;
  }

  /** Attaches `slot` now (or records that createRing attached it) and returns its reader. */
  attach(slot: number, { local = true, fromCreation = false } = {}): Reader {
    if (!fromCreation) this.producer.attach(slot);
    const ring = local ? new RingConsumer(this.handle, slot) : null;
    const reader = new Reader(this, ring, fromCreation ? 0 : this.pos, fromCreation ? 0 : this.records.length);
    this.readers.set(slot, reader);
    return reader;
  }

  detach(slot: number): void {
    this.producer.detach(slot);
    this.readers.delete(slot);
  }

  /** Free bytes by the test's account: the slowest attached consumer bounds the producer. */
  get free(): number {
    let floor = this.pos;
    for (const r of this.readers.values()) floor = Math.min(floor, r.released);
    return this.capacity - (this.pos - floor);
  }

  /** Ring bytes a record of `length` payload bytes takes if written now, skipped tail included. */
  span(length: number): number {
    const need = recordSpace(length);
    const tail = this.capacity - (this.pos % this.capacity);
    return tail < need ? tail + need : need;
  }

  expectFits(length: number): boolean {
    return recordSpace(length) <= this.capacity / 2 && this.span(length) <= this.free;
  }

  /** Writes one patterned record if the ring has room; checks fits(), reserve() and free() against the account. */
  write(length: number): number {
    const expected = this.expectFits(length);
    assert.equal(this.producer.fits(length), expected, `fits(${length}) with ${this.free} bytes free`);
    const kind = this.records.length;
    const at = this.producer.reserve(length, kind);
    if (!expected) {
      assert.equal(at, -1, `reserve(${length}) with ${this.free} bytes free`);
      return -1;
    }
    const span = this.span(length);
    const wrapped = span > recordSpace(length);
    assert.equal(at, (wrapped ? 0 : this.pos % this.capacity) + RECORD_HEADER, `offset of record ${kind}`);
    fillRecord(this.producer.bytes, at, length, kind);
    this.pos += span;
    if (wrapped) this.wraps++;
    this.records.push({ kind, length, at, end: this.pos, wrapped });
    assert.equal(this.producer.free(), this.free, `free() after record ${kind}`);
    return at;
  }

  /** Writes records of the seeded sizes until one is refused; flushes every `flushEvery`. */
  writeUntilRefused(sizes: () => number, flushEvery = 4): number {
    let n = 0;
    for (;;) {
      if (this.write(sizes()) < 0) return n;
      if (++n % flushEvery === 0) this.producer.flush();
      if (n > 10_000) assert.fail('the ring never refused');
    }
  }

  /**
   * Writes records until not one byte is left: one that skips the tail and takes the rest of
   * the free space when the tail is too short to be worth filling, else the largest that fits.
   */
  fillToTheLastByte(): void {
    for (let n = 0; this.free > 0; n++) {
      const tail = this.capacity - (this.pos % this.capacity);
      const wrapping = this.free - tail; // a record this large skips the tail, and fills the rest
      const length = tail < this.free && wrapping > tail && wrapping <= this.capacity / 2 ? wrapping : Math.min(this.free, tail, this.capacity / 2);
      assert.ok(this.write(length - RECORD_HEADER) >= 0);
      if (n > 100) assert.fail('filling up never ends');
    }
  }

  /** The ring is full: free() is 0 and no size fits or is reserved. */
  assertFull(): void {
    assert.equal(this.free, 0);
    assert.equal(this.producer.free(), 0);
    const max = maxPayload(this.capacity);
    for (let length = 0; length <= max; length++) if (this.producer.fits(length)) assert.fail(`fits(${length}) on a full ring`);
    for (const length of [0, 1, 8, 100, max]) assert.equal(this.producer.reserve(length, 0xdead), -1, `reserve(${length}) on a full ring`);
    assert.equal(this.producer.free(), 0, 'a refused reserve() took no space');
  }

  wrapsSince(first: number): number {
    return this.records.slice(first).filter((r) => r.wrapped).length;
  }
}

function streamSizes(seed: number, maxSize = MAX_SIZE): () => number {
  return recordSizes({ seed, count: Number.POSITIVE_INFINITY, minSize: 0, maxSize });
}

/** Moves the write position off 0 with records that are read at once, so a full ring then wraps. */
function preRoll(rig: Rig, readers: Reader[], sizes: () => number, count: number): void {
  for (let i = 0; i < count; i++) assert.ok(rig.write(sizes()) >= 0);
  rig.producer.flush();
  for (const r of readers) r.catchUp();
}

// ------------------------------------------------------------------ one consumer

test('a consumer that never reads: the ring fills to the last byte, then refuses every size, and every record is intact when it reads', () => {
  const rig = new Rig(createRing({ capacity: CAPACITY, maxConsumers: 1 }));
  const reader = rig.attach(0);
  const sizes = streamSizes(11);
  preRoll(rig, [reader], sizes, 5);
  let wrapsHeld = 0;
  for (let round = 0; round < 12; round++) {
    const first = rig.records.length;
    rig.writeUntilRefused(sizes, 1 + (round % 5));
    rig.fillToTheLastByte();
    rig.assertFull();
    rig.producer.flush();
    assert.equal(rig.producer.lag(0), CAPACITY);
    assert.equal(rig.producer.free(), 0, 'flushing frees nothing');
    wrapsHeld += rig.wrapsSince(first);
    // only now does the consumer read: the whole ring's worth, every byte as written
    reader.catchUp();
    assert.equal(rig.producer.free(), CAPACITY);
    assert.equal(rig.producer.lag(0), 0);
  }
  assert.ok(wrapsHeld >= 6, `only ${wrapsHeld} records wrapped while the consumer held the ring`);
});

test('releasing part of a full ring lets exactly the released bytes in, and no more', () => {
  const rig = new Rig(createRing({ capacity: CAPACITY, maxConsumers: 1 }));
  const reader = rig.attach(0);
  const sizes = streamSizes(12);
  const rng = mulberry32(12);
  preRoll(rig, [reader], sizes, 7);
  rig.writeUntilRefused(sizes);
  rig.fillToTheLastByte();
  rig.producer.flush();
  for (let round = 0; round < 24; round++) {
    rig.assertFull();
    const backlog = rig.records.length - reader.index;
    reader.read(between(rng, 1, backlog - 1));
    assert.equal(rig.producer.free(), 0, 'read but not released: still held');
    const before = reader.released;
    reader.release();
    const released = reader.released - before;
    assert.equal(rig.producer.free(), released);
    const pos = rig.pos;
    rig.writeUntilRefused(sizes);
    rig.fillToTheLastByte();
    assert.equal(rig.pos - pos, released, 'bytes written into the released space');
    rig.producer.flush();
  }
  rig.assertFull();
  reader.catchUp();
  assert.ok(rig.wraps >= 6, `only ${rig.wraps} records wrapped`);
});

// ------------------------------------------------------------------ several consumers

test('two consumers: whichever is slowest bounds the producer, and both get every record intact', () => {
  const rig = new Rig(createRing({ capacity: CAPACITY, maxConsumers: 2 }));
  const a = rig.attach(0);
  const b = rig.attach(1);
  const sizes = streamSizes(13);
  preRoll(rig, [a, b], sizes, 3);

  // b holds everything while a keeps up: refused when b's backlog is the whole ring
  for (let n = 0; rig.write(sizes()) >= 0; n++) {
    if (n > 1000) assert.fail('the ring never refused');
    rig.producer.flush();
    a.catchUp();
  }
  rig.fillToTheLastByte();
  rig.producer.flush();
  a.catchUp();
  assert.equal(rig.producer.lag(0), 0);
  assert.equal(rig.producer.lag(1), CAPACITY);
  rig.assertFull();

  // b catches up and keeps up while a stops: now a's backlog bounds the producer
  b.catchUp();
  assert.equal(rig.producer.free(), CAPACITY);
  for (let n = 0; rig.write(sizes()) >= 0; n++) {
    if (n > 1000) assert.fail('the ring never refused');
    rig.producer.flush();
    b.catchUp();
  }
  rig.fillToTheLastByte();
  rig.producer.flush();
  b.catchUp();
  assert.equal(rig.producer.lag(0), CAPACITY);
  rig.assertFull();

  // a reads half its backlog: that, and only that, becomes free
  const half = Math.floor((rig.records.length - a.index) / 2);
  a.read(half);
  a.release();
  assert.equal(rig.producer.free(), rig.free);
  assert.ok(rig.free > 0);
  rig.writeUntilRefused(sizes);
  rig.fillToTheLastByte();
  rig.producer.flush();
  rig.assertFull();
  a.catchUp();
  b.catchUp();
  assert.equal(rig.producer.free(), CAPACITY);
});

test('a detached slot holds no space, and attached again mid-stream it starts at the producer position', () => {
  const rig = new Rig(createRing({ capacity: CAPACITY, maxConsumers: 2 }));
  const a = rig.attach(0);
  rig.attach(1);
  const sizes = streamSizes(14);
  rig.writeUntilRefused(sizes);
  rig.fillToTheLastByte();
  rig.producer.flush();
  a.catchUp();
  rig.assertFull(); // slot 1 holds the ring

  rig.detach(1);
  assert.equal(rig.producer.lag(1), 0);
  assert.equal(rig.producer.free(), CAPACITY, 'the detached slot held everything; now nothing is held');
  rig.writeUntilRefused(sizes);
  rig.fillToTheLastByte();
  rig.producer.flush();
  a.catchUp(); // what slot 1 never read was legitimately written over; a sees none of it damaged

  // attach during an unflushed batch, after many laps: records reserved before attach() are not its
  const unflushed = rig.records.length;
  rig.writeUntilRefused(() => 100, 1000); // (no flush) until slot 0's backlog fills the ring
  const late = rig.attach(1);
  assert.equal(late.ring!.available, false);
  rig.producer.flush();
  assert.equal(late.ring!.next(), -1, 'records reserved before attach() belong to the consumers before it');
  assert.equal(rig.producer.lag(1), 0);
  a.catchUp();
  assert.ok(rig.records.length > unflushed);

  // from here, the late consumer holds space from its attach position on
  rig.writeUntilRefused(sizes);
  rig.fillToTheLastByte();
  rig.producer.flush();
  a.catchUp();
  assert.equal(rig.producer.lag(1), CAPACITY);
  rig.assertFull();
  late.catchUp();
  assert.equal(rig.producer.free(), CAPACITY);
});

// ------------------------------------------------------------------ createRing({ attached })

test('createRing rejects an attached count outside 0..maxConsumers', () => {
  for (const attached of [-1, 1.5, 3, Number.NaN]) {
    assert.throws(() => createRing({ capacity: CAPACITY, maxConsumers: 2, attached }), RangeError, `attached ${attached}`);
  }
  for (const attached of [0, 1, 2]) createRing({ capacity: CAPACITY, maxConsumers: 2, attached });
});

test('createRing({ attached: 2 }) makes slots 0 and 1 hold space from the first write, exactly like attach() before it', () => {
  const fromCreation = new Rig(createRing({ capacity: CAPACITY, maxConsumers: 3, attached: 2 }));
  const attachedFirst = new Rig(createRing({ capacity: CAPACITY, maxConsumers: 3 }));
  attachedFirst.attach(0);
  attachedFirst.attach(1);
  assert.ok(attachedFirst.write(40) >= 0);
  attachedFirst.producer.flush();
  // the consumers of the created-attached ring are made only after writing began: they still start at 0
  const slots = [fromCreation.attach(0, { local: false, fromCreation: true }), fromCreation.attach(1, { local: false, fromCreation: true })];
  assert.ok(fromCreation.write(40) >= 0);
  fromCreation.producer.flush();
  for (const [slot, reader] of slots.entries()) reader.ring = new RingConsumer(fromCreation.handle, slot);

  for (const rig of [fromCreation, attachedFirst]) {
    const [first, second] = [rig.readers.get(0)!, rig.readers.get(1)!];
    rig.writeUntilRefused(streamSizes(15));
    rig.fillToTheLastByte();
    rig.producer.flush();
    rig.assertFull();
    assert.equal(rig.producer.lag(2), 0, 'slot 2 was never attached');
    first.catchUp();
    rig.assertFull(); // the second still holds the ring
    second.catchUp();
    assert.equal(rig.producer.free(), CAPACITY);
  }
  assert.deepEqual(fromCreation.records, attachedFirst.records, 'same offsets, same refusals');
});

test('without attached (the default) a slot nobody attached holds nothing: its would-be consumer is lapped', () => {
  const handle = createRing({ capacity: CAPACITY, maxConsumers: 1 });
  const producer = new RingProducer(handle);
  const consumer = new RingConsumer(handle, 0);
  const sizes = streamSizes(16);
  let written = 0;
  let kind = 0;
  while (written < 3 * CAPACITY) {
    const length = sizes();
    assert.ok(producer.reserve(length, kind++) >= 0, 'refused with no slot attached');
    written += recordSpace(length);
  }
  producer.flush();
  assert.equal(producer.free(), CAPACITY);
  // what it would read first is not record 0 any more: why the ingress ring's reader slot must be attached
  assert.ok(consumer.next() >= 0);
  assert.notEqual(consumer.kind, 0);
});

// ------------------------------------------------------------------ real threads

test('threads: a consumer in another thread that does not read holds the ring full until it reads, and then gets every record intact', async () => {
  await withWorkers(async (start) => {
    // attached from creation, as the ingress ring's main-thread reader is
    const handle = createRing({ capacity: CAPACITY, maxConsumers: 1, attached: 1 });
    const rig = new Rig(handle);
    const remote = rig.attach(0, { local: false, fromCreation: true });
    const control = new Int32Array(new SharedArrayBuffer(8));
    const holder = start('ring-holder', { ring: handle, slot: 0, control } satisfies HolderData);
    const command = async (order: number): Promise<void> => {
      Atomics.store(control, 1, order);
      Atomics.add(control, 0, 1);
      Atomics.notify(control, 0);
      const read = await holder.receive<HolderRead>('read', 5000);
      assert.deepEqual(read.damaged, [], 'records overwritten before the consumer read them');
      for (let i = 0; i < read.kinds.length; i++) remote.accept(read.kinds[i]!, read.lengths[i]!, null, true);
      remote.release();
    };

    await holder.receive<Message>('asleep', 5000);
    const sizes = streamSizes(17);
    assert.ok(rig.write(sizes()) >= 0);
    rig.producer.flush(); // wakes the holder, which then blocks without reading
    const woken = await holder.receive<HolderWoken>('woken', 5000);
    assert.equal(woken.result, 'ok');
    assert.equal(woken.available, true);

    const rng = mulberry32(17);
    for (let round = 0; round < 16; round++) {
      rig.writeUntilRefused(sizes, 1 + (round % 5));
      rig.fillToTheLastByte();
      rig.producer.flush();
      rig.assertFull();
      // it reads part of its backlog: exactly what it released comes free, read through Atomics
      await command(between(rng, 1, rig.records.length - remote.index - 1));
      assert.equal(rig.producer.free(), rig.free);
      assert.ok(rig.free > 0);
    }
    rig.writeUntilRefused(sizes);
    rig.fillToTheLastByte();
    rig.producer.flush();
    rig.assertFull();
    await command(-1);
    assert.equal(remote.index, rig.records.length, 'the holder read every record');
    assert.equal(rig.producer.free(), CAPACITY);
    assert.ok(rig.wraps >= 3, `only ${rig.wraps} records wrapped`);

    Atomics.store(control, 1, 0);
    Atomics.add(control, 0, 1);
    Atomics.notify(control, 0);
    await holder.receive<Message>('bye', 5000);
  });
});
