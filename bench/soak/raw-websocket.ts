/**
 * WebSocket protocol violations that a client library will not send: a hand-made handshake on
 * a TCP socket, then frames with reserved bits or opcodes, unmasked, oversized control frames,
 * bad close codes, continuations out of place, a 2^62-byte length. The server may close the
 * connection any way it likes (or ignore the frame); it must not fail the shard (close 1011).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { between } from '../../test/fixtures/prng.js';

export interface RawOutcome {
  kind: string;
  /** 'closed' (the server ended the connection), 'open' (it still was after the wait), 'refused' (no 101). */
  result: 'closed' | 'open' | 'refused' | 'error';
  /** Close code of a close frame the server sent, if any. */
  closeCode: number | null;
  /** Text frames the server sent (welcome, errors, pongs). */
  textFrames: string[];
}

interface FrameSpec {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  payload: Buffer;
  mask?: boolean;
  /** Claimed payload length (lies about the real one). */
  claimedLength?: bigint;
}

export function encodeFrame(f: FrameSpec): Buffer {
  const mask = f.mask ?? true;
  const len = f.claimedLength ?? BigInt(f.payload.length);
  const head: number[] = [((f.fin ?? true) ? 0x80 : 0) | ((f.rsv ?? 0) << 4) | f.opcode];
  const m = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (len < 126n) head.push(m | Number(len));
  else if (len < 65536n) {
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(len));
  } else {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(len);
  }
  const key = mask ? randomBytes(4) : Buffer.alloc(0);
  const body = Buffer.from(f.payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

const TEXT = 0x1;
const CLOSE = 0x8;
const PING = 0x9;

const closePayload = (code: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return b;
};

/** The violations, each as the frames to send after the handshake. */
const VIOLATIONS: ReadonlyArray<readonly [string, (rng: () => number) => Buffer[]]> = [
  ['rsv-bits', (rng) => [encodeFrame({ rsv: 1 + (rng() % 7), opcode: TEXT, payload: Buffer.from('{"type":"ping"}') })]],
  ['reserved-opcode', (rng) => [encodeFrame({ opcode: [3, 4, 5, 6, 7, 0xb, 0xc, 0xf][rng() % 8]!, payload: Buffer.from('x') })]],
  ['unmasked', () => [encodeFrame({ opcode: TEXT, payload: Buffer.from('{"type":"ping"}'), mask: false })]],
  ['control-too-long', (rng) => [encodeFrame({ opcode: PING, payload: Buffer.alloc(between(rng, 126, 4000), 0x61) })]],
  ['fragmented-control', () => [encodeFrame({ fin: false, opcode: PING, payload: Buffer.from('p') })]],
  ['bad-close-code', (rng) => [encodeFrame({ opcode: CLOSE, payload: closePayload([0, 999, 1004, 1005, 1006, 1015, 2000, 5000, 65535][rng() % 9]!) })]],
  ['close-one-byte', () => [encodeFrame({ opcode: CLOSE, payload: Buffer.from([3]) })]],
  ['continuation-first', () => [encodeFrame({ opcode: 0, payload: Buffer.from('{"type":"ping"}') })]],
  ['interleaved-message', () => [
    encodeFrame({ fin: false, opcode: TEXT, payload: Buffer.from('{"type":') }),
    encodeFrame({ opcode: TEXT, payload: Buffer.from('{"type":"ping"}') }),
  ]],
  ['huge-length', () => [encodeFrame({ opcode: TEXT, payload: Buffer.from('{"type":"ping"}'), claimedLength: 1n << 62n })]],
  ['truncated-frame', () => [encodeFrame({ opcode: TEXT, payload: Buffer.from('{"type":"ping"}') }).subarray(0, 5)]],
];

export const RAW_VIOLATION_KINDS = VIOLATIONS.map(([k]) => k);

/**
 * Opens a raw connection, sends one violation, and watches for `waitMs` what the server does.
 * Always destroys its socket before resolving.
 */
export function rawViolation(rng: () => number, port: number, localAddress: string, waitMs: number): Promise<RawOutcome> {
  const [kind, make] = VIOLATIONS[rng() % VIOLATIONS.length]!;
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const outcome: RawOutcome = { kind, result: 'open', closeCode: null, textFrames: [] };
    let buf: Buffer = Buffer.alloc(0);
    let upgraded = false;
    let done = false;
    const finish = (result: RawOutcome['result']): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      outcome.result = result;
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish(upgraded ? 'open' : 'refused'), waitMs);
    socket.on('error', () => finish(upgraded ? 'closed' : 'error'));
    socket.on('close', () => finish(upgraded ? 'closed' : 'refused'));
    socket.on('connect', () => {
      socket.write(
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!/^HTTP\/1\.1 101/.test(buf.subarray(0, end).toString('latin1'))) return finish('refused');
        upgraded = true;
        buf = buf.subarray(end + 4);
        for (const f of make(rng)) socket.write(f);
      }
      buf = readServerFrames(buf, outcome);
    });
  });
}

/** Consumes whole server frames (unmasked) from `buf`; returns what is left. */
function readServerFrames(buf: Buffer, out: RawOutcome): Buffer {
  for (;;) {
    if (buf.length < 2) return buf;
    const opcode = buf[0]! & 0x0f;
    let len = buf[1]! & 0x7f;
    let off = 2;
    if (len === 126) {
      if (buf.length < 4) return buf;
      len = buf.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (buf.length < 10) return buf;
      len = Number(buf.readBigUInt64BE(2));
      off = 10;
    }
    if (buf.length < off + len) return buf;
    const payload = buf.subarray(off, off + len);
    if (opcode === TEXT) out.textFrames.push(payload.toString('utf8'));
    if (opcode === CLOSE && payload.length >= 2) out.closeCode = payload.readUInt16BE(0);
    buf = buf.subarray(off + len);
  }
}
