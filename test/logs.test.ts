/**
 * Structured logs of a real server: every stdout line is one JSON object (time, level, msg,
 * event); one line per lifecycle event — start, shard up/fault/down/restart/stall, broker
 * down/up, shutdown — and none per message; --log-level filters; --log-format pretty prints
 * one readable line per event.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { connectMany } from './helpers/client.js';
import { LogProcess } from './helpers/log-process.js';
import { RedisServer } from './helpers/redis.js';

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

function checkShape(lines: Array<Record<string, unknown>>): void {
  for (const l of lines) {
    assert.ok(LEVELS.has(l['level'] as string), `level: ${JSON.stringify(l)}`);
    assert.match(l['time'] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(typeof l['msg'], 'string');
    assert.equal(typeof l['event'], 'string', `every line names its event: ${JSON.stringify(l)}`);
  }
}

describe('JSON logs of the CLI', () => {
  const procs: LogProcess[] = [];
  after(() => procs.forEach((p) => p.kill()));

  it('logs start, shards up, shutdown and stop as JSON lines, and nothing per message', async () => {
    const p = LogProcess.cli(['--port', '0', '--workers', '2']);
    procs.push(p);
    const start = await p.waitEvent('start');
    assert.equal(start['shards'], 2);
    assert.equal(p.events('shard_up').length, 2);
    const port = start['port'] as number;
    const clients = await connectMany(port, 20);
    await Promise.all(clients.map((c) => c.subscribe('news')));
    const before = p.lines.length;
    for (let i = 0; i < 300; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/api/publish`, { method: 'POST', body: JSON.stringify({ channel: 'news', data: i }) });
      assert.equal(res.status, 200);
    }
    for (const c of clients) await c.until(() => c.messages('news').length === 300, 10_000, '300 messages');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(p.lines.length, before, `no log line per message: ${p.out}`);
    p.child.kill('SIGTERM');
    assert.deepEqual(await p.exited, { code: 0, signal: null });
    checkShape(p.lines);
    const events = p.lines.map((l) => l['event']);
    assert.deepEqual(events.filter((e) => e !== 'shard_up' && e !== 'shard_down'), ['start', 'anonymous_access', 'shutdown', 'stopped']);
    assert.equal(events.filter((e) => e === 'shard_down').length, 2);
    assert.equal(p.events('shutdown')[0]!['reason'], 'SIGTERM');
    assert.equal(p.err, '', 'nothing on stderr');
  });

  it('--log-level warn leaves out the info lines', async () => {
    const port = await freePort();
    const p = LogProcess.cli(['--port', String(port), '--workers', '1', '--log-level', 'warn']);
    procs.push(p);
    // nothing is logged to say it started: ask it (a signal before start-up ends the process unhandled)
    await waitUntilAsync(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200, 'the server to be ready');
    p.child.kill('SIGTERM');
    assert.equal((await p.exited).code, 0);
    assert.equal(p.out, '', 'no info line at level warn');
  });

  it('--log-format pretty prints one readable line per event', async () => {
    const p = LogProcess.cli(['--port', '0', '--workers', '1', '--log-format', 'pretty']);
    procs.push(p);
    await waitUntilText(p, /event=anonymous_access/); // the last start-up line: the signal handlers are set
    p.child.kill('SIGTERM');
    assert.equal((await p.exited).code, 0);
    const lines = p.out.trim().split('\n');
    for (const l of lines) assert.match(l, /^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO |WARN |ERROR) \S.* {2}event=[a-z_]+/);
    assert.match(p.out, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}shardcast listening on 127\.0\.0\.1:\d+ with 1 shard\(s\).* {2}event=start /m);
  });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

async function waitUntilAsync(pred: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitUntilText(p: LogProcess, re: RegExp): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!re.test(p.out)) {
    if (Date.now() > deadline || p.child.exitCode !== null) throw new Error(`no ${re} in ${p.out}${p.err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('JSON logs of shard lifecycle events', () => {
  const procs: LogProcess[] = [];
  after(() => procs.forEach((p) => p.kill()));

  it('logs a fault, the shard going down, its restart and its replacement up; a stall and its cut', async () => {
    const p = LogProcess.script({ port: 0, workers: 2, logLevel: 'info', testHooks: true, shardStallTimeout: 300 });
    procs.push(p);
    await p.waitEvent('start');
    p.send('fault 0');
    const fault = await p.waitEvent('shard_fault');
    assert.equal(fault['level'], 'error');
    assert.equal(fault['shard'], 0);
    assert.match(fault['stack'] as string, /injected fault/);
    const down = await p.waitEvent('shard_down', (l) => l['shard'] === 0);
    assert.equal(down['code'], 70);
    await p.waitEvent('shard_restart', (l) => l['shard'] === 0);
    await p.waitEvent('shard_up', (l) => l['shard'] === 0 && l['generation'] === 1);

    p.send('stall 1 2000');
    p.send('publish 50'); // a stall shows as records left unread
    const stall = await p.waitEvent('shard_stall');
    assert.equal(stall['shard'], 1);
    assert.equal(stall['level'], 'error');
    await p.waitEvent('shard_down', (l) => l['shard'] === 1 && l['code'] === 71);
    await p.waitEvent('shard_up', (l) => l['shard'] === 1 && l['generation'] === 1);
    p.send('close');
    assert.equal((await p.exited).code, 0, p.err);
    checkShape(p.lines);
    assert.equal(p.events('stopped').length, 1);
    // one line per event: the fault and the stall each logged once
    assert.equal(p.events('shard_fault').length, 1);
    assert.equal(p.events('shard_stall').length, 1);
  });
});

describe('JSON logs of broker state changes', () => {
  let redis: RedisServer;
  const procs: LogProcess[] = [];
  after(async () => {
    procs.forEach((p) => p.kill());
    await redis?.stop();
  });

  it('logs the Redis broker up, down once while Redis is away, and up again', async () => {
    redis = await RedisServer.create();
    const p = LogProcess.script({ port: 0, workers: 1, logLevel: 'info', broker: 'redis', redisUrl: redis.url });
    procs.push(p);
    await p.waitEvent('start');
    assert.equal(p.events('broker_up').length, 1);
    await redis.kill();
    const down = await p.waitEvent('broker_down');
    assert.equal(down['level'], 'warn');
    await new Promise((r) => setTimeout(r, 500)); // reconnect attempts meanwhile: no line each
    assert.equal(p.events('broker_down').length, 1);
    await redis.start();
    await p.waitEvent('broker_up', (l) => typeof l['downMs'] === 'number', 20_000);
    p.send('close');
    assert.equal((await p.exited).code, 0, p.err);
    checkShape(p.lines);
  });
});
