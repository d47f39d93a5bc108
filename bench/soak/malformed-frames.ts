/**
 * The catalogue of bad WebSocket frames the malformed-frame attacker sends, each with what a
 * correct server answers. Sizes follow the run's --max-payload, so that most of them are
 * parsed (not just refused for their size). Frames are drawn with a seeded PRNG.
 *
 * A frame is answered by exactly one frame (a reply or an error), or ends the connection.
 * Answers to a publish that carries an id may come after answers to later frames (acks and
 * main-thread refusals come back through the main thread), so they are matched by id.
 */
import { between } from '../../test/fixtures/prng.js';

export type Reply = 'pong' | 'subscribed' | 'unsubscribed' | 'ack';

export interface BadFrame {
  /** What kind of abuse, for the tally. */
  readonly kind: string;
  /** One frame, or fragments (a message split over continuation frames). */
  readonly payload: string | Buffer | readonly string[];
  readonly binary: boolean;
  /** Right replies besides errors. */
  readonly replies: readonly Reply[];
  /** Right error codes; 'any' = any legitimate code (never `internal`); [] = no error is right. */
  readonly errors: readonly string[] | 'any';
  /** The frame must end the connection (with a legitimate close code), after at most an error frame. */
  readonly closes: boolean;
  /** Set for publishes whose answer is matched by id. */
  readonly id?: string;
}

const PROTO_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf'];

type Maker = (rng: () => number, id: string, maxPayload: number) => BadFrame;

const frame = (kind: string, payload: BadFrame['payload'], expect: Partial<Omit<BadFrame, 'kind' | 'payload'>>): BadFrame => ({
  kind,
  payload,
  binary: false,
  replies: [],
  errors: [],
  closes: false,
  ...expect,
});

/** A publish of `data` (raw JSON text) with an id: acked, or refused with any legitimate code. */
const publish = (kind: string, id: string, channel: string, data: string): BadFrame =>
  frame(kind, `{"type":"publish","channel":"${channel}","data":${data},"id":"${id}"}`, { replies: ['ack'], errors: 'any', id });

const pick = <T>(rng: () => number, xs: readonly T[]): T => xs[rng() % xs.length]!;

function randomBytes(rng: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rng() & 0xff;
  return b;
}

/** Printable ASCII noise that is never valid JSON (it starts with a stray brace). */
function noiseText(rng: () => number, n: number): string {
  let s = '{';
  for (let i = 1; i < n; i++) s += String.fromCharCode(32 + (rng() % 95));
  return s;
}

/** JSON nested `depth` deep (arrays), or as deep as fits `bytes` when depth is null (arrays or objects). */
function nested(rng: () => number, depth: number | null, bytes = 0): string {
  if (depth !== null) return '['.repeat(depth) + ']'.repeat(depth);
  if (rng() % 2 === 0) {
    const d = between(rng, Math.floor(bytes / 4), Math.floor(bytes / 2));
    return '['.repeat(d) + ']'.repeat(d);
  }
  const d = between(rng, Math.floor(bytes / 12), Math.floor((bytes - 1) / 6));
  return '{"a":'.repeat(d) + '1' + '}'.repeat(d);
}

const digits = (rng: () => number, n: number): string => {
  let s = String(1 + (rng() % 9));
  while (s.length < n) s += String(rng() % 1e9).padStart(9, '0');
  return s.slice(0, n);
};

const MAKERS: ReadonlyArray<readonly [weight: number, make: Maker]> = [
  [3, (rng, _id, max) => frame('bad-json', pick(rng, ['', ' ', '{', '{"type":"ping"', "{'type':'ping'}", '{"type":"ping"} x', '{"type":"ping"}\u0000', noiseText(rng, between(rng, 2, Math.min(4096, max)))]), { errors: ['bad_json'] })],
  [2, (rng, _id, max) => frame('binary-noise', randomBytes(rng, between(rng, 0, Math.min(8192, max))), { binary: true, errors: ['binary_unsupported'] })],
  [1, (rng) => frame('invalid-utf8', Buffer.concat([Buffer.from('{"type":"ping","x":"'), randomBytes(rng, 16), Buffer.from([0xff, 0xfe, 0xc0]), Buffer.from('"}')]), { closes: true, errors: 'any' })],
  // nested 100,000 deep: 200 KB, above twice --max-payload with the defaults, so it is refused for its size
  [1, (rng, id) => publish('deep-nesting-100k', id, 'abuse:deep', nested(rng, 100_000))],
  // as deep as fits the limit: this one is parsed
  [3, (rng, id, max) => publish('deep-nesting-fits', id, 'abuse:deep', nested(rng, null, max - 120))],
  [2, (rng, _id, max) => frame('deep-nesting-frame', nested(rng, null, max), { errors: ['bad_message'] })],
  [2, (rng, id) => publish('long-number', id, 'abuse:numbers', pick(rng, [digits(rng, 30_000), `-${digits(rng, 30_000)}`, `0.${digits(rng, 30_000)}`, `1e${digits(rng, 30_000)}`, `-1e-${digits(rng, 300)}`]))],
  [1, (rng) => frame('long-number-ping', `{"type":"ping","n":${digits(rng, 30_000)}}`, { replies: ['pong'] })],
  [2, (rng, _id, max) => frame('huge-id', JSON.stringify({ type: 'publish', channel: 'abuse:ids', data: 1, id: 'i'.repeat(between(rng, 201, max - 100)) }), { errors: ['bad_message'] })],
  [2, (rng, id, max) => {
    const channel = 'c'.repeat(between(rng, 201, max - 100));
    return rng() % 2 === 0
      ? frame('huge-channel', `{"type":"subscribe","channel":"${channel}"}`, { errors: ['bad_channel'] })
      : frame('huge-channel', `{"type":"publish","channel":"${channel}","data":1,"id":"${id}"}`, { errors: ['bad_channel'], id });
  }],
  [2, (rng) => frame('unknown-type', JSON.stringify({ type: pick(rng, [...PROTO_NAMES, 'PING', 'Subscribe', '', 'publish ', 'x'.repeat(500), `t${rng()}`]) }), { errors: ['unknown_type'] })],
  [2, (rng) => pick(rng, [
    frame('prototype-pollution', '{"__proto__":{"type":"ping"}}', { errors: ['bad_message'] }),
    frame('prototype-pollution', '{"type":"ping","__proto__":{"type":"subscribe","channel":"x"},"constructor":{"prototype":{"polluted":true}}}', { replies: ['pong'] }),
    frame('prototype-pollution', `{"type":"subscribe","channel":"${pick(rng, PROTO_NAMES)}"}`, { replies: ['subscribed'] }),
    frame('prototype-pollution', `{"type":"unsubscribe","channel":"${pick(rng, PROTO_NAMES)}"}`, { replies: ['unsubscribed'] }),
    frame('prototype-pollution', '{"type":"subscribe","channel":"x","__proto__":{"channel":"y"}}', { replies: ['subscribed'] }),
    frame('prototype-pollution', '{"type":"subscribe","__proto__":{"channel":"x"}}', { errors: ['bad_channel'] }),
  ])],
  [2, (rng, id) => pick(rng, [
    publish('prototype-pollution', id, pick(rng, PROTO_NAMES), '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}}}'),
    frame('prototype-pollution', `{"type":"publish","channel":"abuse:proto","__proto__":{"data":1},"id":"${id}"}`, { errors: ['bad_message'], id }),
  ])],
  [2, (rng) => pick(rng, [
    frame('wrong-field-types', '{"type":"publish","channel":"abuse:x","data":1,"id":123}', { errors: ['bad_message'] }),
    frame('wrong-field-types', '{"type":["ping"]}', { errors: ['bad_message'] }),
    frame('wrong-field-types', '{"type":"subscribe","channel":{"toString":"x"}}', { errors: ['bad_channel'] }),
    frame('wrong-field-types', '{"type":"publish","channel":"abuse:x"}', { errors: ['bad_message'] }),
    frame('wrong-field-types', '{"type":"publish","channel":"abuse:x","data":1,"id":""}', { errors: ['bad_message'] }),
    frame('wrong-field-types', '[{"type":"ping"}]', { errors: ['bad_message'] }),
    frame('wrong-field-types', 'null', { errors: ['bad_message'] }),
  ])],
  [1, (rng, id) => publish('lone-surrogates', id, 'abuse:unicode', pick(rng, ['"\\ud800"', '"\\udfff\\ud800x"', '{"\\ud800":"\\udc00"}', '"\\u0000"']))],
  [1, (rng) => frame('many-keys', `{"type":"ping",${Array.from({ length: between(rng, 100, 4000) }, (_, i) => `"k${i}":${i}`).join(',')}}`, { replies: ['pong'] })],
  [1, () => frame('fragmented', ['{"type"', ':"pi', 'ng"}'], { replies: ['pong'] })],
  [1, (rng, _id, max) => frame('oversized', '{"type":"ping"}'.padEnd(between(rng, max + 1, 2 * max - 1), ' '), { replies: ['pong'] })],
  [1, (rng, _id, max) => frame('oversized-2x', '{"type":"ping"}'.padEnd(between(rng, 2 * max + 1, 3 * max), ' '), { replies: ['pong'] })],
];

const TOTAL_WEIGHT = MAKERS.reduce((n, [w]) => n + w, 0);

/** One bad frame, drawn by weight; `id` is the (unique) ack id it may carry. */
export function nextBadFrame(rng: () => number, id: string, maxPayload: number): BadFrame {
  let r = rng() % TOTAL_WEIGHT;
  for (const [w, make] of MAKERS) {
    if (r < w) return bySize(make(rng, id, maxPayload), maxPayload);
    r -= w;
  }
  throw new Error('unreachable: weights cover the range');
}

/**
 * Whatever its content, a frame above --max-payload is refused for its size: an error frame
 * and 1009, or (above twice the limit) a dropped connection. Fragments count together.
 */
function bySize(f: BadFrame, maxPayload: number): BadFrame {
  const parts = typeof f.payload === 'string' || Buffer.isBuffer(f.payload) ? [f.payload] : f.payload;
  const bytes = parts.reduce((n, p) => n + Buffer.byteLength(p), 0);
  if (bytes <= maxPayload) return f;
  const { id: _id, ...rest } = f;
  return { ...rest, replies: [], errors: ['payload_too_large'], closes: true };
}

/** Every kind in the catalogue (for the summary, so a kind that never ran shows as 0). */
export const BAD_FRAME_KINDS = [
  'bad-json', 'binary-noise', 'invalid-utf8', 'deep-nesting-100k', 'deep-nesting-fits', 'deep-nesting-frame', 'long-number', 'long-number-ping',
  'huge-id', 'huge-channel', 'unknown-type', 'prototype-pollution', 'wrong-field-types', 'lone-surrogates', 'many-keys', 'fragmented', 'oversized', 'oversized-2x',
] as const;
