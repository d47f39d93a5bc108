/**
 * MessagePack end to end: a real two-shard server, real JSON and MessagePack clients on both
 * shards, publishes over every ingress (HTTP JSON and MessagePack bodies, IPC, the
 * in-process API, WebSocket clients of both formats). Each subscriber gets every message in
 * its own format, with the same seqs and the same data (binary by the documented rule);
 * acks and errors come in the connection's format; malformed MessagePack gets an error frame
 * (or 400) and never hurts a shard. The MessagePack codec here is the test's own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { ErrorCode, type ShardcastServer } from '../src/index.js';
import type { IpcClient } from '../src/ingress/ipc-client.js';
import { startWithIpc, type ServerWithIpc } from './helpers/ipc-server.js';
import { TestClient, spreadOverTwoShards, type Frame } from './helpers/client.js';
import { upgrade } from './helpers/upgrade.js';

const API_KEY = 'msgpack-test-key-123456';
const packr = new Packr({ useRecords: false });

describe('MessagePack connections and publishers', () => {
  let server: ShardcastServer;
  let fixture: ServerWithIpc | undefined;
  let ipc: IpcClient;
  const opened: TestClient[] = [];

  /** `n` clients of one format with at least one on each shard. */
  const spread = (format: 'json' | 'msgpack', n: number): Promise<TestClient[]> =>
    spreadOverTwoShards(() => (format === 'json' ? TestClient.connect(server.port) : TestClient.connectMsgpack(server.port)), n, opened);

  const post = async (body: string | Uint8Array, contentType: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`http://127.0.0.1:${server.port}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': contentType }, body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    fixture = await startWithIpc({ port: 0, host: '127.0.0.1', workers: 2, logLevel: 'silent', apiKey: API_KEY });
    ({ server, ipc } = fixture);
  });

  after(async () => {
    await fixture?.close(opened);
  });

  it('chooses the format at the handshake: subprotocol (echoed) or ?format=, JSON by default; unknown formats get 400 bad_format', async () => {
    const byProtocol = await TestClient.connectMsgpack(server.port);
    const byQuery = await TestClient.connectWith(server.port, { path: '/ws?format=msgpack', format: 'msgpack' });
    const json = await TestClient.connectWith(server.port, { protocols: ['shardcast.v1.json'] });
    const preferred = await TestClient.connectWith(server.port, { protocols: ['other', 'shardcast.v1.msgpack', 'shardcast.v1.json'], format: 'msgpack' });
    opened.push(byProtocol, byQuery, json, preferred);
    assert.equal(byProtocol.ws.protocol, 'shardcast.v1.msgpack');
    assert.equal(byQuery.ws.protocol, '');
    assert.equal(json.ws.protocol, 'shardcast.v1.json');
    assert.equal(preferred.ws.protocol, 'shardcast.v1.msgpack');
    for (const c of [byProtocol, byQuery, preferred]) {
      assert.deepEqual(Object.keys(c.inbox[0]!), ['type', 'id', 'shard'], 'the same welcome object');
      c.send({ type: 'ping' });
      await c.waitFor((m) => m.type === 'pong');
      assert.deepEqual(c.frames, { text: 0, binary: 2 }, 'binary frames only');
    }
    assert.deepEqual(json.frames, { text: 1, binary: 0 });
    for (const refused of [{ path: '/ws?format=xml' }, { protocols: ['shardcast.v2'] }]) {
      const headers: Record<string, string> = refused.protocols ? { 'sec-websocket-protocol': refused.protocols.join(', ') } : {};
      const a = await upgradeAt(server.port, refused.path ?? '/ws', headers);
      assert.equal(a.status, 400, JSON.stringify(refused));
      assert.equal((JSON.parse(a.body) as { error: { code: string } }).error.code, ErrorCode.BadFormat);
    }
  });

  it('delivers every ingress to both formats on one channel: same seqs, same data, binary by the documented rule', async () => {
    const channel = 'mp:all';
    const json = await spread('json', 2);
    const mp = await spread('msgpack', 2);
    for (const c of [...json, ...mp]) assert.equal(await c.subscribe(channel), 0);
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const b64 = bytes.toString('base64');

    assert.deepEqual(await post(JSON.stringify({ channel, data: { via: 'http-json', n: 1.5 } }), 'application/json'), { status: 200, body: { seq: 1 } });
    assert.deepEqual(await post(packr.pack({ channel, data: { via: 'http-msgpack', bin: bytes } }), 'application/msgpack'), { status: 200, body: { seq: 2 } });
    assert.deepEqual(await ipc.request(JSON.stringify({ type: 'publish', channel, data: ['ipc', null, true], id: 'i1' })), { type: 'ack', id: 'i1', seq: 3 });
    assert.equal(await server.publish(channel, { via: 'api' }), 4);
    assert.equal(await server.publish(channel, { via: 'api-binary', bin: bytes }), 5);
    json[0]!.send({ type: 'publish', channel, data: 'from json', id: 'j1' });
    assert.deepEqual(withoutType(await json[0]!.waitFor((m) => m.type === 'ack')), { id: 'j1', seq: 6 });
    mp[0]!.send({ type: 'publish', channel, data: { via: 'ws-msgpack', bin: bytes }, id: 'm1' });
    assert.deepEqual(withoutType(await mp[0]!.waitFor((m) => m.type === 'ack')), { id: 'm1', seq: 7 });

    const asJson = [
      { via: 'http-json', n: 1.5 },
      { via: 'http-msgpack', bin: { $binary: b64 } },
      ['ipc', null, true],
      { via: 'api' },
      { via: 'api-binary', bin: { $binary: b64 } },
      'from json',
      { via: 'ws-msgpack', bin: { $binary: b64 } },
    ];
    const asMsgpack = asJson.map((d, i) => (i === 1 || i === 4 || i === 6 ? { ...(d as object), bin: bytes } : d));
    for (const [clients, want] of [[json, asJson], [mp, asMsgpack]] as const) {
      for (const c of clients) {
        await c.until(() => c.messages(channel).length === 7, 10_000, `7 messages on shard ${c.welcome!.shard} (${c.format})`);
        const got = c.messages(channel);
        assert.deepEqual(got.map((m) => m['seq']), [1, 2, 3, 4, 5, 6, 7]);
        assert.deepEqual(got.map((m) => normalise(m['data'])), want.map(normalise));
        assert.match(String(got[0]!['epoch']), /^[0-9a-f]{8}$/);
        assert.equal(c.frames[c.format === 'json' ? 'binary' : 'text'], 0, 'only frames of its own format');
      }
    }
    assert.equal(json[0]!.messages(channel)[0]!['epoch'], mp[0]!.messages(channel)[0]!['epoch'], 'one epoch');
  });

  it('answers errors in the connection format, refuses the other frame kind, and survives malformed MessagePack', async () => {
    const [mp] = await spread('msgpack', 1);
    const [json] = await spread('json', 1);
    const errorAfter = async (c: TestClient, send: () => void): Promise<Frame> => {
      const from = c.inbox.length;
      send();
      return c.waitFor((m) => m.type === 'error', 10_000, from);
    };
    const deep = Buffer.alloc(60_000, 0x91);
    deep[deep.length - 1] = 0xc0;
    const cases: Array<[string, Buffer | string, string]> = [
      ['text frame', '{"type":"ping"}', ErrorCode.TextUnsupported],
      ['truncated', Buffer.from([0x82, 0xa4, 0x74, 0x79]), ErrorCode.BadMsgpack],
      ['reserved 0xc1', Buffer.from([0xc1]), ErrorCode.BadMsgpack],
      ['str32 length past the end', Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x41]), ErrorCode.BadMsgpack],
      ['array32 length past the end', Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), ErrorCode.BadMsgpack],
      ['unknown extension', Buffer.from([0xd4, 0x05, 0x01]), ErrorCode.BadMsgpack],
      ['trailing bytes', Buffer.concat([packr.pack({ type: 'ping' }), Buffer.from([0x01])]), ErrorCode.BadMsgpack],
      ['nested 60,000 deep', deep, ErrorCode.BadMsgpack],
      ['not a map', packr.pack(['ping']), ErrorCode.BadMessage],
      ['binary as the message', packr.pack(Buffer.from('{"type":"ping"}')), ErrorCode.BadMessage],
      ['bad channel', packr.pack({ type: 'subscribe', channel: 'no spaces' }), ErrorCode.BadChannel],
      ['unknown type', packr.pack({ type: 'nope' }), ErrorCode.UnknownType],
    ];
    for (const [name, frame, code] of cases) {
      const e = await errorAfter(mp!, () => mp!.ws.send(frame, { binary: typeof frame !== 'string' }));
      assert.equal(e['code'], code, name);
    }
    const publishErr = await errorAfter(mp!, () => mp!.send({ type: 'publish', channel: 'bad channel', data: 1, id: 'x1' }));
    assert.deepEqual([publishErr['code'], publishErr['ref']], [ErrorCode.BadChannel, 'x1']);
    assert.equal((await errorAfter(json!, () => json!.ws.send(packr.pack({ type: 'ping' }), { binary: true })))['code'], ErrorCode.BinaryUnsupported);
    assert.equal(mp!.frames.text, 0, 'every answer to the MessagePack client was binary');
    for (const c of [mp!, json!]) {
      c.send({ type: 'ping' });
      await c.waitFor((m) => m.type === 'pong');
      assert.equal(c.closed, null);
    }
    // HTTP: a malformed MessagePack body is 400 bad_msgpack; the server is unharmed
    for (const body of [Buffer.from([0x82, 0xa7]), Buffer.from([0xc1]), deep]) {
      const r = await post(body, 'application/msgpack');
      assert.deepEqual([r.status, (r.body['error'] as { code: string }).code], [400, ErrorCode.BadMsgpack]);
    }
    const notMap = await post(packr.pack([1, 2]), 'application/msgpack');
    assert.deepEqual([notMap.status, (notMap.body['error'] as { code: string }).code], [400, ErrorCode.BadMessage]);
    assert.equal(server.stats().liveShards, 2);
    assert.equal(server.stats().totals.transcodeFailures, 0);
  });

  it('encodes only the formats in use: a channel with JSON subscribers only costs no MessagePack, and the other way round', async () => {
    const [json] = await spread('json', 1);
    const [mp] = await spread('msgpack', 1);
    await json!.subscribe('mp:json-only');
    await mp!.subscribe('mp:msgpack-only');
    // interest reports travel once per turn: wait until main knows (a publish then needs no shard-side transcode)
    await settleInterest(server, ['mp:json-only', 'mp:msgpack-only']);
    const before = server.stats().totals.transcodes;
    for (let i = 0; i < 20; i++) {
      await server.publish('mp:json-only', { i });
      await server.publish('mp:msgpack-only', { i, bin: Buffer.from([i]) });
    }
    await json!.until(() => json!.messages('mp:json-only').length === 20, 10_000, 'json messages');
    await mp!.until(() => mp!.messages('mp:msgpack-only').length === 20, 10_000, 'msgpack messages');
    assert.equal(server.stats().totals.transcodes, before, 'no shard had to make a format main did not encode');
    assert.deepEqual(mp!.messages('mp:msgpack-only')[3]!['data'], { i: 3, bin: Buffer.from([3]) });
  });
});

/** Waits until every channel is listed with a subscriber (the shards' interest has reached main). */
async function settleInterest(server: ShardcastServer, channels: readonly string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const listed = new Set((await server.channels()).map((c) => c.channel));
    if (channels.every((c) => listed.has(c))) break;
    if (Date.now() > deadline) throw new Error('interest never settled');
    await new Promise((r) => setTimeout(r, 20));
  }
  // a shard posts its interest report in the turn of the subscribe, before it can read the
  // channels query sent after that; main reads one port in order: it knows already
}

function withoutType(f: Frame): Record<string, unknown> {
  const { type: _type, ...rest } = f;
  return rest;
}

/** Buffers as plain byte arrays, so JSON-decoded and MessagePack-decoded values compare. */
function normalise(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(normalise);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]));
  return v;
}

async function upgradeAt(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const a = await upgrade(port, { headers, path });
  a.socket?.destroy();
  return a;
}
