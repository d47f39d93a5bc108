/**
 * `shardcast bench --reconnect-fraction`: a share of the connections is cut once while
 * publishing (the TCP connection destroyed) and comes back at once with `since`. Against a
 * server with history every cut connection is recovered and every message still arrives once,
 * in order; against one without history, each cut connection is answered `recovered: false`
 * and what it missed is reported as seq gaps — lost, counted, never hidden.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { renderHtml } from '../src/bench/html-report.js';
import { BenchUsageError, parseBenchArgs } from '../src/bench/options.js';
import { runBench } from '../src/bench/run.js';
import { renderTerminalReport } from '../src/bench/terminal-report.js';

describe('bench --reconnect-fraction', () => {
  let withHistory: ShardcastServer;
  let noHistory: ShardcastServer;

  before(async () => {
    withHistory = await startServer({ port: 0, workers: 2, logLevel: 'silent' });
    noHistory = await startServer({ port: 0, workers: 2, logLevel: 'silent', historySize: 0 });
  });
  after(async () => {
    await withHistory?.close();
    await noHistory?.close();
  });

  for (const format of ['json', 'msgpack'] as const) {
    it(`${format}: every cut connection is recovered and every message arrives once, in order`, async () => {
      const opened = withHistory.stats().totals.connectionsOpened;
      const r = await runBench({ url: `ws://127.0.0.1:${withHistory.port}/ws`, connections: 200, channels: 2, rate: 200, durationMs: 2000, reconnectFraction: 0.25, threads: 2, format });
      assert.equal(r.outcome, 'completed', r.warnings.join(' | '));
      assert.deepEqual(r.reconnects, { atMs: 1000, delayMs: 0, marked: 50, dropped: 50, recovered: 50, notRecovered: 0, failed: {} });
      assert.equal(withHistory.stats().totals.connectionsOpened - opened, 250, 'the 50 came back on new connections');
      assert.equal(r.deliveries.expected, 400 * 100);
      assert.deepEqual([r.deliveries.delivered, r.deliveries.lost, r.deliveries.duplicated, r.deliveries.outOfOrder, r.deliveries.seqGaps], [40_000, 0, 0, 0, 0]);
      assert.deepEqual(r.connections.closedByServer, {});
    });
  }

  // away for 500 ms at 200 msg/s: ~100 messages are published while they are gone, so none of them can come back caught up
  it('without history: every cut connection is answered recovered false, and what it missed is a counted gap', async () => {
    const r = await runBench({ url: `ws://127.0.0.1:${noHistory.port}/ws`, connections: 100, channels: 1, rate: 200, durationMs: 2000, drainMs: 1000, reconnectFraction: 0.1, reconnectAtMs: 500, reconnectDelayMs: 500, threads: 1 });
    assert.equal(r.outcome, 'completed', r.warnings.join(' | '));
    assert.deepEqual(r.reconnects, { atMs: 500, delayMs: 500, marked: 10, dropped: 10, recovered: 0, notRecovered: 10, failed: {} });
    const d = r.deliveries;
    assert.equal(d.seqGaps, 10, 'one gap per cut connection');
    assert.ok(d.seqGapMessages > 0);
    assert.equal(d.lost, d.seqGapMessages, 'what is lost is exactly what the gaps skipped');
    assert.equal(d.delivered + d.lost, d.expected);
    assert.equal(d.duplicated, 0);
    // both reports say it
    assert.match(renderTerminalReport(r), /10 cut at 0\.5 ?s, away 0\.5 ?s[\s\S]*not recovered\s+10/);
    assert.match(renderHtml(r), /Not recovered<\/th><td[^>]*>10</);
  });

  it('refuses bad combinations', () => {
    const bad = (argv: string[], pattern: RegExp): void => {
      assert.throws(() => parseBenchArgs(argv, {}), (e: unknown) => e instanceof BenchUsageError && pattern.test(e.message), argv.join(' '));
    };
    bad(['ws://h:1/ws', '--reconnect-fraction', '0.1', '--slow-fraction', '0.1'], /not both/);
    bad(['ws://h:1/ws', '--reconnect-at', '1s'], /--reconnect-at and --reconnect-delay need --reconnect-fraction/);
    bad(['ws://h:1/ws', '--reconnect-delay', '1s'], /need --reconnect-fraction/);
    bad(['ws://h:1/ws', '--reconnect-fraction', '1'], /--reconnect-fraction/);
    bad(['ws://h:1/ws', '--reconnect-fraction', '0.1', '--duration', '2s', '--reconnect-at', '5s'], /--reconnect-at/);
  });
});
