/**
 * /dashboard in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) opens the page a two-shard server serves on its public port, with no
 * console error; the connections it shows match the clients this test opened on both shards;
 * a message published through the HTTP API appears in the watch panel (JSON, then
 * MessagePack); a message published from the page reaches a test client. A screenshot is
 * saved as test/artifacts/dashboard.png (ignored by git). The same page on --admin-port:
 * it loads, and publishes through /dashboard/publish.
 *
 * Skipped, saying so, where /usr/bin/chromium is absent (.ci/run installs it; the Debian 13 root
 * of .ci/node-matrix has none).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer, type ShardcastServer } from '../src/index.js';
import { spreadOverTwoShards, TestClient } from './helpers/client.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
/** test/artifacts/ in the repository (this file runs from dist/test/). */
const ARTIFACTS = fileURLToPath(new URL('../../test/artifacts/', import.meta.url));
const skip = existsSync(CHROMIUM) ? false : `no ${CHROMIUM} here (Debian package chromium): the browser test cannot run`;

/**
 * Waits until `expr` (evaluated in the page) is true. Not page.waitForFunction: its polling
 * evaluates strings inside the page, which the dashboard's Content-Security-Policy forbids
 * (as it should); page.evaluate goes through the DevTools protocol.
 */
async function pageUntil(tab: Page, expr: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await tab.evaluate(expr))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting in the page for ${expr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A page that records its console errors and uncaught exceptions. */
async function openTab(browser: Browser): Promise<{ tab: Page; errors: string[] }> {
  const tab = await browser.newPage({ viewport: { width: 1400, height: 1500 } });
  const errors: string[] = [];
  tab.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
  tab.on('pageerror', (e) => void errors.push(e.message));
  tab.on('response', (r) => void (r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`)));
  return { tab, errors };
}

describe('dashboard in a browser (Chromium)', { skip }, () => {
  let server: ShardcastServer;
  let admin: ShardcastServer;
  let browser: Browser;
  const clients: TestClient[] = [];

  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent' });
    admin = await startServer({ port: 0, workers: 1, adminPort: 0, logLevel: 'silent' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 60_000 });
  });
  after(async () => {
    for (const c of clients) c.close();
    await browser?.close();
    await server?.close();
    await admin?.close();
  });

  it('shows the connections on both shards, watches a channel (JSON and MessagePack), and publishes', async () => {
    const opened: TestClient[] = [];
    const kept = await spreadOverTwoShards(() => TestClient.connect(server.port), 5, opened);
    clients.push(...opened);
    const perShard = [0, 1].map((s) => kept.filter((c) => c.welcome!.shard === s).length);
    // clients spreadOverTwoShards let go: their closes must be counted before the figure is fixed
    for (const c of opened.filter((c) => !kept.includes(c))) await c.waitClosed();
    const { tab, errors } = await openTab(browser);
    await tab.goto(`http://127.0.0.1:${server.port}/dashboard`);
    await pageUntil(tab, 'document.querySelector("#feed-state").textContent === "live"', 15_000);

    // the connection count: what the page shows is what this test opened, per shard too
    await pageUntil(tab, `document.querySelector('#conns-total').textContent === '5'`, 10_000);
    await pageUntil(tab, `[...document.querySelectorAll('#shard-table tbody tr')].map((r) => r.dataset.connections).join() === '${perShard.join()}'`, 10_000);

    // a message published through the HTTP API appears in the watch panel: JSON …
    for (const [format, text] of [['json', 'as JSON'], ['msgpack', 'as MessagePack']] as const) {
      await tab.fill('#watch-channel', 'room:dash');
      await tab.selectOption('#watch-format', format);
      await tab.click('#watch-go');
      await pageUntil(tab, 'document.querySelector("#watch-state").textContent.startsWith("subscribed to room:dash")', 10_000);
      const res = await fetch(`http://127.0.0.1:${server.port}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'room:dash', data: { via: 'api', text } }) });
      assert.equal(res.status, 200);
      const { seq } = (await res.json()) as { seq: number };
      await pageUntil(tab, `[...document.querySelectorAll('#watch-log li')].some((li) => li.value === ${seq} && li.querySelector('.data').textContent === ${JSON.stringify(JSON.stringify({ via: 'api', text }))})`, 10_000);
    }

    // … and one published from the page reaches a test client
    const listener = await TestClient.connect(server.port);
    clients.push(listener);
    listener.send({ type: 'subscribe', channel: 'room:from-page' });
    await listener.waitFor((m) => m.type === 'subscribed');
    await tab.fill('#pub-channel', 'room:from-page');
    await tab.fill('#pub-data', '{"from":"the dashboard","n":7}');
    await tab.click('#pub-send');
    const got = await listener.waitFor((m) => m.type === 'message');
    assert.deepEqual(got.data, { from: 'the dashboard', n: 7 });
    await pageUntil(tab, 'document.querySelector("#pub-result").textContent.startsWith("published, seq 1")', 10_000);

    // the busiest channels: the page's own subscriber and the listener are there, searchable
    await tab.fill('#channel-search', 'from-page');
    await pageUntil(tab, `window.dashboard.channels?.q === 'from-page' && window.dashboard.channels.rows.some((r) => r[0] === 'room:from-page' && r[1] === 1)`, 10_000);

    mkdirSync(ARTIFACTS, { recursive: true });
    await tab.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    assert.deepEqual(errors, [], 'no console error');
    await tab.close();
  });

  it('on --admin-port: the same page, publishing through /dashboard/publish', async () => {
    const listener = await TestClient.connect(admin.port);
    clients.push(listener);
    listener.send({ type: 'subscribe', channel: 'room:admin' });
    await listener.waitFor((m) => m.type === 'subscribed');
    const { tab, errors } = await openTab(browser);
    await tab.goto(`http://127.0.0.1:${admin.adminPort}/dashboard`);
    await pageUntil(tab, `document.querySelector('#conns-total').textContent === '1'`, 15_000);
    await tab.fill('#pub-channel', 'room:admin');
    await tab.fill('#pub-data', '"hello admin"');
    await tab.click('#pub-send');
    assert.equal((await listener.waitFor((m) => m.type === 'message')).data, 'hello admin');
    assert.deepEqual(errors, [], 'no console error');
    await tab.close();
  });
});
