/**
 * Cutting a consumer loose: the producer can cut a consumer only between its batches
 * (never while it reads one), a cut consumer learns it at its next enter() and holds no
 * space from then on, and a consumer that stops detaches itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RingConsumer, RingProducer, createRing, recordSpace } from '../src/transport/ring.js';

function setup(): { producer: RingProducer; a: RingConsumer; b: RingConsumer } {
  const handle = createRing({ capacity: 4096, maxConsumers: 2 });
  const producer = new RingProducer(handle);
  producer.attach(0);
  producer.attach(1);
  return { producer, a: new RingConsumer(handle, 0), b: new RingConsumer(handle, 1) };
}

test('a consumer in the middle of a batch cannot be cut; between batches it can', () => {
  const { producer, a } = setup();
  assert.ok(producer.reserve(100, 7) >= 0);
  producer.flush();
  assert.equal(a.enter(), true);
  assert.ok(a.next() >= 0);
  assert.equal(producer.cut(0), false, 'not while it reads');
  assert.equal(producer.attached(0), true);
  a.release();
  a.leave();
  assert.equal(producer.cut(0), true, 'between batches');
  assert.equal(producer.attached(0), false);
  assert.equal(producer.cut(0), false, 'once');
});

test('a cut consumer finds out at its next enter() and holds no space', () => {
  const { producer, a, b } = setup();
  const size = 1000;
  let written = 0;
  while (producer.reserve(size, 1) >= 0) written++; // neither consumer reads: the ring fills
  producer.flush();
  assert.equal(producer.fits(size), false);
  // b keeps up; a stalls and is cut loose
  assert.equal(b.enter(), true);
  while (b.next() >= 0);
  b.release();
  b.leave();
  assert.equal(producer.fits(size), false, 'the stalled consumer still holds the ring');
  assert.equal(producer.cut(0), true);
  assert.equal(producer.fits(size), true, 'once cut, only b counts');
  assert.equal(producer.free(), 4096);
  assert.equal(producer.lag(0), 0);
  assert.equal(a.enter(), false, 'the cut consumer must read no more');
  assert.ok(written * recordSpace(size) <= 4096);
});

test('a consumer that stops detaches itself; the producer can attach the slot again', () => {
  const { producer, a } = setup();
  assert.ok(producer.reserve(64, 1) >= 0);
  producer.flush();
  a.detachSelf();
  assert.equal(producer.attached(0), false);
  assert.equal(a.enter(), false);
  producer.attach(0);
  assert.equal(producer.attached(0), true);
  assert.equal(producer.lag(0), 0, 'a re-attached slot starts at the write position');
});
