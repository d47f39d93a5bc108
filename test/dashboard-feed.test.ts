/**
 * The dashboard feed's arithmetic, on the real classes: p50/p99 from the latency buckets;
 * the busiest channels from a real Sequencer (messages/s as seq differences, a new incarnation
 * of a channel, forgotten channels, the bound on rows, the search).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChannelActivity, TOP_CHANNELS } from '../src/observe/channel-activity.js';
import { quantile } from '../src/observe/dashboard-sample.js';
import { Sequencer } from '../src/pubsub/sequencer.js';
import { LATENCY_BUCKETS_MS } from '../src/transport/counters.js';

test('quantile: interpolated inside the bucket it falls in; the open last bucket reads as the last bound; null with no observation', () => {
  const counts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  assert.equal(quantile(counts, 0.5), null);
  counts[0] = 10; // ten observations in (0, 0.1] ms
  assert.equal(quantile(counts, 0.5), 0.05);
  counts[3] = 10; // ten in (0.5, 1] ms
  assert.equal(quantile(counts, 0.5), 0.1, 'the median sits at the top of the first bucket');
  assert.equal(quantile(counts, 0.99), 0.99);
  counts[LATENCY_BUCKETS_MS.length] = 1000; // beyond the last bound
  assert.equal(quantile(counts, 0.99), LATENCY_BUCKETS_MS.at(-1));
});

test('busiest channels: messages/s from seq differences, subscribers from the shards, bounded rows, searched over every channel', async () => {
  const seq = new Sequencer(7);
  let now = 0;
  const publish = (channel: string, n: number): void => {
    for (let i = 0; i < n; i++) {
      const s = seq.get(channel);
      seq.commit(channel, (s?.seq ?? 0) + 1, s?.epoch ?? seq.newEpoch(), ++now);
    }
  };
  let subscribers: Array<{ channel: string; subscribers: number }> = [];
  const activity = new ChannelActivity({ subscribers: () => Promise.resolve(subscribers), seqs: () => seq.entries(), seqState: (c) => seq.get(c) });
  for (let i = 0; i < 200; i++) publish(`quiet:${i}`, 1);
  publish('busy:a', 5);
  publish('gone', 3);

  const first = (await activity.refresh([''])).get('')!;
  assert.equal(first.matched, 202);
  assert.ok(first.rows.every((r) => r[2] === null), 'no rate before a second refresh');

  publish('busy:a', 40);
  publish('busy:b', 20); // new since the last refresh: all of its 20 count
  seq.forget('gone');
  publish('gone', 2); // a new incarnation: its 2 count, not 2 − 3
  subscribers = [{ channel: 'watched', subscribers: 9 }, { channel: 'busy:a', subscribers: 4 }];
  await new Promise((r) => setTimeout(r, 200));
  const tables = await activity.refresh(['', 'BUSY', 'nothing-like-it']);
  const all = tables.get('')!;
  assert.ok(all.rows.length <= 2 * TOP_CHANNELS, `bounded: ${all.rows.length} rows`);
  assert.equal(all.matched, 204, 'every channel with state or subscribers');
  const row = (name: string): [string, number, number | null] => all.rows.find((r) => r[0] === name)!;
  assert.deepEqual(row('watched').slice(0, 2), ['watched', 9], 'subscribed, never published: listed with its subscribers');
  assert.equal(row('watched')[2], 0);
  const rate = (name: string): number => row(name)[2]!;
  // rates are per second over the same interval: compare them with each other
  assert.ok(Math.abs(rate('busy:a') / rate('busy:b') - 2) < 0.01, `busy:a ${rate('busy:a')} is twice busy:b ${rate('busy:b')}`);
  assert.ok(Math.abs(rate('gone') / rate('busy:b') - 0.1) < 0.01, 'a new incarnation counts from 0');
  assert.equal(all.rows[0]![0], 'watched', 'the most subscribers first');
  const busy = tables.get('BUSY')!;
  assert.deepEqual(busy.rows.map((r) => r[0]), ['busy:a', 'busy:b'], 'the search ignores case');
  assert.equal(busy.matched, 2);
  assert.deepEqual(tables.get('nothing-like-it'), { q: 'nothing-like-it', rows: [], matched: 0 });
});
