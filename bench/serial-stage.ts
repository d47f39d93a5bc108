/**
 * `node dist/bench/serial-stage.js`: the main thread's CPU per publication, alone. The main
 * thread is Shardcast's one serial stage, so this cost caps the publications per second the
 * server can take, whatever the number of shards. Under the `shardcast bench` loads on this
 * 2-core box the main thread mostly waits (between batches) and its share of the server's CPU
 * is set as much by wake-ups as by publications; here it never waits.
 *
 * The objects the engine wires on its main thread (IngressReader, MemoryBroker + Sequencer,
 * Fanout, Counters; src/engine/engine.ts), on this one thread: publish records go into a real
 * ingress ring in batches, as a shard writes them (HTTP publishes, the `rooms` shape: one
 * channel each, round-robin over --channels, --size bytes of JSON data); the reader sequences
 * them into a real broadcast ring, which a consumer slot on this thread reads and releases
 * after each batch (a shard's Feed, minus uWS). *CPU per publication* = this process's
 * user + system CPU over the batches ÷ publications; it includes writing the ingress records
 * and releasing the feed, which cost the same in every build.
 *
 *   node dist/bench/serial-stage.js [--dist DIR] [--publishes 200000] [--batch 64]
 *       [--channels 100] [--size 128] [--formats json|both] [--merge-ms 0] [--repeats 5]
 *
 * --dist: the compiled build whose engine objects to run (default: this one), e.g. a build of
 * the commit before a change: the same driver runs both.
 */
import { pathToFileURL } from 'node:url';
import { Args } from './lib/args.js';
import { runHarness, usageExit } from './lib/harness.js';

const KNOWN = ['dist', 'publishes', 'batch', 'channels', 'size', 'formats', 'merge-ms', 'repeats'];
const args = new Args();
const usage = usageExit(KNOWN);
const unknown = args.unknown(KNOWN);
if (unknown.length > 0) usage(`unknown option(s): ${unknown.map((u) => `--${u}`).join(' ')}`);
const dist = args.str('dist', new URL('../', import.meta.url).pathname);
const publishes = args.num('publishes', 200_000);
const batch = args.num('batch', 64);
const channels = args.num('channels', 100);
const size = args.num('size', 128);
const formats = args.str('formats', 'json');
const mergeMs = args.num('merge-ms', 0);
const repeats = args.num('repeats', 5);
if (formats !== 'json' && formats !== 'both') usage('--formats: json or both');

/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-explicit-any */
async function load(rel: string): Promise<any> {
  return import(pathToFileURL(`${dist}/${rel}`).href);
}

async function main(): Promise<number> {
  const { createRing, RingProducer, RingConsumer } = await load('src/transport/ring.js');
  const { writePublish } = await load('src/transport/records.js');
  const { Counters, createCounters } = await load('src/transport/counters.js');
  const { Fanout } = await load('src/pubsub/fanout.js');
  const { Sequencer } = await load('src/pubsub/sequencer.js');
  const { MemoryBroker } = await load('src/broker/broker-memory.js');
  const { IngressReader } = await load('src/ingress/ingress-reader.js');

  const ingress = createRing({ capacity: 4 * 1024 * 1024, maxConsumers: 1, attached: 1 });
  const feed = createRing({ capacity: 16 * 1024 * 1024, maxConsumers: 1 });
  const counters = new Counters(createCounters(1));
  const bits = formats === 'both' ? 3 : 1; // JSON_BIT | MSGPACK_BIT
  const fanout = new Fanout(feed, { formatsOf: () => bits, mergeMs });
  fanout.attach(0);
  const shardSide = new RingConsumer(feed, 0);
  const broker = new MemoryBroker(fanout, new Sequencer(), {
    maxChannels: 1_000_000, channelTtl: 300_000, history: { size: 100, ttlMs: 300_000, maxBytes: 32 * 1024 * 1024 }, counters, interested: () => true,
  });
  const refused: unknown[] = [];
  const worker = { postMessage: (m: unknown) => refused.push(m) };
  const reader = new IngressReader(0, 1, ingress, worker, broker, fanout, counters, (why: string) => {
    throw new Error(why);
  });
  const shard = new RingProducer(ingress);
  // what a shard's parser writes: the data re-serialised by JSON.stringify, --size bytes
  const bare = JSON.stringify({ t: 1733197000000.123, p: '' }).length;
  const data = JSON.stringify({ t: 1733197000000.123, p: 'x'.repeat(Math.max(0, size - bare)) });
  const names = Array.from({ length: channels }, (_, i) => `bench-${i}`);
  reader.start();

  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  let ref = 1;
  async function run(n: number): Promise<void> {
    for (let done = 0; done < n; done += batch) {
      for (let i = 0; i < batch; i++, ref++) {
        if (!writePublish(shard, { target: 2, ref, channels: [names[ref % channels]!], data, id: '' })) throw new Error('ingress ring full');
      }
      shard.flush();
      while (reader.unread > 0) await turn();
      await turn(); // the fanout's flush (a microtask) and the replies written behind the batch
      if (shardSide.enter()) {
        while (shardSide.next() >= 0);
        shardSide.release();
        shardSide.leave();
      }
    }
  }

  await run(Math.min(publishes, 20_000)); // warm-up: the JIT settles
  const results: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const before = process.cpuUsage();
    await run(publishes);
    const cpu = process.cpuUsage(before);
    results.push((cpu.user + cpu.system) / publishes);
  }
  reader.stop();
  await broker.close();
  if (refused.length > 0) throw new Error(`${refused.length} publishes refused: ${JSON.stringify(refused[0])}`);
  const sorted = [...results].sort((a, b) => a - b);
  console.log(JSON.stringify({
    dist, publishes, batch, channels, size, formats, mergeMs, repeats,
    microsPerPublication: results.map((x) => Math.round(x * 100) / 100),
    median: Math.round(sorted[sorted.length >> 1]! * 100) / 100,
    publicationsPerSecond: Math.round(1e6 / sorted[sorted.length >> 1]!),
  }));
  return 0;
}
/* eslint-enable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-explicit-any */

runHarness(main);
