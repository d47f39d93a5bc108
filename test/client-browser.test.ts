/**
 * The client library in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) loads the compiled client from a loopback static server with
 * `<script type="module">` — no bundler, no import map — connects to a JWT-protected server with
 * its token in the subprotocol list (a browser cannot set headers), receives a published
 * message (JSON, and MessagePack through msgpackr's ES module build), publishes with an ack, and comes back after its shard faults.
 *
 * Skipped, saying so, where /usr/bin/chromium is absent (.ci/run installs it; the Debian 13 root
 * of .ci/node-matrix has none).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer, type ShardcastServer } from '../src/index.js';
import { waitUntil } from './helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const SECRET = 'client-browser-test-secret-0123456789';
/** dist/src: the compiled client and the protocol file it imports, as a browser fetches them. */
const DIST_SRC = fileURLToPath(new URL('../src/', import.meta.url));
/** msgpackr's ES module build (relative imports only), served at /msgpackr/ for the MessagePack client. */
const MSGPACKR = fileURLToPath(new URL('../../node_modules/msgpackr/', import.meta.url));
const skip = existsSync(CHROMIUM) ? false : `no ${CHROMIUM} here (Debian package chromium): the browser test cannot run`;

/** The page: the application a user would write, importing the client by a relative URL. */
function page(wsUrl: string, token: string): string {
  return `<!doctype html><meta charset="utf-8"><title>shardcast client</title>
<script type="module">
import { ShardcastClient } from '/client/index.js';
import { pack, unpack } from '/msgpackr/index.js';
const log = (window.log = { received: [], opens: [], closes: [], errors: [], subs: [], packed: [] });
const packed = new ShardcastClient({ url: ${JSON.stringify(wsUrl)}, token: ${JSON.stringify(token)}, format: 'msgpack', codec: { encode: pack, decode: unpack } });
packed.subscribe('room:browser', (d) => log.packed.push(d)).then(() => (log.packedSubscribed = true));
const client = (window.client = new ShardcastClient({ url: ${JSON.stringify(wsUrl)}, token: ${JSON.stringify(token)}, backoff: { initialMs: 100, maxMs: 500 } }));
client.on('open', (e) => log.opens.push(e));
client.on('close', (e) => log.closes.push(e));
client.on('error', (e) => log.errors.push(e));
client.on('subscribed', (e) => log.subs.push(e));
client.subscribe('room:browser', (d) => log.received.push(d)).then((s) => (log.subscribed = s));
</script>`;
}

/** Serves the page at / and files of dist/src below it (nothing outside it). */
function staticServer(html: () => string): Promise<Server> {
  const srv = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(html());
      return;
    }
    const [root, rest] = path.startsWith('/msgpackr/') ? [MSGPACKR, path.slice('/msgpackr/'.length)] : [DIST_SRC, path];
    const file = normalize(join(root, rest));
    if (!file.startsWith(root) || !file.endsWith('.js') || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

describe('client library in a browser (Chromium)', { skip }, () => {
  let server: ShardcastServer;
  let web: Server;
  let browser: Browser;
  let tab: Page;

  before(async () => {
    server = await startServer({ port: 0, workers: 1, logLevel: 'silent', jwtSecret: SECRET, testHooks: true });
    const token = await new SignJWT({ channels: ['room:*'], publish: ['room:*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('carol').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    web = await staticServer(() => page(`ws://127.0.0.1:${server.port}/ws`, token));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 60_000 });
    tab = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await new Promise((r) => (web ? web.close(r) : r(undefined)));
    await server?.close();
  });

  const inPage = <T>(expr: string): Promise<T> => tab.evaluate(expr) as Promise<T>;

  it('loads as an ES module, connects with the token in the subprotocol, receives, publishes, and reconnects', async () => {
    const address = web.address() as { port: number };
    await tab.goto(`http://127.0.0.1:${address.port}/`);
    await tab.waitForFunction('window.log && window.log.subscribed && window.log.packedSubscribed', undefined, { timeout: 30_000 });
    assert.equal(await inPage<string>('window.log.opens[0].user'), 'carol');

    const seq = await server.publish('room:browser', { hello: 'browser' });
    await tab.waitForFunction(`window.log.received.length === 1`, undefined, { timeout: 10_000 });
    assert.deepEqual(await inPage('window.log.received.map((d) => [d.seq, d.data])'), [[seq, { hello: 'browser' }]]);
    await tab.waitForFunction(`window.log.packed.length === 1`, undefined, { timeout: 10_000 });
    assert.deepEqual(await inPage('window.log.packed.map((d) => [d.seq, d.data])'), [[seq, { hello: 'browser' }]], 'the MessagePack client too');

    const acked = await inPage<number>(`window.client.publish('room:browser', 'from the page')`);
    assert.equal(acked, seq + 1);
    await tab.waitForFunction(`window.log.received.length === 2`, undefined, { timeout: 10_000 });

    // the shard faults: the page reconnects by itself and follows the channel again
    const restarts = server.stats().main.shardRestarts;
    server.injectFault(0);
    await waitUntil(() => server.stats().main.shardRestarts > restarts, 20_000, 'the shard restart');
    await tab.waitForFunction('window.log.subs.some((s) => s.channel === "room:browser" && s.resubscribe)', undefined, { timeout: 20_000 });
    const next = await server.publish('room:browser', 'after');
    await tab.waitForFunction(`window.log.received.some((d) => d.seq === ${next})`, undefined, { timeout: 10_000 });
    assert.deepEqual(await inPage('window.log.received.map((d) => d.seq)'), [seq, seq + 1, next]);
    assert.equal(await inPage('window.log.closes[0].code'), 1011);
    assert.equal(await inPage('window.log.opens.length'), 2);
    assert.deepEqual(await inPage('window.log.errors'), []);
  });
});
