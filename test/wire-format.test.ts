/**
 * Formats, piece by piece: the handshake's choice (negotiateFormat), the two FrameEncoders
 * producing the same message objects (decoded here with the test's own codec), merged
 * frames, the shard-side transcode, and the Fanout encoding only the formats in use — read
 * back from a real ring.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packr, Unpackr } from 'msgpackr';
import { ENCODERS, frameBytes } from '../src/protocol/encoder.js';
import { Payload } from '../src/protocol/payload.js';
import { JSON_BIT, MSGPACK_BIT, WireFormat, negotiateFormat, splitTopic, topicOf, transcodeFrame } from '../src/protocol/wire-format.js';
import { Fanout } from '../src/pubsub/fanout.js';
import { readPublication, type PublicationView } from '../src/transport/records.js';
import { createRing, RingConsumer } from '../src/transport/ring.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const [json, msgpack] = [ENCODERS[WireFormat.Json]!, ENCODERS[WireFormat.Msgpack]!];
const decodeJson = (f: string | Uint8Array): unknown => JSON.parse(typeof f === 'string' ? f : Buffer.from(f).toString('utf8'));
const decodeMsgpack = (f: string | Uint8Array): unknown => unpackr.unpack(f as Uint8Array);

describe('negotiateFormat', () => {
  it('takes the first shardcast.v1.* protocol offered, else ?format=, else JSON', () => {
    assert.deepEqual(negotiateFormat([], ''), { format: WireFormat.Json, protocol: '' });
    assert.deepEqual(negotiateFormat(['shardcast.v1.msgpack'], ''), { format: WireFormat.Msgpack, protocol: 'shardcast.v1.msgpack' });
    assert.deepEqual(negotiateFormat(['x', 'shardcast.v1.json', 'shardcast.v1.msgpack'], 'msgpack'), { format: WireFormat.Json, protocol: 'shardcast.v1.json' });
    assert.deepEqual(negotiateFormat(['shardcast.v1'], ''), { format: WireFormat.Json, protocol: 'shardcast.v1' });
    assert.deepEqual(negotiateFormat(['chat'], 'msgpack'), { format: WireFormat.Msgpack, protocol: 'chat' });
    assert.equal(negotiateFormat([], 'xml'), null);
    assert.equal(negotiateFormat(['shardcast.v2'], ''), null);
  });

  it('keeps one topic per channel and format, apart from every channel name', () => {
    assert.equal(topicOf('a:b', WireFormat.Json), 'a:b');
    assert.notEqual(topicOf('a:b', WireFormat.Msgpack), 'a:b');
    assert.deepEqual(splitTopic(topicOf('~user/x', WireFormat.Msgpack)), { channel: '~user/x', format: WireFormat.Msgpack });
    assert.deepEqual(splitTopic('a:b'), { channel: 'a:b', format: WireFormat.Json });
  });
});

describe('FrameEncoders', () => {
  it('write the same message object in both formats, for seqs of every MessagePack integer width and long channel names', () => {
    const data = { s: 'é✓', n: [1, -2, 3.25], o: { deep: [null, true] } };
    for (const seq of [1, 2, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32 + 5, 2 ** 53 - 1]) {
      for (const channel of ['c', 'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(200), `~user/${'u'.repeat(256)}`]) {
        const fromJson = decodeJson(json.encodeMessage(channel, seq, 0xdeadbeef, Payload.json(JSON.stringify(data))));
        const fromMsgpack = decodeMsgpack(msgpack.encodeMessage(channel, seq, 0xdeadbeef, Payload.json(JSON.stringify(data))));
        assert.deepEqual(fromMsgpack, fromJson, `seq ${seq}, channel of ${channel.length}`);
        assert.deepEqual(Object.keys(fromJson as object), seq === 1 ? ['type', 'channel', 'seq', 'epoch', 'data'] : ['type', 'channel', 'seq', 'data']);
      }
    }
  });

  it('merge messages into one array frame, in order, of the bytes they say', () => {
    for (const n of [1, 2, 15, 16, 17, 300]) {
      const payloads = Array.from({ length: n }, (_, i) => Payload.json(JSON.stringify({ i })));
      for (const [enc, decode] of [[json, decodeJson], [msgpack, decodeMsgpack]] as const) {
        const messages = payloads.map((p, i) => enc.encodeMessage('m', i + 2, 7, p));
        const bytes = messages.reduce((t, m) => t + frameBytes(m), 0);
        const merged = enc.merge(messages, bytes);
        assert.equal(frameBytes(merged), bytes + enc.mergeOverhead(n), `${n} in format ${enc.format}`);
        const v = decode(merged);
        const list = n === 1 ? [v] : (v as unknown[]);
        assert.deepEqual(list.map((m) => (m as { seq: number }).seq), payloads.map((_, i) => i + 2));
      }
    }
  });
});

describe('data across formats', () => {
  it('converts binary to {"$binary":base64} for JSON, and a shard can remake either frame from the other', () => {
    const bin = Buffer.from([1, 2, 3, 254]);
    const p = Payload.msgpack(packr.pack({ bin, t: 'x' }));
    assert.equal(p.asJson(), `{"bin":{"$binary":"${bin.toString('base64')}"},"t":"x"}`);
    const mp = msgpack.encodeMessage('c', 9, 1, p);
    const remade = transcodeFrame(mp as Uint8Array, WireFormat.Json);
    assert.deepEqual(decodeJson(remade), decodeJson(json.encodeMessage('c', 9, 1, p)));
    const js = Buffer.from(json.encodeMessage('c', 9, 1, Payload.json('[1,{"a":"b"}]')) as string);
    assert.deepEqual(decodeMsgpack(transcodeFrame(js, WireFormat.Msgpack)), decodeJson(js));
  });
});

describe('Fanout formats', () => {
  it('encodes the formats in use, and for a channel nobody follows the format the data came in', () => {
    const ring = createRing({ capacity: 64 * 1024, maxConsumers: 1, attached: 1 });
    const use: Record<string, number> = { both: JSON_BIT | MSGPACK_BIT, j: JSON_BIT, m: MSGPACK_BIT };
    const fanout = new Fanout(ring, { formatsOf: (c) => use[c] ?? 0 });
    const consumer = new RingConsumer(ring, 0);
    const data = Payload.json('{"k":1}');
    for (const c of ['both', 'j', 'm', 'none']) assert.equal(fanout.deliver([c], [2], [1], data), 'written');
    assert.equal(fanout.deliver(['none'], [3], [1], Payload.msgpack(packr.pack({ k: 1 }))), 'written');
    fanout.flush();
    const pub: PublicationView = { seq: 0, epoch: 0, channel: '', count: 0, stamp: 0, json: new Uint8Array(), msgpack: new Uint8Array() };
    const seen: string[] = [];
    for (let at = consumer.next(); at >= 0; at = consumer.next()) {
      const r = readPublication(consumer, at, pub);
      seen.push(`${r.channel}:${r.json.length > 0 ? 'J' : ''}${r.msgpack.length > 0 ? 'M' : ''}`);
      if (r.json.length > 0) assert.deepEqual((decodeJson(r.json) as { data: unknown }).data, { k: 1 });
      if (r.msgpack.length > 0) assert.deepEqual((decodeMsgpack(r.msgpack) as { data: unknown }).data, { k: 1 });
    }
    consumer.release();
    assert.deepEqual(seen, ['both:JM', 'j:J', 'm:M', 'none:J', 'none:M']);
  });

  it('closes a merge window early when a message needs a format it lacks: a frame holds every message of its window', () => {
    const ring = createRing({ capacity: 64 * 1024, maxConsumers: 1, attached: 1 });
    let formats = JSON_BIT;
    const fanout = new Fanout(ring, { formatsOf: () => formats, mergeMs: 1000, mergeMaxBytes: 4096 });
    const consumer = new RingConsumer(ring, 0);
    assert.equal(fanout.deliver(['w'], [2], [1], Payload.json('1')), 'written');
    formats = JSON_BIT | MSGPACK_BIT; // a MessagePack subscriber's report arrives mid-window
    assert.equal(fanout.deliver(['w'], [3], [1], Payload.json('2')), 'written');
    fanout.flush(); // closes the window
    assert.equal(fanout.deliver(['w'], [4], [1], Payload.json('3')), 'written');
    fanout.flush();
    const pub: PublicationView = { seq: 0, epoch: 0, channel: '', count: 0, stamp: 0, json: new Uint8Array(), msgpack: new Uint8Array() };
    const records: Array<[number, number, unknown, unknown]> = [];
    for (let at = consumer.next(); at >= 0; at = consumer.next()) {
      const r = readPublication(consumer, at, pub);
      records.push([r.seq, r.count, r.json.length > 0 ? decodeJson(r.json) : null, r.msgpack.length > 0 ? decodeMsgpack(r.msgpack) : null]);
    }
    consumer.release();
    const msg = (seq: number, data: number): object => ({ type: 'message', channel: 'w', seq, data });
    assert.deepEqual(records, [
      [2, 1, msg(2, 1), null], // written when seq 3 needed MessagePack too
      [3, 1, msg(3, 2), msg(3, 2)],
      [4, 1, msg(4, 3), msg(4, 3)],
    ]);
    // data that came as MessagePack is always encoded in MessagePack too (JSON would lose its binary)
    formats = JSON_BIT;
    assert.equal(fanout.deliver(['w'], [5], [1], Payload.msgpack(packr.pack({ b: Buffer.from([7]) }))), 'written');
    fanout.flush();
    const at = consumer.next();
    const r = readPublication(consumer, at, pub);
    const bin = (decodeMsgpack(r.msgpack) as { data: { b: Uint8Array } }).data.b;
    assert.ok(bin instanceof Uint8Array);
    assert.deepEqual([...bin], [7]);
    assert.deepEqual((decodeJson(r.json) as { data: unknown }).data, { b: { $binary: 'Bw==' } });
    consumer.release();
  });
});
