/**
 * `shardcast bench` against a TLS server: wss:// connections and an https:// API (publishing
 * and the stats probe), trusting a private CA with --ca or nothing with --insecure (which the
 * report says); a certificate it cannot verify fails the handshakes, named by the TLS error.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { BenchUsageError, resolveBenchOptions } from '../src/bench/options.js';
import { runBench } from '../src/bench/run.js';
import { makeCerts, type TestCerts } from './fixtures/tls-certs.js';

let certs: TestCerts;
let server: ShardcastServer;
let url: string;

before(async () => {
  certs = makeCerts();
  server = await startServer({ port: 0, workers: 2, logLevel: 'silent', tlsCert: certs.cert, tlsKey: certs.key, tlsCa: certs.intermediate });
  url = `wss://127.0.0.1:${server.port}/ws`;
});
after(async () => {
  await server?.close();
  certs?.remove();
});

describe('bench over TLS', () => {
  test('wss:// with --ca: every message delivered, published over https, server counters read over https', async () => {
    const r = await runBench({ url, ca: certs.root, connections: 60, channels: 2, messages: 100, rate: 400, threads: 2, drainMs: 5000 });
    assert.equal(r.outcome, 'completed', r.warnings.join(' | '));
    assert.equal(r.connections.open, 60);
    assert.equal(r.publishes.accepted, 100);
    assert.equal(r.deliveries.expected, 100 * 30);
    assert.equal(r.deliveries.delivered, r.deliveries.expected);
    assert.equal(r.deliveries.lost + r.deliveries.duplicated + r.deliveries.seqGaps, 0);
    assert.equal(r.server?.source, 'stats-endpoint');
    assert.equal(r.server?.counters['deliveries'], 3000);
    assert.ok(!r.warnings.some((w) => /not verified/.test(w)));
  });

  test('WebSocket ingress over wss:// with --insecure: delivered, and the report says nothing was verified', async () => {
    const r = await runBench({ url, insecure: true, connections: 20, channels: 1, messages: 50, inflight: 4, publish: 'ws', threads: 1, drainMs: 5000 });
    assert.equal(r.outcome, 'completed', r.warnings.join(' | '));
    assert.equal(r.deliveries.delivered, 50 * 20);
    assert.ok(r.warnings.includes('TLS certificates were not verified (--insecure)'), r.warnings.join(' | '));
  });

  test('a certificate the client cannot verify: the handshakes fail with the TLS reason', async () => {
    const r = await runBench({ url, connections: 4, channels: 1, messages: 1, rate: 10, threads: 1, connectTimeoutMs: 5000, drainMs: 500 });
    assert.equal(r.connections.open, 0);
    assert.deepEqual(Object.keys(r.connections.failures), ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);
  });

  test('usage: --ca and --insecure only with wss://, not both, and --ca must be a PEM certificate', () => {
    const bad = (input: Parameters<typeof resolveBenchOptions>[0], message: RegExp): void =>
      assert.throws(() => resolveBenchOptions(input), (e: unknown) => e instanceof BenchUsageError && message.test(e.message));
    bad({ url: 'ws://127.0.0.1:1/ws', ca: certs.root }, /--ca is only for a wss:\/\/ URL/);
    bad({ url: 'ws://127.0.0.1:1/ws', insecure: true }, /--insecure is only for a wss:\/\/ URL/);
    bad({ url, ca: certs.root, insecure: true }, /--ca FILE or --insecure, not both/);
    bad({ url, ca: join(certs.dir, 'missing.pem') }, /invalid --ca .*ENOENT/);
    bad({ url, ca: certs.key }, /invalid --ca .*a readable PEM certificate file/);
    bad({ url: 'ws://127.0.0.1:1/ws', httpUrl: 'https://127.0.0.1:1' }, /https:\/\/ needs a wss:\/\/ --url/);
    const o = resolveBenchOptions({ url: 'wss://example.test/ws' });
    assert.equal(o.target.port, 443);
    assert.equal(o.httpUrl, 'https://example.test:443');
    assert.deepEqual(o.target.tls, { ca: null, verify: true });
  });
});
