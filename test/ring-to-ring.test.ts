/**
 * Publish data copied ring to ring (issue 9): the main thread no longer decodes a shard's
 * publish to a string and encodes it again; the data's bytes go from the ingress ring into the
 * broadcast ring behind the frame's head. On a real two-shard server, with merging off and on,
 * data published over every ingress (HTTP JSON and MessagePack bodies, WebSocket JSON and
 * MessagePack clients, IPC, the in-process API) must reach JSON subscribers on both shards as
 * byte-exact protocol v1 frames — the frame one encoder makes, byte for byte — and MessagePack
 * subscribers as the same values. History keeps a MessagePack publish as MessagePack; a
 * conflated channel's window keeps its latest message after the ingress ring was written over.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Packr, Unpackr } from 'msgpackr';
import type { ShardcastServer } from '../src/index.js';
import type { IpcClient } from '../src/ingress/ipc-client.js';
import { startWithIpc, type ServerWithIpc } from './helpers/ipc-server.js';
import { TestClient, spreadOverTwoShards } from './helpers/client.js';
import { epochOf, subscribeSince } from './helpers/recovery.js';
import { sleep } from './helpers/wait.js';

const API_KEY = 'ring-to-ring-test-key-123456';
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Data that UTF-8 and JSON escaping can get wrong: multi-byte and astral characters, escapes, a
 * lone surrogate (JSON escapes it; MessagePack strings are UTF-8 and cannot carry one, so the
 * MessagePack publishers send U+FFFD there), numbers JSON rewrites.
 */
const value = (via: string, i: number): unknown => ({
  via, i, s: 'é ü — 😀 \u2028 " \\ \n \t', lone: via.includes('msgpack') ? '\ufffd' : '\ud800', n: [2.5, -0, 1e21, 12345678901234], nested: { a: null, b: true, 'k é': [] },
});

/** The JSON frame text one message makes (JsonFrameEncoder), given its data's JSON text. */
function jsonMessage(m: Record<string, unknown>, dataJson: string): string {
  const epoch = m['epoch'] === undefined ? '' : `"epoch":"${m['epoch'] as string}",`;
  const replaces = m['replaces'] === undefined ? '' : `"replaces":${m['replaces'] as number},`;
  return `{"type":"message","channel":"${String(m['channel'])}","seq":${String(m['seq'])},${epoch}${replaces}"data":${dataJson}}`;
}

for (const mergeMs of [0, 20]) {
  describe(`data copied ring to ring, --merge-ms ${mergeMs}`, () => {
    let server: ShardcastServer;
    let fixture: ServerWithIpc | undefined;
    let ipc: IpcClient;
    const opened: TestClient[] = [];
    /** Raw frames each client received, in order. */
    const raw = new Map<TestClient, Buffer[]>();

    const spread = async (format: 'json' | 'msgpack', n: number): Promise<TestClient[]> => {
      const cs = await spreadOverTwoShards(() => (format === 'json' ? TestClient.connect(server.port) : TestClient.connectMsgpack(server.port)), n, opened);
      for (const c of cs) {
        const frames: Buffer[] = [];
        raw.set(c, frames);
        c.ws.on('message', (data) => frames.push(data as Buffer));
      }
      return cs;
    };

    const post = async (body: Uint8Array | string, type: string): Promise<number> => {
      const res = await fetch(`http://127.0.0.1:${server.port}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': type }, body });
      assert.equal(res.status, 200, await res.clone().text());
      return ((await res.json()) as { seq: number }).seq;
    };

    before(async () => {
      fixture = await startWithIpc({ port: 0, host: '127.0.0.1', workers: 2, logLevel: 'silent', apiKey: API_KEY, mergeMs });
      ({ server, ipc } = fixture);
    });

    after(async () => {
      await fixture?.close(opened);
    });

    it('every ingress, both formats, both shards: JSON frames byte for byte as encoded once, MessagePack values equal', async () => {
      const channel = 'r2r:exact';
      const jsonSubs = await spread('json', 2);
      const packSubs = await spread('msgpack', 2);
      const [wsJson] = await spread('json', 1);
      const [wsPack] = await spread('msgpack', 1);
      for (const c of [...jsonSubs, ...packSubs]) assert.equal(await c.subscribe(channel), 0);
      const n = 5;
      const sent: Array<Promise<unknown>> = [];
      for (let i = 0; i < n; i++) {
        sent.push(post(JSON.stringify({ channel, data: value('http', i) }), 'application/json'));
        sent.push(post(packr.pack({ channel, data: value('http-msgpack', i) }), 'application/msgpack'));
        sent.push(server.publish(channel, value('api', i)));
        sent.push(ipc.request(JSON.stringify({ type: 'publish', channel, data: value('ipc', i), id: `i${i}` })));
        wsJson!.send({ type: 'publish', channel, data: value('ws', i), id: `w${i}` });
        wsPack!.send({ type: 'publish', channel, data: value('ws-msgpack', i), id: `m${i}` });
      }
      await Promise.all(sent);
      const total = 6 * n;
      for (const c of [...jsonSubs, ...packSubs]) {
        await c.until(() => c.messages(channel).length === total, 15_000, `${total} messages (shard ${c.welcome!.shard}, ${c.format})`);
        for (const m of c.messages(channel)) {
          const d = m['data'] as { via: string; i: number };
          // what a JSON subscriber must see is the data re-serialised by JSON.stringify; a MessagePack one, the value
          const expected = JSON.parse(JSON.stringify(value(d.via, d.i))) as Record<string, unknown>;
          if (c.format === 'msgpack') expected['lone'] = '\ufffd'; // MessagePack strings are UTF-8
          assert.deepEqual(m['data'], expected, `${c.format} data of ${d.via}-${d.i}`);
        }
      }
      for (const c of jsonSubs) {
        let checked = 0;
        for (const frame of raw.get(c)!) {
          const parsed = JSON.parse(frame.toString('utf8')) as Record<string, unknown> | Array<Record<string, unknown>>;
          const msgs = (Array.isArray(parsed) ? parsed : [parsed]).filter((m) => m['type'] === 'message' && m['channel'] === channel);
          if (msgs.length === 0) continue;
          const one = msgs.map((m) => {
            const d = m['data'] as { via: string; i: number };
            return jsonMessage(m, JSON.stringify(value(d.via, d.i)));
          });
          const expected = Array.isArray(parsed) ? `[${one.join(',')}]` : one[0]!;
          assert.deepEqual(frame, Buffer.from(expected, 'utf8'), `shard ${c.welcome!.shard}: a frame byte for byte`);
          checked += msgs.length;
        }
        assert.equal(checked, total, 'every message checked in its raw frame');
      }
      for (const c of packSubs) {
        assert.ok(raw.get(c)!.length > 0);
        for (const frame of raw.get(c)!) assert.doesNotThrow(() => unpackr.unpack(frame), 'a well-formed MessagePack frame');
      }
    });

    it('a MessagePack publish is kept in the history as MessagePack, also when a JSON frame was made from it', async () => {
      const channel = 'r2r:history';
      const [jsonSub] = await spread('json', 1);
      assert.equal(await jsonSub!.subscribe(channel), 0);
      const bin = Uint8Array.from([0, 1, 2, 250, 255]);
      assert.equal(await post(packr.pack({ channel, data: { bin } }), 'application/msgpack'), 1);
      await jsonSub!.until(() => jsonSub!.messages(channel).length === 1, 10_000, 'the message');
      assert.deepEqual(jsonSub!.messages(channel)[0]!['data'], { bin: { $binary: Buffer.from(bin).toString('base64') } });
      // a MessagePack client recovering from seq 0 gets the binary back, not its JSON form
      const [late] = await spread('msgpack', 1);
      const { answer } = await subscribeSince(late!, channel, 0, epochOf(jsonSub!, channel));
      assert.equal(answer['recovered'], true);
      await late!.until(() => late!.messages(channel).length === 1, 10_000, 'the replay');
      const got = late!.messages(channel)[0]!['data'] as { bin: Uint8Array };
      assert.ok(got.bin instanceof Uint8Array, `binary replayed as binary, got ${JSON.stringify(got)}`);
      assert.deepEqual(Uint8Array.from(got.bin), bin);
    });
  });
}

describe('a conflated window and the ingress ring', () => {
  let fixture: ServerWithIpc | undefined;
  const opened: TestClient[] = [];

  before(async () => {
    // a small ingress ring and a long window: the window outlives its message's bytes there
    fixture = await startWithIpc({ port: 0, host: '127.0.0.1', workers: 1, logLevel: 'silent', apiKey: API_KEY, mergeMs: 1_000, conflate: 'tick:*', maxPayload: '4k', ingressRingSize: '64k' });
  });

  after(async () => {
    await fixture?.close(opened);
  });

  it('keeps its latest message after the ring bytes it came in were written over', async () => {
    const { port } = fixture!.server;
    const channel = 'tick:r2r';
    const sub = await TestClient.connect(port);
    const publisher = await TestClient.connect(port);
    opened.push(sub, publisher);
    assert.equal(await sub.subscribe(channel), 0);
    publisher.send({ type: 'publish', channel, data: value('ws', 1) });
    // then 4x the ingress ring of other publishes, in bursts main reads between (well within the window)
    const filler = 'f'.repeat(3_000);
    for (let burst = 0; burst < 11; burst++) {
      for (let i = 0; i < 8; i++) publisher.send({ type: 'publish', channel: `r2r:filler-${i}`, data: filler });
      await sleep(15);
    }
    await sub.until(() => sub.messages(channel).length === 1, 10_000, 'the conflated message');
    assert.deepEqual(publisher.inbox.filter((m) => m.type === 'error'), [], 'every filler accepted: the ring went round');
    assert.deepEqual(sub.messages(channel)[0]!['data'], JSON.parse(JSON.stringify(value('ws', 1))));
  });
});
