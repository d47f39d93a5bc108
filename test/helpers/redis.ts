/**
 * RedisServer — a private redis-server (Debian's package) for a test: loopback only, a free
 * port, no persistence (--save '' --appendonly no), its own empty directory. kill() ends it
 * with SIGKILL (an outage); start() again brings it back, empty, on the same port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** PEM files for a TLS-only instance (no plain port): the certificate (with its chain) and key. */
export interface RedisTls {
  readonly cert: string;
  readonly key: string;
}

export class RedisServer {
  private child: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly tls: RedisTls | null,
    /** More redis-server arguments (a cluster node's, redis-cluster.ts). */
    private readonly extra: readonly string[] = [],
  ) {}

  get url(): string {
    return `${this.tls === null ? 'redis' : 'rediss'}://127.0.0.1:${this.port}`;
  }

  /** The running instance's process id (its CPU can be measured from /proc). */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Starts a fresh instance on a free port (a few tries, in case another process took it). */
  static async create(tls: RedisTls | null = null, extra: readonly string[] = []): Promise<RedisServer> {
    let last: unknown;
    for (let tries = 0; tries < 5; tries++) {
      const r = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'shardcast-redis-')), tls, extra);
      try {
        await r.start();
        return r;
      } catch (err) {
        last = err;
        rmSync(r.dir, { recursive: true, force: true });
      }
    }
    throw last;
  }

  /** (Re)starts the server on its port; resolves once it accepts connections. */
  start(): Promise<void> {
    const port = this.tls === null ? ['--port', String(this.port)] : ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', this.tls.cert, '--tls-key-file', this.tls.key, '--tls-auth-clients', 'no'];
    const child = spawn('redis-server', [...port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--loglevel', 'notice', ...this.extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => fail(new Error(`redis-server on ${this.port} did not start within 10 s: ${out}`)), 10_000);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(err);
      };
      child.once('error', (err) => fail(new Error(`cannot run redis-server (apt-get install redis-server): ${err.message}`)));
      child.once('exit', (code) => fail(new Error(`redis-server on ${this.port} exited with ${code}: ${out}`)));
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          child.removeAllListeners('exit');
          child.stdout!.removeAllListeners('data');
          child.stdout!.resume();
          resolve();
        }
      });
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    });
  }

  /** SIGSTOP: the process stays, its connections stay open, nothing is read or answered (until kill()). */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** SIGKILL: Redis is gone at once, as in a crash; resolves once the process has exited. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
