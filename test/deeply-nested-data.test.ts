/**
 * Found by the adversarial run (test/adversarial.test.ts): a publish whose `data` is JSON
 * nested 30,000 deep — 60 KB, under the default 64 KiB --max-payload — parses, but
 * re-serialising it (JSON.stringify in src/protocol/messages.ts) throws RangeError (call stack), which is
 * not a ShardcastError, so it escapes the handler:
 *   - WebSocket or HTTP: the shard that parsed it faults — every client on it gets 1011, the
 *     shard restarts; sent in a loop, the shards crash-loop;
 *   - IPC: the throw is on the main thread — the whole server shuts down (exit 1).
 * These tests state the right behaviour: the publish is refused (or accepted), the
 * connection goes on, nothing fails.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ServerProcess } from '../bench/lib/server-process.js';
import { ErrorCode } from '../src/protocol/codes.js';
import { IpcClient } from '../src/ingress/ipc-client.js';
import { startServer, type ShardcastServer } from '../src/engine/engine.js';
import { TestClient } from './helpers/client.js';

const DEPTH = 30_000;
const deep = '['.repeat(DEPTH) + ']'.repeat(DEPTH);
/** A refusal code a fix may choose; `internal` is not one. */
const REFUSALS: readonly string[] = [ErrorCode.BadMessage, ErrorCode.PayloadTooLarge];

describe('a publish of data nested 30,000 deep (under --max-payload)', { timeout: 60_000 }, () => {
  let server: ShardcastServer;
  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent' });
  });
  after(async () => {
    await server?.close();
  });

  test('on a WebSocket is answered, and the shard does not fail', async () => {
    const c = await TestClient.connect(server.port);
    try {
      c.send(`{"type":"publish","channel":"deep","data":${deep},"id":"d1"}`);
      const answer = await c.waitFor((m) => m.type === 'ack' || m.type === 'error', 10_000);
      assert.ok(answer.type === 'ack' || REFUSALS.includes(answer['code'] as string), JSON.stringify(answer));
      const from = c.inbox.length;
      c.send({ type: 'ping' });
      await c.waitFor((m) => m.type === 'pong', 5000, from);
      assert.equal(server.stats().main.shardFaults, 0);
    } finally {
      c.close();
    }
  });

  test('on HTTP is answered 200 or 4xx, and the shard does not fail', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/api/publish`, { method: 'POST', body: `{"channel":"deep","data":${deep}}`, signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    assert.ok(res.status === 200 || (res.status >= 400 && res.status < 500), `HTTP ${res.status} ${body}`);
    assert.equal(server.stats().main.shardFaults, 0);
  });
});

describe('an IPC publish of data nested 30,000 deep', { timeout: 60_000 }, () => {
  const socket = join(tmpdir(), `shardcast-deep-${process.pid}-${randomUUID().slice(0, 8)}.sock`);
  let proc: ServerProcess;
  before(async () => {
    const cli = new URL('../src/cli.js', import.meta.url).pathname;
    proc = await ServerProcess.start({ name: 'shardcast', command: process.execPath, args: [cli, 'serve', '--port', '0', '--workers', '1', '--ipc-socket', socket] }, '127.0.0.1', 0, 20_000);
  });
  after(async () => {
    await proc?.stop(10_000);
    rmSync(socket, { force: true });
  });

  test('gets a reply, and the server process goes on', async () => {
    const ipc = await IpcClient.connect(socket);
    try {
      const reply = await ipc.request(`{"type":"publish","channel":"deep","data":${deep}}`);
      assert.ok(reply.type === 'ack' || REFUSALS.includes(reply.code), JSON.stringify(reply));
      assert.equal(await ipc.publish('deep', 'after'), reply.type === 'ack' ? 2 : 1);
      assert.equal(proc.running, true);
    } finally {
      await ipc.close();
    }
  });
});
