/**
 * The `httpWaiting` gauge (src/shard/held-requests.ts; shardcast_shard_http_waiting): HTTP
 * requests a shard holds open count while held — here publishes whose body has not all
 * arrived — and stop counting when answered or when their client goes away. Main's ingress
 * reads the same slot to decide whether to nap between batches (RingPump).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { parseScrape, sum } from './helpers/prometheus.js';

const KEY = 'http-waiting-key-0001';

describe('HTTP requests held open are counted while held', () => {
  let server: ShardcastServer;
  const sockets: Socket[] = [];
  const waiting = async (): Promise<number> =>
    sum(parseScrape(await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text()), 'shardcast_shard_http_waiting');
  const waitFor = async (n: number): Promise<void> => {
    const deadline = Date.now() + 10_000;
    let last = -1;
    while ((last = await waiting()) !== n) {
      if (Date.now() > deadline) assert.fail(`shardcast_shard_http_waiting stayed ${last}, expected ${n}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  before(async () => {
    server = await startServer({ host: '127.0.0.1', port: 0, workers: 1, logLevel: 'silent', adminPort: 0, apiKey: KEY });
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await server.close();
  });

  it('rises with requests held mid-body and falls back to 0 when their clients leave', async () => {
    assert.equal(await waiting(), 0);
    for (let i = 0; i < 3; i++) {
      const s = connect(server.port, '127.0.0.1');
      sockets.push(s);
      await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
      s.write(`POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"channel":"held-${i}",`);
    }
    await waitFor(3);
    // an ordinary publish is answered and leaves the count where it was
    const ok = await fetch(`http://127.0.0.1:${server.port}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'answered', data: 1 }),
    });
    assert.equal(ok.status, 200);
    assert.equal(await waiting(), 3);
    for (const s of sockets.splice(0)) s.destroy();
    await waitFor(0);
  });
});
