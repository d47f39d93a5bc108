/**
 * Graceful shutdown of the real CLI process: on SIGTERM (and SIGINT) every client gets
 * 1001, every shard closes its sockets, and the process exits 0 within a bounded time —
 * never the uv_loop_close abort a worker holding uWS sockets would cause.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { CloseCode } from '../src/index.js';
import { connectMany } from './helpers/client.js';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  describe(`shutdown on ${signal}`, () => {
    it('closes every client with 1001 and exits 0', async () => {
      const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, sig) => r({ code, signal: sig })));
      try {
        const port = await new Promise<number>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`no listening line in: ${out}`)), 10_000);
          child.stdout.on('data', () => {
            const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
            if (m) {
              clearTimeout(t);
              resolve(Number(m[1]));
            }
          });
        });
        const clients = await connectMany(port, 100);
        await Promise.all(clients.map((c) => c.subscribe('x')));
        assert.ok(new Set(clients.map((c) => c.welcome!.shard)).size === 2);

        const t0 = Date.now();
        child.kill(signal);
        const result = await exited;
        assert.deepEqual(result, { code: 0, signal: null }, out);
        assert.ok(Date.now() - t0 < 8000, 'exits within the shutdown bound');
        for (const c of clients) assert.equal((await c.waitClosed(5000)).code, CloseCode.GoingAway);
        assert.doesNotMatch(out, /Assertion failed|uv_loop_close/);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      }
    });
  });
}
