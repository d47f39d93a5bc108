/**
 * The sharded setup: two Shardcast nodes (two shards each, in this process) on a private Redis
 * Cluster of three masters (--redis-cluster). Channels are spread over all three instances
 * (checked with CLUSTER KEYSLOT and where each channel's keys are); publishes through every
 * ingress of both nodes reach every subscriber once, in seq order; a publish on channels of
 * several slots succeeds; recovery with `since` works after a reconnect to the other node; and
 * with one instance stopped mid-publish a multi-channel publish answers `partial` with the seqs
 * of what was published (delivered) and the channels that were not (never delivered).
 * One cluster for the file; the partial test, which kills an instance, runs last.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keySlot } from '../src/broker/redis-slot.js';
import { SignJWT } from 'jose';
import { CloseCode, startServer, userChannel, type ShardcastServer } from '../src/index.js';
import { PartialPublishError } from '../src/protocol/errors.js';
import { TestClient, spreadOverTwoShards, type ClientFormat, type Frame } from './helpers/client.js';
import { startWithIpc, type ServerWithIpc } from './helpers/ipc-server.js';
import { RedisCluster } from './helpers/redis-cluster.js';
import { epochOf, range, seqsOf, subscribeSince, wsPublish } from './helpers/recovery.js';

const API_KEY = 'redis-cluster-test-key-123';
type Seqs = Record<string, number>;

describe('two nodes on a Redis Cluster of three instances (--redis-cluster)', () => {
  let cluster: RedisCluster;
  const nodes: ServerWithIpc[] = [];
  const opened: TestClient[] = [];

  before(async () => {
    cluster = await RedisCluster.create();
    for (let i = 0; i < 2; i++) {
      nodes.push(await startWithIpc({ port: 0, host: '127.0.0.1', workers: 2, logLevel: 'silent', apiKey: API_KEY, broker: 'redis', redisUrl: cluster.url, redisCluster: true, clientPublishRate: 0, historySize: 1000 }));
    }
  });

  after(async () => {
    for (const c of opened) c.close();
    await Promise.allSettled(nodes.map((n) => n.close([])));
    await cluster?.stop();
  });

  /** `perNode` channel names `prefix<i>` on each of the three instances, in node order. */
  const spread = (prefix: string, perNode: number): string[][] => {
    const out: string[][] = [[], [], []];
    for (let i = 0; out.some((g) => g.length < perNode); i++) {
      const c = `${prefix}${i}`;
      const g = out[cluster.nodeOf(keySlot(c))]!;
      if (g.length < perNode) g.push(c);
    }
    return out;
  };

  /** Two subscribers per shard-spread, JSON and MessagePack, on each node, subscribed to `channels`. */
  const subscribers = async (channels: readonly string[]): Promise<TestClient[]> => {
    const out: TestClient[] = [];
    for (const { server } of nodes) {
      for (const format of ['json', 'msgpack'] as ClientFormat[]) {
        const connect = (): Promise<TestClient> => (format === 'json' ? TestClient.connect(server.port) : TestClient.connectMsgpack(server.port));
        out.push(...(await spreadOverTwoShards(connect, 2, opened)));
      }
    }
    for (const c of out) for (const ch of channels) assert.equal(await c.subscribe(ch), 0);
    return out;
  };

  const publisher = async (port: number): Promise<TestClient> => {
    const c = await TestClient.connect(port);
    opened.push(c);
    return c;
  };

  type Publish = (channels: string[], key: string) => Promise<Seqs | Frame>;
  /** An answer's seqs per channel (`seq` for one channel, `seqs` for several). */
  const seqsOfAnswer = (channels: string[], a: Frame | { seq?: number; seqs?: Seqs }): Seqs => ((a as Frame)['seqs'] as Seqs | undefined) ?? { [channels[0]!]: (a as Frame)['seq'] as number };

  /**
   * One publish on `channels` through each ingress of node `n`: resolves with the seqs per
   * channel, or the error answer. A WebSocket publish names one channel (protocol.md), so `ws`
   * is there for one channel only (`multi`: HTTP, IPC and the in-process API).
   */
  const ingresses = (n: number, ws: TestClient, multi = false): Record<string, Publish> => {
    const { server, ipc } = nodes[n]!;
    const all: Record<string, Publish> = {
      http: async (channels, key) => {
        const res = await fetch(`http://127.0.0.1:${server.port}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ channels, data: { key } }) });
        const body = (await res.json()) as { seq?: number; seqs?: Seqs; error?: Frame };
        return body.error !== undefined ? { ...body.error, status: res.status } : seqsOfAnswer(channels, body);
      },
      ipc: async (channels, key) => {
        const r = (await ipc.request(JSON.stringify({ type: 'publish', channels, data: { key }, id: key }))) as unknown as Frame;
        return r.type === 'ack' ? seqsOfAnswer(channels, r) : r;
      },
      api: async (channels, key) => {
        try {
          const seqs = await server.publishMany(channels, { key });
          return Object.fromEntries(channels.map((c, i) => [c, seqs[i]!]));
        } catch (err) {
          if (!(err instanceof PartialPublishError)) throw err;
          return { type: 'error', code: err.code, published: err.published, failed: err.failed };
        }
      },
    };
    if (!multi) {
      all['ws'] = async (channels, key) => {
        const from = ws.inbox.length;
        ws.send({ type: 'publish', channel: channels[0], data: { key }, id: key });
        const m = await ws.waitFor((f) => (f.type === 'ack' && f['id'] === key) || (f.type === 'error' && f['ref'] === key), 15_000, from);
        return m.type === 'ack' ? seqsOfAnswer(channels, m) : m;
      };
    }
    return all;
  };

  /** (seq, key) of a channel's messages a client has, in arrival order. */
  const got = (c: TestClient, channel: string): Array<{ seq: number; key: string }> =>
    c.messages(channel).map((m) => ({ seq: m['seq'] as number, key: (m['data'] as { key: string }).key }));

  it('spreads channels over all three instances; every ingress of both nodes reaches every subscriber once, in order', async () => {
    const groups = spread('spread:', 2);
    const channels = groups.flat();
    // where the channel's keys and sharded Pub/Sub channel live, as Redis computes it
    const probe = cluster.connect(0);
    try {
      for (const c of channels) {
        for (const name of [`shardcast:m:{${c}}`, `shardcast:h:{${c}}`, `shardcast:{${c}}`]) assert.equal(await probe.call('CLUSTER', 'KEYSLOT', name), keySlot(c), name);
      }
      // keySlot as Redis computes it, also beyond channel names: non-ASCII, empty and odd hash tags
      for (const key of ['héllo wörld', '{}x', 'a{b}c', 'a{}{b}', '{b', ':~@/', '']) assert.equal(await probe.call('CLUSTER', 'KEYSLOT', key), keySlot(key), key);
    } finally {
      probe.disconnect();
    }
    const subs = await subscribers(channels);
    const EACH = 4; // per (node, ingress, channel)
    const given = new Map<string, number>(); // `${channel} ${key}` → seq
    const streams: Array<Promise<void>> = [];
    for (let n = 0; n < 2; n++) {
      const ws = await publisher(nodes[n]!.server.port);
      for (const [via, publish] of Object.entries(ingresses(n, ws))) {
        streams.push((async () => {
          for (let i = 0; i < EACH; i++) {
            for (const c of channels) {
              const key = `n${n}-${via}-${i}`;
              const r = (await publish([c], key)) as Seqs;
              assert.equal(typeof r[c], 'number', `${via} on node ${n}: ${JSON.stringify(r)}`);
              given.set(`${c} ${key}`, r[c]!);
            }
          }
        })());
      }
    }
    await Promise.all(streams);
    const total = 2 * 4 * EACH;
    for (const c of channels) {
      const seqs = [...given].filter(([k]) => k.startsWith(`${c} `)).map(([, s]) => s);
      assert.deepEqual(seqs.sort((x, y) => x - y), range(1, total), `${c}: each publish its own seq`);
    }
    for (const [i, s] of subs.entries()) {
      for (const c of channels) {
        await s.until(() => got(s, c).length >= total, 15_000, `${total} messages of ${c}`);
        const g = got(s, c);
        assert.deepEqual(g.map((x) => x.seq), range(1, total), `subscriber ${i}, ${c}: every seq once, in order`);
        for (const x of g) assert.equal(x.seq, given.get(`${c} ${x.key}`), `${c} ${x.key}: the seq its publisher got`);
      }
    }
    // each channel's state is on the instance of its slot, and only there
    for (let node = 0; node < 3; node++) {
      const r = cluster.connect(node);
      try {
        for (let k = 0; k < 3; k++) {
          for (const c of groups[k]!) {
            if (k === node) assert.equal(await r.exists(`shardcast:m:{${c}}`, `shardcast:h:{${c}}`), 2, `${c} on instance ${k}`);
            else await assert.rejects(r.exists(`shardcast:m:{${c}}`), new RegExp(`^ReplyError: MOVED ${keySlot(c)} 127.0.0.1:${cluster.nodes[k]!.port}$`), `${c} is on instance ${k}, not ${node}`);
          }
        }
        for (const c of groups[node]!) assert.equal(await r.hget(`shardcast:m:{${c}}`, 'seq'), String(total));
      } finally {
        r.disconnect();
      }
    }
  });

  it('publishes on channels of three instances at once, through every ingress, all or nothing', async () => {
    const channels = spread('multi:', 1).flat();
    const subs = await subscribers(channels);
    const answers: Array<{ key: string; seqs: Seqs }> = [];
    for (let n = 0; n < 2; n++) {
      const ws = await publisher(nodes[n]!.server.port);
      for (const [via, publish] of Object.entries(ingresses(n, ws, true))) {
        const key = `m${n}-${via}`;
        const seqs = (await publish(channels, key)) as Seqs;
        assert.deepEqual(Object.keys(seqs).sort(), [...channels].sort(), `${via} on node ${n}: a seq per channel (${JSON.stringify(seqs)})`);
        answers.push({ key, seqs });
      }
    }
    for (const s of subs) {
      for (const c of channels) {
        await s.until(() => got(s, c).length >= answers.length, 15_000, `${answers.length} messages of ${c}`);
        assert.deepEqual(got(s, c).map((x) => x.seq), range(1, answers.length));
        for (const x of got(s, c)) assert.equal(x.seq, answers.find((a) => a.key === x.key)!.seqs[c]);
      }
    }
  });

  it('recovers with since after a reconnect to the other node, on every instance', async () => {
    const channels = spread('recover:', 1).flat();
    const first = await publisher(nodes[0]!.server.port);
    for (const c of channels) await first.subscribe(c);
    const ws0 = await publisher(nodes[0]!.server.port);
    for (const c of channels) for (let i = 1; i <= 10; i++) assert.equal(await wsPublish(ws0, c, { key: `a${i}` }, `r-${c}-a${i}`), i);
    for (const c of channels) await first.until(() => seqsOf(first, c).length === 10, 10_000, `10 messages of ${c}`);
    const epochs = channels.map((c) => epochOf(first, c));
    first.close();
    for (const c of channels) for (let i = 11; i <= 20; i++) assert.equal(await wsPublish(ws0, c, { key: `b${i}` }, `r-${c}-b${i}`), i);
    // node 1 never followed these channels: its answer comes from the stream on the channel's instance
    const again = await publisher(nodes[1]!.server.port);
    const ats: number[] = [];
    for (const [k, c] of channels.entries()) {
      const { answer, at } = await subscribeSince(again, c, 10, epochs[k]!);
      assert.equal(answer['recovered'], true, `${c}: ${JSON.stringify(answer)}`);
      assert.equal(answer['seq'], 20);
      await again.until(() => seqsOf(again, c, at).length === 10, 10_000, `11…20 of ${c}`);
      assert.deepEqual(seqsOf(again, c, at), range(11, 20), `${c}: what was missed, once, in order`);
      ats.push(at);
    }
    const ws1 = await publisher(nodes[1]!.server.port);
    for (const c of channels) assert.equal(await wsPublish(ws1, c, { key: 'live' }, `r-${c}-live`), 21);
    for (const [k, c] of channels.entries()) {
      await again.until(() => seqsOf(again, c).includes(21), 10_000, `live 21 of ${c}`);
      assert.deepEqual(seqsOf(again, c, ats[k]), range(11, 21));
    }
  });

  it('follows a channel whose slot is migrated to another instance: same epoch, seqs go on, nothing lost or doubled', async () => {
    const [onA] = spread('reshard:', 1)[0]!;
    const c = onA!;
    const subs = await subscribers([c]);
    const pubs = await Promise.all(nodes.map((n) => publisher(n.server.port)));
    const via = nodes.map((_, n) => ingresses(n, pubs[n]!));
    /** Publishes until taken: while the slot moves, a publish may be refused (overloaded) and takes no seq. */
    const publish = async (n: number, key: string): Promise<number> => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const r = await via[n]!['http']!([c], key);
        if (typeof (r as Seqs)[c] === 'number') return (r as Seqs)[c]!;
        assert.equal((r as Frame)['code'], 'overloaded', JSON.stringify(r));
        assert.ok(Date.now() < deadline, `${key} still refused after 15 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    for (let i = 1; i <= 5; i++) assert.equal(await publish(i % 2, `before${i}`), i);
    const slot = keySlot(c);
    await cluster.migrateSlot(slot, 0, 1);
    for (let i = 6; i <= 10; i++) assert.equal(await publish(i % 2, `after${i}`), i);
    for (const s of subs) {
      await s.until(() => got(s, c).length >= 10, 15_000, `10 messages of ${c}`);
      assert.deepEqual(got(s, c).map((x) => x.seq), range(1, 10), 'every seq once, in order, across the move');
      assert.equal(new Set(s.messages(c).map((m) => m['epoch']).filter((e) => e !== undefined)).size, 1, 'one epoch: the counter moved with the slot');
    }
    const r = cluster.connect(1);
    try {
      assert.equal(await r.hget(`shardcast:m:{${c}}`, 'seq'), '10', 'the state is on the new instance');
    } finally {
      r.disconnect();
    }
  });

  it('delivers to a user on every node and disconnects them on every node', async () => {
    const SECRET = 'redis-cluster-test-secret-0123456789abcdef';
    const users: ShardcastServer[] = [];
    try {
      for (let i = 0; i < 2; i++) users.push(await startServer({ host: '127.0.0.1', port: 0, workers: 1, logLevel: 'silent', broker: 'redis', redisUrl: cluster.url, redisCluster: true, jwtSecret: SECRET, apiKey: API_KEY }));
      const connectAs = async (node: ShardcastServer, sub: string): Promise<TestClient> => {
        const token = await new SignJWT({ channels: ['*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
        const c = await TestClient.connect(node.port, `/ws?token=${token}`);
        opened.push(c);
        return c;
      };
      const [a, b] = users as [ShardcastServer, ShardcastServer];
      const alice = [await connectAs(a, 'alice'), await connectAs(b, 'alice')];
      const bob = await connectAs(b, 'bob');
      // per-user channels are ordinary channels: on the instance of their slot
      assert.ok([0, 1, 2].includes(cluster.nodeOf(keySlot(userChannel('alice')))));
      const seq = await a.publishToUser('alice', { hello: 'alice' });
      for (const c of alice) await c.waitFor((m) => m.type === 'message' && m['seq'] === seq && (m['data'] as { hello?: string }).hello === 'alice');
      // every Shardcast node (these two and the file's two) follows the sharded disconnect channel
      const holder = cluster.connect(cluster.nodeOf(keySlot('shardcast!disconnect')));
      try {
        const deadline = Date.now() + 10_000;
        while (Number(((await holder.call('PUBSUB', 'SHARDNUMSUB', 'shardcast!disconnect')) as [string, number])[1]) !== 4) {
          assert.ok(Date.now() < deadline, 'every node follows the disconnect channel');
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        holder.disconnect();
      }
      const res = await fetch(`http://127.0.0.1:${a.port}/api/disconnect`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }, body: JSON.stringify({ user: 'alice' }) });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { closed: 1, nodes: 3 });
      for (const c of alice) assert.equal((await c.waitClosed()).code, CloseCode.DisconnectedByServer);
      const after = await b.publishToUser('bob', 'still here');
      await bob.waitFor((m) => m.type === 'message' && m['seq'] === after);
      assert.equal(bob.closed, null);
    } finally {
      await Promise.allSettled(users.map((u) => u.close()));
    }
  });

  it('answers partial when an instance stops mid-publish: the seqs of what was published, the channels that were not; nothing lost', async () => {
    const channels = spread('partial:', 1).flat();
    const [onA, onB, onC] = channels as [string, string, string];
    const subs = await subscribers(channels);
    const pubs = await Promise.all(nodes.map((n) => publisher(n.server.port)));
    const via = nodes.map((_, n) => ingresses(n, pubs[n]!, true));
    assert.deepEqual(await via[0]!['http']!(channels, 'before'), { [onA]: 1, [onB]: 1, [onC]: 1 });
    // instance 2 stops reading: the scripts for onC wait in its socket, the others run
    cluster.nodes[2]!.pause();
    const pending = [0, 1].flatMap((n) => Object.entries(via[n]!).map(([name, publish]) => ({ key: `p${n}-${name}`, answer: publish(channels, `p${n}-${name}`) })));
    for (const s of subs) for (const c of [onA, onB]) await s.until(() => got(s, c).length === 1 + pending.length, 15_000, `the ${pending.length} publications on ${c}`);
    // every script for onC was written before the ones for onA/onB were answered: now the instance dies
    await cluster.nodes[2]!.kill();
    const results = await Promise.all(pending.map(async (p) => ({ key: p.key, answer: (await p.answer) as Frame })));
    for (const { key, answer } of results) {
      assert.equal(answer['code'], 'partial', `${key}: ${JSON.stringify(answer)}`);
      assert.deepEqual(answer['failed'], [onC], key);
      const published = answer['published'] as Seqs;
      assert.deepEqual(Object.keys(published).sort(), [onA, onB].sort(), key);
      if (key.endsWith('http')) assert.equal(answer['status'], 502);
      // what the publisher was told is what every subscriber got
      for (const s of subs) for (const c of [onA, onB]) assert.equal(got(s, c).find((x) => x.key === key)?.seq, published[c], `${key} on ${c}`);
    }
    for (const c of [onA, onB]) assert.deepEqual(results.map((r) => (r.answer['published'] as Seqs)[c]!).sort((x, y) => x - y), range(2, 1 + pending.length));
    for (const s of subs) assert.deepEqual(got(s, onC).map((x) => x.key), ['before'], 'nothing on the stopped instance\'s channel was delivered');
    // with the instance known to be gone, a publish touching it is refused whole; the others go on
    const refused = (await via[1]!['http']!(channels, 'after')) as Frame;
    assert.equal(refused['code'], 'overloaded');
    assert.equal(refused['status'], 503);
    assert.deepEqual(await via[1]!['http']!([onA, onB], 'after2'), { [onA]: 2 + pending.length, [onB]: 2 + pending.length });
    for (const s of subs) {
      await s.until(() => got(s, onA).some((x) => x.key === 'after2'), 10_000, 'after2');
      assert.deepEqual(got(s, onA).map((x) => x.seq), range(1, 2 + pending.length), 'no seq skipped, nothing from the refused publish');
    }
  });
});
