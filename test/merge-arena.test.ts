/**
 * Merge windows keep their messages as bytes in the WindowArena (off the V8 heap) and write
 * them from there: on a real ring read back by a real consumer, every merged frame is byte for
 * byte what the encoders' merge() makes of the same messages (JSON and MessagePack, windows of
 * several channels interleaved), and far more bytes than the arena holds pass through one long
 * window period — the arena fills, every open window is written early and it starts empty
 * again — in order, each message once, no frame above --merge-max-bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENCODERS, type Frame } from '../src/protocol/encoder.js';
import { Payload } from '../src/protocol/payload.js';
import { JSON_BIT, MSGPACK_BIT, WireFormat } from '../src/protocol/wire-format.js';
import { Fanout } from '../src/pubsub/fanout.js';
import { RecordKind, readPublication, type PublicationView } from '../src/transport/records.js';
import { RingConsumer, createRing } from '../src/transport/ring.js';
import { between, mulberry32 } from './fixtures/prng.js';

const EPOCH = 7;
const json = ENCODERS[WireFormat.Json]!;
const msgpack = ENCODERS[WireFormat.Msgpack]!;

interface Frames {
  channel: string;
  count: number;
  lastSeq: number;
  json: Buffer;
  msgpack: Buffer;
}

/** Reads every publication the consumer can see. */
function readAll(consumer: RingConsumer): Frames[] {
  const out: Frames[] = [];
  const view: PublicationView = { seq: 0, epoch: 0, channel: '', count: 0, stamp: 0, json: new Uint8Array(), msgpack: new Uint8Array() };
  for (let at = consumer.next(); at >= 0; at = consumer.next()) {
    assert.equal(consumer.kind, RecordKind.Publication);
    readPublication(consumer, at, view);
    out.push({ channel: view.channel, count: view.count, lastSeq: view.seq, json: Buffer.from(view.json), msgpack: Buffer.from(view.msgpack) });
  }
  consumer.release();
  return out;
}

function setup(capacity: number, mergeMaxBytes: number): { fanout: Fanout; consumer: RingConsumer } {
  const handle = createRing({ capacity, maxConsumers: 1, attached: 1 });
  // a window period far longer than the test: windows close only when full or flushed
  const fanout = new Fanout(handle, { formatsOf: () => JSON_BIT | MSGPACK_BIT, mergeMs: 60_000, mergeMaxBytes });
  return { fanout, consumer: new RingConsumer(handle, 0) };
}

describe('merge windows in the arena', () => {
  it('a merged frame is exactly the encoders merge() of its messages, in both formats, with windows interleaved', () => {
    const { fanout, consumer } = setup(1 << 20, 64 * 1024);
    const next = mulberry32(3);
    const sent = new Map<string, Array<{ seq: number; data: Payload }>>();
    const seqs = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const channel = `c${between(next, 0, 2)}`;
      const seq = (seqs.get(channel) ?? 1) + 1; // from 2: seq 1 frames also carry the epoch
      seqs.set(channel, seq);
      const data = Payload.json(JSON.stringify({ i, pad: 'é'.repeat(between(next, 0, 300)) }));
      assert.equal(fanout.deliver([channel], [seq], [EPOCH], data), 'written');
      (sent.get(channel) ?? sent.set(channel, []).get(channel)!).push({ seq, data });
    }
    fanout.flush();
    const frames = readAll(consumer);
    assert.equal(frames.length, sent.size, 'one frame per channel: every window stayed open until the flush');
    for (const f of frames) {
      const messages = sent.get(f.channel)!;
      assert.equal(f.count, messages.length);
      assert.equal(f.lastSeq, messages.at(-1)!.seq);
      const encoded = (enc: typeof json): Frame[] => messages.map((m) => enc.encodeMessage(f.channel, m.seq, EPOCH, m.data));
      const jsonFrames = encoded(json);
      const msgpackFrames = encoded(msgpack);
      const bytes = (fs: Frame[]): number => fs.reduce((n, x) => n + Buffer.byteLength(x as string | Uint8Array), 0);
      assert.equal(f.json.toString('utf8'), json.merge(jsonFrames, bytes(jsonFrames)) as string);
      assert.deepEqual(f.msgpack, Buffer.from(msgpack.merge(msgpackFrames, bytes(msgpackFrames)) as Uint8Array));
      assert.deepEqual((JSON.parse(f.json.toString('utf8')) as Array<{ seq: number }>).map((m) => m.seq), messages.map((m) => m.seq));
    }
  });

  it('many times the arena in one window period: written early when it fills, every message once and in order, frames under the cap', async () => {
    const capacity = 256 * 1024; // arena: half of it, per format
    const cap = 8 * 1024;
    const { fanout, consumer } = setup(capacity, cap);
    const next = mulberry32(11);
    const seen = new Map<string, number[]>();
    const collect = (frames: Frames[]): void => {
      for (const f of frames) {
        assert.ok(f.json.byteLength <= cap && f.msgpack.byteLength <= cap, `a ${f.json.byteLength}/${f.msgpack.byteLength}-byte frame passed the ${cap}-byte cap`);
        const parsed = JSON.parse(f.json.toString('utf8')) as { seq: number } | Array<{ seq: number }>;
        const seqs = (Array.isArray(parsed) ? parsed : [parsed]).map((m) => m.seq);
        assert.equal(seqs.length, f.count);
        (seen.get(f.channel) ?? seen.set(f.channel, []).get(f.channel)!).push(...seqs);
      }
    };
    const last = new Map<string, number>();
    let sentBytes = 0;
    let written = 0;
    for (let i = 0; sentBytes < 20 * capacity; i++) {
      const channel = `ch${between(next, 0, 4)}`;
      const seq = (last.get(channel) ?? 1) + 1;
      const data = Payload.json(JSON.stringify('x'.repeat(between(next, 0, 3000))));
      const r = fanout.deliver([channel], [seq], [EPOCH], data);
      if (r === 'full') {
        // the ring is full of what was written and promised to open windows: close them (as the
        // window timer would), let the consumer catch up as a shard would, offer the message again
        fanout.flush();
        collect(readAll(consumer));
        i--;
        continue;
      }
      assert.equal(r, 'written');
      last.set(channel, seq);
      sentBytes += data.byteLength;
      written++;
      // a shard that keeps up (the writes are published at the end of the turn: let it end):
      // the ring holds little more than the open windows' promises, the arena all of the period
      await Promise.resolve();
      collect(readAll(consumer));
    }
    fanout.flush();
    collect(readAll(consumer));
    let total = 0;
    for (const [channel, seqs] of seen) {
      assert.deepEqual(seqs, Array.from({ length: last.get(channel)! - 1 }, (_, k) => k + 2), `${channel}: every seq once, in order`);
      total += seqs.length;
    }
    assert.equal(total, written);
  });
});
