/**
 * The bench client's per-delivery decoding cost, by format: what a load thread spends to
 * get channel, seq, index and time out of one server frame (src/bench/*-frame-decoder.ts),
 * and, for comparison, a full msgpackr unpack of the same MessagePack frame (what a
 * generic client does, and what the MessagePack decoder avoids).
 *
 *   node dist/bench/frame-decoders.js [--size BYTES] [--frames N] [--passes N]
 *
 * Frames are made by the server's own encoders from bench payloads of --size bytes of
 * JSON; the passes are interleaved so that a busy box slows each decoder alike.
 */
import { parseArgs } from 'node:util';
import { Unpackr } from 'msgpackr';
import { JsonFrameDecoder, type DeliveryVisitor, type FrameDecoder } from '../src/bench/frame-decoder.js';
import { MsgpackFrameDecoder } from '../src/bench/msgpack-frame-decoder.js';
import { dataJson } from '../src/bench/payload.js';
import { JsonFrameEncoder, MsgpackFrameEncoder } from '../src/protocol/encoder.js';
import { Payload } from '../src/protocol/payload.js';

const { values: args } = parseArgs({
  options: { size: { type: 'string', default: '128' }, frames: { type: 'string', default: '2000000' }, passes: { type: 'string', default: '3' } },
});
const size = Number(args.size);
const frames = Number(args.frames);

let sink = 0;
const visitor: DeliveryVisitor = {
  delivery: (_buf, cs, ce, seq, index, t) => void (sink += seq + index + ce - cs + (t > 0 ? 1 : 0)),
  control: () => {
    throw new Error('a delivery frame decoded as a control message');
  },
};
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
/** A generic client: the whole message unpacked, then the same fields read. */
const fullUnpack: Pick<FrameDecoder, 'decode'> = {
  decode(buf, start, end, v) {
    const m = unpackr.unpack(buf.subarray(start, end)) as { channel: string; seq: number; data: { i: number; t: number } };
    v.delivery(buf, 0, m.channel.length, m.seq, m.data.i, m.data.t);
  },
};

const json: Buffer[] = [];
const msgpack: Buffer[] = [];
for (let i = 0; i < 1000; i++) {
  const data = Payload.json(JSON.stringify(JSON.parse(dataJson(i, Date.now() + 0.123, size))));
  json.push(Buffer.from(new JsonFrameEncoder().encodeMessage('bench-0', 1000 + i, 1, data)));
  msgpack.push(Buffer.from(new MsgpackFrameEncoder().encodeMessage('bench-0', 1000 + i, 1, data)));
}
const cases: Array<[string, Pick<FrameDecoder, 'decode'>, Buffer[]]> = [
  ['json (byte search)', new JsonFrameDecoder(), json],
  ['msgpack (walk in place)', new MsgpackFrameDecoder(), msgpack],
  ['msgpack (msgpackr unpack)', fullUnpack, msgpack],
];
console.log(`frame bytes for ${size} B of data: json ${json[0]!.length}, msgpack ${msgpack[0]!.length}`);
for (let pass = 1; pass <= Number(args.passes); pass++) {
  for (const [name, decoder, set] of cases) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < frames; k++) {
      const f = set[k % set.length]!;
      decoder.decode(f, 0, f.length, visitor);
    }
    const ns = Number(process.hrtime.bigint() - t0) / frames;
    console.log(`pass ${pass}  ${name.padEnd(26)} ${ns.toFixed(0).padStart(5)} ns per delivery`);
  }
}
if (sink === 0) console.log('(nothing decoded)');
