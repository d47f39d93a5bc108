/**
 * docs/metrics.md is the list of metrics: a real server's /metrics, after traffic with
 * channel names and user ids of the test's choosing, has every documented metric, no
 * shardcast_* metric that is not documented, only the documented labels, and label values
 * from their fixed sets — never a channel name or a user id.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startServer, type ShardcastServer } from '../src/index.js';
import { DISCONNECT_CODES, HANDSHAKE_FAILURE_REASONS, REFUSAL_CODES } from '../src/observe/labelled-metrics.js';
import { TestClient, connectMany } from './helpers/client.js';
import { familyOf, parseScrape } from './helpers/prometheus.js';
import { upgrade } from './helpers/upgrade.js';

const DOC = fileURLToPath(new URL('../../docs/metrics.md', import.meta.url));
const GRAFANA = fileURLToPath(new URL('../../docs/grafana-dashboard.json', import.meta.url));
const MARK = 'zq7marker';

/** name → documented label names, from the tables of docs/metrics.md. */
function documented(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of readFileSync(DOC, 'utf8').matchAll(/^\| `(shardcast_\w+)` \| (counter|gauge|histogram) \| ([^|]*) \|/gm)) {
    const labels = [...m[3]!.matchAll(/`(\w+)`/g)].map((l) => l[1]!);
    assert.ok(!out.has(m[1]!), `${m[1]} documented twice`);
    out.set(m[1]!, labels);
  }
  return out;
}

describe('docs/metrics.md against a real /metrics', () => {
  let server: ShardcastServer;
  const opened: TestClient[] = [];
  before(async () => {
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', allowedOrigins: 'https://ok.example', anonymousChannels: 'open:*', clientPublish: 'open:*' });
    // traffic whose names a careless label would leak: channels, users, a refused origin
    const clients = await connectMany(server.port, 8);
    opened.push(...clients);
    for (const [i, c] of clients.entries()) await c.subscribe(`open:${MARK}-${i}`);
    for (let i = 0; i < 8; i++) await server.publish(`open:${MARK}-${i}`, { i });
    await server.publishToUser(`user-${MARK}`, 1);
    clients[0]!.send({ type: 'subscribe', channel: `secret-${MARK}` });
    clients[1]!.send({ type: 'publish', channel: `other-${MARK}`, data: 1 });
    await clients[0]!.waitFor((m) => m.type === 'error');
    await clients[1]!.waitFor((m) => m.type === 'error');
    const refused = await upgrade(server.port, { headers: { origin: `https://${MARK}.example` } });
    assert.equal(refused.status, 403);
    clients[7]!.close();
    await clients[7]!.waitClosed();
    await new Promise((r) => setTimeout(r, 1100)); // one thread sample
  });
  after(async () => {
    for (const c of opened) c.close();
    await server?.close();
  });

  it('lists every shardcast_* metric there is, and only those, with their labels', async () => {
    const doc = documented();
    const scrape = parseScrape(await server.metrics());
    const present = [...scrape.families.keys()];
    assert.deepEqual(present.filter((n) => !doc.has(n)), [], 'metrics missing from docs/metrics.md');
    // process metrics that exist only on some systems may be absent; ours never
    assert.deepEqual([...doc.keys()].filter((n) => !scrape.families.has(n) && !/^shardcast_(process|nodejs)_/.test(n)), [], 'documented metrics the server does not have');
    for (const s of scrape.samples) {
      const family = familyOf(scrape, s.name);
      const allowed = new Set([...doc.get(family)!, ...(scrape.families.get(family) === 'histogram' ? ['le'] : [])]);
      for (const label of Object.keys(s.labels)) assert.ok(allowed.has(label), `${s.name}: label ${label} not documented`);
    }
  });

  it('takes label values only from fixed sets, never a channel name or a user id', async () => {
    const text = await server.metrics();
    assert.ok(!text.includes(MARK), 'a channel name, user id or origin reached /metrics');
    const scrape = parseScrape(text);
    const sets: Record<string, (family: string) => ReadonlySet<string> | null> = {
      shard: () => new Set(['0', '1']),
      code: (f) => new Set(f === 'shardcast_disconnects_total' ? DISCONNECT_CODES : REFUSAL_CODES),
      reason: () => new Set(HANDSHAKE_FAILURE_REASONS),
      format: () => new Set(['json', 'msgpack']),
      le: () => null,
    };
    for (const s of scrape.samples) {
      const family = familyOf(scrape, s.name);
      if (/^shardcast_(process|nodejs)_/.test(family)) continue; // prom-client's own (heap spaces, GC kinds, handle types)
      for (const [label, value] of Object.entries(s.labels)) {
        if (label === 'le') {
          assert.match(value, /^(\d+(\.\d+)?(e-?\d+)?|\+Inf)$/);
          continue;
        }
        const set = sets[label]?.(family);
        assert.ok(set, `${family}: label ${label} has no fixed set in this test`);
        assert.ok(set.has(value), `${family}{${label}="${value}"} outside its set`);
      }
    }
  });

  it('the Grafana dashboard uses documented metric names only', () => {
    const doc = documented();
    const dashboard = JSON.parse(readFileSync(GRAFANA, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    assert.ok(dashboard.panels.length > 10);
    const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/shardcast_\w+/g)].map((m) => m[0]))));
    const unknown = [...used].filter((n) => !doc.has(n) && !doc.has(n.replace(/_(bucket|sum|count)$/, '')));
    assert.deepEqual(unknown, [], 'dashboard names not in docs/metrics.md');
    for (const needed of ['shardcast_delivery_latency_seconds_bucket', 'shardcast_refusals_total', 'shardcast_disconnects_total', 'shardcast_main_cpu_share']) assert.ok(used.has(needed), needed);
  });
});
