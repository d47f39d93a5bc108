/**
 * TLS end to end: with --tls-cert/--tls-key/--tls-ca every shard serves wss:// and https://
 * (uWS SSLApp); a client trusting only the root CA subscribes over wss and receives what an
 * https publish sends, which works only because the server sends the chain. Bad files stop
 * start-up with a message naming the option and the reason — in the configuration, and, for
 * a file that vanished after it, in the shards.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { resolveConfig, startServer, type Options } from '../src/index.js';
import { startWithConfig } from '../src/engine/engine.js';
import { createLogger } from '../src/engine/logger.js';
import { makeCerts, type TestCerts } from './fixtures/tls-certs.js';
import { TestClient } from './helpers/client.js';
import { upgrade } from './helpers/upgrade.js';
import { refusal } from './helpers/config.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
let certs: TestCerts;
before(() => {
  certs = makeCerts();
});
after(() => certs?.remove());

/** POST over https, trusting `ca`; resolves with the status and body. */
function httpsPost(port: number, path: string, body: unknown, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', ca, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('https request timed out')));
    req.once('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('TLS', { timeout: 90_000 }, () => {
  test('wss subscribe and https publish through every shard, the chain sent with --tls-ca', async () => {
    const lines: string[] = [];
    const server = await startServer({ port: 0, workers: 2, tlsCert: certs.cert, tlsKey: certs.key, tlsCa: certs.intermediate }, createLogger('info', (l) => void lines.push(l)));
    const clients: TestClient[] = [];
    try {
      assert.ok(lines.some((l) => l.includes('(TLS: wss:// and https://)')), lines.join(''));
      // connections until both shards have some: each shard built its own SSLApp
      while (clients.length < 20 && new Set(clients.map((c) => c.welcome!.shard)).size < 2) {
        clients.push(await TestClient.connect(server.port, '/ws', 10_000, { ca: certs.rootPem }));
      }
      assert.equal(new Set(clients.map((c) => c.welcome!.shard)).size, 2, 'both shards serve wss');
      for (const c of clients) assert.equal(await c.subscribe('secure'), 0);
      const r = await httpsPost(server.port, '/api/publish', { channel: 'secure', data: { over: 'tls' } }, certs.rootPem);
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(JSON.parse(r.body), { seq: 1 });
      for (const c of clients) {
        await c.until(() => c.messages('secure').length === 1, 10_000, 'the message over wss');
        assert.deepEqual(c.messages('secure')[0]!['data'], { over: 'tls' });
      }
      // plain HTTP to the TLS port gets no WebSocket
      await assert.rejects(upgrade(server.port));
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  test('without --tls-ca the chain is missing: a client that trusts only the root refuses the server', async () => {
    const server = await startServer({ port: 0, workers: 1, logLevel: 'silent', tlsCert: certs.cert, tlsKey: certs.key });
    try {
      await assert.rejects(TestClient.connect(server.port, '/ws', 5000, { ca: certs.rootPem }), /unable to verify|issuer/i);
      // trusting the intermediate as well, it connects
      const c = await TestClient.connect(server.port, '/ws', 5000, { ca: [certs.rootPem, readFileSync(certs.intermediate, 'utf8')].join('') });
      c.close();
    } finally {
      await server.close();
    }
  });

  test('bad TLS options stop start-up, naming the option and the reason', () => {
    const tls = { tlsCert: certs.cert, tlsKey: certs.key };
    const cases: Array<[Options, string, RegExp]> = [
      [{ tlsCert: certs.cert }, 'tlsCert', /together with --tls-key/],
      [{ tlsKey: certs.key }, 'tlsKey', /only with --tls-cert/],
      [{ tlsCa: certs.intermediate }, 'tlsCa', /only with --tls-cert and --tls-key/],
      [{ ...tls, tlsCert: join(certs.dir, 'missing.pem') }, 'tlsCert', /a readable PEM file \(ENOENT\)/],
      [{ ...tls, tlsKey: join(certs.dir, 'missing.key') }, 'tlsKey', /a readable PEM file \(ENOENT\)/],
      [{ ...tls, tlsCert: certs.key }, 'tlsCert', /a PEM certificate \(-----BEGIN CERTIFICATE-----\)/],
      [{ ...tls, tlsKey: certs.cert }, 'tlsKey', /an unencrypted PEM private key/],
      [{ ...tls, tlsKey: certs.otherKey }, 'tlsKey', /does not match that certificate/],
      [{ ...tls, tlsCa: certs.root }, 'tlsCa', /its first certificate must be the issuer of that certificate \(CN=Shardcast Test Intermediate\)/],
      [{ ...tls, tlsCa: certs.key }, 'tlsCa', /PEM certificates/],
    ];
    for (const [options, option, message] of cases) {
      const err = refusal(options);
      assert.equal(err.option, option, err.message);
      assert.match(err.message, message);
    }
    const ok = resolveConfig({ ...tls, tlsCa: certs.intermediate });
    assert.deepEqual([ok.tlsCert, ok.tlsKey, ok.tlsCa], [certs.cert, certs.key, certs.intermediate]);
    assert.deepEqual([resolveConfig({}).tlsCert, resolveConfig({}).tlsKey, resolveConfig({}).tlsCa], [null, null, null]);
  });

  test('a key file that vanished after validation stops the shards with a clear message', async () => {
    const key = join(certs.dir, 'vanishing.key');
    copyFileSync(certs.key, key);
    const config = resolveConfig({ port: 0, workers: 1, logLevel: 'silent', tlsCert: certs.cert, tlsKey: key });
    rmSync(key);
    await assert.rejects(startWithConfig(config, createLogger('silent')), /shard 0 could not serve TLS with --tls-cert .*server\.pem and --tls-key .*vanishing\.key: App construction failed/);
  });

  test('the CLI exits 2 for a key that does not match the certificate', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SHARDCAST_') && k !== 'NODE_TEST_CONTEXT' && k !== 'NODE_OPTIONS'));
      const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--tls-cert', certs.cert, '--tls-key', certs.otherKey], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^shardcast: invalid tlsKey: ".*other\.key" \(the private key of --tls-cert .*server\.pem, but it does not match that certificate\)$/m);
  });
});
