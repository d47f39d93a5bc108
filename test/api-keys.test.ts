/**
 * HTTP API keys: several keys at once for rotation (--api-key a,b and --api-key-file, one
 * key per line), each accepted and nothing else; keys are read and checked at start (a
 * refusal names the option and the line, never the key); `shardcast publish` and `serve`
 * take the file too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { resolveConfig, startServer } from '../src/index.js';
import { refusal } from './helpers/config.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'shardcast-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SHARDCAST_') && k !== 'NODE_TEST_CONTEXT' && k !== 'NODE_OPTIONS'));
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('API keys in the configuration', () => {
  test('--api-key takes one key or a comma-separated list; the file one key per line, with blank lines and # comments', () => {
    const local = { host: '127.0.0.1' };
    assert.deepEqual(resolveConfig({ ...local, apiKey: 'only-one-key' }).apiKeys, ['only-one-key']);
    assert.deepEqual(resolveConfig({ ...local, apiKey: 'old-key-1234, new-key-5678' }).apiKeys, ['old-key-1234', 'new-key-5678']);
    const keys = file('keys', '# rotated 2026-12\r\n\n  current-key-0001  \nnext-key-0002\n\n# old: gone\n');
    assert.deepEqual(resolveConfig({ ...local, apiKeyFile: keys }).apiKeys, ['current-key-0001', 'next-key-0002']);
    // both: every key of both, once each
    assert.deepEqual(resolveConfig({ ...local, apiKey: 'cli-key-0003,next-key-0002', apiKeyFile: keys }).apiKeys, ['cli-key-0003', 'next-key-0002', 'current-key-0001']);
    // a key from a file counts as a key for the start-up rules (0.0.0.0 by default)
    assert.equal(resolveConfig({ apiKeyFile: keys, allowAnonymous: true }).host, '0.0.0.0');
  });

  test('bad key files stop start-up naming the option and the line, never the key', () => {
    const missing = refusal({ apiKeyFile: join(dir, 'nope') });
    assert.equal(missing.option, 'apiKeyFile');
    assert.match(missing.message, /a readable file of API keys, one per line \(ENOENT\)/);
    const directory = refusal({ apiKeyFile: dir });
    assert.match(directory.message, /\(EISDIR\)/);
    const empty = refusal({ apiKeyFile: file('empty', '\n# nothing yet\n  \n') });
    assert.match(empty.message, /a file with at least one API key/);
    const short = refusal({ apiKeyFile: file('short', 'long-enough-key\nshort12\n') });
    assert.equal(short.option, 'apiKeyFile');
    assert.match(short.message, /line 2/);
    assert.match(short.message, /keys of at least 8 characters/);
    assert.ok(!short.message.includes('short12') && !short.message.includes('long-enough-key'), short.message);
    const spaced = refusal({ apiKeyFile: file('spaced', 'has a space inside\n') });
    assert.match(spaced.message, /visible ASCII characters, without spaces/);
    assert.ok(!spaced.message.includes('space inside'), spaced.message);
    const listed = refusal({ apiKey: 'good-key-1234,bad' });
    assert.equal(listed.option, 'apiKey');
    assert.match(listed.message, /key 2 of 2/);
    assert.ok(!listed.message.includes('good-key-1234') && !listed.message.includes('bad,'), listed.message);
    assert.match(refusal({ apiKey: Array.from({ length: 101 }, (_, i) => `key-number-${i}`).join(',') }).message, /at most 100 API keys/);
  });
});

describe('API keys on a running server', { timeout: 60_000 }, () => {
  test('every configured key is accepted, anything else is refused 401', async () => {
    const keys = file('server-keys', 'file-key-9012\n');
    const server = await startServer({ port: 0, workers: 2, logLevel: 'silent', host: '127.0.0.1', apiKey: 'old-key-1234,new-key-5678', apiKeyFile: keys });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const publish = async (authorization: string | null): Promise<number> => {
        const res = await fetch(`${base}/api/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(authorization === null ? {} : { authorization }) },
          body: JSON.stringify({ channel: 'keys', data: 1 }),
        });
        await res.arrayBuffer();
        return res.status;
      };
      for (const key of ['old-key-1234', 'new-key-5678', 'file-key-9012']) {
        assert.equal(await publish(`Bearer ${key}`), 200, key);
        assert.equal(await publish(`bearer  ${key}`), 200, `${key}, scheme in lower case`);
      }
      for (const wrong of ['Bearer old-key-123', 'Bearer old-key-12345', 'Bearer new-key-5678,old-key-1234', 'Bearer ', 'Basic b2xkLWtleS0xMjM0', 'old-key-1234', '']) {
        assert.equal(await publish(wrong), 401, wrong);
      }
      assert.equal(await publish(null), 401);
      const stats = await fetch(`${base}/api/stats`, { headers: { authorization: 'Bearer file-key-9012' } });
      assert.equal(stats.status, 200);
      await stats.arrayBuffer();
      assert.equal(server.stats().main.published, 6);
    } finally {
      await server.close();
    }
  });

  test('the CLI: serve refuses a missing key file (exit 2); publish sends the first key of a file', async () => {
    const r = await cli(['serve', '--port', '0', '--api-key-file', join(dir, 'absent')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /invalid apiKeyFile: ".*absent" \(a readable file of API keys, one per line \(ENOENT\)\)/);
    const server = await startServer({ port: 0, workers: 1, logLevel: 'silent', host: '127.0.0.1', apiKey: 'cli-key-0001' });
    try {
      const keys = file('cli-keys', '# the current key\ncli-key-0001\nnext-key-0002\n');
      const ok = await cli(['publish', '--url', `http://127.0.0.1:${server.port}`, '--api-key-file', keys, 'room', '1']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(JSON.parse(ok.stdout), { seq: 1 });
      const viaEnv = await cli(['publish', '--url', `http://127.0.0.1:${server.port}`, 'room', '2'], { SHARDCAST_API_KEY: 'cli-key-0001,next-key-0002' });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      const wrong = await cli(['publish', '--url', `http://127.0.0.1:${server.port}`, '--api-key', 'next-key-0002', 'room', '3']);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /HTTP 401/);
    } finally {
      await server.close();
    }
  });
});
