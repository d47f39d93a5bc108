/**
 * Bad input on every ingress — WebSocket frames, HTTP requests, IPC frames and the
 * in-process API — against real servers and real clients. Every refusal must carry its
 * stable code (src/protocol/codes.ts), the connection must keep working after a non-fatal error, and
 * no shard may fault.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ErrorCode, CloseCode } from '../src/protocol/codes.js';
import { ShardcastError } from '../src/protocol/errors.js';
import { IpcClient, type IpcReply } from '../src/ingress/ipc-client.js';
import { encodeFrame } from '../src/ingress/ipc-framing.js';
import { startServer, type ShardcastServer } from '../src/engine/engine.js';
import { TestClient, withoutEpoch, type Frame } from './helpers/client.js';

const MAX_PAYLOAD = 1024;
const API_KEY = 'bad-input-test-key';
const tmpSocket = (tag: string): string => join(tmpdir(), `shardcast-${tag}-${process.pid}-${randomUUID().slice(0, 8)}.sock`);
const IPC_SOCKET = tmpSocket('bad');

let main: ShardcastServer;
/** maxSubscriptions 3, no client publishing, an API key. */
let restricted: ShardcastServer;
const clients: TestClient[] = [];
const ipcClients: IpcClient[] = [];
const rawSockets: RawIpc[] = [];

before(async () => {
  main = await startServer({
    port: 0,
    workers: 2,
    logLevel: 'silent',
    maxPayload: MAX_PAYLOAD,
    ipcSocket: IPC_SOCKET,
    ringSize: '1m',
    ingressRingSize: '64k',
  });
  restricted = await startServer({
    port: 0,
    workers: 1,
    logLevel: 'silent',
    host: '127.0.0.1',
    apiKey: API_KEY,
    maxSubscriptions: 3,
    clientPublish: false,
  });
});

after(async () => {
  for (const c of clients) c.close();
  for (const s of rawSockets) s.close();
  await Promise.all(ipcClients.map((c) => c.close()));
  await Promise.all([main?.close(), restricted?.close()]);
  rmSync(IPC_SOCKET, { force: true });
});

async function connect(server: ShardcastServer): Promise<TestClient> {
  const c = await TestClient.connect(server.port);
  clients.push(c);
  return c;
}

/** A frame to send: text, or bytes sent as a binary frame. */
type Payload = string | { binary: Buffer };

function sendRaw(c: TestClient, p: Payload): void {
  if (typeof p === 'string') c.ws.send(p);
  else c.ws.send(p.binary, { binary: true });
}

/** Sends one bad frame and returns the error frame it was answered with. */
async function expectError(c: TestClient, p: Payload, code: ErrorCode, ref?: string | null): Promise<Frame> {
  const from = c.inbox.length;
  sendRaw(c, p);
  const e = await c.waitFor((m) => m.type === 'error' || m.type === 'pong' || m.type === 'subscribed' || m.type === 'ack', 5000, from);
  const what = typeof p === 'string' ? JSON.stringify(p.slice(0, 80)) : `binary(${p.binary.length})`;
  assert.equal(e.type, 'error', `${what}: an error frame, got ${JSON.stringify(e)}`);
  assert.equal(e['code'], code, `${what}: code`);
  assert.equal(typeof e['message'], 'string', `${what}: message`);
  if (ref !== undefined) assert.equal(e['ref'], ref, `${what}: ref`);
  return e;
}

async function ping(c: TestClient): Promise<void> {
  const from = c.inbox.length;
  c.send({ type: 'ping' });
  await c.waitFor((m) => m.type === 'pong', 5000, from);
}

// ------------------------------------------------------------------ WebSocket

describe('WebSocket', { timeout: 60_000 }, () => {
  const longId = 'i'.repeat(201);
  const cases: Array<{ name: string; send: Payload; code: ErrorCode; ref: string | null }> = [
    // not JSON
    { name: 'truncated object', send: '{bad', code: ErrorCode.BadJson, ref: null },
    { name: 'empty frame', send: '', code: ErrorCode.BadJson, ref: null },
    { name: 'whitespace', send: '   ', code: ErrorCode.BadJson, ref: null },
    { name: 'unterminated', send: '{"type":"ping"', code: ErrorCode.BadJson, ref: null },
    { name: 'single quotes', send: "{'type':'ping'}", code: ErrorCode.BadJson, ref: null },
    { name: 'trailing garbage', send: '{"type":"ping"} x', code: ErrorCode.BadJson, ref: null },
    // JSON, but not an object with a string type
    { name: 'array', send: '[]', code: ErrorCode.BadMessage, ref: null },
    { name: 'array holding a message', send: '[{"type":"ping"}]', code: ErrorCode.BadMessage, ref: null },
    { name: 'number', send: '1', code: ErrorCode.BadMessage, ref: null },
    { name: 'string', send: '"ping"', code: ErrorCode.BadMessage, ref: null },
    { name: 'null', send: 'null', code: ErrorCode.BadMessage, ref: null },
    { name: 'true', send: 'true', code: ErrorCode.BadMessage, ref: null },
    { name: 'no type', send: '{}', code: ErrorCode.BadMessage, ref: null },
    { name: 'numeric type', send: '{"type":5}', code: ErrorCode.BadMessage, ref: null },
    { name: 'null type', send: '{"type":null}', code: ErrorCode.BadMessage, ref: null },
    { name: 'array type, with id', send: '{"type":["ping"],"id":"m1"}', code: ErrorCode.BadMessage, ref: 'm1' },
    // unknown type
    { name: 'unknown type', send: '{"type":"nope"}', code: ErrorCode.UnknownType, ref: 'nope' },
    { name: 'unknown type with id', send: '{"type":"nope","id":"u1"}', code: ErrorCode.UnknownType, ref: 'u1' },
    { name: 'type is case-sensitive', send: '{"type":"PING"}', code: ErrorCode.UnknownType, ref: 'PING' },
    { name: 'empty type', send: '{"type":""}', code: ErrorCode.UnknownType, ref: '' },
    { name: 'long unknown type', send: JSON.stringify({ type: 't'.repeat(100) }), code: ErrorCode.UnknownType, ref: 't'.repeat(64) },
    // bad channels
    ...(
      [
        ['empty', ''],
        ['201 chars', 'c'.repeat(201)],
        ['space', 'a b'],
        ['unicode', 'café'],
        ['emoji', 'room-😀'],
        ['newline', 'room\n'],
        ['quote', 'ro"om'],
        ['number', 123],
        ['null', null],
        ['boolean', true],
        ['array', ['room']],
        ['object', { name: 'room' }],
      ] as Array<[string, unknown]>
    ).map(([name, channel]) => ({ name: `subscribe, channel ${name}`, send: JSON.stringify({ type: 'subscribe', channel }), code: ErrorCode.BadChannel, ref: 'subscribe' })),
    { name: 'subscribe, no channel', send: '{"type":"subscribe"}', code: ErrorCode.BadChannel, ref: 'subscribe' },
    { name: 'unsubscribe, bad channel', send: '{"type":"unsubscribe","channel":"a b"}', code: ErrorCode.BadChannel, ref: 'unsubscribe' },
    { name: 'publish, bad channel', send: '{"type":"publish","channel":"a b","data":1}', code: ErrorCode.BadChannel, ref: 'publish' },
    { name: 'publish, bad channel, with id', send: '{"type":"publish","channel":"","data":1,"id":"p2"}', code: ErrorCode.BadChannel, ref: 'p2' },
    // bad publishes
    { name: 'publish without data', send: '{"type":"publish","channel":"room"}', code: ErrorCode.BadMessage, ref: 'publish' },
    { name: 'publish without data, with id', send: '{"type":"publish","channel":"room","id":"nd"}', code: ErrorCode.BadMessage, ref: 'nd' },
    { name: 'publish with a 201-char id', send: JSON.stringify({ type: 'publish', channel: 'room', data: 1, id: longId }), code: ErrorCode.BadMessage, ref: longId.slice(0, 200) },
    { name: 'publish with an empty id', send: '{"type":"publish","channel":"room","data":1,"id":""}', code: ErrorCode.BadMessage, ref: '' },
    { name: 'publish with a numeric id', send: '{"type":"publish","channel":"room","data":1,"id":7}', code: ErrorCode.BadMessage, ref: 'publish' },
    { name: 'publish with a null id', send: '{"type":"publish","channel":"room","data":1,"id":null}', code: ErrorCode.BadMessage, ref: 'publish' },
    // binary frames
    { name: 'binary frame', send: { binary: Buffer.from('{"type":"ping"}') }, code: ErrorCode.BinaryUnsupported, ref: null },
    { name: 'empty binary frame', send: { binary: Buffer.alloc(0) }, code: ErrorCode.BinaryUnsupported, ref: null },
  ];

  test('each malformed frame gets its error frame; the connection keeps working', async () => {
    const c = await connect(main);
    const before = main.stats().totals;
    for (const k of cases) {
      await expectError(c, k.send, k.code, k.ref);
    }
    assert.equal(c.closed, null);
    // the same connection still works: ping, subscribe, receive, publish with an ack
    await ping(c);
    const edge = 'A-z_0:9.@/'.padEnd(200, 'x');
    assert.equal(await c.subscribe(edge), 0);
    assert.equal(await c.subscribe('after-bad'), 0);
    assert.equal(await main.publish('after-bad', { ok: true }), 1);
    const m = await c.waitFor((f) => f.type === 'message' && f['channel'] === 'after-bad');
    assert.deepEqual(withoutEpoch(m), { type: 'message', channel: 'after-bad', seq: 1, data: { ok: true } });
    c.send({ type: 'publish', channel: edge, data: 'hi', id: 'ok1' });
    const ack = await c.waitFor((f) => f.type === 'ack');
    assert.deepEqual(ack, { type: 'ack', id: 'ok1', seq: 1 });
    await c.waitFor((f) => f.type === 'message' && f['channel'] === edge && f['data'] === 'hi');
    const errors = c.inbox.filter((f) => f.type === 'error').length;
    assert.equal(errors, cases.length);
    const now = main.stats().totals;
    assert.equal(now.errorFrames - before.errorFrames, cases.length, 'errorFrames grew by what was sent');
    assert.equal(now.closedTooBig, before.closedTooBig);
    assert.equal(main.stats().main.shardFaults, 0);
    c.close();
  });

  test('a frame of exactly maxPayload bytes is accepted', async () => {
    const c = await connect(main);
    const frame = '{"type":"ping"}'.padEnd(MAX_PAYLOAD, ' ');
    assert.equal(Buffer.byteLength(frame), MAX_PAYLOAD);
    const from = c.inbox.length;
    c.send(frame);
    await c.waitFor((m) => m.type === 'pong', 5000, from);
    c.close();
  });

  for (const size of [MAX_PAYLOAD + 1, 1500, 2 * MAX_PAYLOAD - 1]) {
    test(`a ${size}-byte text frame: payload_too_large, then close 1009`, async () => {
      const c = await connect(main);
      const before = main.stats().totals;
      const frame = '{"type":"ping"}'.padEnd(size, ' ');
      await expectError(c, frame, ErrorCode.PayloadTooLarge, null);
      const closed = await c.waitClosed(5000);
      assert.equal(closed.code, CloseCode.MessageTooBig);
      assert.equal(c.inbox.filter((f) => f.type === 'error').length, 1);
      const now = main.stats().totals;
      assert.equal(now.errorFrames - before.errorFrames, 1);
      assert.equal(now.closedTooBig - before.closedTooBig, 1);
    });
  }

  test('an oversized binary frame is payload_too_large (size is checked first), then 1009', async () => {
    const c = await connect(main);
    await expectError(c, { binary: Buffer.alloc(1500, 0x41) }, ErrorCode.PayloadTooLarge, null);
    assert.equal((await c.waitClosed(5000)).code, CloseCode.MessageTooBig);
  });

  test('a frame above 2 × maxPayload: uWS drops the connection (1006), no error frame', async () => {
    const c = await connect(main);
    const before = main.stats().totals;
    c.send('{"type":"ping"}'.padEnd(4 * MAX_PAYLOAD, ' '));
    assert.equal((await c.waitClosed(5000)).code, 1006);
    assert.equal(c.inbox.filter((f) => f.type === 'error').length, 0);
    assert.equal(main.stats().totals.closedTooBig, before.closedTooBig);
  });

  test('too many subscriptions → too_many_subscriptions; re-subscribing is idempotent', async () => {
    const c = await connect(restricted);
    const before = restricted.stats().totals.errorFrames;
    for (const ch of ['s1', 's2', 's3']) assert.equal(await c.subscribe(ch), 0);
    await expectError(c, '{"type":"subscribe","channel":"s4"}', ErrorCode.TooManySubscriptions, 'subscribe');
    assert.equal(await c.subscribe('s1'), 0, 'an existing subscription is not a new one');
    c.send({ type: 'unsubscribe', channel: 's2' });
    await c.waitFor((f) => f.type === 'unsubscribed' && f['channel'] === 's2');
    assert.equal(await c.subscribe('s4'), 0, 'room again after an unsubscribe');
    await expectError(c, '{"type":"subscribe","channel":"s5"}', ErrorCode.TooManySubscriptions, 'subscribe');
    await restricted.publish('s4', 'four');
    await c.waitFor((f) => f.type === 'message' && f['channel'] === 's4' && f['data'] === 'four');
    assert.equal(restricted.stats().totals.errorFrames - before, 2);
    c.close();
  });

  test('clientPublish: false → publish_forbidden, and nothing is published', async () => {
    const c = await connect(restricted);
    const before = restricted.stats();
    assert.equal(await c.subscribe('nopub'), 0);
    await expectError(c, '{"type":"publish","channel":"nopub","data":1,"id":"f1"}', ErrorCode.PublishForbidden, 'f1');
    await expectError(c, '{"type":"publish","channel":"nopub","data":2}', ErrorCode.PublishForbidden, 'publish');
    // validation still comes first
    await expectError(c, '{"type":"publish","channel":"no pub","data":2}', ErrorCode.BadChannel, 'publish');
    assert.equal(await restricted.publish('nopub', 'server'), 1, 'the refused publishes took no seq');
    const m = await c.waitFor((f) => f.type === 'message');
    assert.deepEqual(withoutEpoch(m), { type: 'message', channel: 'nopub', seq: 1, data: 'server' });
    const now = restricted.stats();
    assert.equal(now.totals.errorFrames - before.totals.errorFrames, 3);
    assert.equal(now.totals.clientPublishes, before.totals.clientPublishes);
    c.close();
  });
});

// ------------------------------------------------------------------ HTTP

interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function http(server: ShardcastServer, path: string, init: RequestInit = {}): Promise<HttpResult> {
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (metrics)
  }
  return { status: res.status, headers: res.headers, text, json };
}

function assertHttpError(r: HttpResult, status: number, code: ErrorCode, what: string): void {
  assert.equal(r.status, status, `${what}: status (body ${r.text})`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, `${what}: content-type`);
  const body = r.json as { error: { code: string; message: string } };
  assert.equal(body?.error?.code, code, `${what}: code (body ${r.text})`);
  assert.equal(typeof body.error.message, 'string', `${what}: message`);
  assert.deepEqual(Object.keys(body), ['error']);
}

const post = (body: NonNullable<RequestInit['body']>, headers: Record<string, string> = {}): RequestInit => ({ method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

describe('HTTP', { timeout: 60_000 }, () => {
  test('POST /api/publish refuses bad bodies with 400 and a stable code', async () => {
    const channels101 = Array.from({ length: 101 }, (_, i) => `c${i}`);
    const cases: Array<[string, string, ErrorCode]> = [
      ['not JSON', '{bad', ErrorCode.BadJson],
      ['empty body', '', ErrorCode.BadJson],
      ['array', '[{"channel":"a","data":1}]', ErrorCode.BadMessage],
      ['string', '"hello"', ErrorCode.BadMessage],
      ['null', 'null', ErrorCode.BadMessage],
      ['no data', '{"channel":"a"}', ErrorCode.BadMessage],
      ['no channel', '{"data":1}', ErrorCode.BadChannel],
      ['bad channel', '{"channel":"a b","data":1}', ErrorCode.BadChannel],
      ['empty channel', '{"channel":"","data":1}', ErrorCode.BadChannel],
      ['201-char channel', JSON.stringify({ channel: 'c'.repeat(201), data: 1 }), ErrorCode.BadChannel],
      ['unicode channel', '{"channel":"café","data":1}', ErrorCode.BadChannel],
      ['numeric channel', '{"channel":5,"data":1}', ErrorCode.BadChannel],
      ['both channel and channels', '{"channel":"a","channels":["b"],"data":1}', ErrorCode.BadMessage],
      ['duplicate channels', '{"channels":["a","b","a"],"data":1}', ErrorCode.BadMessage],
      ['empty channels', '{"channels":[],"data":1}', ErrorCode.BadMessage],
      ['channels not an array', '{"channels":"a","data":1}', ErrorCode.BadMessage],
      ['101 channels', JSON.stringify({ channels: channels101, data: 1 }), ErrorCode.BadMessage],
      ['a bad name among channels', '{"channels":["ok","not ok"],"data":1}', ErrorCode.BadChannel],
    ];
    for (const [what, body, code] of cases) {
      assertHttpError(await http(main, '/api/publish', post(body)), 400, code, what);
    }
    // and the API still works, with the documented answer shapes
    const one = await http(main, '/api/publish', post('{"channel":"http-ok","data":{"a":1}}'));
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(one.json, { seq: 1 });
    const many = await http(main, '/api/publish', post('{"channels":["http-ok","http-ok2"],"data":null}'));
    assert.equal(many.status, 200, many.text);
    assert.deepEqual(many.json, { seqs: { 'http-ok': 2, 'http-ok2': 1 } });
  });

  test('a body above maxPayload → 413 payload_too_large (content-length and chunked)', async () => {
    const big = JSON.stringify({ channel: 'big', data: 'x'.repeat(MAX_PAYLOAD) });
    assertHttpError(await http(main, '/api/publish', post(big)), 413, ErrorCode.PayloadTooLarge, 'content-length');
    const chunks = Array.from({ length: 4 }, (_, i) => Buffer.from(i === 0 ? '{"channel":"big","data":"' : 'x'.repeat(400)));
    const stream = new ReadableStream<Uint8Array>({
      start(ctrl) {
        for (const c of chunks) ctrl.enqueue(c);
        ctrl.close();
      },
    });
    const chunked = await http(main, '/api/publish', { ...post(stream), duplex: 'half' } as RequestInit);
    assertHttpError(chunked, 413, ErrorCode.PayloadTooLarge, 'chunked');
    // a body of exactly maxPayload bytes is fine, chunked too
    const head = '{"channel":"edge","data":"';
    const exact = head + 'y'.repeat(MAX_PAYLOAD - head.length - 2) + '"}';
    assert.equal(Buffer.byteLength(exact), MAX_PAYLOAD);
    const ok = await http(main, '/api/publish', post(exact));
    assert.equal(ok.status, 200, ok.text);
    const okStream = new ReadableStream<Uint8Array>({
      start(ctrl) {
        ctrl.enqueue(Buffer.from(exact.slice(0, 500)));
        ctrl.enqueue(Buffer.from(exact.slice(500)));
        ctrl.close();
      },
    });
    const okChunked = await http(main, '/api/publish', { ...post(okStream), duplex: 'half' } as RequestInit);
    assert.equal(okChunked.status, 200, okChunked.text);
    assert.deepEqual(okChunked.json, { seq: 2 });
  });

  test('wrong method → 405, unknown path → 404', async () => {
    for (const [method, path] of [
      ['GET', '/api/publish'],
      ['PUT', '/api/publish'],
      ['DELETE', '/api/channels'],
      ['POST', '/api/stats'],
      ['POST', '/healthz'],
      ['POST', '/metrics'],
    ] as const) {
      const r = await http(main, path, { method });
      assertHttpError(r, 405, ErrorCode.MethodNotAllowed, `${method} ${path}`);
      assert.equal(r.headers.get('allow'), path === '/api/publish' ? 'POST' : 'GET', `Allow on ${path}`);
    }
    for (const [method, path] of [
      ['GET', '/nope'],
      ['GET', '/'],
      ['GET', '/api'],
      ['POST', '/api/publish/extra'],
      ['GET', '/ws'], // no upgrade header
    ] as const) {
      assertHttpError(await http(main, path, { method }), 404, ErrorCode.NotFound, `${method} ${path}`);
    }
  });

  test('GET /healthz → 200 {"ok":true}', async () => {
    const r = await http(main, '/healthz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { ok: true });
  });

  test('GET /api/channels: {"channels":[{channel,subscribers}]}, sorted, summed over shards', async () => {
    const cs = await Promise.all([connect(main), connect(main), connect(main)]);
    await cs[0]!.subscribe('shape-a');
    await cs[1]!.subscribe('shape-a');
    await cs[2]!.subscribe('shape-b');
    const r = await http(main, '/api/channels');
    assert.equal(r.status, 200);
    const body = r.json as { channels: Array<{ channel: string; subscribers: number }> };
    assert.deepEqual(Object.keys(body), ['channels']);
    for (const e of body.channels) {
      assert.deepEqual(Object.keys(e).sort(), ['channel', 'subscribers']);
      assert.equal(typeof e.channel, 'string');
      assert.ok(Number.isInteger(e.subscribers) && e.subscribers > 0);
    }
    const names = body.channels.map((e) => e.channel);
    assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b)));
    assert.deepEqual(body.channels.find((e) => e.channel === 'shape-a'), { channel: 'shape-a', subscribers: 2 });
    assert.deepEqual(body.channels.find((e) => e.channel === 'shape-b'), { channel: 'shape-b', subscribers: 1 });
    assert.deepEqual(await main.channels(), body.channels);
    for (const c of cs) c.close();
  });

  test('GET /api/stats: the stats() shape', async () => {
    const r = await http(main, '/api/stats');
    assert.equal(r.status, 200);
    const s = r.json as ReturnType<ShardcastServer['stats']>;
    assert.deepEqual(Object.keys(s).sort(), ['connections', 'feedLag', 'liveShards', 'main', 'shards', 'totals']);
    assert.equal(s.liveShards, 2);
    assert.equal(s.feedLag.length, 2);
    assert.equal(s.shards.length, 2);
    assert.deepEqual(s.shards.map((x) => x.shard), [0, 1]);
    const local = main.stats();
    assert.deepEqual(Object.keys(s.totals).sort(), Object.keys(local.totals).sort());
    assert.deepEqual(Object.keys(s.main).sort(), Object.keys(local.main).sort());
    for (const k of ['errorFrames', 'connectionsOpen', 'httpPublishes', 'deliveries'] as const) assert.equal(typeof s.totals[k], 'number', k);
    for (const k of ['published', 'shardFaults', 'ipcPublishes'] as const) assert.equal(typeof s.main[k], 'number', k);
    for (const row of s.shards) assert.deepEqual(Object.keys(row).sort(), ['shard', ...Object.keys(local.totals)].sort());
    assert.ok(s.totals.httpPublishes >= 3, 'counts the HTTP publishes made above');
  });

  test('GET /metrics: Prometheus text with shardcast_connections_open', async () => {
    const r = await http(main, '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(r.text, /^# TYPE shardcast_connections_open gauge$/m);
    assert.match(r.text, /^shardcast_connections_open \d+$/m);
    assert.match(r.text, /^shardcast_shard_error_frames_total\{shard="0"\} \d+$/m);
    assert.match(r.text, /^shardcast_published_total \d+$/m);
    assert.equal(r.text, r.text.replace(/\r/g, ''), 'plain \\n lines');
  });

  describe('with an API key', () => {
    const auth = { authorization: `Bearer ${API_KEY}` };

    test('missing or wrong key → 401 {"error":{"code":"unauthorized"}}', async () => {
      const body = '{"channel":"k","data":1}';
      for (const [what, headers] of [
        ['no key', {}],
        ['wrong key', { authorization: 'Bearer wrong-key-123456' }],
        ['key with a suffix', { authorization: `Bearer ${API_KEY}x` }],
        ['key without Bearer', { authorization: API_KEY }],
        ['basic auth', { authorization: `Basic ${Buffer.from(`u:${API_KEY}`).toString('base64')}` }],
      ] as Array<[string, Record<string, string>]>) {
        assertHttpError(await http(restricted, '/api/publish', post(body, headers)), 401, ErrorCode.Unauthorized, what);
      }
      // authorisation is checked before the body is looked at
      assertHttpError(await http(restricted, '/api/publish', post('{bad')), 401, ErrorCode.Unauthorized, 'bad body, no key');
      assertHttpError(await http(restricted, '/api/publish', post('x'.repeat(5000))), 401, ErrorCode.Unauthorized, 'big body, no key');
      for (const path of ['/api/channels', '/api/stats']) {
        assertHttpError(await http(restricted, path), 401, ErrorCode.Unauthorized, path);
        assert.equal((await http(restricted, path, { headers: auth })).status, 200, `${path} with the key`);
      }
      const ok = await http(restricted, '/api/publish', post(body, auth));
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.json, { seq: 1 });
      // the auth scheme is case-insensitive (RFC 9110)
      const lower = await http(restricted, '/api/publish', post(body, { authorization: `bearer ${API_KEY}` }));
      assert.equal(lower.status, 200, lower.text);
      assert.deepEqual(lower.json, { seq: 2 });
      assertHttpError(await http(restricted, '/api/publish', post('{bad', auth)), 400, ErrorCode.BadJson, 'bad body with the key');
    });

    test('/healthz and /metrics need no key', async () => {
      assert.equal((await http(restricted, '/healthz')).status, 200);
      const m = await http(restricted, '/metrics');
      assert.equal(m.status, 200);
      assert.match(m.text, /shardcast_connections_open/);
    });
  });
});

// ------------------------------------------------------------------ IPC

/** A raw IPC connection: writes any bytes, decodes reply frames. */
class RawIpc {
  readonly frames: Array<Record<string, unknown>> = [];
  private buf = Buffer.alloc(0);
  private wake: (() => void) | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32BE(0)) {
        const n = this.buf.readUInt32BE(0);
        this.frames.push(JSON.parse(this.buf.toString('utf8', 4, 4 + n)) as Record<string, unknown>);
        this.buf = this.buf.subarray(4 + n);
      }
      this.wake?.();
    });
    socket.on('error', () => {});
  }

  static connect(path: string): Promise<RawIpc> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => {
        const raw = new RawIpc(s);
        rawSockets.push(raw);
        resolve(raw);
      });
      s.once('error', reject);
    });
  }

  write(b: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(b, (err) => (err ? reject(err) : resolve())));
  }

  async waitFrames(n: number, timeoutMs = 5000): Promise<Array<Record<string, unknown>>> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} IPC replies, got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.frames;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A frame header announcing `length` bytes. */
function header(length: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(length);
  return h;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function ipc(): Promise<IpcClient> {
  const c = await IpcClient.connect(IPC_SOCKET);
  ipcClients.push(c);
  return c;
}

function assertIpcError(r: IpcReply, code: ErrorCode, id: string | null, what: string): void {
  assert.equal(r.type, 'error', `${what}: ${JSON.stringify(r)}`);
  if (r.type !== 'error') return;
  assert.equal(r.code, code, `${what}: code`);
  assert.equal(r.id, id, `${what}: id`);
  assert.equal(typeof r.message, 'string');
}

describe('IPC', { timeout: 60_000 }, () => {
  test('the socket is mode 0600', () => {
    assert.ok(statSync(IPC_SOCKET).isSocket());
    assert.equal(statSync(IPC_SOCKET).mode & 0o777, 0o600);
  });

  test('bad requests get error replies with stable codes; the connection keeps working', async () => {
    const c = await ipc();
    const longId = 'q'.repeat(250);
    const cases: Array<[string, string, ErrorCode, string | null]> = [
      ['not JSON', '{bad', ErrorCode.BadJson, null],
      ['empty frame', '', ErrorCode.BadJson, null],
      ['unknown type', '{"type":"nope","id":"i1"}', ErrorCode.UnknownType, 'i1'],
      ['subscribe is not an IPC request', '{"type":"subscribe","channel":"a","id":"i2"}', ErrorCode.UnknownType, 'i2'],
      ['bad channel', '{"type":"publish","channel":"a b","data":1,"id":"i3"}', ErrorCode.BadChannel, 'i3'],
      ['201-char channel', JSON.stringify({ type: 'publish', channel: 'c'.repeat(201), data: 1 }), ErrorCode.BadChannel, null],
      ['no channel', '{"type":"publish","data":1,"id":"i4"}', ErrorCode.BadChannel, 'i4'],
      ['no data', '{"type":"publish","channel":"a","id":"i5"}', ErrorCode.BadMessage, 'i5'],
      ['id too long', JSON.stringify({ type: 'publish', channel: 'a', data: 1, id: longId }), ErrorCode.BadMessage, longId.slice(0, 200)],
      ['numeric id', '{"type":"publish","channel":"a","data":1,"id":5}', ErrorCode.BadMessage, null],
      ['duplicate channels', '{"type":"publish","channels":["a","a"],"data":1,"id":"i6"}', ErrorCode.BadMessage, 'i6'],
      ['empty channels', '{"type":"publish","channels":[],"data":1,"id":"i7"}', ErrorCode.BadMessage, 'i7'],
      ['101 channels', JSON.stringify({ type: 'publish', channels: Array.from({ length: 101 }, (_, i) => `c${i}`), data: 1, id: 'i8' }), ErrorCode.BadMessage, 'i8'],
      ['a bad name among channels', '{"type":"publish","channels":["ok","not ok"],"data":1,"id":"i9"}', ErrorCode.BadChannel, 'i9'],
    ];
    for (const [what, json, code, id] of cases) {
      assertIpcError(await c.request(json), code, id, what);
    }
    assert.deepEqual(await c.request('{"type":"publish","channel":"ipc-ok","data":[1],"id":"good"}'), { type: 'ack', id: 'good', seq: 1 });
    assert.deepEqual(await c.request('{"type":"publish","channel":"ipc-ok","data":2}'), { type: 'ack', id: null, seq: 2 });
    assert.deepEqual(await c.request('{"type":"publish","channels":["ipc-ok","ipc-ok2"],"data":3,"id":"m"}'), {
      type: 'ack',
      id: 'm',
      seqs: { 'ipc-ok': 3, 'ipc-ok2': 1 },
    });
  });

  test('JSON that is not an object, or has no string type, is unknown_type (as docs/protocol.md says for IPC)', async () => {
    // NB: on WebSocket the same frames are bad_message, which is what src/protocol/codes.ts describes
    const c = await ipc();
    for (const json of ['5', '[]', 'null', '"publish"', '{}', '{"type":5}']) {
      assertIpcError(await c.request(json), ErrorCode.UnknownType, null, json);
    }
    assert.deepEqual(await c.request('{"type":"publish","channel":"ipc-after-types","data":0}'), { type: 'ack', id: null, seq: 1 });
  });

  test('an oversized frame → payload_too_large; the next frame on the same connection works', async () => {
    const raw = await RawIpc.connect(IPC_SOCKET);
    const big = Buffer.alloc(5000, 0x20);
    await raw.write(Buffer.concat([header(big.length), big, encodeFrame('{"type":"publish","channel":"ipc-big","data":1,"id":"after"}')]));
    const [e, ack] = await raw.waitFrames(2);
    assert.equal(e!['type'], 'error');
    assert.equal(e!['code'], ErrorCode.PayloadTooLarge);
    assert.equal(e!['id'], null);
    assert.deepEqual(ack, { type: 'ack', id: 'after', seq: 1 });
  });

  test('an oversized frame arriving in pieces is skipped across reads', async () => {
    const raw = await RawIpc.connect(IPC_SOCKET);
    const len = 3 * MAX_PAYLOAD;
    await raw.write(header(len).subarray(0, 2));
    await pause(20);
    await raw.write(header(len).subarray(2));
    await pause(20);
    await raw.write(Buffer.alloc(MAX_PAYLOAD, 0x7b));
    await raw.write(Buffer.concat([Buffer.alloc(MAX_PAYLOAD, 0x7b)]));
    await pause(20);
    const next = encodeFrame('{"type":"publish","channel":"ipc-pieces","data":"x","id":"p"}');
    await raw.write(Buffer.concat([Buffer.alloc(MAX_PAYLOAD, 0x7b), next.subarray(0, 3)]));
    await pause(20);
    await raw.write(next.subarray(3));
    const frames = await raw.waitFrames(2);
    assert.equal(frames[0]!['code'], ErrorCode.PayloadTooLarge);
    assert.deepEqual(frames[1], { type: 'ack', id: 'p', seq: 1 });
  });

  test('a frame of exactly maxPayload bytes is accepted; a zero-length frame is bad_json', async () => {
    const raw = await RawIpc.connect(IPC_SOCKET);
    const exact = '{"type":"publish","channel":"ipc-edge","data":1,"id":"e"}'.padEnd(MAX_PAYLOAD, ' ');
    await raw.write(encodeFrame(exact));
    await raw.waitFrames(1);
    await raw.write(header(0));
    const frames = await raw.waitFrames(2);
    assert.deepEqual(frames[0], { type: 'ack', id: 'e', seq: 1 });
    assert.equal(frames[1]!['code'], ErrorCode.BadJson);
  });

  test('a frame delivered one byte at a time', async () => {
    const raw = await RawIpc.connect(IPC_SOCKET);
    const f = encodeFrame('{"type":"publish","channel":"ipc-bytes","data":"slow","id":"b"}');
    for (let i = 0; i < f.length; i++) {
      await raw.write(f.subarray(i, i + 1));
      if (i % 16 === 0) await pause(1);
    }
    assert.deepEqual(await raw.waitFrames(1), [{ type: 'ack', id: 'b', seq: 1 }]);
  });

  test('pipelined publishes: one reply each, in request order, with their ids', async () => {
    const c = await ipc();
    const n = 50;
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => c.request(JSON.stringify({ type: 'publish', channel: 'ipc-order', data: i, id: `r${i}` }))));
    assert.deepEqual(replies, Array.from({ length: n }, (_, i) => ({ type: 'ack', id: `r${i}`, seq: i + 1 })));
  });

  test(
    'pipelined good and bad requests through IpcClient: each request gets its own reply',
    async () => {
      const c = await ipc();
      const replies = await Promise.all([
        c.request('{"type":"publish","channel":"ipc-mixed","data":1,"id":"a"}'),
        c.request('{bad'),
        c.request('{"type":"publish","channel":"ipc-mixed","data":2,"id":"b"}'),
        c.request('{"type":"nope","id":"c"}'),
        c.request('{"type":"publish","channel":"ipc-mixed","data":3,"id":"d"}'),
      ]);
      assert.deepEqual(
        replies.map((r) => [r.type, r.id, r.type === 'error' ? r.code : r.seq]),
        [
          ['ack', 'a', 1],
          ['error', null, ErrorCode.BadJson],
          ['ack', 'b', 2],
          ['error', 'c', ErrorCode.UnknownType],
          ['ack', 'd', 3],
        ],
      );
    },
  );
});

// ------------------------------------------------------------------ in-process API

describe('in-process API', { timeout: 30_000 }, () => {
  async function rejectsWith(p: Promise<unknown>, code: ErrorCode, what: string): Promise<void> {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof ShardcastError, `${what}: a ShardcastError, got ${String(err)}`);
      assert.equal(err.code, code, `${what}: code`);
      return true;
    });
  }

  test('publish and publishMany refuse bad input with stable codes, taking no seq', async () => {
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    for (const channel of ['', 'a b', 'c'.repeat(201), 'café', 5 as unknown as string, null as unknown as string]) {
      await rejectsWith(main.publish(channel, 1), ErrorCode.BadChannel, `channel ${JSON.stringify(channel)}`);
    }
    await rejectsWith(main.publish('api', undefined), ErrorCode.BadMessage, 'undefined');
    await rejectsWith(main.publish('api', () => 1), ErrorCode.BadMessage, 'a function');
    await rejectsWith(main.publish('api', Symbol('s')), ErrorCode.BadMessage, 'a symbol');
    await rejectsWith(main.publish('api', { n: 1n }), ErrorCode.BadMessage, 'a BigInt');
    await rejectsWith(main.publish('api', 10n), ErrorCode.BadMessage, 'a bare BigInt');
    await rejectsWith(main.publish('api', circular), ErrorCode.BadMessage, 'a circular object');
    await rejectsWith(main.publish('api', 'x'.repeat(MAX_PAYLOAD)), ErrorCode.PayloadTooLarge, 'too large');
    await rejectsWith(main.publish('api', { s: 'é'.repeat(MAX_PAYLOAD / 2) }), ErrorCode.PayloadTooLarge, 'too large in bytes, not characters');
    await rejectsWith(main.publishMany(['api', 'api2', 'api'], 1), ErrorCode.BadMessage, 'duplicates');
    await rejectsWith(main.publishMany([], 1), ErrorCode.BadMessage, 'no channels');
    await rejectsWith(main.publishMany(Array.from({ length: 101 }, (_, i) => `c${i}`), 1), ErrorCode.BadMessage, '101 channels');
    await rejectsWith(main.publishMany('api' as unknown as string[], 1), ErrorCode.BadMessage, 'a string for channels');
    await rejectsWith(main.publishMany(['api', 'b c'], 1), ErrorCode.BadChannel, 'a bad name among channels');
    // none of it took a seq; data of exactly maxPayload bytes is fine
    assert.equal(await main.publish('api', 'x'.repeat(MAX_PAYLOAD - 2)), 1);
    assert.deepEqual(await main.publishMany(['api', 'api2'], null), [2, 1]);
  });
});

// ------------------------------------------------------------------ what must not happen

describe('no shard faulted', () => {
  test('after all of the above, every shard is alive and none faulted', () => {
    for (const s of [main, restricted]) {
      const st = s.stats();
      assert.equal(st.main.shardFaults, 0);
      assert.equal(st.main.shardRestarts, 0);
      assert.equal(st.liveShards, s.config.workers);
    }
  });
});

// ------------------------------------------------------------------ known bugs

/** A client frame of 5 bytes per element ("1E20,") becomes 22 bytes once re-serialised. */
function expandingPublish(frameBytes: number, id: string): string {
  const head = `{"type":"publish","channel":"x","id":"${id}","data":[`;
  const n = Math.floor((frameBytes - head.length - 2) / 5);
  return `${head}${Array(n).fill('1E20').join(',')}]}`;
}

describe('data that grows when re-serialised', { timeout: 60_000 }, () => {
  test(
    'a client frame under maxPayload whose data re-serialises larger than the ingress ring allows is refused, not a shard fault',
    async () => {
      const server = await startServer({ port: 0, workers: 1, logLevel: 'silent', maxPayload: '16k', ringSize: '256k', ingressRingSize: '128k' });
      const local: TestClient[] = [];
      try {
        const a = await TestClient.connect(server.port);
        local.push(a);
        const b = await TestClient.connect(server.port);
        local.push(b);
        const frame = expandingPublish(16 * 1024, 'grow');
        assert.ok(Buffer.byteLength(frame) <= 16 * 1024);
        a.send(frame);
        const answer = await a.waitFor((m) => m.type === 'ack' || m.type === 'error', 5000).catch((err: Error) => err);
        assert.equal(a.closed, null, `the publisher's connection stays open (closed: ${JSON.stringify(a.closed)})`);
        assert.equal(b.closed, null, 'bystanders on the same shard stay connected');
        assert.ok(!(answer instanceof Error), `an ack or an error frame, got ${answer instanceof Error ? String(answer) : 'a frame'}`);
        assert.equal(server.stats().main.shardFaults, 0);
      } finally {
        for (const c of local) c.close();
        await server.close();
      }
    },
  );

  test(
    'the same over HTTP: a body under maxPayload that re-serialises larger is answered, not a shard fault',
    async () => {
      const server = await startServer({ port: 0, workers: 1, logLevel: 'silent', maxPayload: '16k', ringSize: '256k', ingressRingSize: '128k' });
      try {
        const body = expandingPublish(16 * 1024, 'grow').replace('"type":"publish",', '');
        assert.ok(Buffer.byteLength(body) <= 16 * 1024);
        const answer = await http(server, '/api/publish', post(body)).catch((err: Error) => err);
        assert.ok(!(answer instanceof Error), `an HTTP answer, got ${answer instanceof Error ? `${String(answer)} ${String(answer.cause)}` : 'a response'}`);
        assert.equal(server.stats().main.shardFaults, 0);
      } finally {
        await server.close();
      }
    },
  );

  test(
    'an IPC publish whose data re-serialises larger than the broadcast ring allows gets a reply, and close() leaves nothing running',
    async () => {
      // in a child process, so that the endless retry timer cannot outlive this test file
      const sock = tmpSocket('grow');
      const index = new URL('../src/index.js', import.meta.url).href;
      // CommonJS -e with a dynamic import: shard workers inherit execArgv, and a worker
      // started under --input-type=module fails with ERR_INPUT_TYPE_NOT_ALLOWED
      const script = `(async () => {
        const { startServer, IpcClient } = await import(${JSON.stringify(index)});
        const s = await startServer({ port: 0, workers: 1, logLevel: 'silent', maxPayload: '60k', ringSize: '256k', ingressRingSize: '256k', ipcSocket: ${JSON.stringify(sock)} });
        const c = await IpcClient.connect(${JSON.stringify(sock)});
        const frame = ${JSON.stringify(expandingPublish(60 * 1024, 'grow'))};
        let t;
        const reply = await Promise.race([c.request(frame), new Promise((r) => (t = setTimeout(() => r(null), 3000)))]);
        clearTimeout(t); // a pending timer would hold the process as long as a leak would
        process.stdout.write(JSON.stringify({ reply }) + '\\n');
        let u;
        await Promise.race([c.close(), new Promise((r) => (u = setTimeout(r, 1000)))]);
        clearTimeout(u);
        await s.close();
        process.stdout.write('closed\\n');
      })().catch((err) => { process.stderr.write(String(err.stack)); process.exit(9); });`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let closedAt = 0;
      let killer: NodeJS.Timeout | undefined;
      const hardStop = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (closedAt === 0 && out.includes('closed\n')) {
          closedAt = Date.now();
          killer = setTimeout(() => child.kill('SIGKILL'), 3000); // a clean process exits well before this
        }
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      try {
        const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
        assert.ok(closedAt > 0, `the child got as far as close(): stdout ${out} stderr ${err}`);
        const { reply } = JSON.parse(out.split('\n')[0]!) as { reply: IpcReply | null };
        assert.deepEqual(
          { replyWithin3s: reply !== null, exitedByItselfAfterClose: signal === null && code === 0 },
          { replyWithin3s: true, exitedByItselfAfterClose: true },
          `reply ${JSON.stringify(reply)}; exit code ${code} signal ${signal}`,
        );
      } finally {
        clearTimeout(hardStop);
        clearTimeout(killer);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        rmSync(sock, { force: true });
      }
    },
  );
});
