/**
 * Closed by default, on a running server: anonymous connections subscribe only to
 * --anonymous-channels (else `forbidden`, the connection stays, counted) and publish only to
 * --client-publish; the server says at start what anonymous connections may do. The
 * start-up refusals beyond loopback are in config.test.ts (resolveConfig and the CLI).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, startServer, type ShardcastServer } from '../src/index.js';
import { createLogger } from '../src/engine/logger.js';
import { TestClient } from './helpers/client.js';

describe('anonymous connections', () => {
  let server: ShardcastServer;
  const lines: string[] = [];
  const opened: TestClient[] = [];
  const connect = async (): Promise<TestClient> => {
    const c = await TestClient.connect(server.port);
    opened.push(c);
    return c;
  };

  before(async () => {
    server = await startServer(
      { port: 0, workers: 2, host: '127.0.0.1', anonymousChannels: 'news:*,lobby', clientPublish: 'lobby' },
      createLogger('info', (l) => void lines.push(l)),
    );
  });

  after(async () => {
    for (const c of opened) c.close();
    await server?.close();
  });

  it('says at start what an anonymous connection may do', () => {
    const said = lines.filter((l) => l.includes('anonymous WebSocket connections allowed'));
    assert.equal(said.length, 1, lines.join(''));
    const line = JSON.parse(said[0]!) as { level: string; event: string; msg: string };
    assert.equal(line.level, 'info');
    assert.equal(line.event, 'anonymous_access');
    assert.equal(line.msg, 'anonymous WebSocket connections allowed: they may subscribe to news:*,lobby and publish to lobby (loopback: open for local development)');
  });

  it('subscribe only to channels matching --anonymous-channels; others are forbidden and the connection stays', async () => {
    const c = await connect();
    const before = server.stats().totals;
    for (const channel of ['news:', 'news:eu', 'lobby', 'lobby2', 'secret', 'new']) c.send({ type: 'subscribe', channel });
    c.send({ type: 'ping' });
    await c.waitFor((m) => m.type === 'pong');
    const answers = c.inbox.filter((m) => m.type === 'subscribed' || m.type === 'error');
    assert.deepEqual(
      answers.map((m) => (m.type === 'subscribed' ? `ok ${String(m['channel'])}` : `${String(m['code'])} ${String(m['ref'])} ${String(m['message'])}`)),
      [
        'ok news:',
        'ok news:eu',
        'ok lobby',
        `${ErrorCode.Forbidden} subscribe anonymous connections may not subscribe to lobby2`,
        `${ErrorCode.Forbidden} subscribe anonymous connections may not subscribe to secret`,
        `${ErrorCode.Forbidden} subscribe anonymous connections may not subscribe to new`,
      ],
    );
    assert.equal(c.closed, null);
    const totals = server.stats().totals;
    assert.equal(totals.forbiddenSubscribe - before.forbiddenSubscribe, 3);
    assert.match(await server.metrics(), /^shardcast_shard_forbidden_subscribe_total\{shard="\d"\} [1-9]/m);
    // a forbidden channel takes no subscription: publishing there reaches nobody, news does
    await server.publish('secret', 1);
    await server.publish('news:eu', 2);
    await c.until(() => c.messages('news:eu').length === 1, 5000, 'news:eu');
    assert.equal(c.messages('secret').length, 0);
    const channels = (await server.channels()).map((x) => x.channel);
    assert.ok(!channels.includes('secret') && channels.includes('news:eu'), channels.join(','));
  });

  it('publish only where --client-publish says, even on channels they may read', async () => {
    const c = await connect();
    c.send({ type: 'publish', channel: 'news:eu', data: 1, id: 'n' });
    c.send({ type: 'publish', channel: 'lobby', data: 2, id: 'l' });
    const refused = await c.waitFor((m) => m.type === 'error' && m['ref'] === 'n');
    assert.equal(refused['code'], ErrorCode.PublishForbidden);
    const ack = await c.waitFor((m) => m.type === 'ack' && m['id'] === 'l');
    assert.equal(typeof ack['seq'], 'number');
  });
});

describe('anonymous connections with --no-anonymous-channels', () => {
  it('may subscribe to nothing, and are told so', async () => {
    const server = await startServer({ port: 0, workers: 1, logLevel: 'silent', anonymousChannels: false, clientPublish: false });
    const c = await TestClient.connect(server.port);
    try {
      c.send({ type: 'subscribe', channel: 'anything' });
      const e = await c.waitFor((m) => m.type === 'error');
      assert.equal(e['code'], 'forbidden');
      assert.equal(e['message'], 'anonymous connections may subscribe to no channel on this server');
      assert.equal(server.stats().totals.forbiddenSubscribe, 1);
    } finally {
      c.close();
      await server.close();
    }
  });
});
