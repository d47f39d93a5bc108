/**
 * MessagePack on the IPC socket: a frame whose length prefix has its top bit set holds
 * MessagePack, and is answered in MessagePack (docs/protocol.md, "IPC socket"). A real
 * server, real WebSocket subscribers of both formats, and a raw socket that reads the reply
 * frames byte by byte (its own framing code and MessagePack codec, not the server's).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Packr, Unpackr } from 'msgpackr';
import { ErrorCode, IpcClient, startServer, type ShardcastServer } from '../src/index.js';
import { TestClient } from './helpers/client.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const MAX_PAYLOAD = 128 * 1024;

/** A frame as the docs describe it: 4-byte big-endian length, top bit set for MessagePack. */
function frame(body: string | Uint8Array): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(typeof body === 'string' ? bytes.length : (bytes.length | 0x8000_0000) >>> 0);
  return Buffer.concat([head, bytes]);
}

interface Reply {
  msgpack: boolean;
  value: Record<string, unknown>;
}

/** A raw IPC connection that collects reply frames as they come. */
class RawIpc {
  readonly replies: Reply[] = [];
  private pending = Buffer.alloc(0);
  private wake: (() => void) | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 4) {
        const prefix = this.pending.readUInt32BE(0);
        const len = prefix & 0x7fff_ffff;
        if (this.pending.length < 4 + len) break;
        const body = this.pending.subarray(4, 4 + len);
        const msgpack = prefix >= 0x8000_0000;
        this.replies.push({ msgpack, value: (msgpack ? unpackr.unpack(body) : JSON.parse(body.toString('utf8'))) as Record<string, unknown> });
        this.pending = this.pending.subarray(4 + len);
      }
      this.wake?.();
    });
  }

  static open(path: string): Promise<RawIpc> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path, () => resolve(new RawIpc(s)));
      s.once('error', reject);
    });
  }

  async waitReplies(n: number, timeoutMs = 10_000): Promise<Reply[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.replies.length} of ${n} replies within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => (clearTimeout(t), resolve());
      });
    }
    return this.replies.slice(0, n);
  }
}

describe('MessagePack on the IPC socket', () => {
  let server: ShardcastServer;
  let dir: string;
  let sock: string;
  const opened: Array<{ close(): unknown }> = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shardcast-ipc-mp-'));
    sock = join(dir, 'ipc.sock');
    server = await startServer({ port: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent', ipcSocket: sock, maxPayload: MAX_PAYLOAD });
  });

  after(async () => {
    for (const c of opened) await c.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a MessagePack publish with binary data reaches MessagePack subscribers as binary and JSON ones as {"$binary"}', async () => {
    const channel = 'ipc:bin';
    const json = await TestClient.connect(server.port);
    const mp = await TestClient.connectMsgpack(server.port);
    opened.push(json, mp);
    for (const c of [json, mp]) assert.equal(await c.subscribe(channel), 0);
    const bytes = Buffer.from([0, 1, 2, 0xc1, 250, 255]);
    const b64 = bytes.toString('base64');

    const mpClient = await IpcClient.connect(sock, { format: 'msgpack' });
    const jsonClient = await IpcClient.connect(sock);
    opened.push(mpClient, jsonClient);
    assert.equal(await mpClient.publish(channel, { via: 'msgpack', bin: bytes, n: 1.5 }, 'p1'), 1);
    assert.equal(await mpClient.publish(channel, bytes), 2);
    // a raw MessagePack request: the reply is a MessagePack map with the JSON reply's fields
    assert.deepEqual(await mpClient.request(packr.pack({ type: 'publish', channels: [channel, 'ipc:other'], data: [bytes], id: 'p3' })),
      { type: 'ack', id: 'p3', seqs: { [channel]: 3, 'ipc:other': 1 } });
    // the default (JSON) client sends data holding binary as MessagePack, not as JSON's idea of a Buffer
    assert.equal(await jsonClient.publish(channel, { via: 'json-client', bin: bytes }), 4);
    assert.equal(await jsonClient.publish(channel, { via: 'json' }), 5);

    const asMsgpack = [{ via: 'msgpack', bin: bytes, n: 1.5 }, bytes, [bytes], { via: 'json-client', bin: bytes }, { via: 'json' }];
    const asJson = [{ via: 'msgpack', bin: { $binary: b64 }, n: 1.5 }, { $binary: b64 }, [{ $binary: b64 }], { via: 'json-client', bin: { $binary: b64 } }, { via: 'json' }];
    for (const [c, want] of [[mp, asMsgpack], [json, asJson]] as const) {
      await c.until(() => c.messages(channel).length === 5, 10_000, `5 messages (${c.format})`);
      const got = c.messages(channel);
      assert.deepEqual(got.map((m) => m['seq']), [1, 2, 3, 4, 5]);
      assert.deepEqual(got.map((m) => m['data']), want, c.format);
    }
    assert.ok(Buffer.isBuffer(mp.messages(channel)[1]!['data']), 'binary stays binary for MessagePack subscribers');
    assert.equal(json.frames.binary + mp.frames.text, 0);
  });

  it('malformed frames are answered in their own format, in order, and the connection stays usable', async () => {
    const raw = await RawIpc.open(sock);
    opened.push({ close: () => raw.socket.destroy() });
    const deep = Buffer.alloc(60_000, 0x91);
    deep[deep.length - 1] = 0xc0;
    const oversized = Buffer.alloc(4 + 16);
    oversized.writeUInt32BE(((MAX_PAYLOAD + 1) | 0x8000_0000) >>> 0);
    const frames: Array<[string, Buffer, boolean, string | null, string | null]> = [
      // name, frame, reply in MessagePack, error code (null: ack), echoed id
      ['truncated', frame(packr.pack({ type: 'publish', channel: 'ipc:x', data: 1, id: 'a' }).subarray(0, 12)), true, ErrorCode.BadMsgpack, null],
      ['reserved 0xc1', frame(Buffer.from([0xc1])), true, ErrorCode.BadMsgpack, null],
      ['str32 length past the end', frame(Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x41])), true, ErrorCode.BadMsgpack, null],
      ['unknown extension', frame(Buffer.from([0xd4, 0x05, 0x01])), true, ErrorCode.BadMsgpack, null],
      ['trailing bytes', frame(Buffer.concat([packr.pack({ type: 'publish', channel: 'ipc:x', data: 1 }), Buffer.from([0x01])])), true, ErrorCode.BadMsgpack, null],
      ['nested 60,000 deep', frame(deep), true, ErrorCode.BadMsgpack, null],
      ['empty', frame(new Uint8Array(0)), true, ErrorCode.BadMsgpack, null],
      ['not a map', frame(packr.pack(['publish'])), true, ErrorCode.UnknownType, null],
      ['no data', frame(packr.pack({ type: 'publish', channel: 'ipc:x', id: 'b' })), true, ErrorCode.BadMessage, 'b'],
      ['bad channel', frame(packr.pack({ type: 'publish', channel: 'no spaces', data: 1, id: 'c' })), true, ErrorCode.BadChannel, 'c'],
      ['oversized', Buffer.concat([oversized, Buffer.alloc(MAX_PAYLOAD + 1 - 16, 0x90)]), true, ErrorCode.PayloadTooLarge, null],
      ['a JSON frame on the same connection', frame('{"type":"publish","channel":"ipc:x","data":1,"id":"d"}'), false, null, 'd'],
      ['bad JSON', frame('{"type":'), false, ErrorCode.BadJson, null],
      ['a good MessagePack frame after all that', frame(packr.pack({ type: 'publish', channel: 'ipc:x', data: { b: Buffer.from([7]) }, id: 'e' })), true, null, 'e'],
    ];
    raw.socket.write(Buffer.concat(frames.map((f) => f[1])));
    const replies = await raw.waitReplies(frames.length);
    frames.forEach(([name, , msgpack, code, id], i) => {
      const r = replies[i]!;
      assert.equal(r.msgpack, msgpack, `${name}: reply format`);
      assert.deepEqual([r.value['type'], r.value['code'], r.value['id']], code === null ? ['ack', undefined, id] : ['error', code, id], name);
    });
    assert.deepEqual([replies[11]!.value['seq'], replies[13]!.value['seq']], [1, 2]);
    assert.equal(raw.replies.length, frames.length, 'one reply per frame');
    assert.equal(server.stats().liveShards, 1);
  });
});
