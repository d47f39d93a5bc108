/**
 * Key rotation without a restart: the API key file and the JWT key file are read again on
 * reloadCredentials() (SIGHUP for `shardcast serve`). Afterwards every shard — and a shard
 * restarted later — accepts the new keys and refuses the removed ones, open connections stay,
 * a token cached under a removed key is not accepted from the cache, and a file that no longer
 * passes the start-up checks changes nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { ConfigError, startServer } from '../src/index.js';
import { TestClient } from './helpers/client.js';
import { upgrade } from './helpers/upgrade.js';
import { waitUntil } from './helpers/wait.js';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'shardcast-reload-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Each attempt is a new TCP connection, so the kernel spreads them over both shards. */
const ATTEMPTS = 16;

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

/** POST /api/publish with `key` on a fresh connection: the HTTP status. */
function publishWith(port: number, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ channel: 'keys', data: 1 });
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/publish', agent: false, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end(body);
  });
}

async function statuses(n: number, attempt: () => Promise<number>): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) seen.add(await attempt());
  return seen;
}

/** Upgrades with `token` until both shards accepted one; fails if any is refused. */
async function acceptedOnBothShards(port: number, token: string): Promise<void> {
  const shards = new Set<number>();
  for (let i = 0; i < 64 && shards.size < 2; i++) {
    const c = await TestClient.connectWith(port, { headers: { authorization: `Bearer ${token}` } });
    shards.add(c.welcome!.shard);
    c.close();
  }
  assert.deepEqual([...shards].sort(), [0, 1]);
}

async function refusedEverywhere(port: number, token: string): Promise<void> {
  const seen = await statuses(ATTEMPTS, async () => {
    const a = await upgrade(port, { headers: { authorization: `Bearer ${token}` } });
    a.socket?.destroy();
    return a.status;
  });
  assert.deepEqual([...seen], [401]);
}

async function esKey(kid: string): Promise<{ jwk: object; sign: (sub: string) => Promise<string> }> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid, use: 'sig' };
  const sign = (sub: string): Promise<string> =>
    new SignJWT({ channels: ['*'] }).setProtectedHeader({ alg: 'ES256', kid }).setSubject(sub).setExpirationTime('10m').sign(pair.privateKey);
  return { jwk, sign };
}

describe('credential reload', () => {
  it('API keys: the new file takes over on every shard; the old key is refused', async () => {
    const keys = write('api-keys', 'old-key-0001\n');
    const server = await startServer({ host: '127.0.0.1', port: 0, workers: 2, logLevel: 'silent', apiKeyFile: keys });
    try {
      assert.deepEqual([...(await statuses(ATTEMPTS, () => publishWith(server.port, 'old-key-0001')))], [200]);
      write('api-keys', '# rotated\nnew-key-0002\n');
      assert.deepEqual(await server.reloadCredentials(), { apiKeys: 1, jwt: null, jwtKeys: 0 });
      assert.deepEqual(server.config.apiKeys, ['new-key-0002']);
      assert.deepEqual([...(await statuses(ATTEMPTS, () => publishWith(server.port, 'old-key-0001')))], [401]);
      assert.deepEqual([...(await statuses(ATTEMPTS, () => publishWith(server.port, 'new-key-0002')))], [200]);
    } finally {
      await server.close();
    }
  });

  it('JWKS: a removed kid is refused (even a token verified before), open connections stay, a bad file changes nothing, a restarted shard has the new keys', async () => {
    const k1 = await esKey('k1');
    const k2 = await esKey('k2');
    const jwks = write('jwks.json', JSON.stringify({ keys: [k1.jwk] }));
    const server = await startServer({ port: 0, workers: 2, logLevel: 'silent', jwksFile: jwks, testHooks: true });
    const open: TestClient[] = [];
    try {
      const oldToken = await k1.sign('alice');
      const newToken = await k2.sign('bob');
      await refusedEverywhere(server.port, newToken);
      // connections on both shards under the old key; their tokens sit in each shard's cache
      for (let i = 0; i < 64 && new Set(open.map((c) => c.welcome!.shard)).size < 2; i++) {
        open.push(await TestClient.connectWith(server.port, { headers: { authorization: `Bearer ${oldToken}` } }));
      }
      for (const c of open) await c.subscribe('live');

      write('jwks.json', JSON.stringify({ keys: [k2.jwk] }));
      assert.deepEqual(await server.reloadCredentials(), { apiKeys: 0, jwt: 'jwks', jwtKeys: 1 });
      await refusedEverywhere(server.port, oldToken);
      await acceptedOnBothShards(server.port, newToken);
      // open connections keep the permissions they were given
      const seq = await server.publish('live', 'still here');
      for (const c of open) {
        assert.equal((await c.waitFor((m) => m.type === 'message' && m['seq'] === seq))['data'], 'still here');
        assert.equal(c.closed, null);
      }

      // a file that no longer passes the start-up checks: rejected, the keys in force stay
      write('jwks.json', '{"keys": "not a list"}');
      await assert.rejects(server.reloadCredentials(), (err: unknown) => err instanceof ConfigError && err.option === 'jwksFile');
      await acceptedOnBothShards(server.port, newToken);
      assert.equal(server.config.jwt?.jwks?.keys.length, 1);

      // a shard restarted after the reload starts with the keys in force, not those of the start
      const restarts = server.stats().main.shardRestarts;
      server.injectFault(0);
      await waitUntil(() => server.stats().liveShards === 2 && server.stats().main.shardRestarts > restarts, 10_000, 'shard 0 restarted');
      await refusedEverywhere(server.port, oldToken);
      await acceptedOnBothShards(server.port, newToken);
    } finally {
      for (const c of open) c.close();
      await server.close();
    }
  });

  it('shardcast serve reloads on SIGHUP and logs what it loaded, or why not', async () => {
    const keys = write('cli-keys', 'first-key-0001\n');
    const child = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--workers', '1', '--api-key-file', keys], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      await waitUntil(() => /listening on 127\.0\.0\.1:\d+/.test(out) || child.exitCode !== null, 15_000, 'the start line');
      assert.equal(child.exitCode, null, out);
      const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
      assert.equal(await publishWith(port, 'first-key-0001'), 200);
      write('cli-keys', 'second-key-0002\nthird-key-0003\n');
      child.kill('SIGHUP');
      await waitUntil(() => /credentials reloaded: 2 API key\(s\)/.test(out), 10_000, 'the reload line');
      assert.equal(await publishWith(port, 'first-key-0001'), 401);
      assert.equal(await publishWith(port, 'third-key-0003'), 200);
      write('cli-keys', '# nothing\n');
      child.kill('SIGHUP');
      await waitUntil(() => /credentials not reloaded, the previous ones stay in force: .*apiKeyFile/.test(out), 10_000, 'the refusal line');
      assert.equal(await publishWith(port, 'second-key-0002'), 200);
      assert.doesNotMatch(out, /second-key|third-key/, 'no key in the log');
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});
