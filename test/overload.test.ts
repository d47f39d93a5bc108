/**
 * Full rings: when a shard stops reading, the broadcast ring fills and the engine pushes
 * back on publishers instead of growing memory or dropping — the in-process API rejects
 * with `overloaded`, HTTP answers 503 with Retry-After, a WebSocket publisher gets an error
 * frame, the IPC socket holds the request until there is room. Nothing refused gets a seq,
 * so what was accepted reaches every client without a gap once the shard reads again.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, IpcClient, ShardcastError, startServer, type ShardcastServer } from '../src/index.js';
import { connectMany, type TestClient } from './helpers/client.js';
import { sleep, waitUntil } from './helpers/wait.js';

const STALL_MS = 3000;
const PAYLOAD = 'p'.repeat(8 * 1024);

describe('overload: a full broadcast ring pushes back', () => {
  let server: ShardcastServer;
  let clients: TestClient[] = [];
  let ipc: IpcClient;

  before(async () => {
    const ipcSocket = join(tmpdir(), `shardcast-overload-${process.pid}.sock`);
    // a stalled shard is never cut loose here: this is what a full ring does to publishers
    // (and no publish rate limit: the bursts below are meant to reach the rings)
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', testHooks: true, ringSize: '256k', maxPayload: '16k', ipcSocket, shardStallTimeout: 0, clientPublishRate: 0 });
    clients = await connectMany(server.port, 30);
    await Promise.all(clients.map((c) => c.subscribe('feed')));
    ipc = await IpcClient.connect(ipcSocket);
  });

  after(async () => {
    await ipc?.close();
    for (const c of clients) c.close();
    await server?.close();
  });

  it('refuses, answers 503, holds IPC, and then delivers everything accepted without a gap', async () => {
    const onShard1 = clients.find((c) => c.welcome!.shard === 1)!;
    assert.ok(onShard1 && clients.some((c) => c.welcome!.shard === 0));
    const before = server.stats();
    server.injectStall(0, STALL_MS);
    const stallStart = Date.now();

    // in-process: fill the ring until the engine refuses (a smaller record might still fit:
    // every publisher below uses the same size). With merging on (the default), a refusal
    // may come while a merge window is open and keeps ring room in reserve for its record;
    // once the window has closed that room takes more, so fill until a publish is refused
    // with no window open: then the ring is full for everyone.
    let accepted = 0;
    let refusal: unknown = null;
    for (let round = 0; round < 20; round++) {
      refusal = null;
      const from = accepted;
      for (let i = 0; i < 1000 && refusal === null; i++) {
        try {
          await server.publish('feed', PAYLOAD);
          accepted++;
        } catch (err) {
          refusal = err;
        }
      }
      if (accepted === from) break; // refused at once, no window open
      await sleep(server.config.mergeMs + 20);
    }
    assert.ok(refusal instanceof ShardcastError && refusal.code === ErrorCode.Overloaded, `refused with overloaded, got ${String(refusal)}`);
    assert.ok(accepted > 0 && accepted < 100, `ring held ${accepted} publications`);
    // the stalled shard shows as lagging, the healthy one does not
    const lag = server.stats().feedLag;
    assert.ok(lag[0]! > 128 * 1024 && lag[1]! < lag[0]!, `feed lag ${lag.join(', ')}`);
    assert.match(await server.metrics(), /^shardcast_shard_feed_lag_bytes\{shard="0"\} [1-9]\d*$/m);

    // a WebSocket client on the healthy shard is told, with its ack id as ref
    onShard1.send({ type: 'publish', channel: 'feed', data: PAYLOAD, id: 'w1' });
    const err = await onShard1.waitFor((m) => m.type === 'error' && m['ref'] === 'w1');
    assert.equal(err['code'], ErrorCode.Overloaded);

    // HTTP: requests landing on the healthy shard get 503 + Retry-After at once (those on
    // the stalled shard are answered when it wakes up)
    const fast: Answer[] = [];
    const pendingHttp = Array.from({ length: 12 }, () => httpPublish(server.port, { channel: 'feed', data: PAYLOAD }).then((a) => (fast.push(a), a)));
    await waitUntil(() => fast.length > 0, STALL_MS / 2, 'a fast HTTP answer');
    await sleep(100);
    assert.ok(fast.length > 0 && fast.every((a) => a.status === 503 && a.retryAfter === '1' && a.body.includes(ErrorCode.Overloaded)), JSON.stringify(fast));

    // IPC: the request is held (back-pressure), not refused, and goes through after the stall
    let ipcSeq = 0;
    const ipcDone = ipc.publish('feed', PAYLOAD).then((s) => (ipcSeq = s));
    await sleep(200);
    assert.equal(ipcSeq, 0, 'IPC publish is held while the ring is full');
    assert.ok(Date.now() - stallStart < STALL_MS, 'the stall outlasted the checks');
    await ipcDone;
    assert.ok(ipcSeq > accepted);

    // every HTTP request that landed on the stalled shard was answered too, 200 or 503
    const answers = await Promise.all(pendingHttp);
    for (const a of answers) assert.ok(a.status === 200 || a.status === 503, `HTTP ${a.status}`);
    const httpAccepted = answers.filter((a) => a.status === 200).length;

    const total = accepted + httpAccepted + 1; // + the IPC one
    await Promise.all(clients.map((c) => c.until(() => c.messages('feed').length >= total, 15_000, `${total} messages`)));
    await sleep(100);
    for (const c of clients) {
      assert.deepEqual(c.messages('feed').map((m) => m['seq']), Array.from({ length: total }, (_, k) => k + 1));
    }
    const after = server.stats().main;
    assert.ok(after.rejectedOverloaded - before.main.rejectedOverloaded >= 3, 'refusals are counted');
  });

  it('answers every acked publish even when replies queue behind a full ring', async () => {
    // regression: replies are written after a whole ingress batch; they must never find the
    // ring full (that threw on the main thread and took the process down)
    const onShard1 = clients.find((c) => c.welcome!.shard === 1)!;
    const from = onShard1.inbox.length;
    server.injectStall(0, 1500);
    await sleep(50);
    const N = 3000;
    for (let i = 0; i < N; i++) onShard1.send({ type: 'publish', channel: 'burst', data: i, id: `b${i}-${'x'.repeat(150)}` });
    const answered = (): number => onShard1.inbox.slice(from).filter((m) => (m.type === 'ack' || m.type === 'error') && String(m['id'] ?? m['ref']).startsWith('b')).length;
    await waitUntil(() => answered() === N, 15_000, `${N} answers`);
    const answers = onShard1.inbox.slice(from).filter((m) => m.type === 'ack' || m.type === 'error');
    const acks = answers.filter((m) => m.type === 'ack');
    assert.ok(acks.length > 0, 'some were accepted');
    for (const m of answers) if (m.type === 'error') assert.equal(m['code'], ErrorCode.Overloaded);
    // acked seqs are exactly 1..acks on the channel: refusals got no seq
    assert.deepEqual(acks.map((m) => m['seq']).sort((a, b) => (a as number) - (b as number)), Array.from({ length: acks.length }, (_, k) => k + 1));
    assert.equal(server.stats().liveShards, 2);
  });
});

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: string;
  ms: number;
}

/** One POST on its own connection (so the kernel may hash it to any shard). */
function httpPublish(port: number, body: unknown): Promise<Answer> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/publish', method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, body: text, ms: Date.now() - t0 }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
