/**
 * Record layouts: what goes through the rings comes out as it went in, and a publish
 * record whose lengths do not add up is refused by the reader instead of trusted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplyTarget, readPublishView, readReply, writePublish, writeReply, type ReplyView } from '../src/transport/records.js';
import { RingConsumer, RingProducer, createRing } from '../src/transport/ring.js';

function ringPair(): { producer: RingProducer; consumer: RingConsumer } {
  const handle = createRing({ capacity: 64 * 1024, maxConsumers: 1, attached: 1 });
  return { producer: new RingProducer(handle), consumer: new RingConsumer(handle, 0) };
}

test('a publish request round-trips, refs beyond 2^32 included', () => {
  const { producer, consumer } = ringPair();
  const req = { target: ReplyTarget.Http, ref: 2 ** 40 + 7, channels: ['a', 'b:c'], data: '{"x":"é"}', id: 'id-1' };
  assert.ok(writePublish(producer, req));
  producer.flush();
  const at = consumer.next();
  const v = readPublishView(consumer, at, consumer.length);
  assert.ok(v !== null);
  // the data is left in the ring, as the UTF-8 bytes the shard wrote
  assert.deepEqual({ target: v.target, ref: v.ref, channels: v.channels, data: v.data.toString('utf8'), id: v.id }, req);
  assert.equal(v.msgpack, false);
  assert.equal(v.data.buffer, consumer.buf.buffer, 'a view of the ring, not a copy');
});

test('a MessagePack publish request keeps its bytes and says so', () => {
  const { producer, consumer } = ringPair();
  const data = new Uint8Array([0x81, 0xa1, 0x78, 0xc4, 0x02, 0xff, 0x00]); // {x: <binary ff 00>}
  assert.ok(writePublish(producer, { target: ReplyTarget.WebSocket, ref: 5, channels: ['m'], data, id: '' }));
  producer.flush();
  const v = readPublishView(consumer, consumer.next(), consumer.length);
  assert.ok(v !== null);
  assert.equal(v.msgpack, true);
  assert.deepEqual(new Uint8Array(v.data), data);
  assert.equal(v.id, '');
});

test('a publish record whose lengths do not add up reads as null', () => {
  const { producer, consumer } = ringPair();
  assert.ok(writePublish(producer, { target: ReplyTarget.None, ref: 1, channels: ['room'], data: '1', id: '' }));
  producer.flush();
  const at = consumer.next();
  // a torn record: its channel length no longer matches the record's length
  consumer.words[(at + 4) >>> 2] = 1_000_000;
  assert.equal(readPublishView(consumer, at, consumer.length), null);
});

test('a reply carries shard, generation and a ref beyond 2^32', () => {
  const { producer, consumer } = ringPair();
  const to = { shard: 3, generation: 9, target: ReplyTarget.WebSocket, ref: 2 ** 33 + 1 };
  assert.ok(writeReply(producer, to, '{"type":"ack"}'));
  producer.flush();
  const out: ReplyView = { shard: 0, generation: 0, target: ReplyTarget.None, ref: 0, body: new Uint8Array(0) };
  const r = readReply(consumer, consumer.next(), out);
  assert.deepEqual({ shard: r.shard, generation: r.generation, target: r.target, ref: r.ref }, to);
  assert.equal(Buffer.from(r.body).toString(), '{"type":"ack"}');
});
