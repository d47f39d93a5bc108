/**
 * /dashboard without a browser: where it is served and when (--dashboard, the loopback
 * default, --admin-port), that it asks for the API key when the server has one (Bearer, or
 * Basic with the key as the password, as a browser sends after the 401's challenge), what its
 * feed says (the connections clients opened), the admin port's publish route, and that the
 * feed stops costing when the last page closes: the main thread's sample count (a real
 * counter in /metrics) stands still once no page is open. The page itself in a browser:
 * dashboard-browser.test.ts.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { resolveConfig } from '../src/engine/config.js';
import { refusal } from './helpers/config.js';
import { EventStream } from './helpers/event-stream.js';
import { parseScrape } from './helpers/prometheus.js';
import { TestClient } from './helpers/client.js';
import { sleep, waitUntil } from './helpers/wait.js';

const KEY = 'dashboard-test-key';
const get = (port: number, path: string, init: RequestInit = {}): Promise<Response> => fetch(`http://127.0.0.1:${port}${path}`, { ...init, signal: AbortSignal.timeout(5000) });

async function metric(port: number, name: string): Promise<number> {
  const text = await (await get(port, '/metrics')).text();
  return parseScrape(text).samples.find((s) => s.name === name)!.value;
}

describe('/dashboard', () => {
  const servers: ShardcastServer[] = [];
  const start = async (o: Parameters<typeof startServer>[0]): Promise<ShardcastServer> => {
    const s = await startServer({ host: '127.0.0.1', port: 0, workers: 2, logLevel: 'silent', ...o });
    servers.push(s);
    return s;
  };
  after(async () => {
    for (const s of servers) await s.close();
  });

  it('is on by default on loopback, off by default beyond it, and --dashboard decides', () => {
    assert.equal(resolveConfig({}).dashboard, true);
    const beyond = { host: '0.0.0.0', apiKey: KEY, allowAnonymous: true };
    assert.equal(resolveConfig(beyond).dashboard, false);
    assert.equal(resolveConfig({ ...beyond, dashboard: 'on' }).dashboard, true);
    // the admin port's address is what counts when there is one
    assert.equal(resolveConfig({ ...beyond, adminPort: 9100 }).dashboard, true);
    assert.equal(resolveConfig({ dashboard: 'off' }).dashboard, false);
    assert.equal(refusal({ dashboard: 'yes' }).option, 'dashboard');
  });

  it('--dashboard off: 404 for the page, its files and its feed, on either port', async () => {
    const pub = await start({ dashboard: 'off' });
    const adm = await start({ dashboard: 'off', adminPort: 0 });
    for (const [port, path] of [[pub.port, '/dashboard'], [pub.port, '/dashboard/feed'], [pub.port, '/dashboard/assets/dashboard.js'], [adm.adminPort!, '/dashboard'], [adm.adminPort!, '/dashboard/feed'], [adm.port, '/dashboard']] as const) {
      const res = await get(port, path);
      assert.equal(res.status, 404, `${port} ${path}`);
      await res.body?.cancel();
    }
  });

  it('with an API key (which beyond loopback the server must have): 401 offering Basic without it; the key as Bearer or as the Basic password lets in', async () => {
    const pub = await start({ apiKey: KEY });
    const adm = await start({ apiKey: KEY, adminPort: 0 });
    for (const port of [pub.port, adm.adminPort!]) {
      for (const path of ['/dashboard', '/dashboard/feed', '/dashboard/assets/uPlot.iife.min.js']) {
        for (const authorization of [undefined, 'Bearer wrong-key-1234', `Basic ${Buffer.from('ops:wrong').toString('base64')}`]) {
          const res = await get(port, path, { headers: authorization ? { authorization } : {} });
          assert.equal(res.status, 401, `${port} ${path} ${authorization}`);
          assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="shardcast dashboard"/);
          assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unauthorized');
        }
      }
      for (const authorization of [`Bearer ${KEY}`, `Basic ${Buffer.from(`ops:${KEY}`).toString('base64')}`]) {
        const page = await get(port, '/dashboard', { headers: { authorization } });
        assert.equal(page.status, 200);
        assert.match(page.headers.get('content-type')!, /^text\/html/);
        assert.match(page.headers.get('content-security-policy')!, /default-src 'self'/);
        assert.match(await page.text(), /<title>Shardcast dashboard<\/title>/);
      }
    }
    // publishing from the page is another act: the key typed in as a Bearer, never the Basic login
    const publish = (authorization: string): Promise<Response> => get(adm.adminPort!, '/dashboard/publish', { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: '{"channel":"k","data":1}' });
    const basic = await publish(`Basic ${Buffer.from(`ops:${KEY}`).toString('base64')}`);
    assert.equal(basic.status, 401);
    assert.equal(basic.headers.get('www-authenticate'), null, 'no login prompt for a publish');
    await basic.body?.cancel();
    const bearer = await publish(`Bearer ${KEY}`);
    assert.deepEqual([bearer.status, await bearer.json()], [200, { seq: 1 }]);
  });

  for (const where of ['public port', 'admin port'] as const) {
    it(`feed on the ${where}: hello with history, samples with the connections clients opened; when the page closes the samples stop`, async () => {
      const s = await start(where === 'admin port' ? { adminPort: 0 } : {});
      const port = where === 'admin port' ? s.adminPort! : s.port;
      // no page yet: the feed takes no sample
      await sleep(1200);
      assert.equal(await metric(port, 'shardcast_dashboard_samples_total'), 0, 'nothing while nobody watches');
      const clients = await Promise.all([TestClient.connect(s.port), TestClient.connect(s.port)]);
      const feed = await EventStream.open(`http://127.0.0.1:${port}/dashboard/feed`);
      try {
        assert.equal(feed.status, 200);
        await waitUntil(() => feed.all('sample').length >= 2 && feed.all('channels').length >= 1, 10_000, 'two samples and a channel table');
        const hello = feed.all<{ shards: number; history: unknown[]; port: number }>('hello')[0]!;
        assert.equal(hello.shards, 2);
        assert.equal(hello.port, s.port);
        assert.ok(Array.isArray(hello.history));
        const last = feed.all<{ conns: number; shardConns: number[]; up: boolean[] }>('sample').at(-1)!;
        assert.equal(last.conns, 2);
        assert.equal(last.shardConns.reduce((a, b) => a + b, 0), 2);
        assert.deepEqual(last.up, [true, true]);
        assert.equal(await metric(port, 'shardcast_dashboard_viewers'), 1);
      } finally {
        feed.close();
        for (const c of clients) c.close();
      }
      let viewers = 1;
      const deadline = Date.now() + 10_000;
      while (viewers !== 0 && Date.now() < deadline) {
        viewers = await metric(port, 'shardcast_dashboard_viewers');
        if (viewers !== 0) await sleep(50);
      }
      assert.equal(viewers, 0, 'the closed page is gone from the feed');
      const samples = await metric(port, 'shardcast_dashboard_samples_total');
      await sleep(2500);
      assert.equal(await metric(port, 'shardcast_dashboard_samples_total'), samples, 'no sample once no page is open: the timer stopped');
    });
  }

  it('a shard that dies with pages open takes them out of the feed; with none left the samples stop', async () => {
    const s = await start({ testHooks: true });
    const feed = await EventStream.open(`http://127.0.0.1:${s.port}/dashboard/feed`);
    try {
      await waitUntil(() => feed.all('sample').length >= 1, 10_000, 'a sample');
      const restarts = s.stats().main.shardRestarts;
      // the page is on one of the two shards (the kernel chose): fault both
      s.injectFault(0);
      s.injectFault(1);
      await waitUntil(() => s.stats().main.shardRestarts >= restarts + 2 && s.stats().liveShards === 2, 20_000, 'both shards replaced');
      assert.equal(await metric(s.port, 'shardcast_dashboard_viewers'), 0);
      const samples = await metric(s.port, 'shardcast_dashboard_samples_total');
      await sleep(2500);
      assert.equal(await metric(s.port, 'shardcast_dashboard_samples_total'), samples, 'the timer stopped with the last page');
    } finally {
      feed.close();
    }
  });

  it('admin port: POST /dashboard/publish publishes as /api/publish does; bad bodies get 400', async () => {
    const s = await start({ adminPort: 0 });
    const client = await TestClient.connect(s.port);
    try {
      await client.subscribe('room:admin-publish');
      const post = (body: string): Promise<Response> => get(s.adminPort!, '/dashboard/publish', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const ok = await post(JSON.stringify({ channel: 'room:admin-publish', data: { n: 1 } }));
      assert.deepEqual([ok.status, await ok.json()], [200, { seq: 1 }]);
      assert.deepEqual((await client.waitFor((m) => m.type === 'message')).data, { n: 1 });
      for (const [body, code] of [['{', 'bad_json'], ['{"channel":"a"}', 'bad_message'], ['{"channel":"bad channel!","data":1}', 'bad_channel']] as const) {
        const res = await post(body);
        assert.equal(res.status, 400, body);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, code, body);
      }
      const wrongMethod = await get(s.adminPort!, '/dashboard/publish');
      assert.equal(wrongMethod.status, 405);
      await wrongMethod.body?.cancel();
    } finally {
      client.close();
    }
  });
});
