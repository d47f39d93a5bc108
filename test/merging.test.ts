/**
 * Packet merging and conflation on a real two-shard server (--merge-ms 20,
 * --merge-max-bytes 2k, --conflate tick:*), real JSON and MessagePack clients on both shards,
 * publishes over every ingress at once. With merging on, every subscriber still gets every
 * message exactly once and in seq order, in array frames under the byte cap, and an ack
 * never overtakes its message; a conflated channel skips seqs only where a message says
 * which ones it replaces, and a slow reader ends with the latest value.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'node:net';
import { startServer, type ShardcastServer } from '../src/index.js';
import { IpcClient } from '../src/ingress/ipc-client.js';
import { TestClient, type Frame } from './helpers/client.js';
import { refusal } from './helpers/config.js';

const API_KEY = 'merging-test-key-123456';

describe('packet merging and conflation', () => {
  let server: ShardcastServer;
  let dir: string;
  let ipc: IpcClient;
  const opened: TestClient[] = [];

  /** `n` clients of one format with at least one on each shard (the kernel picks; bounded tries). */
  const spread = async (format: 'json' | 'msgpack', n: number): Promise<TestClient[]> => {
    const kept: TestClient[] = [];
    for (let tries = 0; tries < 60 && kept.length < n; tries++) {
      const c = format === 'json' ? await TestClient.connect(server.port) : await TestClient.connectMsgpack(server.port);
      opened.push(c);
      const missing = [0, 1].filter((s) => !kept.some((k) => k.welcome!.shard === s));
      if (kept.length < n - missing.length || missing.includes(c.welcome!.shard)) kept.push(c);
      else c.close();
    }
    assert.equal(kept.length, n, `${n} ${format} clients over both shards`);
    return kept;
  };

  const httpPublish = async (channel: string, data: unknown): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${server.port}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel, data }) });
    assert.equal(res.status, 200);
    return ((await res.json()) as { seq: number }).seq;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shardcast-merge-'));
    server = await startServer({ port: 0, host: '127.0.0.1', workers: 2, logLevel: 'silent', apiKey: API_KEY, ipcSocket: join(dir, 'ipc.sock'), mergeMs: 20, mergeMaxBytes: '2k', conflate: 'tick:*' });
    ipc = await IpcClient.connect(join(dir, 'ipc.sock'));
  });

  after(async () => {
    for (const c of opened) c.close();
    await ipc?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps order and exactly-once across shards and ingresses, for JSON and MessagePack clients of one merged channel', async () => {
    const channel = 'm:order';
    const subscribers = [...(await spread('json', 2)), ...(await spread('msgpack', 2))];
    const [publisher] = await spread('json', 1);
    for (const c of [...subscribers, publisher!]) assert.equal(await c.subscribe(channel), 0);
    const sent: Array<Promise<unknown>> = [];
    for (let i = 0; i < 60; i++) {
      sent.push(httpPublish(channel, `http-${i}`));
      sent.push(server.publish(channel, `api-${i}`));
      sent.push(ipc.request(JSON.stringify({ type: 'publish', channel, data: `ipc-${i}`, id: `i${i}` })));
      publisher!.send({ type: 'publish', channel, data: `ws-${i}`, id: `w${i}` });
    }
    await Promise.all(sent);
    const total = 240;
    for (const c of [...subscribers, publisher!]) {
      await c.until(() => c.messages(channel).length === total, 15_000, `${total} messages (shard ${c.welcome!.shard}, ${c.format})`);
      const got = c.messages(channel);
      assert.deepEqual(got.map((m) => m['seq']), Array.from({ length: total }, (_, i) => i + 1), 'every seq once, in order');
      assert.equal(new Set(got.map((m) => m['data'])).size, total, 'every message once');
      // each ordered ingress keeps its own order (concurrent HTTP requests race each other, as anywhere)
      for (const via of ['api', 'ipc', 'ws']) {
        const mine = got.filter((m) => String(m['data']).startsWith(`${via}-`)).map((m) => Number(String(m['data']).slice(via.length + 1)));
        assert.deepEqual(mine, Array.from({ length: 60 }, (_, i) => i), `${via} publishes in the order they were made`);
      }
      assert.ok(c.arrayFrames > 0, 'some frames were merged');
      assert.ok(c.frames.text + c.frames.binary < total + 2, 'fewer frames than messages');
      assert.equal(c.frames[c.format === 'json' ? 'binary' : 'text'], 0);
    }
    // an ack never overtakes its message: the publisher saw seq n before the ack for n
    await publisher!.until(() => publisher!.inbox.filter((m) => m.type === 'ack').length === 60, 10_000, 'acks');
    for (const ack of publisher!.inbox.filter((m) => m.type === 'ack')) {
      const at = publisher!.inbox.indexOf(ack);
      const msg = publisher!.inbox.findIndex((m) => m.type === 'message' && m['seq'] === ack['seq']);
      assert.ok(msg >= 0 && msg < at, `message ${String(ack['seq'])} before its ack`);
    }
    const t = server.stats().totals;
    assert.ok(t.framesSent < t.deliveries, `frames ${t.framesSent} < deliveries ${t.deliveries}`);
  });

  it('never makes a merged frame larger than --merge-max-bytes: a window is split, in order', async () => {
    const channel = 'm:cap';
    const clients = [...(await spread('json', 2)), ...(await spread('msgpack', 2))];
    for (const c of clients) await c.subscribe(channel);
    const pad = 'p'.repeat(300);
    await Promise.all(Array.from({ length: 80 }, (_, i) => server.publish(channel, { i, pad })));
    for (const c of clients) {
      await c.until(() => c.messages(channel).length === 80, 10_000, '80 messages');
      assert.deepEqual(c.messages(channel).map((m) => (m['data'] as { i: number }).i), Array.from({ length: 80 }, (_, i) => i));
      assert.ok(c.largestFrame <= 2048, `largest frame ${c.largestFrame} bytes`);
      assert.ok(c.arrayFrames > 0);
    }
  });

  it('conflates tick:* to the latest message of each window, marking the seqs it replaces', async () => {
    const channel = 'tick:a';
    const clients = [...(await spread('json', 1)), ...(await spread('msgpack', 1))];
    for (const c of clients) await c.subscribe(channel);
    await Promise.all(Array.from({ length: 200 }, (_, i) => server.publish(channel, { price: i })));
    for (const c of clients) {
      await c.until(() => c.messages(channel).at(-1)?.['seq'] === 200, 10_000, 'the last tick');
      const got = c.messages(channel);
      assertMarkedGaps(got);
      assert.ok(got.length < 200, `conflated: ${got.length} messages for 200 seqs`);
      assert.deepEqual(got.at(-1)!['data'], { price: 199 }, 'ends with the latest value');
      assert.ok(got.some((m) => typeof m['replaces'] === 'number'));
    }
  });

  it('gives a slow reader of a conflated channel the latest value and marked gaps, not a backlog of every seq', async () => {
    const channel = 'tick:slow';
    const [slow] = await spread('json', 1);
    await slow!.subscribe(channel);
    const socket = (slow!.ws as unknown as { _socket: Socket })._socket;
    socket.pause(); // reads nothing while 400 ticks are published over about 0.4 s
    for (let i = 0; i < 40; i++) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => server.publish(channel, { price: i * 10 + j })));
      await new Promise((r) => setTimeout(r, 10));
    }
    socket.resume();
    await slow!.until(() => slow!.messages(channel).at(-1)?.['seq'] === 400, 10_000, 'the last tick');
    const got = slow!.messages(channel);
    assertMarkedGaps(got);
    assert.deepEqual(got.at(-1)!['data'], { price: 399 });
    assert.ok(got.length < 400, `${got.length} frames for 400 seqs`);
  });

  it('refuses --conflate with --merge-ms 0, and a --merge-max-bytes above 1/8 of the ring', () => {
    assert.match(refusal({ conflate: 'tick:*', mergeMs: 0 }).message, /mergeMs/);
    assert.match(refusal({ mergeMs: 5, mergeMaxBytes: '4m', ringSize: '16m' }).message, /ringSize \/ 8/);
    assert.match(refusal({ mergeMs: 1001 }).message, /0 to 1000/);
  });
});

/** Every seq accounted for: each message follows the previous seq, or says (replaces) which ones it stands for. */
function assertMarkedGaps(got: readonly Frame[]): void {
  let last = 0;
  for (const m of got) {
    const seq = m['seq'] as number;
    const replaces = (m['replaces'] as number | undefined) ?? 0;
    assert.equal(seq - replaces, last + 1, `seq ${seq} replaces ${replaces} after ${last}: an unmarked gap`);
    last = seq;
  }
}
