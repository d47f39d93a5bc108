/**
 * A node killed with SIGKILL: one Shardcast node runs as a child process (`shardcast serve
 * --broker redis`), another in this process, both on one private redis-server. Clients made
 * with the client library reach the child through a loopback TCP proxy — the client takes one
 * URL and has no URL provider, so the proxy plays the load balancer and the test re-points it
 * to the surviving node. Publishing never stops on the survivor; the child is killed; while
 * the proxy still points at the dead node the clients' reconnects are refused and messages go
 * by; once it points at the survivor every client reconnects there, resubscribes with `since`,
 * and gets every message exactly once, in order: recovered true, no gap, no duplicate.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { LogProcess } from './helpers/log-process.js';
import { RecordingClient } from './helpers/recording-client.js';
import { RedisServer } from './helpers/redis.js';
import { sleep, waitUntil } from './helpers/wait.js';

const CHANNEL = 'sigkill';

/** A loopback TCP proxy: each new connection goes to the first of `backends` that accepts it (none: closed). */
class FailoverProxy {
  port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(public backends: number[]) {
    this.server = createServer((down) => this.accept(down));
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => {
      this.port = (this.server.address() as { port: number }).port;
      resolve();
    }));
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    s.on('error', () => {}); // the other side's close ends the pair
  }

  private accept(down: Socket, tried = 0): void {
    if (tried === 0) this.track(down);
    const port = this.backends[tried];
    if (port === undefined || down.destroyed) return void down.destroy();
    const up = connect(port, '127.0.0.1');
    // refused before it connected: that node is gone, try the next one
    const refused = (): void => this.accept(down, tried + 1);
    up.once('error', refused);
    up.once('connect', () => {
      up.off('error', refused);
      this.track(up);
      down.pipe(up);
      up.pipe(down);
      // a node gone (SIGKILL: the kernel resets its sockets) ends the client's connection too
      up.once('close', () => down.destroy());
      down.once('close', () => up.destroy());
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('a node killed with SIGKILL', () => {
  let redis: RedisServer;
  let survivor: ShardcastServer;
  let child: LogProcess;
  let proxy: FailoverProxy;
  let childPort: number;
  const clients: RecordingClient[] = [];

  before(async () => {
    redis = await RedisServer.create();
    survivor = await startServer({ port: 0, host: '127.0.0.1', workers: 2, logLevel: 'silent', broker: 'redis', redisUrl: redis.url, clientPublishRate: 0, historySize: 1000 });
    child = LogProcess.cli(['--broker', 'redis', '--redis-url', redis.url, '--port', '0', '--host', '127.0.0.1', '--workers', '2', '--history-size', '1000']);
    const start = await child.waitEvent('start');
    childPort = start['port'] as number;
    proxy = new FailoverProxy([childPort, survivor.port]);
    await proxy.listen();
  });

  after(async () => {
    for (const c of clients) c.close();
    child?.kill();
    await child?.exited;
    await proxy?.close();
    await survivor?.close();
    await redis?.stop();
  });

  it('its library clients reconnect to the surviving node and recover every message: recovered true, no gap, no duplicate', async () => {
    // clients until both shards of the child have two (the kernel picks the shard)
    const onChild: RecordingClient[] = [];
    for (let tries = 0; tries < 60 && onChild.length < 4; tries++) {
      const c = new RecordingClient(proxy.port, { format: 'json' });
      clients.push(c);
      await c.client.ready();
      if (onChild.filter((k) => k.shard() === c.shard()).length < 2) onChild.push(c);
      else c.close();
    }
    assert.equal(onChild.length, 4, 'two clients on each shard of the child');
    // half of them in MessagePack
    for (let i = 0; i < 2; i++) {
      const c = new RecordingClient(proxy.port, { format: 'msgpack' });
      clients.push(c);
      await c.client.ready();
      onChild.push(c);
    }
    const starts = await Promise.all(onChild.map((c) => c.client.subscribe(CHANNEL)));

    // the survivor publishes every 5 ms until stop(); the child relays them from Redis
    let n = 0;
    const sent: Array<Promise<number>> = [];
    const timer = setInterval(() => sent.push(survivor.publish(CHANNEL, { n: n++ })), 5);
    const stop = async (): Promise<number> => {
      clearInterval(timer);
      await Promise.all(sent);
      return survivor.publish(CHANNEL, 'last');
    };
    let last: number;
    try {
      for (const c of onChild) await c.until(() => c.seqs(CHANNEL).length >= 10, 'messages through the child', 10_000);
      const childPid = child.child.pid;
      proxy.backends = [childPort];
      child.child.kill('SIGKILL');
      assert.deepEqual(await child.exited, { code: null, signal: 'SIGKILL' });
      // the balancer has not noticed yet: reconnects are refused while 30 more messages go by
      const outage = sent.length + 30;
      for (const c of onChild) await c.until(() => c.events('close').length >= 1, 'the connection lost', 10_000);
      await waitUntil(() => sent.length >= outage, 10_000, '30 publishes during the outage');
      proxy.backends = [survivor.port];
      for (const c of onChild) await c.until(() => c.events('subscribed').some((s) => s.resubscribe), `resubscription after killing ${childPid}`, 20_000);
      await sleep(100); // publishes after the resubscription too
    } finally {
      last = await stop();
    }

    for (const [i, c] of onChild.entries()) {
      const where = `client ${i} (${i < 4 ? 'json' : 'msgpack'})`;
      await c.until(() => c.seqs(CHANNEL).at(-1) === last, `the last message (${where})`, 20_000);
      const closes = c.events('close');
      assert.equal(closes[0]!.code, 1006, `the connection died with the node (${where})`);
      assert.ok(closes.every((e) => e.reconnectInMs !== null), `every close reconnectable (${where})`);
      const lost = c.log.findIndex((e) => e[0] === 'close');
      const before = c.log.slice(0, lost).filter((e) => e[0] === 'message').length;
      const opens = c.events('open');
      assert.equal(opens.length, 2, `one reconnect (${where})`);
      const resub = c.events('subscribed').filter((s) => s.resubscribe);
      assert.equal(resub.length, 1, where);
      assert.equal(resub[0]!.recovered, true, `recovered (${where})`);
      assert.ok(resub[0]!.seq - starts[i]!.seq - before >= 30, `it missed the outage's messages, so recovery replayed them (${where})`);
      const epochs = new Set(c.events('message').filter((d) => d.channel === CHANNEL).map((d) => d.epoch));
      assert.deepEqual([...epochs], [resub[0]!.epoch], `one epoch on both nodes, before and after (${where})`);
      assert.deepEqual(c.accounted(CHANNEL, starts[i]!.seq + 1, last), { delivered: last - starts[i]!.seq, gaps: 0 }, `every message once, in order (${where})`);
      assert.equal(c.client.duplicates(), 0, `no duplicate (${where})`);
      assert.deepEqual([c.events('unrecovered'), c.events('error')], [[], []], where);
    }
  });
});
