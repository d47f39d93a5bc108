/**
 * `shardcast bench`: the load client against a real Shardcast (every ingress, exact
 * accounting), against a deliberately faulty server (exactly the injected faults are
 * counted), against targets that refuse, ignore or hang (bounded runs, failures by reason,
 * never a throw), plus the CLI surface (usage errors, --json/--html) and the decoder and
 * ledger in isolation.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { WebSocketServer } from 'ws';
import { JsonFrameDecoder, type ControlMessage, type DeliveryVisitor } from '../src/bench/frame-decoder.js';
import { MsgpackFrameDecoder } from '../src/bench/msgpack-frame-decoder.js';
import { DeliveryLedger } from '../src/bench/ledger.js';
import { isSlowConnection } from '../src/bench/load-protocol.js';
import { BenchUsageError, parseBenchArgs, resolveBenchOptions } from '../src/bench/options.js';
import type { BenchReport } from '../src/bench/report.js';
import { runBench } from '../src/bench/run.js';
import { startServer, type ShardcastServer } from '../src/index.js';
import { startFaultyServer, type FaultyServer } from './fixtures/faulty-server.js';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;
/** The test's own MessagePack encoder (plain MessagePack), not the bench's. */
const packr = new Packr({ useRecords: false });

/** A clean run: everything expected arrived, exactly once, in order. */
function assertClean(r: BenchReport, connections: number): void {
  assert.equal(r.outcome, 'completed', `warnings: ${r.warnings.join(' | ')}`);
  assert.equal(r.connections.attempted, connections);
  assert.equal(r.connections.open, connections);
  assert.equal(r.connections.failed, 0);
  assert.deepEqual(r.connections.failures, {});
  assert.deepEqual(r.connections.closedByServer, {});
  assert.ok(r.deliveries.expected > 0);
  assert.equal(r.deliveries.delivered, r.deliveries.expected);
  assert.equal(r.deliveries.lost, 0);
  assert.equal(r.deliveries.duplicated, 0);
  assert.equal(r.deliveries.outOfOrder, 0);
  assert.equal(r.deliveries.seqGaps, 0);
  assert.equal(r.deliveries.seqGapMessages, 0);
  assert.equal(r.latency.samples, r.deliveries.delivered);
  assert.ok(r.latency.p50 > 0 && r.latency.p50 <= r.latency.p99 && r.latency.p99 <= r.latency.max);
  assert.ok(r.latency.curve.length > 10);
}

describe('bench against a real Shardcast server', () => {
  let server: ShardcastServer;
  let url: string;
  const ipcSocket = join(tmpdir(), `shardcast-bench-${process.pid}.sock`);

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', ipcSocket });
    url = `ws://127.0.0.1:${server.port}/ws`;
  });
  after(async () => {
    await server?.close();
  });

  it('HTTP ingress, open loop: every delivery accounted for', async () => {
    const r = await runBench({ url, connections: 200, channels: 2, messages: 200, rate: 400, threads: 2, drainMs: 5000 });
    assertClean(r, 200);
    assert.equal(r.deliveries.expected, 200 * 100); // 100 messages per channel × 100 subscribers each
    assert.deepEqual(r.publishes, { ...r.publishes, attempted: 200, accepted: 200, refused: {} });
    assert.equal(r.latency.measuredFrom, 'scheduled');
    assert.equal(r.options.threads, 2);
    assert.ok(r.timeline.some((s) => s.t > 0 && s.deliveriesPerSecond > 0));
    // the stats endpoint is reachable: server counters over the run
    assert.equal(r.server?.source, 'stats-endpoint');
    assert.equal(r.server?.counters['published'], 200);
    assert.equal(r.server?.counters['deliveries'], 20_000);
    // one frame per subscriber per message, or fewer when a merge window held several
    const frames = r.server?.counters['framesSent'] ?? 0;
    assert.ok(frames >= 2 * 100 && frames <= 20_000, `framesSent ${frames}`);
  });

  it('MessagePack load connections (--format msgpack): the same exact accounting', async () => {
    const before = server.stats().totals.msgpackConnections;
    const r = await runBench({ url, connections: 200, channels: 2, messages: 200, rate: 400, threads: 2, drainMs: 5000, format: 'msgpack' });
    assertClean(r, 200);
    assert.equal(r.options.format, 'msgpack');
    assert.equal(r.deliveries.expected, 200 * 100);
    assert.equal(r.server?.counters['deliveries'], 20_000);
    assert.equal(server.stats().totals.msgpackConnections - before, 200, 'every load connection spoke MessagePack');
    assert.ok(!r.warnings.some((w) => w.includes('could not be decoded')), r.warnings.join(' | '));
  });

  it('WebSocket ingress, closed loop', async () => {
    const r = await runBench({ url, connections: 200, channels: 2, messages: 200, inflight: 8, publish: 'ws', threads: 2 });
    assertClean(r, 200);
    assert.equal(r.publishes.accepted, 200);
    assert.equal(r.latency.measuredFrom, 'sent');
    assert.equal(r.options.inflight, 8);
    assert.equal(r.options.rate, null);
  });

  it('IPC ingress, with the server pid for CPU and RSS', async () => {
    const r = await runBench({ url, connections: 200, channels: 2, messages: 200, rate: 400, publish: 'ipc', ipcSocket, serverPid: process.pid });
    assertClean(r, 200);
    assert.equal(r.publishes.accepted, 200);
    assert.equal(r.server?.source, 'pid');
    assert.ok((r.server?.rssBytesAfter ?? 0) > 0);
    assert.ok((r.server?.cpuMicrosPer1kDeliveries ?? 0) > 0);
    // this process is the server: its main thread (server main + bench publisher) is a part of
    // its CPU, the shard and load threads the rest
    const share = r.server?.mainThreadCpuShare;
    assert.ok(typeof share === 'number' && share > 0 && share < 1, `mainThreadCpuShare ${share}`);
  });

  it('a duration-bounded run stops publishing on time and still drains everything', async () => {
    const started = Date.now();
    const r = await runBench({ url, connections: 50, channels: 1, durationMs: 1000, rate: 50, threads: 1 });
    assertClean(r, 50);
    assert.ok(Math.abs(r.publishes.attempted - 50) <= 1, `attempted ${r.publishes.attempted}`);
    assert.ok(Date.now() - started < 10_000);
  });

  it('the CLI: report on stdout, --json and --html files, exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardcast-bench-cli-'));
    try {
      const json = join(dir, 'r.json');
      const html = join(dir, 'r.html');
      // not spawnSync: this process's event loop is the server's main thread
      const res = await runCli(['bench', url, '--connections', '60', '--channels', '3', '--messages', '60',
        '--rate', '300', '--json', json, '--html', html, '--api-key', 'not-needed-secret']);
      assert.equal(res.status, 0, res.stderr);
      assert.match(res.stdout, /Shardcast bench · ws:\/\/127\.0\.0\.1:\d+\/ws · completed/);
      assert.match(res.stdout, /delivered 1,200/);
      assert.match(res.stdout, / JSON frames /);
      assert.equal(res.stderr, ''); // no TTY: no progress display
      const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
      assert.equal(report.deliveries.delivered, 1200);
      assert.equal(report.deliveries.expected, 1200);
      assert.ok(!report.command.includes('not-needed-secret'), 'the API key must not be archived with the report');
      assert.match(report.command, /--api-key REDACTED/);
      assert.match(readFileSync(html, 'utf8'), /^<!DOCTYPE html>/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bench with slow consumers (--slow-fraction)', () => {
  it('slow clients are closed with 4001 and reported apart; the healthy ones lose nothing', async () => {
    const server = await startServer({ port: 0, workers: 2, logLevel: 'silent', maxBackpressure: '64k' });
    try {
      // 400 × 16 KiB = 6.4 MB per connection: far more than the loopback socket buffers of a
      // client that stopped reading plus the 64 KiB limit
      const r = await runBench({
        url: `ws://127.0.0.1:${server.port}/ws`, connections: 20, slowFraction: 0.1, messages: 400, rate: 200, size: 16 * 1024,
        threads: 2, drainMs: 10_000,
      });
      assert.equal(r.outcome, 'completed', `warnings: ${r.warnings.join(' | ')}`);
      assert.equal(r.options.slowFraction, 0.1);
      assert.equal(r.publishes.accepted, 400);
      const slow = r.slow;
      assert.ok(slow, 'the report has a slow section');
      assert.equal(slow.connections, 2);
      assert.equal(slow.subscribed, 2);
      assert.deepEqual(slow.closedByServer, { 'close 4001 slow consumer': 2 });
      assert.equal(slow.stillOpen, 0);
      assert.equal(slow.expected, 400 * 2);
      // what they were sent before the close arrived after they read again, whole and in order
      assert.ok(slow.deliveredToSlow > 0 && slow.deliveredToSlow < slow.expected, `delivered to slow: ${slow.deliveredToSlow}`);
      assert.equal(slow.seqGapMessages, 0);
      assert.equal(slow.duplicated, 0);
      // the 18 healthy connections: everything, and only they count in expected / lost
      assert.equal(r.deliveries.expected, 400 * 18);
      assert.equal(r.deliveries.delivered, 400 * 18);
      assert.equal(r.deliveries.lost, 0);
      assert.equal(r.deliveries.duplicated, 0);
      assert.equal(r.deliveries.seqGaps, 0);
      assert.equal(r.latency.samples, 400 * 18);
      assert.deepEqual(r.connections.closedByServer, { 'close 4001 slow consumer': 2 });
      assert.equal(r.connections.failed, 0);
      assert.equal(r.server?.counters['closedSlowConsumer'], 2);
      assert.ok(!r.warnings.some((w) => w.includes('closed by the server')), 'slow consumers closing is not a loss');
    } finally {
      await server.close();
    }
  });

  it('picks round(fraction × connections) slow connections, spread evenly', () => {
    assert.equal(resolveBenchOptions({ url: 'ws://h:1/ws', connections: 5000, slowFraction: 0.01 }).slowConnections, 50);
    assert.equal(resolveBenchOptions({ url: 'ws://h:1/ws', connections: 10, slowFraction: 0.01 }).slowConnections, 1);
    assert.equal(resolveBenchOptions({ url: 'ws://h:1/ws', connections: 10 }).slowConnections, 0);
    const slow = Array.from({ length: 5000 }, (_, i) => i).filter((i) => isSlowConnection(i, 50, 5000));
    assert.equal(slow.length, 50);
    assert.deepEqual(slow.slice(0, 3), [99, 199, 299]);
    assert.equal(parseBenchArgs(['ws://h:1/ws', '--slow-fraction', '0.05'], {}).input.slowFraction, 0.05);
  });
});

describe('bench against a faulty server', () => {
  let faulty: FaultyServer | null = null;
  after(async () => {
    await faulty?.close();
  });

  for (const format of ['json', 'msgpack'] as const) it(`large messages arrive over many reads and are accounted like small ones (${format})`, async () => {
    const clean = await startFaultyServer();
    try {
      const r = await runBench({ url: `ws://127.0.0.1:${clean.port}/ws`, connections: 10, channels: 2, messages: 6, rate: 50, size: 300_000, threads: 1, format });
      assertClean(r, 10);
      assert.equal(r.deliveries.delivered, 30);
    } finally {
      await clean.close();
    }
  });

  // Reorders and duplicates come as array frames, as do half of the `subscribed` replies: in
  // both formats, every element of an array is accounted in order.
  for (const format of ['json', 'msgpack'] as const) it(`counts exactly the injected faults (${format} frames)`, async () => {
    // a server of its own: the faults are keyed by per-channel counts and seqs
    await faulty?.close();
    faulty = await startFaultyServer({
      refuseEvery: 10,
      skipSeqAfter: { 'bench-0': [20] },
      reorder: { channel: 'bench-0', seqs: [30] },
      close: { channel: 'bench-0', nth: 3, afterSeq: 40, code: 4001, reason: 'slow consumer' },
      drop: { channel: 'bench-1', clients: 5, every: 10 },
      duplicate: { channel: 'bench-1', seqs: [5] },
      arraySubscribed: true,
    });
    const r = await runBench({ url: `ws://127.0.0.1:${faulty.port}/ws`, connections: 40, channels: 2, messages: 100, rate: 1000, threads: 2, drainMs: 1000, format });
    assert.equal(r.options.format, format);
    // 50 posts per channel, every 10th refused: 45 accepted each, to 20 subscribers each
    assert.equal(r.publishes.attempted, 100);
    assert.equal(r.publishes.accepted, 90);
    assert.deepEqual(r.publishes.refused, { 'HTTP 503 overloaded': 10 });
    assert.equal(r.deliveries.expected, 90 * 20);
    // lost: 5 clients × seqs 10,20,30,40 on bench-1, and bench-0 seqs 41-46 for the closed client
    assert.equal(r.deliveries.lost, 20 + 6);
    assert.equal(r.deliveries.delivered, 1800 - 26);
    assert.equal(r.deliveries.duplicated, 20); // seq 5 twice on bench-1
    assert.equal(r.deliveries.outOfOrder, 20); // seq 30 after 31 on bench-0
    // gaps: the skipped seq 21 on bench-0 (every subscriber), the 4 drops seen by 5 bench-1 clients
    assert.equal(r.deliveries.seqGaps, 20 + 20);
    assert.equal(r.deliveries.seqGapMessages, 20 + 20);
    assert.deepEqual(r.connections.closedByServer, { 'close 4001 slow consumer': 1 });
    assert.equal(r.connections.open, 39);
    assert.equal(r.connections.failed, 0);
    assert.equal(r.latency.samples, r.deliveries.delivered);
    assert.equal(r.outcome, 'completed');
    assert.equal(r.server, null); // no /api/stats there
    assert.ok(r.warnings.some((w) => w.includes('closed by the server')));
    assert.ok(r.warnings.some((w) => w.includes('/api/stats')));
    assert.ok(!r.warnings.some((w) => w.includes('could not be decoded')), r.warnings.join(' | '));
  });
});

describe('bench against targets that refuse, ignore or hang', () => {
  it('unreachable: every connection fails ECONNREFUSED, exit-1 outcome, no throw', async () => {
    const port = await freePort();
    const started = Date.now();
    const r = await runBench({ url: `ws://127.0.0.1:${port}/ws`, connections: 50, rampPerSecond: 500, threads: 2 });
    assert.equal(r.outcome, 'aborted');
    assert.deepEqual(r.connections.failures, { ECONNREFUSED: 50 });
    assert.equal(r.connections.failed, 50);
    assert.equal(r.connections.open, 0);
    assert.equal(r.publishes.attempted, 0);
    assert.match(r.warnings[0] ?? '', /no connection could be opened \(ECONNREFUSED ×50\)/);
    assert.ok(Date.now() - started < 5000);
  });

  it('a server that accepts TCP but never answers the upgrade: bounded by --connect-timeout', async () => {
    const held: net.Socket[] = [];
    const silent = net.createServer((s) => held.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const r = await runBench({ url: `ws://127.0.0.1:${(silent.address() as AddressInfo).port}/ws`, connections: 20, connectTimeoutMs: 500, threads: 1 });
      assert.deepEqual(r.connections.failures, { 'upgrade timeout': 20 });
      assert.equal(r.outcome, 'aborted');
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('publishes that are never answered: the run still ends at duration + drain', async () => {
    const faulty = await startFaultyServer({ hangAfter: 10 });
    try {
      const started = Date.now();
      const r = await runBench({ url: `ws://127.0.0.1:${faulty.port}/ws`, connections: 20, rate: 50, durationMs: 1000, drainMs: 500, threads: 1 });
      const elapsed = Date.now() - started;
      assert.equal(r.publishes.accepted, 10);
      assert.equal(r.publishes.refused['no answer before the drain deadline'], r.publishes.attempted - 10);
      assert.equal(r.deliveries.delivered, 10 * 20);
      assert.equal(r.deliveries.lost, 0);
      assert.ok(r.warnings.some((w) => w.includes('got no answer')));
      assert.ok(elapsed < 6000, `took ${elapsed} ms`);
    } finally {
      await faulty.close();
    }
  });

  it('refused upgrades and a wrong API key are counted by reason', async () => {
    const server = await startServer({ port: 0, workers: 1, logLevel: 'silent', host: '127.0.0.1', apiKey: 'right-key-123', maxConnections: 30 });
    try {
      const url = `ws://127.0.0.1:${server.port}/ws`;
      const r = await runBench({ url, connections: 40, messages: 20, rate: 200, apiKey: 'wrong-key-456', threads: 1, rampPerSecond: 400 });
      assert.equal(r.connections.open, 30);
      assert.deepEqual(r.connections.failures, { 'HTTP 503': 10 });
      assert.deepEqual(r.publishes.refused, { 'HTTP 401 unauthorized': 20 });
      assert.equal(r.outcome, 'aborted');
      assert.match(r.warnings[0] ?? '', /no publish was accepted .*check --api-key/);
      assert.equal(r.server, null); // /api/stats needs the key too
    } finally {
      await server.close();
    }
  });

  it('--format msgpack against a server that does not echo the subprotocol: refused by that reason, not misread', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => false });
    await once(wss, 'listening');
    try {
      const port = (wss.address() as AddressInfo).port;
      const r = await runBench({ url: `ws://127.0.0.1:${port}/ws`, connections: 5, threads: 1, format: 'msgpack' });
      assert.equal(r.outcome, 'aborted');
      assert.deepEqual(r.connections.failures, { 'protocol error: shardcast.v1.msgpack not accepted': 5 });
      assert.equal(r.publishes.attempted, 0);
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });

  it('an abort signal ends the run early with a report', async () => {
    const faulty = await startFaultyServer();
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 800);
      const started = Date.now();
      const r = await runBench({ url: `ws://127.0.0.1:${faulty.port}/ws`, connections: 10, rate: 20, durationMs: 30_000, threads: 1 }, { signal: controller.signal });
      assert.equal(r.outcome, 'aborted');
      assert.ok(Date.now() - started < 5000);
      assert.match(r.warnings[0] ?? '', /interrupted/);
    } finally {
      await faulty.close();
    }
  });
});

describe('bench options and CLI usage', () => {
  const bad = (argv: string[], pattern: RegExp): void => {
    assert.throws(() => parseBenchArgs(argv, {}), (e: unknown) => e instanceof BenchUsageError && pattern.test(e.message));
  };

  it('defaults make a bare URL useful', () => {
    const o = resolveBenchOptions({ url: 'ws://127.0.0.1:8080' });
    assert.equal(o.url, 'ws://127.0.0.1:8080/ws');
    assert.equal(o.httpUrl, 'http://127.0.0.1:8080');
    assert.equal(o.connections, 1000);
    assert.equal(o.channels, 1);
    assert.equal(o.rate, 100);
    assert.equal(o.durationMs, 10_000);
    assert.equal(o.publish, 'http');
    assert.equal(o.inflight, null);
  });

  it('rejects bad values and combinations with a clear message', () => {
    bad(['--url', 'ws://h:1/ws', '--bogus'], /unknown option --bogus/);
    bad([], /--url is required/);
    bad(['http://h:1/'], /scheme must be ws:\/\/ or wss:\/\//);
    bad(['ws://h:1/ws', '--insecure'], /--insecure is only for a wss:\/\/ URL/);
    bad(['ws://h:1/ws', '--rate', '10', '--inflight', '4'], /not both/);
    bad(['ws://h:1/ws', '--connections', '0'], /--connections/);
    bad(['ws://h:1/ws', '--connections', 'many'], /--connections "many"/);
    bad(['ws://h:1/ws', '--duration', '10x'], /--duration/);
    bad(['ws://h:1/ws', '--size', '10'], /--size/);
    bad(['ws://h:1/ws', '--publish', 'smtp'], /--publish "smtp"/);
    bad(['ws://h:1/ws', '--publish', 'ipc'], /needs --ipc-socket/);
    bad(['ws://h:1/ws', '--format', 'xml'], /invalid --format "xml" \(json or msgpack\)/);
    bad(['ws://h:1/ws', '--threads', '5', '--connections', '2'], /more threads than connections/);
    bad(['ws://h:1/ws', '--channel-prefix', 'bad prefix'], /--channel-prefix/);
    bad(['ws://h:1/ws', 'extra'], /unexpected arguments/);
    bad(['ws://h:1/ws', '--slow-fraction', '1'], /--slow-fraction/);
    bad(['ws://h:1/ws', '--slow-fraction', '0.5', '--connections', '1'], /no healthy connection/);
  });

  it('exits 2 on bad usage without a stack trace, 0 on --help', () => {
    const usage = spawnSync(process.execPath, [CLI, 'bench', '--url', 'ws://127.0.0.1:1/ws', '--rate', 'fast'], { encoding: 'utf8' });
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /^shardcast: invalid --rate "fast"/);
    assert.doesNotMatch(usage.stderr, /\n\s+at /);
    const help = spawnSync(process.execPath, [CLI, 'bench', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--connections N/);
  });

  it('exits 1 when nothing could connect', () => {
    const res = spawnSync(process.execPath, [CLI, 'bench', 'ws://127.0.0.1:1/ws', '--connections', '5'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(res.status, 1);
    assert.match(res.stdout, /aborted/);
    assert.match(res.stdout, /ECONNREFUSED/);
    assert.doesNotMatch(res.stderr, /\n\s+at /);
  });
});

describe('frame decoder and ledger', () => {
  class Recorder implements DeliveryVisitor {
    deliveries: Array<[string, number, number, number]> = [];
    controls: ControlMessage[] = [];
    delivery(buf: Buffer, cs: number, ce: number, seq: number, index: number, tMs: number): void {
      this.deliveries.push([buf.toString('latin1', cs, ce), seq, index, tMs]);
    }
    control(msg: ControlMessage): void {
      this.controls.push(msg);
    }
  }
  const decode = (text: string): Recorder => {
    const rec = new Recorder();
    // embed in a larger buffer: decoding must stay within [start, end)
    const buf = Buffer.from(`xx${text}{"type":"message","channel":"junk","seq":99,"data":{"t":1,"i":9}}`);
    new JsonFrameDecoder().decode(buf, 2, 2 + Buffer.byteLength(text), rec);
    return rec;
  };

  it('reads single messages, arrays, foreign data and control frames', () => {
    const m = (seq: number, i: number): string => `{"type":"message","channel":"bench-1","seq":${seq},"data":{"t":1732380000123.457,"i":${i},"p":"x]}"}}`;
    assert.deepEqual(decode(m(7, 3)).deliveries, [['bench-1', 7, 3, 1732380000123.457]]);
    assert.deepEqual(decode(`[${m(1, 0)}, ${m(2, 5)}]`).deliveries.map((d) => d[1]), [1, 2]);
    const mixed = decode(`[{"type":"subscribed","channel":"bench-1","seq":4},${m(5, 1)}]`);
    assert.deepEqual(mixed.controls, [{ type: 'subscribed', channel: 'bench-1', seq: 4 }]);
    assert.equal(mixed.deliveries.length, 1);
    assert.deepEqual(decode('{"type":"message","channel":"c","seq":3,"data":{"home":2}}').deliveries, [['c', 3, -1, NaN]]);
    assert.deepEqual(decode('{"type":"message","channel":"c","seq":3,"data":{"t":1e3,"i":2}}').deliveries, [['c', 3, 2, 1000]]);
    assert.deepEqual(decode('{"type":"welcome","id":"0.0-1","shard":0}').controls, [{ type: 'welcome', id: '0.0-1', shard: 0 }]);
    assert.deepEqual(decode('not json').controls, [{ type: 'unparsable' }]);
  });

  /** The same, for MessagePack frames (the test's own encoder): `frame` is embedded between junk bytes. */
  const decodeMsgpack = (frame: Uint8Array): Recorder => {
    const rec = new Recorder();
    const junk = packr.pack({ type: 'message', channel: 'junk', seq: 99, data: { t: 1, i: 9 } });
    const buf = Buffer.concat([Buffer.from([0x81, 0xa1]), frame, junk]);
    new MsgpackFrameDecoder().decode(buf, 2, 2 + frame.byteLength, rec);
    return rec;
  };

  it('reads MessagePack frames: single messages, arrays, any key order, foreign data and control frames', () => {
    const m = (seq: number, i: number): Record<string, unknown> => ({ type: 'message', channel: 'bench-1', seq, data: { t: 1732380000123.457, i, p: 'x'.repeat(300) } });
    assert.deepEqual(decodeMsgpack(packr.pack(m(7, 3))).deliveries, [['bench-1', 7, 3, 1732380000123.457]]);
    assert.deepEqual(decodeMsgpack(packr.pack([m(1, 0), m(2, 5)])).deliveries.map((d) => d[1]), [1, 2]);
    // 16-bit array and map headers, 32-bit seqs, str8 channel names, keys in another order
    const many = Array.from({ length: 20 }, (_, k) => m(70_000 + k, k));
    assert.deepEqual(decodeMsgpack(packr.pack(many)).deliveries.map((d) => d[1]), many.map((x) => x['seq']));
    const long = 'c'.repeat(40);
    assert.deepEqual(decodeMsgpack(packr.pack({ data: { i: 4, t: 1000 }, seq: 2 ** 40, channel: long, type: 'message' })).deliveries, [[long, 2 ** 40, 4, 1000]]);
    const mixed = decodeMsgpack(packr.pack([{ type: 'subscribed', channel: 'bench-1', seq: 4 }, m(5, 1)]));
    assert.deepEqual(mixed.controls, [{ type: 'subscribed', channel: 'bench-1', seq: 4 }]);
    assert.equal(mixed.deliveries.length, 1);
    assert.deepEqual(decodeMsgpack(packr.pack({ type: 'message', channel: 'c', seq: 3, data: { home: 2 } })).deliveries, [['c', 3, -1, NaN]]);
    assert.deepEqual(decodeMsgpack(packr.pack({ type: 'message', channel: 'c', seq: 3, data: new Uint8Array([1, 2]) })).deliveries, [['c', 3, -1, NaN]]);
    assert.deepEqual(decodeMsgpack(packr.pack({ type: 'message', channel: 'c', data: { t: 1, i: 1 } })).deliveries, [['c', -1, 1, 1]]);
    assert.deepEqual(decodeMsgpack(packr.pack({ type: 'welcome', id: '0.0-1', shard: 0 })).controls, [{ type: 'welcome', id: '0.0-1', shard: 0 }]);
  });

  it('counts malformed MessagePack frames as unparsable, after any complete messages before the damage', () => {
    const one = packr.pack({ type: 'message', channel: 'c', seq: 1, data: { t: 1, i: 0 } });
    const unparsable = [{ type: 'unparsable' }];
    for (const bad of [
      Buffer.from('{"type":"message","channel":"c","seq":1}'), // JSON on a MessagePack connection
      one.subarray(0, one.length - 1), // truncated
      Buffer.from([0x81, 0xa4, ...Buffer.from('type'), 0xc1]), // the reserved byte
      Buffer.from([0xde, 0x00]), // a cut map16 header
      Buffer.from([0x2a]), // not a map
      Buffer.alloc(0),
    ]) {
      const rec = decodeMsgpack(bad);
      assert.deepEqual([rec.controls, rec.deliveries], [unparsable, []], `0x${bad.toString('hex')}`);
    }
    const cut = packr.pack([{ type: 'message', channel: 'c', seq: 1, data: { t: 1, i: 0 } }, { type: 'message', channel: 'c', seq: 2, data: { t: 1, i: 1 } }]);
    for (const damaged of [cut.subarray(0, cut.length - 3), Buffer.concat([one, Buffer.from([0x01])])]) {
      const rec = decodeMsgpack(damaged);
      assert.deepEqual([rec.deliveries.map((d) => d[1]), rec.controls], [[1], unparsable]);
    }
  });

  it('tells gaps, reorders and duplicates apart', () => {
    const l = new DeliveryLedger(2);
    l.subscribed(0, 10);
    for (const seq of [11, 12, 14, 13, 13, 17, 16, 20]) l.delivery(0, seq, true);
    // 14 before 13: out of order (hole filled); 13 again: duplicate; 17 then 16: out of order;
    // 15, 18 and 19 never came: two holes, three messages
    assert.equal(l.delivered, 7);
    assert.equal(l.duplicated, 1);
    assert.equal(l.outOfOrder, 2);
    assert.equal(l.seqGaps, 2);
    assert.equal(l.seqGapMessages, 3);
    l.subscribed(1, 0);
    l.delivery(1, 1, false); // someone else's publication: occupies a seq, not delivered
    l.delivery(1, 2, true);
    assert.equal(l.foreign, 1);
    assert.equal(l.delivered, 8);
    assert.equal(l.seqGaps, 2);
  });
});

/** Runs the CLI without blocking this process (which may host the server under test). */
function runCli(args: string[], timeoutMs = 30_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
