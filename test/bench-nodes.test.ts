/**
 * `shardcast bench` against a deployment of two nodes on one Redis: connections spread over
 * the nodes (--url given twice), publishes through the first node, every delivery accounted
 * for on both, the nodes' /api/stats counters summed, and the CPU of every process given
 * (--server-pid: this process, which runs both nodes, and redis-server) summed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { parseBenchArgs, resolveBenchOptions, BenchUsageError } from '../src/bench/options.js';
import { runBench } from '../src/bench/run.js';
import { RedisServer } from './helpers/redis.js';

describe('bench against two nodes on one Redis (--url twice)', () => {
  let redis: RedisServer;
  const nodes: ShardcastServer[] = [];

  before(async () => {
    redis = await RedisServer.create();
    for (let i = 0; i < 2; i++) nodes.push(await startServer({ port: 0, workers: 1, logLevel: 'silent', broker: 'redis', redisUrl: redis.url }));
  });
  after(async () => {
    for (const n of nodes) await n.close();
    await redis?.stop();
  });

  it('spreads the connections over the nodes, and every node delivers every message to its own', async () => {
    const urls = nodes.map((n) => `ws://127.0.0.1:${n.port}/ws`);
    const seen: number[] = [];
    const r = await runBench(
      { url: urls, connections: 101, channels: 2, messages: 100, rate: 400, threads: 1, drainMs: 10_000, serverPid: [process.pid, redis.pid!] },
      { onMeasure: (phase) => void (phase === 'start' && seen.push(...nodes.map((n) => n.stats().totals.connectionsOpen))) },
    );
    assert.equal(r.outcome, 'completed', r.warnings.join(' | '));
    assert.deepEqual(seen, [51, 50], 'connection i goes to node i % 2');
    assert.equal(r.connections.open, 101);
    // channel i % 2: 51 subscribers on channel 0, 50 on channel 1; 50 messages on each
    assert.equal(r.deliveries.expected, 50 * 51 + 50 * 50);
    assert.deepEqual([r.deliveries.delivered, r.deliveries.lost, r.deliveries.duplicated, r.deliveries.seqGaps], [r.deliveries.expected, 0, 0, 0]);
    // the counters are both nodes' together: half the deliveries were made by the node that published nothing
    assert.equal(r.server?.counters['deliveries'], r.deliveries.expected);
    assert.equal(r.server?.source, 'pid');
    assert.ok((r.server?.cpuMicrosPer1kDeliveries ?? 0) > 0);
    assert.ok(r.options.url.includes(urls[0]!) && r.options.url.includes(urls[1]!), r.options.url);
  });

  it('a --server-pid that is not there: no CPU figure rather than a part of one, and a warning naming it', async () => {
    const urls = [`ws://127.0.0.1:${nodes[0]!.port}/ws`, `ws://127.0.0.1:${nodes[1]!.port}/ws`];
    const r = await runBench({ url: urls, connections: 20, channels: 1, messages: 20, rate: 200, threads: 1, serverPid: [process.pid, 2 ** 31 - 2] });
    assert.equal(r.outcome, 'completed', r.warnings.join(' | '));
    assert.equal(r.server?.source, 'stats-endpoint', 'a pid that is not there: no CPU figure rather than a part of one');
    assert.ok(r.warnings.some((w) => w.includes(`no process ${2 ** 31 - 2}`)), r.warnings.join(' | '));
  });
});

describe('bench options for several nodes', () => {
  it('takes --url and --server-pid more than once', () => {
    const { input } = parseBenchArgs(['--url', 'ws://127.0.0.1:1/ws', '--url', 'ws://127.0.0.1:2', '--server-pid', '10', '--server-pid', '11'], {});
    const o = resolveBenchOptions(input);
    assert.deepEqual(o.targets.map((t) => [t.port, t.path]), [[1, '/ws'], [2, '/ws']]);
    assert.deepEqual(o.statsUrls, ['http://127.0.0.1:1', 'http://127.0.0.1:2']);
    assert.deepEqual(o.serverPids, [10, 11]);
    assert.equal(o.url, 'ws://127.0.0.1:1/ws ws://127.0.0.1:2/ws');
  });

  it('refuses mixed ws:// and wss://, a pid given twice, and a URL both ways', () => {
    const bad = (argv: string[], pattern: RegExp): void => {
      assert.throws(() => parseBenchArgs(argv, {}), (e: unknown) => e instanceof BenchUsageError && pattern.test(e.message), argv.join(' '));
    };
    bad(['--url', 'ws://h:1/ws', '--url', 'wss://h:2/ws', '--insecure'], /every URL must be ws:\/\/ or every one wss:\/\//);
    bad(['--url', 'ws://h:1/ws', '--server-pid', '10', '--server-pid', '10'], /the same process given twice/);
    bad(['ws://h:1/ws', '--url', 'ws://h:2/ws'], /not both/);
    bad(['--url', 'ws://h:1/ws', '--url', 'http://h:2/'], /scheme must be ws:\/\/ or wss:\/\//);
  });
});
